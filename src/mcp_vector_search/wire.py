"""Records to JSON and back: the one serializer the CLI, the search daemon and MCP use.

Every answer is a dataclass and its JSON is its fields, nested records as objects, so a
field added to a record is a field every interface shows. `from_data` rebuilds a record
from that JSON (the daemon's answer, read by the CLI). Errors cross the daemon's socket
the same way: `error_data` / `error_from_data` keep the error's type, message, hint and
exit code, so a search answered by the daemon fails exactly as one answered in-process.

Standard library only (and our errors): the daemon's client half stays light.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Union

from .errors import MVSError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R")


def to_data(record: DataclassInstance) -> dict[str, Any]:
    return dataclasses.asdict(record)


def dumps(data: object) -> str:
    """Compact JSON (the MCP answers' budgets count these characters), UTF-8 as is."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def to_json(record: DataclassInstance) -> str:
    return dumps(to_data(record))


def from_data(cls: type[R], data: Mapping[str, Any]) -> R:
    """The record of type `cls` that `to_data` turned into `data`.

    Raises ValueError when `data` does not have the record's shape.
    """
    return typing.cast(R, _build(cls, data))


def _build(tp: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ValueError(f"{tp.__name__}: expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        args = {}
        for f in dataclasses.fields(tp):
            if f.name in value:
                args[f.name] = _build(hints[f.name], value[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{tp.__name__}: missing {f.name!r}")
        return tp(**args)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ValueError(f"expected an array, got {type(value).__name__}")
        return [_build(item, v) for v in value]
    if origin is dict:
        _key, item = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ValueError(f"expected an object, got {type(value).__name__}")
        return {str(k): _build(item, v) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # JSON writes 1.0 as 1 in some encoders
    if tp in (str, int, float, bool) and not isinstance(value, tp):
        raise ValueError(f"expected {tp.__name__}, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- errors
def error_data(exc: BaseException) -> dict[str, Any]:
    """An error as JSON: our own keep their type; anything else is an internal error."""
    if isinstance(exc, MVSError):
        return {
            "type": type(exc).__name__,
            "message": str(exc),
            "hint": exc.hint,
            "exit_code": exc.exit_code,
        }
    return {
        "type": MVSError.__name__,
        "message": f"internal error ({type(exc).__name__}: {exc})",
        "hint": None,
        "exit_code": MVSError.exit_code,
    }


def _error_types() -> dict[str, type[MVSError]]:
    found: dict[str, type[MVSError]] = {}
    todo: list[type[MVSError]] = [MVSError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def error_from_data(data: Mapping[str, Any]) -> MVSError:
    """The error `error_data` described: same type (MVSError for an unknown one), message,
    hint and exit code."""
    cls = _error_types().get(str(data.get("type")), MVSError)
    # Not cls(...): a subclass may take other arguments (Interrupted takes a signal).
    err = cls.__new__(cls)
    MVSError.__init__(err, str(data.get("message", "")))
    hint, exit_code = data.get("hint"), data.get("exit_code")
    err.hint = hint if isinstance(hint, str) else None
    if isinstance(exit_code, int) and not isinstance(exit_code, bool):
        err.exit_code = exit_code
    return err
