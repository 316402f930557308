"""One exception tree for the whole package; each error knows its CLI exit code.

    MVSError                      exit 1
    ├── ConfigError               exit 2   broken or unknown config (names file and key)
    ├── UsageError                exit 2   bad arguments: empty query, path outside project
    ├── IndexNotFoundError        exit 3   no index above the current directory
    ├── IndexLockedError          exit 4   another writer holds the lock (names holder)
    ├── ModelMismatchError        exit 5   index built with another model; says how to rebuild
    ├── SchemaError               exit 5   index written by a newer/unknown schema
    ├── StoreError                exit 6   storage engine failure (mapped at the store boundary)
    │   └── DiskFullError         exit 6   ENOSPC while writing; index left at last version
    ├── EmbeddingError            exit 7   model runtime failure (mapped at the backend boundary)
    ├── ClosedError               exit 1   use of a closed session/store/embedder
    └── Interrupted               exit 130 (SIGINT) or 143 (SIGTERM); carries the summary

Foreign exceptions (lancedb, pyarrow, onnxruntime, tokenizers, pyo3 panics) never leak
above the module that wraps the library: they are re-raised as one of these.
"""

from __future__ import annotations


class MVSError(Exception):
    exit_code: int = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(MVSError):
    exit_code = 2


class UsageError(MVSError):
    exit_code = 2


class IndexNotFoundError(MVSError):
    exit_code = 3
    hint = "run `mcp-vector-search index PATH` first, or pass --project PATH"


class IndexLockedError(MVSError):
    exit_code = 4
    hint = "wait for it to finish, or pass --wait"


class ModelMismatchError(MVSError):
    exit_code = 5


class SchemaError(MVSError):
    exit_code = 5


class StoreError(MVSError):
    exit_code = 6


class DiskFullError(StoreError):
    hint = "free some disk space and run `mcp-vector-search index` again to continue"


class EmbeddingError(MVSError):
    exit_code = 7


class ModelMissingError(EmbeddingError):
    """The model's weights are not installed: lexical search still works without them."""


class ClosedError(MVSError):
    exit_code = 1


class Interrupted(MVSError):
    """Raised when a stop was requested; exit_code follows the signal that asked."""

    def __init__(self, message: str, *, signum: int | None = None) -> None:
        super().__init__(message)
        # 128 + signal number, the shell convention: SIGINT 130, SIGTERM 143.
        self.exit_code = 128 + signum if signum else 130
