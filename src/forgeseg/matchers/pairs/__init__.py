"""Reuse between the panels of a compound figure: panel against panel, and lane against lane.

The duplications of the real test are mostly *between panels* (COMPETITION.md): a panel
reused flipped, turned, rescaled or cropped, two panels that are overlapping fields of view
of one image, blot lanes reused across blots. The winners cut the figure into panels and
compared them pair by pair; so does this matcher:

1. The figure's structure (``forgeseg.panels``: panel boxes, classes, the text mask) is
   given, or found by the classical panel finder; panels of the compared classes
   (``classes``: blots, microscopy, unclassified; charts and flow cytometry are skipped)
   and of a usable size are kept. A figure with fewer than two says nothing.
2. :mod:`~forgeseg.matchers.pairs.shortlist`: pairs of plausible areas (of one class with
   ``same_class``), ranked by a global descriptor, the best ``top_k`` per panel,
   ``max_pairs`` in all.
3. :mod:`~forgeseg.matchers.pairs.features`: keypoints of each panel (RootSIFT, or ALIKED
   matched by LightGlue), in the identity pose and the mirrored or turned poses, their
   locations mapped back to the panel.
4. :mod:`~forgeseg.matchers.pairs.verify`: a MAGSAC++ affine fit, its plausibility (20
   inliers, scale 0.5-2, spread) and the pixels of the shared region.
5. :mod:`~forgeseg.matchers.pairs.region`: the shared region on both panels, one instance
   in figure coordinates.
6. :mod:`~forgeseg.matchers.pairs.lanes`: blot lanes from column profiles, each matched
   along the lanes of the other blot.

:func:`detect` (:mod:`~forgeseg.matchers.pairs.match`) runs them and returns a
:class:`forgeseg.matchers.base.MatchResult`; ``detect.pairs`` holds its settings
(:class:`forgeseg.config.matchers.PairsConfig`).
"""

from forgeseg.config.matchers import PairsConfig
from forgeseg.matchers.pairs.match import detect, figure_structure

__all__ = ["PairsConfig", "detect", "figure_structure"]
