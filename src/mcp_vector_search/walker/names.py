"""What a name alone says about a path: skip reasons, built-in excludes, secrets.

File names are compared lower-cased (Cargo.lock, ID_RSA, LOGO.PNG), directory names
exactly. Bytes, because the walk is in bytes.
"""

from __future__ import annotations

from ..config import INDEX_DIR_NAME

BINARY = "binary"
TOO_LARGE = "too_large"
UNREADABLE = "unreadable"
MINIFIED = "minified"
GENERATED = "generated"
VANISHED = "vanished"
SYMLINK_OUTSIDE = "symlink_outside"
SYMLINK_LOOP = "symlink_loop"
UNDECODABLE = "undecodable"
SKIP_REASONS: tuple[str, ...] = (
    BINARY,
    TOO_LARGE,
    UNREADABLE,
    MINIFIED,
    GENERATED,
    VANISHED,
    SYMLINK_OUTSIDE,
    SYMLINK_LOOP,
    UNDECODABLE,
)
# Reasons decided by what a file contains: they hold while its size and mtime do, so a
# file skipped for one is not read again until it changes. The others (unreadable,
# vanished) are transient and retried on every run.
CONTENT_SKIPS = frozenset({BINARY, MINIFIED, GENERATED, UNDECODABLE, TOO_LARGE})

MVS_IGNORE_NAME = ".mcpvsignore"
MVS_IGNORE_BYTES = MVS_IGNORE_NAME.encode()
# The names a directory listing is searched for: ignore files, repositories, virtualenvs.
INTERESTING = frozenset({b".git", b".gitignore", MVS_IGNORE_BYTES, b"pyvenv.cfg"})

# Never indexed, never re-includable: version control internals and our own index.
HARD_DIRS = frozenset({b".git", b".hg", b".svn", b".bzr", INDEX_DIR_NAME.encode()})

# Excluded by default; a `!name/` line in a .mcpvsignore brings one back.
BUILTIN_DIRS = frozenset(
    {
        b"node_modules",
        b"bower_components",
        b"jspm_packages",
        b".venv",
        b"venv",
        b"site-packages",
        b"__pypackages__",
        b"build",
        b"dist",
        b"target",
        b"out",
        b".next",
        b".nuxt",
        b".svelte-kit",
        b".turbo",
        b".parcel-cache",
        b".vercel",
        b".gradle",
        b".terraform",
        b".eggs",
        b"__pycache__",
        b".pytest_cache",
        b".mypy_cache",
        b".ruff_cache",
        b".pytype",
        b".hypothesis",
        b".tox",
        b".nox",
        b".cache",
        b".ipynb_checkpoints",
        b"htmlcov",
    }
)
BUILTIN_DIR_SUFFIXES = (b".egg-info", b".dist-info")

_LOCK_FILES = frozenset(
    {
        b"package-lock.json",
        b"npm-shrinkwrap.json",
        b"yarn.lock",
        b"pnpm-lock.yaml",
        b"bun.lockb",
        b"poetry.lock",
        b"pdm.lock",
        b"pipfile.lock",
        b"cargo.lock",
        b"uv.lock",
        b"composer.lock",
        b"gemfile.lock",
        b"go.sum",
        b"flake.lock",
        b"podfile.lock",
        b"packages.lock.json",
    }
)
_JUNK_FILES = frozenset({b".ds_store", b"thumbs.db", b"desktop.ini"})

_SECRET_NAMES = frozenset(
    {b".env", b"credentials.json", b".npmrc", b".pypirc", b".netrc", b"_netrc", b".htpasswd"}
)
_SECRET_EXTS = frozenset({b"pem", b"key", b"p12", b"pfx", b"keystore", b"jks"})
_SECRET_PREFIXES = (b".env.", b"id_rsa", b"id_dsa", b"id_ecdsa", b"id_ed25519")

_MINIFIED_SUFFIXES = (b".min.js", b".min.mjs", b".min.css", b".map")
_GENERATED_SUFFIXES = (
    b"_pb2.py",
    b"_pb2.pyi",
    b"_pb2_grpc.py",
    b".pb.go",
    b".pb.cc",
    b".pb.h",
    b".pb.swift",
)

# Extensions that are binary often enough that reading them to find out is waste.
_BINARY_EXTS = frozenset(
    b"""
    png jpg jpeg gif bmp ico icns webp tif tiff psd xcf heic avif
    zip tar gz tgz bz2 xz lz lzma zst 7z rar jar war ear whl egg apk deb rpm dmg iso
    so dylib dll exe o a lib obj pyc pyo pyd class wasm node
    pdf doc docx xls xlsx ppt pptx odt ods odp
    woff woff2 ttf otf eot
    mp3 mp4 m4a wav ogg oga flac aac avi mov mkv webm wmv
    sqlite sqlite3 db mdb
    npy npz pkl pickle onnx safetensors pt pth ckpt h5 hdf5 tflite pb parquet arrow feather
    bin
    """.split()
)

# Name categories besides the skip reasons: silently ignored by default but
# re-includable from a .mcpvsignore, and secrets (only index_secrets brings them in).
DEFAULT_IGNORED = "default_ignored"
SECRET = "secret"
_CHECK_MINIFIED = "check_minified"
_CHECK_GENERATED = "check_generated"

_NAME_CATEGORY: dict[bytes, str] = {
    **dict.fromkeys(_LOCK_FILES | _JUNK_FILES, DEFAULT_IGNORED),
    **dict.fromkeys(_SECRET_NAMES, SECRET),
}
# One dict lookup on the extension settles most names; the few extensions that need a
# longer suffix check (app.min.js, api_pb2.py) are routed to it.
_EXT_CATEGORY: dict[bytes, str] = {
    **dict.fromkeys(_BINARY_EXTS, BINARY),
    **dict.fromkeys((s.rpartition(b".")[2] for s in _MINIFIED_SUFFIXES), _CHECK_MINIFIED),
    **dict.fromkeys((s.rpartition(b".")[2] for s in _GENERATED_SUFFIXES), _CHECK_GENERATED),
    **dict.fromkeys(_SECRET_EXTS, SECRET),
}
_EXT_CATEGORY[b"map"] = MINIFIED


def name_category(low: bytes) -> str | None:
    """Classify a lower-cased file name: a skip reason, DEFAULT_IGNORED, SECRET or None."""
    category = _NAME_CATEGORY.get(low)
    if category is not None:
        return category
    if low.startswith(_SECRET_PREFIXES):
        return SECRET
    dot = low.rfind(b".")
    if dot < 0:
        return None
    category = _EXT_CATEGORY.get(low[dot + 1 :])
    if category is _CHECK_MINIFIED:
        return MINIFIED if low.endswith(_MINIFIED_SUFFIXES) else None
    if category is _CHECK_GENERATED:
        return GENERATED if low.endswith(_GENERATED_SUFFIXES) else None
    return category


def decodes(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def display(rel: bytes) -> str:
    """A path for a Skipped record, also when it is not UTF-8."""
    return rel.decode("utf-8", "backslashreplace")


def is_within(path: bytes, directory: bytes) -> bool:
    return path == directory or path.startswith(directory.rstrip(b"/") + b"/")
