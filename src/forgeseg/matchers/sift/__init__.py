"""Copy-move detection by SIFT self-matching with geometric verification.

The method of every top Kaggle entry (``../shared/METHODS.md`` section 2):

1. Work on a copy whose long side is at most ``max_side`` (tiny figures are upscaled so SIFT
   sees some structure); results are mapped back to full resolution.
2. RootSIFT keypoints, matched against the figure itself (k-NN, the trivial self match
   excluded) and against the horizontally mirrored figure (mirrored copies); the generalised
   ratio test (g2NN) keeps every neighbour that is clearly closer than the next one, so an
   object pasted several times keeps all its twins while look-alike bands and cells, whose
   neighbours are all about as far, are dropped.
3. Pairs closer than ``min_distance`` (or a few keypoint scales) are dropped: they are the
   same structure seen twice, not a copy.
4. Pairs are clustered by spatial coherence (both endpoints near those of another pair) and
   each cluster is verified by a RANSAC similarity fit (rotation, uniform scale,
   translation; mirrored pairs are fitted mirrored) with at least ``min_inliers`` inliers.
   A similarity rather than a full affine: forged copies are flipped, rotated and scaled,
   and its 2-point samples stay well constrained on the small clusters (5-20 pairs) that
   small pasted bands and cells give. (OpenCV offers MAGSAC++ only for the full affine.)
   A transform survives only if it is plausible (bounded scale, a real displacement,
   inliers spread in 2-D) and if the pixels agree: the source region mapped by the
   transform must correlate with the destination (ZNCC >= ``min_zncc``), and so must its
   fine texture (``min_hp_zncc``), which two independently rendered or photographed
   look-alike cells do not share. Regions dominated by flat or saturated pixels (text,
   tick labels, scale bars: legitimately identical pixels) are rejected (``max_flat``).
5. Each transform's destination region is grown by a local ZNCC map (image vs. image
   warped by the transform) near the inliers, its source is the preimage, and the
   instance is their union. Instances that overlap (one object pasted several times) are
   merged so that a source and all its copies form one channel.

The detector says nothing unless the evidence is strong: any mask on an authentic figure
scores 0. Given the figure's structure (``forgeseg.panels``: panel boxes and a mask of
text, panel letters and scale bars), keypoints on the text mask grown by ``text_dilate_px``
are dropped before step 2, since those glyphs repeat legitimately, and a transform whose
source or copy has over ``max_gutter_share`` of its inliers outside every panel is dropped
after step 4.

Modules: :mod:`~forgeseg.matchers.sift.describe` (steps 1-3: RootSIFT, g2NN, mirrored
descriptors, the spatial exclusion), :mod:`~forgeseg.matchers.sift.verify` (step 4:
clustering, RANSAC similarities, the plausibility and pixel checks),
:mod:`~forgeseg.matchers.sift.localise` (step 5) and :mod:`~forgeseg.matchers.sift.match`
(:func:`detect`, which runs them and returns a :class:`forgeseg.matchers.base.MatchResult`).
"""

from forgeseg.config.matchers import SiftConfig
from forgeseg.matchers.sift.match import detect

__all__ = ["SiftConfig", "detect"]
