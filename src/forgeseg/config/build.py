"""Typed settings: frozen dataclasses built from a mapping once, every error naming its key.

Each component declares its settings as a :class:`Section` subclass whose fields carry their
bounds (:func:`setting`). Building one from ``params.yaml`` checks unknown keys, types and
bounds in one place, so every section speaks the same way: ``detect.dense.min_blocks must
be >= 2, got 1``. YAML's ``1`` is accepted where ``1.0`` is meant, never the reverse, and a
list becomes a tuple so that the settings stay hashable and immutable.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Self, TypeVar

from forgeseg.core.errors import ParamsError

__all__ = ["Section", "as_dict", "setting"]

T = TypeVar("T", bound="Section")


def setting(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A dataclass field with its default and the bounds a value must meet."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


@dataclass(frozen=True)
class Section:
    """Base of every settings dataclass; ``KEY`` is where it lives in ``params.yaml``."""

    KEY: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            key = _join(self.KEY, f.name)
            value = _coerce(key, getattr(self, f.name), hints[f.name])
            _check_bounds(key, value, f.metadata)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Checks that involve several fields; raise :class:`ParamsError` naming the keys."""

    def key(self, name: str) -> str:
        """The full params key of one of this section's fields."""
        return _join(self.KEY, name)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Self:
        """Build from a params mapping: unknown keys and bad values raise ``ParamsError``."""
        return _build(cls, data, cls.KEY)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(cls: type[T], data: Any, key: str) -> T:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ParamsError(f"{key or 'params'} must be a mapping of settings, got {data!r}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ParamsError(
            f"{_join(key, str(unknown[0]))} is not a setting (known: {', '.join(known)})"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        sub = _section_type(hints[name])
        values[name] = _build(sub, value, _join(key, name)) if sub is not None else value
    return cls(**values)


def _section_type(hint: Any) -> type[Section] | None:
    return hint if isinstance(hint, type) and issubclass(hint, Section) else None


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` names, or a ``ParamsError`` saying what was expected."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    if _section_type(hint) is not None:
        if not isinstance(value, hint):
            raise ParamsError(f"{key} must be a mapping of settings, got {value!r}")
        return value
    if typing.get_origin(hint) is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise ParamsError(f"{key} must be a list, got {value!r}")
        return tuple(_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    return _scalar(key, value, hint)


def _scalar(key: str, value: Any, hint: Any) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsError(f"{key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ParamsError(f"{key} must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ParamsError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"{key}: settings of type {hint!r} are not supported")


def _check_bounds(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if v is None or isinstance(v, Section):
            continue
        if "choices" in meta and v not in meta["choices"]:
            options = ", ".join(str(c) for c in meta["choices"])
            raise ParamsError(f"{key} must be one of {options}; got {v!r}")
        for name, fails, word in (
            ("ge", lambda x, b: x < b, ">="),
            ("gt", lambda x, b: x <= b, ">"),
            ("le", lambda x, b: x > b, "<="),
            ("lt", lambda x, b: x >= b, "<"),
        ):
            if name in meta and fails(v, meta[name]):
                raise ParamsError(f"{key} must be {word} {meta[name]}, got {v!r}")


def as_dict(section: Section) -> dict[str, Any]:
    """Plain nested dict of a section (tuples as lists), e.g. for hashing or JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v

    return plain(asdict(section))
