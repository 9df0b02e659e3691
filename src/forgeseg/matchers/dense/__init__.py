"""Copy-move detection by dense block matching: small, low-texture copies SIFT misses.

A western-blot band of 30x27 px holds a handful of SIFT keypoints, too few for a verified
transform, but a few dozen overlapping blocks. This module follows the classic block-based
detectors (Fridrich et al. 2003; the dense field of Cozzolino et al. 2015, ``METHODS.md``
section 2): translation after one of the 8 flips / quarter turns (the dihedral group), which
keep a block a block, and rotations by up to about 24 degrees and rescaling (step 4b).
Larger rotations are left to :mod:`forgeseg.matchers.sift`.

1. A grey working copy whose long side is at most ``max_side``.
2. Overlapping ``block`` x ``block`` blocks every ``stride`` px (the queries), each
   described by the means of its 4x4 grid of cells, centred and scaled to unit norm:
   invariant to brightness and contrast, robust to JPEG, noise and slight blur, and the
   flips / quarter turns of a block are exact permutations of its 16 numbers. Flat blocks
   (grey-level std below ``min_block_std``) carry no evidence and are skipped. Twins are
   searched among the blocks at every pixel (``dense_index``), so a copy pasted at an odd
   offset still has an exactly aligned twin.
3. Each block is stored in a canonical pose (the flip / quarter turn scoring highest along a
   fixed direction), so one k-d tree query finds its twins under all 8 poses; twins closer
   than ``min_distance`` are the same structure seen twice. The tree stands in the
   descriptors' principal axes (the same distances, half the look-up time) and the look-up
   may return twins up to ``1 + search_eps`` times farther than the nearest.
4. Every match votes for one transform x -> D x + t (D dihedral, t the shift). A copy-move
   makes many blocks vote for the same transform; look-alike bands and cells vote for
   scattered ones. A vote counts for its bin and the neighbouring bins, so a copy whose
   shift sits on a bin border is not split in two. Votes within ``shift_tolerance`` of a
   peak are gathered and their source blocks must form a connected region of at least
   ``min_blocks`` blocks that does not overlap its own copy (a mirror-symmetric object
   matches itself under a flip). Candidates are verified largest region first, at most
   ``max_candidates``: in a figure full of look-alikes many bins outvote a real copy.
4b. A copy rotated by a few degrees or rescaled still finds block twins, but its shift
   changes over the region, so no bin gathers it (``affine``). Matches whose source blocks
   touch and whose shifts differ by at most ``affine_drift`` are linked; each linked group
   is fitted with one similarity (RANSAC) and refined on the full-resolution pixels by a
   bounded search that maximises the correlation of the bilinear image (``max_affine``
   candidates, ``min_affine_zncc``: interpolation costs a resampled copy a little). Past
   about 10 degrees block twins no longer match, so blocks are also described on the
   figure turned by -``turn`` and +``turn`` degrees and looked up in the same index (with
   ``turn_coarse`` > 1: first every ``turn_coarse`` strides, then all of them only around
   what that sparse look-up gathers; faster, but small rotated copies are missed).
5. Each transform is refined and checked on the full-resolution pixels, on the block
   footprint shrunk by ``core_erode`` (blocks overshoot a copy's edge): the source region
   mapped by it must correlate with the copy (ZNCC >= ``min_zncc``), and so must their fine
   grain between edges (``min_hp_zncc``, on the calmer ``grain_quantile`` of the pixels, and
   only where there is grain at all: ``min_grain``); a translation that also matches at
   twice, minus or half its shift is a regular pattern (ladder rungs, wells), not a copy;
   regions made of flat or saturated pixels (text, tick labels, bars: legitimately
   identical pixels) are rejected (``max_flat``).
6. The copy is the blocks' footprint grown over pixels that agree with the mapped source
   (never by a difference two independent grains would make); its preimage is the source.
7. The decisive test against look-alikes: the fine residual of copy minus mapped source,
   over what two independent grains of the figure leave (``max_residual``). A copy carries
   its source's grain (residual near 0, or the noise added after the forgery); bands,
   cells and glyphs drawn one by one do not (residual about 1), however alike their
   outlines. In a figure with grain, a region where that cannot be measured (a band whose
   mottling is coarser than grain) is kept only when nearly all its pixels equal the mapped
   source's to the grey level (``min_exact``: an untouched flip, turn or translation;
   objects drawn apart never agree so closely, typeset labels reach about 0.6-0.7);
   in a figure without grain (clean graphics) the stroke test stands in for it: regions
   whose ink is thin strokes (``min_stroke``: text, ladder rungs, plot lines) are rejected.
8. Source and copy are one instance, and instances that overlap (one object pasted several
   times) are merged.

Given the figure's structure (``forgeseg.panels``: panel boxes and a mask of text, panel
letters and scale bars), blocks over ``max_text_share`` on the text mask are left out at
step 2 (those glyphs repeat legitimately), and a verified copy whose source or copy has over
``max_gutter_share`` of its block centres outside every panel is rejected after step 7
(``Reason.MAX_GUTTER_SHARE`` in the trace).

The result is a :class:`forgeseg.matchers.base.MatchResult`, so both detectors are
interchangeable downstream. The detector stays silent unless the evidence is strong: any mask
on an authentic figure scores 0.

Where each step lives: 1 and 8 in :mod:`~forgeseg.matchers.dense.detect` (:func:`detect`,
which runs them all); 2 in :mod:`~forgeseg.matchers.dense.blocks`; 3 in
:mod:`~forgeseg.matchers.dense.index`, on the flips and turns of
:mod:`~forgeseg.matchers.dense.dihedral`; 4 in :mod:`~forgeseg.matchers.dense.vote`; 4b in
:mod:`~forgeseg.matchers.dense.affine`; the refinement of step 5 in
:mod:`~forgeseg.matchers.dense.align` and its checks in
:mod:`~forgeseg.matchers.dense.verify`, with the pixel evidence of steps 5 and 7 in
:mod:`~forgeseg.matchers.dense.evidence`; 6 in :mod:`~forgeseg.matchers.dense.localise`.
:mod:`~forgeseg.matchers.dense.trace` names the outcome of each candidate (:class:`Reason`,
:class:`Verdict`).
"""

from forgeseg.config.matchers import DenseConfig
from forgeseg.matchers.dense.detect import detect
from forgeseg.matchers.dense.dihedral import DIHEDRAL
from forgeseg.matchers.dense.evidence import grain_sigma, stroke_width
from forgeseg.matchers.dense.trace import Reason, Verdict

__all__ = ["DIHEDRAL", "DenseConfig", "Reason", "Verdict", "detect", "grain_sigma", "stroke_width"]
