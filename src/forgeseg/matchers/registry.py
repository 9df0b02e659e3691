"""The geometric matchers by name, as ``detect.matchers`` in ``params.yaml`` lists them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forgeseg.config.build import Section
from forgeseg.config.matchers import DenseConfig, PairsConfig, SiftConfig
from forgeseg.core.errors import ParamsError
from forgeseg.matchers import dense, pairs, sift
from forgeseg.matchers.base import MatchResult

__all__ = ["REGISTRY", "Matcher", "get_matcher"]


@dataclass(frozen=True)
class Matcher:
    """One matcher: ``detect(image (H, W, 3) uint8, cfg[, structure]) -> MatchResult``, the
    settings class ``cfg`` is an instance of, and the attribute of
    :class:`forgeseg.config.sections.DetectConfig` that holds those settings
    (``detect.<name>`` in ``params.yaml``)."""

    name: str
    detect: Callable[..., MatchResult]
    config_class: type[Section]
    config_attr: str
    # True: ``detect(image, cfg, structure)`` takes the figure's panels and text mask
    # (:class:`forgeseg.panels.Structure`), found once per figure by the caller.
    uses_structure: bool = False

    @property
    def traces(self) -> bool:
        """Whether ``detect`` takes a ``trace`` list of the candidates it rejected."""
        return "trace" in inspect.signature(self.detect).parameters

    def settings(self, detect_cfg: Any) -> Section:
        """This matcher's settings out of a :class:`~forgeseg.config.sections.DetectConfig`."""
        return getattr(detect_cfg, self.config_attr)


# SIFT self-matching: large or textured copies, any rotation and scale. Dense block
# matching: small, low-texture copies such as single blot bands, translated, flipped,
# turned, or rotated and rescaled by a little.
REGISTRY: dict[str, Matcher] = {
    # Both run over the whole figure; the structure takes the text mask and the gutters out.
    "sift": Matcher("sift", sift.detect, SiftConfig, "sift", uses_structure=True),
    "dense": Matcher("dense", dense.detect, DenseConfig, "dense", uses_structure=True),
    "pairs": Matcher("pairs", pairs.detect, PairsConfig, "pairs", uses_structure=True),
}


def get_matcher(name: str) -> Matcher:
    """The registered matcher called ``name``.

    Raises:
        ParamsError: naming ``detect.matchers`` and the known names, for an unknown one.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise ParamsError(
            f"detect.matchers: unknown matcher {name!r}; choose from {', '.join(REGISTRY)}"
        ) from None
