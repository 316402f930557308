"""Settings: defaults < user file < project file < environment < command-line overrides.

The schema is closed: a typo in a key is an error naming the file and the key, not a
setting that silently does nothing.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import ConfigError

INDEX_DIR_NAME = ".mcp-vector-search"
PROJECT_CONFIG_NAME = ".mcp-vector-search.toml"
USER_CONFIG_DIR_NAME = "mcp-vector-search"
USER_CONFIG_NAME = "config.toml"
ENV_PREFIX = "MVS_"


@dataclass(frozen=True, slots=True)
class Config:
    index_dir: str = INDEX_DIR_NAME  # relative to the project root, or absolute
    max_file_size: int = 1_048_576  # bytes
    include: tuple[str, ...] = ()  # gitignore-style; if non-empty only matching files count
    exclude: tuple[str, ...] = ()  # gitignore-style; extra excludes, they win over include
    respect_gitignore: bool = True
    index_secrets: bool = False  # .env, private keys, credential files stay out unless True
    model: str = "minilm"  # embedder name, validated by embedding.create_embedder
    # the engine: "lancedb" (embedded, per checkout), "postgres" or "chroma"
    store: str = "lancedb"
    # postgresql://user:password@host/db for store = "postgres". Kept out of repr: a
    # printed Config must never show the password.
    database_url: str = field(default="", repr=False)
    project: str = ""  # the project's key in a shared database; "" = the root's name
    # store = "chroma": a local Chroma directory (default <index dir>/chroma), or the URL of
    # a `chroma run` server (http://host:port), which then holds the vectors.
    chroma_path: str = ""
    chroma_url: str = ""

    def index_path(self, root: Path) -> Path:
        """The index directory for a project rooted at `root`, absolute and resolved."""
        path = Path(self.index_dir).expanduser()
        if not path.is_absolute():
            path = Path(root) / path
        return path.resolve()


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Config))


# --- value checks -----------------------------------------------------------------
# Each checker takes the raw value and returns the normalised one, or raises
# ValueError with the "what is wrong" half of the message; the caller adds where.


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        tuple: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _check_int(minimum: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        # bool is an int subclass; `max_file_size = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {_type_name(value)} ({value!r})")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}, got {value}")
        return value

    return check


def _check_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {_type_name(value)} ({value!r})")
    return value


def _check_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_type_name(value)} ({value!r})")
    if not value.strip():
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


STORES = ("lancedb", "postgres", "chroma")


def _check_choice(value: object, choices: tuple[str, ...]) -> str:
    text = _check_str(value).strip()
    if text not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}, got {text!r}")
    return text


def _check_url(value: object) -> str:
    # The value is never echoed: a database URL may carry a password.
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_type_name(value)}")
    text = value.strip()
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql://... URL")
    return text


def _check_chroma_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_type_name(value)}")
    text = value.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ValueError("must be an http://host:port URL")
    if "@" in text:
        # Never echoed, never stored: credentials belong in the server's auth settings.
        raise ValueError("must not carry credentials")
    return text


def _check_patterns(value: object) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be an array of strings, not {_type_name(value)} ({value!r})")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"item {i} must be a string, not {_type_name(item)} ({item!r})")
        if "\n" in item or "\x00" in item:
            raise ValueError(f"item {i} must be a single line pattern ({item!r})")
        out.append(item)
    return tuple(out)


_CHECKS: dict[str, Callable[[object], object]] = {
    "index_dir": _check_str,
    "max_file_size": _check_int(1),
    "include": _check_patterns,
    "exclude": _check_patterns,
    "respect_gitignore": _check_bool,
    "index_secrets": _check_bool,
    "model": _check_str,
    "store": lambda v: _check_choice(v, STORES),
    "database_url": lambda v: _check_url(v),
    "project": _check_str,
    "chroma_path": _check_str,
    "chroma_url": lambda v: _check_chroma_url(v),
}
assert set(_CHECKS) == set(FIELD_NAMES), "every Config field needs a checker"


# --- environment parsing ------------------------------------------------------------

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SIZE_SUFFIXES = {"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20}
_SIZE_SUFFIXES |= {"mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "b": 1}


def _env_int(text: str, *, sizes: bool = False) -> int:
    s = text.strip().lower().replace("_", "")
    factor = 1
    if sizes:
        # Longest suffix first so "kib" is not read as "b" after "ki".
        for suffix in sorted(_SIZE_SUFFIXES, key=len, reverse=True):
            if s.endswith(suffix) and s[: -len(suffix)].strip():
                factor = _SIZE_SUFFIXES[suffix]
                s = s[: -len(suffix)].strip()
                break
    try:
        return int(s) * factor
    except ValueError:
        what = "an integer (a size like 2M is fine too)" if sizes else "an integer"
        raise ValueError(f"must be {what}, got {text!r}") from None


def _env_bool(text: str) -> bool:
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"must be one of 1/0, true/false, yes/no, on/off, got {text!r}")


def _env_patterns(text: str) -> list[str]:
    # Comma separated: patterns with a literal comma are rare and can go in a file.
    return [p.strip() for p in text.split(",") if p.strip()]


_ENV_PARSERS: dict[str, Callable[[str], object]] = {
    "index_dir": str,
    "max_file_size": lambda s: _env_int(s, sizes=True),
    "include": _env_patterns,
    "exclude": _env_patterns,
    "respect_gitignore": _env_bool,
    "index_secrets": _env_bool,
    "model": lambda s: s.strip(),
    "store": lambda s: s.strip(),
    "database_url": lambda s: s.strip(),
    "project": lambda s: s.strip(),
    "chroma_path": str,
    "chroma_url": lambda s: s.strip(),
}

ENV_VARS: dict[str, str] = {ENV_PREFIX + name.upper(): name for name in FIELD_NAMES}


# --- sources ---------------------------------------------------------------------------


def _unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, FIELD_NAMES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(FIELD_NAMES)}"
    return f"unknown key {key!r}{hint}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read_toml(path: Path) -> dict[str, object] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {_one_line(exc.strerror or str(exc))}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {_one_line(str(exc))}") from None


def _values_from_file(path: Path) -> dict[str, object]:
    raw = _read_toml(path)
    if raw is None:
        return {}
    out: dict[str, object] = {}
    for key, value in raw.items():
        if key not in _CHECKS:
            raise ConfigError(f"{path}: {_unknown_key_message(key)}")
        try:
            out[key] = _CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{path}: key {key!r} {exc}") from None
    return out


def _values_from_env(env: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for var, key in ENV_VARS.items():
        text = env.get(var)
        # An empty variable counts as unset: `MVS_MODEL= cmd` is how shells unset.
        if text is None or not text.strip():
            continue
        try:
            out[key] = _CHECKS[key](_ENV_PARSERS[key](text))
        except ValueError as exc:
            raise ConfigError(f"environment variable {var}: {exc}") from None
    return out


def _values_from_overrides(overrides: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in _CHECKS:
            raise ConfigError(f"command line: {_unknown_key_message(key)}")
        if key in ("include", "exclude") and isinstance(value, str):
            value = (value,)  # one --exclude flag is one pattern
        try:
            out[key] = _CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"command line: option {key!r} {exc}") from None
    return out


def default_user_config(env: Mapping[str, str] | None = None) -> Path:
    """~/.config/mcp-vector-search/config.toml, or under $XDG_CONFIG_HOME when set."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    else:
        home = env.get("HOME", "").strip()
        base = (Path(home) if home else Path.home()) / ".config"
    return base / USER_CONFIG_DIR_NAME / USER_CONFIG_NAME


def load_config(
    root: Path,
    *,
    overrides: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    user_config: Path | None = None,
) -> Config:
    """Build the effective Config for the project at `root`.

    Later sources replace earlier ones key by key (include/exclude lists are replaced,
    not merged, so a project can drop a pattern the user file set). Missing files are
    fine; broken ones raise ConfigError naming the file and the key.
    """
    env = os.environ if env is None else env
    user_path = Path(user_config) if user_config is not None else default_user_config(env)
    values: dict[str, object] = {}
    values.update(_values_from_file(user_path))
    values.update(_values_from_file(Path(root) / PROJECT_CONFIG_NAME))
    values.update(_values_from_env(env))
    if overrides:
        values.update(_values_from_overrides(overrides))
    return replace(Config(), **values)  # type: ignore[arg-type]


def find_project_root(start: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The nearest directory at or above `start` holding an index dir or project file.

    A relative MVS_INDEX_DIR also counts as a marker, so a project indexed with a
    custom directory name is still found from inside it.
    """
    env = os.environ if env is None else env
    markers = [INDEX_DIR_NAME]
    custom = env.get(ENV_PREFIX + "INDEX_DIR", "").strip()
    if custom and not os.path.isabs(os.path.expanduser(custom)):
        markers.append(custom)
    here = Path(os.path.abspath(start))
    if not here.is_dir():
        here = here.parent
    for directory in (here, *here.parents):
        if (directory / PROJECT_CONFIG_NAME).is_file():
            return directory
        if any((directory / m).is_dir() for m in markers):
            return directory
    return None
