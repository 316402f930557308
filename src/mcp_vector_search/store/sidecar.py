"""A read-only copy of the index that a cold process loads in milliseconds, numpy only.

Importing the embedded engine costs seconds (its Python client builds hundreds of
models at import); a CLI search that runs once pays that on every call. So after its
commits the writer publishes this sidecar: one file holding the chunk catalog, the
chunk contents, a BM25 inverted index over the same tokens and stems the engine's
full-text index uses, and the vectors the chunks refer to. It is written to a temporary
file and renamed over the old one, so a reader maps either the old copy or the new one,
never half of one. Readers load it only while it matches the store: the chunk table's
version recorded in the header must be the version on disk now (`table_versions` reads
it from the engine's manifest names, no engine needed). The vector table may be ahead of
the copy while a run embeds: answers then use the vectors the copy has, and say so
through its `embedded` count.

Scores equal the engine's (BM25, k1 = 1.2, b = 0.75, Snowball English stems of the
whitespace tokens `lexical.document_text` stores); a test holds the two side by side.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..records import FileState
from . import LexicalHit, StoredChunk, VectorHit

if TYPE_CHECKING:
    import numpy as np

NAME = "sidecar.mvs"
FORMAT = 2
_MAGIC = b"MVSSIDE1"
_ALIGN = 64
_TABLES = ("chunks", "files", "vectors")
# The engine's full-text index settings (store/lancedb.py _create_fts): BM25 defaults,
# tokens longer than this are not indexed.
_K1, _B = 1.2, 0.75
_MAX_TOKEN_LENGTH = 64
_U64_MAX = (1 << 64) - 1


# ------------------------------------------------------------------ versions on disk
def table_versions(index_dir: Path) -> tuple[int, ...]:
    """(chunks, files, vectors) latest committed versions, -1 for a missing table.

    Lance names each version's manifest in `<table>.lance/_versions/`: `N.manifest`, or
    in its newer scheme `(2^64 - 1 - N).manifest` so the newest sorts first. A manifest
    appears complete or not at all, so the largest N listed is the committed version.
    """
    out = []
    for name in _TABLES:
        best = -1
        try:
            entries = os.listdir(index_dir / f"{name}.lance" / "_versions")
        except OSError:
            out.append(-1)
            continue
        for entry in entries:
            stem, _dot, ext = entry.partition(".")
            if ext != "manifest" or not stem.isdigit():
                continue
            n = int(stem)
            version = _U64_MAX - n if n > (1 << 63) else n
            best = max(best, version)
        out.append(best)
    return tuple(out)


def table_identity(index_dir: Path) -> list[int]:
    """The inode of each table's directory: a table dropped and made again (a rebuild)
    restarts its versions at 1, and must not pass for the one the copy was made from."""
    out = []
    for name in _TABLES:
        try:
            out.append(os.stat(index_dir / f"{name}.lance").st_ino)
        except OSError:
            out.append(-1)
    return out


# ------------------------------------------------------------------ building
@dataclass(slots=True)
class Source:
    """What a backend hands the builder, read at one version under the writer lock."""

    version: tuple[int, ...]
    model_id: str
    dimensions: int
    catalog: list[StoredChunk]
    contents: list[str]  # in catalog order
    token_doc: np.ndarray  # int32: the chunk (catalog index) of each stored token
    token_word: np.ndarray  # int32: index into words of each stored token
    words: list[str]  # distinct stored tokens
    vector_hashes: list[str]
    vectors: np.ndarray  # float32 (len(vector_hashes), dimensions)
    files: Mapping[str, FileState]


class _Stemmer:
    """Snowball English, as the engine's tokenizer applies it (PyStemmer: the C build of
    the same algorithm; the pure-Python one took 1.5 of the 4 s of a small tree's
    lexical pass); cached per word."""

    def __init__(self) -> None:
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")
        self._cache: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        stem = self._cache.get(word)
        if stem is None:
            stem = self._cache[word] = self._stemmer.stemWord(word)
        return stem

    def many(self, words: Sequence[str]) -> list[str]:
        todo = [w for w in words if w not in self._cache]
        self._cache.update(zip(todo, self._stemmer.stemWords(todo), strict=True))
        return [self._cache[w] for w in words]


_stemmer: _Stemmer | None = None


def _stems() -> _Stemmer:
    global _stemmer
    if _stemmer is None:
        _stemmer = _Stemmer()
    return _stemmer


def _stem(word: str) -> str:
    return _stems()(word)


def _strings(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A UTF-8 blob and int64 offsets (len + 1)."""
    import numpy as np

    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    if encoded:
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), offsets


def _ascii_sorted(values: Sequence[str]) -> np.ndarray:
    import numpy as np

    width = max((len(v) for v in values), default=1) or 1
    return np.array([v.encode("ascii", "replace") for v in values], dtype=f"S{width}")


def _find(sorted_values: np.ndarray, value: str) -> int | None:
    """The index of `value` in a sorted fixed-width array, or None."""
    import numpy as np

    try:
        key = value.encode("ascii")
    except UnicodeEncodeError:
        return None
    if not len(sorted_values) or len(key) > sorted_values.dtype.itemsize:
        return None
    i = int(np.searchsorted(sorted_values, key))
    return i if i < len(sorted_values) and sorted_values[i] == key else None


def _codes(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    import numpy as np

    table: dict[str, int] = {}
    codes = np.fromiter((table.setdefault(v, len(table)) for v in values), np.int32, len(values))
    return list(table), codes


def build(source: Source) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and the arrays of a sidecar for this source."""
    import numpy as np

    cat = source.catalog
    n = len(cat)
    arrays: dict[str, np.ndarray] = {}
    arrays["id"] = np.array([c.id for c in cat], dtype="S32").reshape(n)
    arrays["embed_hash"] = np.array([c.embed_hash for c in cat], dtype="S32").reshape(n)
    arrays["start_line"] = np.array([c.start_line for c in cat], np.int32)
    arrays["end_line"] = np.array([c.end_line for c in cat], np.int32)
    paths, arrays["path"] = _codes([c.path for c in cat])
    kinds, arrays["kind"] = _codes([c.kind for c in cat])
    languages, arrays["language"] = _codes([c.language for c in cat])
    arrays["symbol_null"] = np.array([c.symbol is None for c in cat], np.bool_)
    arrays["symbol"], arrays["symbol_off"] = _strings([c.symbol or "" for c in cat])
    arrays["content"], arrays["content_off"] = _strings(source.contents)

    # Inverted index: (chunk, stem) pairs with their counts, grouped by stem.
    kept = np.array([len(w) <= _MAX_TOKEN_LENGTH for w in source.words], np.bool_)
    _stems().many(source.words)
    stems = sorted({_stem(w) for w, k in zip(source.words, kept, strict=True) if k})
    stem_id = {s: i for i, s in enumerate(stems)}
    word_stem = np.array(
        [stem_id[_stem(w)] if k else -1 for w, k in zip(source.words, kept, strict=True)],
        np.int64,
    )
    tok_stem = word_stem[source.token_word] if len(source.token_word) else np.zeros(0, np.int64)
    tok_doc = np.asarray(source.token_doc, np.int64)
    valid = tok_stem >= 0
    tok_stem, tok_doc = tok_stem[valid], tok_doc[valid]
    arrays["doc_len"] = np.bincount(tok_doc, minlength=n).astype(np.float32)[:n]
    pairs, tf = np.unique(tok_stem * max(n, 1) + tok_doc, return_counts=True)
    pair_stem, pair_doc = pairs // max(n, 1), pairs % max(n, 1)  # sorted by stem, then doc
    arrays["post_doc"] = pair_doc.astype(np.int32)
    arrays["post_tf"] = tf.astype(np.float32)
    arrays["post_off"] = np.searchsorted(pair_stem, np.arange(len(stems) + 1)).astype(np.int64)
    # Sorted fixed-width arrays (tokens are ASCII: lexical._WORD), searched with
    # searchsorted; each stored word maps to its stem's term, so a query word seen in the
    # code needs no stemmer at all (importing one costs more than the whole query).
    arrays["term"] = _ascii_sorted(stems)
    words = sorted(w for w, k in zip(source.words, kept, strict=True) if k)
    arrays["word"] = _ascii_sorted(words)
    arrays["word_term"] = np.array([stem_id[_stem(w)] for w in words], np.int32)

    # Vectors some chunk uses, each once, in the store's order (as its vector search has).
    rows: dict[str, int] = {}
    for i, h in enumerate(source.vector_hashes):
        rows.setdefault(h, i)
    used = {c.embed_hash for c in cat}
    keep = [i for h, i in rows.items() if h in used]
    keep.sort()
    arrays["vectors"] = np.ascontiguousarray(
        source.vectors[keep] if keep else np.zeros((0, source.dimensions), np.float32),
        dtype=np.float32,
    ).reshape(len(keep), source.dimensions)
    row_of = {source.vector_hashes[i]: r for r, i in enumerate(keep)}
    chunk_vec = np.array([row_of.get(c.embed_hash, -1) for c in cat], np.int64)
    order = np.argsort(chunk_vec, kind="stable")  # chunks of each vector, in catalog order
    order = order[chunk_vec[order] >= 0]
    arrays["vec_chunk"] = order.astype(np.int32)
    arrays["vec_off"] = np.searchsorted(chunk_vec[order], np.arange(len(keep) + 1)).astype(np.int64)
    embedded = len(order)
    skipped: dict[str, int] = {}
    indexed_files = 0
    for s in source.files.values():
        if s.status == "indexed":
            indexed_files += 1
        else:
            skipped[s.status] = skipped.get(s.status, 0) + 1
    arrays["files_json"] = np.frombuffer(
        json.dumps(
            {p: [s.size, s.mtime_ns, s.status] for p, s in source.files.items()},
            separators=(",", ":"),
        ).encode(),
        np.uint8,
    )
    header = {
        "format": FORMAT,
        "version": list(source.version),
        "model_id": source.model_id,
        "dimensions": source.dimensions,
        "built": time.time(),
        "files": indexed_files,
        "chunks": n,
        "embedded": embedded,
        "skipped": skipped,
        "paths": paths,
        "kinds": kinds,
        "languages": languages,
        "avgdl": float(arrays["doc_len"].mean()) if n else 0.0,
    }
    return header, arrays


def publish(index_dir: Path, source: Source) -> None:
    """Build and atomically replace the sidecar (writer only)."""
    import numpy as np

    header, arrays = build(source)
    layout: dict[str, list[Any]] = {}
    offset = 0
    for name, arr in arrays.items():
        offset = -(-offset // _ALIGN) * _ALIGN
        layout[name] = [arr.dtype.str, list(arr.shape), offset]
        offset += arr.nbytes
    header["arrays"] = layout
    header["tables"] = table_identity(index_dir)
    header["data_bytes"] = offset
    head = json.dumps(header, separators=(",", ":")).encode()
    prefix = _MAGIC + struct.pack("<Q", len(head)) + head
    base = -(-len(prefix) // _ALIGN) * _ALIGN
    for stale in index_dir.glob(f"{NAME}.*.tmp"):
        stale.unlink(missing_ok=True)  # the writer lock is ours: these are dead writers'
    tmp = index_dir / f"{NAME}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(prefix.ljust(base, b"\0"))
            for name, arr in arrays.items():
                fh.seek(base + layout[name][2])
                fh.write(np.ascontiguousarray(arr).tobytes())
            fh.truncate(base + offset)
        os.replace(tmp, index_dir / NAME)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {index_dir / NAME}: {exc}") from exc


def remove(index_dir: Path) -> None:
    try:
        (index_dir / NAME).unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot remove {index_dir / NAME}: {exc}") from exc


# ------------------------------------------------------------------ reading
def read_header(index_dir: Path) -> dict[str, Any] | None:
    """The header alone (counts, versions, model), or None when there is no valid one."""
    try:
        with open(index_dir / NAME, "rb") as fh:
            magic = fh.read(len(_MAGIC) + 8)
            if len(magic) != len(_MAGIC) + 8 or magic[: len(_MAGIC)] != _MAGIC:
                return None
            (size,) = struct.unpack("<Q", magic[len(_MAGIC) :])
            header = json.loads(fh.read(size))
    except (OSError, ValueError, struct.error):
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None
    header["_base"] = _data_base(size)
    return header


def _data_base(header_size: int) -> int:
    return -(-(len(_MAGIC) + 8 + header_size) // _ALIGN) * _ALIGN


class SidecarSummary:
    """What `status` reads from a sidecar: counts and file states, without numpy."""

    def __init__(self, index_dir: Path, header: dict[str, Any]) -> None:
        self.index_dir = index_dir
        self.location = str(index_dir)
        self.header = header

    def version(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.header["version"])

    def counts(self) -> tuple[int, int, int]:
        h = self.header
        return int(h["files"]), int(h["chunks"]), int(h["embedded"])

    def skipped_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.header["skipped"].items()}

    def file_states(self) -> dict[str, FileState]:
        _dtype, shape, offset = self.header["arrays"]["files_json"]
        with open(self.index_dir / NAME, "rb") as fh:
            fh.seek(int(self.header["_base"]) + int(offset))
            data = json.loads(fh.read(int(shape[0])))
        return {p: FileState(p, "", int(v[0]), int(v[1]), str(v[2])) for p, v in data.items()}

    def size_bytes(self) -> int:
        return _tree_size(self.index_dir)

    def close(self) -> None:
        pass


def open_summary(
    index_dir: Path, *, model_id: str, dimensions: int, stale_ok: bool = False
) -> SidecarSummary | None:
    header = read_header(index_dir)
    if header is None or not (stale_ok or is_current(header, index_dir)):
        return None
    if header.get("model_id") != model_id or header.get("dimensions") != dimensions:
        return None
    return SidecarSummary(index_dir, header)


def _tree_size(index_dir: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(index_dir):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def is_current(header: Mapping[str, Any], index_dir: Path) -> bool:
    """The copy has every chunk and file row the store has now (vectors may lag)."""
    version = header.get("version")
    if not isinstance(version, list) or len(version) != len(_TABLES):
        return False
    if header.get("tables") != table_identity(index_dir):
        return False
    now = table_versions(index_dir)
    return bool(version[0] == now[0] and version[1] == now[1] and 0 <= version[2] <= now[2])


def open_current(
    index_dir: Path, *, model_id: str, dimensions: int, stale_ok: bool = False
) -> SidecarStore | None:
    """The sidecar as a read-only store, when it matches the index on disk (or any, with
    `stale_ok`) and the model."""
    header = read_header(index_dir)
    if header is None or not (stale_ok or is_current(header, index_dir)):
        return None
    if header.get("model_id") != model_id or header.get("dimensions") != dimensions:
        return None
    try:
        store = SidecarStore(index_dir)
    except (OSError, ValueError, KeyError, StoreError):
        return None
    # Replaced between the two reads: the mapped copy is the newer one; check it again.
    fresh = stale_ok or store.version() == tuple(header["version"]) or store.current()
    return store if fresh else None


class SidecarStore:
    """The Store protocol's reads over one mapped sidecar; it never changes once open."""

    def __init__(self, index_dir: Path) -> None:
        import numpy as np

        self.index_dir = index_dir
        self.location = str(index_dir)
        with open(index_dir / NAME, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        buf = self._map
        if buf[: len(_MAGIC)] != _MAGIC:
            raise StoreError(f"{index_dir / NAME} is not a sidecar")
        (size,) = struct.unpack("<Q", buf[len(_MAGIC) : len(_MAGIC) + 8])
        start = len(_MAGIC) + 8
        self.header: dict[str, Any] = json.loads(bytes(buf[start : start + size]))
        base = -(-(start + size) // _ALIGN) * _ALIGN
        if len(buf) != base + int(self.header["data_bytes"]):
            raise StoreError(f"{index_dir / NAME} is truncated")
        self._a: dict[str, np.ndarray] = {}
        for name, (dtype, shape, offset) in self.header["arrays"].items():
            count = int(np.prod(shape)) if shape else 1
            arr = np.frombuffer(buf, np.dtype(dtype), count, base + int(offset))
            self._a[name] = arr.reshape(shape)
        self.model_id = str(self.header["model_id"])
        self.dimensions = int(self.header["dimensions"])
        self._catalog: list[StoredChunk] | None = None
        self._row_of: dict[str, int] | None = None
        self._closed = False

    def current(self) -> bool:
        return is_current(self.header, self.index_dir)

    # -------------------------------------------------------------- reads
    def version(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.header["version"])

    def counts(self) -> tuple[int, int, int]:
        h = self.header
        return int(h["files"]), int(h["chunks"]), int(h["embedded"])

    def skipped_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.header["skipped"].items()}

    def file_states(self) -> dict[str, FileState]:
        data = json.loads(self._a["files_json"].tobytes())
        return {p: FileState(p, "", int(v[0]), int(v[1]), str(v[2])) for p, v in data.items()}

    def meta(self) -> dict[str, object]:
        from .meta import read_meta

        return dict(read_meta(self.index_dir) or {})

    def size_bytes(self) -> int:
        return _tree_size(self.index_dir)

    @staticmethod
    def _text(blob: np.ndarray, offsets: np.ndarray, i: int) -> str:
        return blob[offsets[i] : offsets[i + 1]].tobytes().decode("utf-8", "surrogatepass")

    def _chunk(self, i: int) -> StoredChunk:
        return self.chunk_catalog()[i]

    def chunk_catalog(self) -> list[StoredChunk]:
        if self._catalog is None:
            a, h = self._a, self.header
            ids = a["id"].astype(str).tolist()
            hashes = a["embed_hash"].astype(str).tolist()
            paths = [h["paths"][k] for k in a["path"].tolist()]
            kinds = [h["kinds"][k] for k in a["kind"].tolist()]
            langs = [h["languages"][k] for k in a["language"].tolist()]
            blob, off = a["symbol"].tobytes(), a["symbol_off"].tolist()
            nulls = a["symbol_null"].tolist()
            symbols = [
                None if nulls[i] else blob[off[i] : off[i + 1]].decode("utf-8", "surrogatepass")
                for i in range(len(ids))
            ]
            starts, ends = a["start_line"].tolist(), a["end_line"].tolist()
            self._catalog = [
                StoredChunk(
                    ids[i],
                    paths[i],
                    starts[i],
                    ends[i],
                    symbols[i],
                    kinds[i],
                    langs[i],
                    hashes[i],
                    i,
                )
                for i in range(len(ids))
            ]
        return self._catalog

    def _language_mask(self, language: str | None) -> np.ndarray | None:
        import numpy as np

        if language is None:
            return None
        langs: list[str] = self.header["languages"]
        if language not in langs:
            return np.zeros(len(self._a["language"]), np.bool_)
        return np.asarray(self._a["language"] == langs.index(language), np.bool_)

    def _term_of(self, word: str) -> int | None:
        w = _find(self._a["word"], word)
        if w is not None:
            return int(self._a["word_term"][w])
        return _find(self._a["term"], _stem(word))

    def lexical_search(
        self, terms: Sequence[str], limit: int, language: str | None = None
    ) -> list[LexicalHit]:
        import numpy as np

        n = int(self.header["chunks"])
        if not terms or not n or limit < 1:
            return []
        a = self._a
        scores = np.zeros(n, np.float32)
        norm = _K1 * (1 - _B + _B * a["doc_len"] / max(float(self.header["avgdl"]), 1e-9))
        for term in terms:
            if len(term) > _MAX_TOKEN_LENGTH:
                continue
            t = self._term_of(term.lower())
            if t is None:
                continue
            lo, hi = int(a["post_off"][t]), int(a["post_off"][t + 1])
            docs, tf = a["post_doc"][lo:hi], a["post_tf"][lo:hi]
            df = hi - lo
            idf = np.float32(np.log(1 + (n - df + 0.5) / (df + 0.5)))
            scores[docs] += idf * (_K1 + 1) * tf / (tf + norm[docs])
        mask = scores > 0
        lang = self._language_mask(language)
        if lang is not None:
            mask &= lang
        found = np.flatnonzero(mask)
        if len(found) > limit:
            found = found[np.argpartition(-scores[found], limit - 1)[:limit]]
        found = found[np.argsort(-scores[found], kind="stable")]
        catalog = self.chunk_catalog()
        return [LexicalHit(catalog[i], float(scores[i])) for i in found.tolist()]

    def vectors(self) -> tuple[list[str], np.ndarray]:
        vec, cat = self._a["vectors"], self.chunk_catalog()
        first = self._a["vec_chunk"][self._a["vec_off"][:-1]].tolist() if len(vec) else []
        return [cat[i].embed_hash for i in first], vec

    def vector_search(
        self, query: np.ndarray, limit: int, language: str | None = None
    ) -> list[VectorHit]:
        import numpy as np

        matrix = self._a["vectors"]
        if not len(matrix) or limit < 1:
            return []
        sims = matrix @ np.asarray(query, dtype=np.float32)
        catalog = self.chunk_catalog()
        vec_chunk, vec_off = self._a["vec_chunk"], self._a["vec_off"]
        top = min(len(sims), limit)
        while True:
            idx = np.argpartition(-sims, top - 1)[:top] if top < len(sims) else np.arange(len(sims))
            out: list[VectorHit] = []
            for i in idx[np.argsort(-sims[idx], kind="stable")].tolist():
                for c in vec_chunk[vec_off[i] : vec_off[i + 1]].tolist():
                    chunk = catalog[c]
                    if language is None or chunk.language == language:
                        out.append(VectorHit(chunk, float(sims[i])))
            if len(out) >= limit or top >= len(sims):
                return out[:limit]
            top = min(len(sims), top * 4)

    def _content(self, i: int) -> str:
        return self._text(self._a["content"], self._a["content_off"], i)

    def contents(self, ids: Sequence[str]) -> dict[str, str]:
        if self._row_of is None:
            self._row_of = {c.id: i for i, c in enumerate(self.chunk_catalog())}
        return {i: self._content(self._row_of[i]) for i in ids if i in self._row_of}

    def contents_of(self, chunks: Sequence[StoredChunk]) -> dict[str, str]:
        catalog = self.chunk_catalog()
        out: dict[str, str] = {}
        rest: list[str] = []
        for c in chunks:
            row = c.row_id
            if row is not None and 0 <= row < len(catalog) and catalog[row].id == c.id:
                out[c.id] = self._content(row)
            else:
                rest.append(c.id)
        out.update(self.contents(rest))
        return out

    # -------------------------------------------------------------- no writes
    def _read_only(self, *_args: object, **_kwargs: object) -> Any:
        raise StoreError("the read sidecar is read-only")

    replace_files = record_files = delete_files = _read_only
    missing_vector_hashes = embed_texts = delete_orphan_chunks = _read_only
    add_vectors = set_meta = optimize = reset = _read_only

    def close(self) -> None:
        # The arrays point into the mapping; it goes with the last of them.
        self._closed = True
        self._catalog = None
