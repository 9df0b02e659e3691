"""Geometric copy-move matchers: SIFT self-matching (:mod:`forgeseg.matchers.sift`) and
dense block matching (:mod:`forgeseg.matchers.dense`), both reporting a
:class:`~forgeseg.matchers.base.MatchResult`.

:mod:`forgeseg.matchers.registry` names them (``REGISTRY``, ``get_matcher``), and
:func:`~forgeseg.matchers.base.merge_results` merges their findings on one figure;
:mod:`forgeseg.core.pixels` holds the pixel checks they share. The registry is loaded on
first use (``forgeseg.matchers.REGISTRY``), so importing a helper module or the result type
does not import both matchers.
"""

from __future__ import annotations

from typing import Any

from forgeseg.matchers.base import MatchResult, Transform, assemble_result, merge_results

__all__ = [
    "REGISTRY",
    "MatchResult",
    "Matcher",
    "Transform",
    "assemble_result",
    "get_matcher",
    "merge_results",
]

_REGISTRY_NAMES = ("REGISTRY", "Matcher", "get_matcher")


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        from forgeseg.matchers import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
