"""Settings dataclasses built from a ``params.yaml`` section.

Detector settings are frozen dataclasses; a section of ``params.yaml`` overrides some of
their fields. One builder does it for all of them, so every section rejects unknown keys and
accepts YAML's ``1`` where ``1.0`` is meant in the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from forgeseg.core.errors import ParamsError

__all__ = ["from_mapping"]

T = TypeVar("T")


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, section: str) -> T:
    """``cls(**data)`` after checking the keys; ``section`` names the params in messages.

    Raises:
        ParamsError: a key is not a field of ``cls`` (the message lists the known ones), or
            the dataclass's own checks reject a value.
    """
    data = dict(data or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ParamsError(
            f"unknown {section} keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    for f in fields(cls):  # type: ignore[arg-type]
        v = data.get(f.name)
        if f.type == "float" and isinstance(v, int) and not isinstance(v, bool):
            data[f.name] = float(v)
    return cls(**data)
