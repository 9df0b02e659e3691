"""Settings of the geometric matchers (``detect.sift``, ``detect.dense``, ``detect.pairs``).

They live here, beside the rest of the params tree, rather than inside the matchers, so that
reading ``params.yaml`` never imports a matcher: a stage depends on a matcher's code only
when it runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from forgeseg.config.build import Section, setting
from forgeseg.core.errors import ParamsError

__all__ = [
    "DENSE_GRID",
    "FEATURE_KINDS",
    "PAIR_CLASSES",
    "DenseConfig",
    "PairsConfig",
    "SiftConfig",
]

DENSE_GRID = 4  # cells per block side of the dense matcher: 16-number descriptors

_UNIT = {"ge": 0.0, "le": 1.0}
_CORR = {"ge": -1.0, "le": 1.0}


@dataclass(frozen=True)
class SiftConfig(Section):
    """SIFT self-matching (:mod:`forgeseg.matchers.sift`). Distances: working-copy pixels."""

    KEY: ClassVar[str] = "detect.sift"

    max_side: int = setting(1280, ge=32)  # long side of the working copy (larger: downscaled)
    min_side: int = setting(512, ge=16)  # figures whose long side is smaller are upscaled
    n_features: int = setting(5000, ge=16)  # SIFT keypoint cap
    contrast_threshold: float = setting(0.015, ge=0)  # low: faint, low-texture blot bands
    edge_threshold: float = setting(10.0, ge=0)
    knn: int = setting(6, ge=1)  # neighbours examined per keypoint by the g2NN test
    ratio: float = setting(0.75, gt=0, le=1)  # g2NN: keep neighbour i while d_i/d_(i+1) < ratio
    flip: bool = True  # also match against the mirrored figure
    min_distance: float = setting(12.0, ge=0)  # matched points this close: same structure
    min_distance_scales: float = setting(2.0, ge=0)  # ... or this many keypoint sizes
    cluster_radius: float = setting(0.06, gt=0, le=1)  # pair link radius, share of long side
    min_inliers: int = setting(5, ge=4)  # RANSAC inliers (distinct pairs) a transform needs
    ransac_threshold: float = setting(3.0, ge=0)  # reprojection error of an inlier
    max_transforms: int = setting(12, ge=1)  # verified transforms kept per figure
    min_scale: float = 0.4  # singular values of the linear part must lie within these
    max_scale: float = 2.5
    max_anisotropy: float = setting(1.6, ge=1)  # ratio of singular values (similarity: 1)
    min_spread: float = setting(4.0, ge=0)  # inliers' smallest std along an axis (px)
    min_zncc: float = setting(0.75, **_CORR)  # correlation of source region and mapped copy
    min_hp_zncc: float = setting(0.3, **_CORR)  # ... of their fine texture (image - blur)
    hp_sigma: float = setting(2.0, ge=0)  # blur removed before the fine-texture correlation
    check_pad: int = setting(6, ge=0)  # correlations over the inliers' hull grown by this
    max_flat: float = setting(0.15, gt=0, le=1)  # largest share of flat/saturated pixels
    local_window: int = setting(7, ge=3)  # window of the local ZNCC map that grows regions
    local_zncc: float = setting(0.6, **_CORR)  # local correlation a grown pixel needs
    min_std: float = setting(2.0, ge=0)  # local grey-level std below which a pixel is flat
    grow_margin: float = setting(0.35, ge=0)  # growth beyond the inliers' hull, share of size
    min_area: int = setting(64, ge=0)  # smallest instance kept, full-resolution pixels
    merge_overlap: float = setting(0.2, gt=0, le=1)  # overlap share at which instances merge
    seed: int = 0  # RANSAC sampling seed
    # With the figure's structure (forgeseg.panels): keypoints on its text mask (text, panel
    # letters, scale bars: legitimately repeated) are dropped, and no copy may lie mostly in
    # the gutters between panels. False: the structure is ignored.
    use_structure: bool = True
    text_dilate_px: int = setting(4, ge=0)  # text mask grown (full-res px): descriptors span
    max_gutter_share: float = setting(0.5, **_UNIT)  # of a source's or copy's inliers

    def check(self) -> None:
        if not 0 < self.min_scale <= 1 <= self.max_scale:
            raise ParamsError(
                f"{self.KEY} needs 0 < min_scale <= 1 <= max_scale; got {self.min_scale}, "
                f"{self.max_scale}"
            )
        if self.min_side > self.max_side:
            raise ParamsError(
                f"{self.key('min_side')} ({self.min_side}) exceeds "
                f"{self.key('max_side')} ({self.max_side})"
            )


@dataclass(frozen=True)
class DenseConfig(Section):
    """Dense block matching (:mod:`forgeseg.matchers.dense`). Distances are in pixels of the
    working copy unless named otherwise."""

    KEY: ClassVar[str] = "detect.dense"

    max_side: int = setting(640, ge=32)  # long side of the working copy (larger: downscaled)
    block: int = setting(8, ge=4)  # block side, a multiple of 4 (4x4 grid of cells)
    stride: int = setting(2, ge=1)  # step between blocks
    min_block_std: float = setting(4.0, ge=0)  # blocks flatter than this (grey) are skipped
    blur: float = setting(1.0, ge=0)  # Gaussian sigma applied before describing blocks
    min_structure: float = setting(0.2, ge=0)  # energy a linear ramp must leave unexplained
    max_blocks: int = setting(40000, ge=100)  # the stride grows until at most this many remain
    knn: int = setting(6, ge=1)  # neighbours fetched per block and dihedral variant
    max_feature_dist: float = setting(0.25, ge=0)  # descriptor distance of a twin
    # The twin look-up may return neighbours up to (1 + search_eps) times farther than the
    # nearest (still within max_feature_dist): 0.3 halves its time and changes about 0.2%
    # of the blocks' twin lists; 0: exact.
    search_eps: float = setting(0.3, ge=0)
    flips: bool = True  # also match the 7 flipped / turned variants
    dense_index: bool = True  # twins are searched among blocks at every pixel, not the grid
    min_distance: float = setting(10.0, ge=0)  # twins closer than this: the same structure
    shift_tolerance: float = setting(1.5, ge=0)  # votes this close to a peak's shift join it
    min_blocks: int = setting(16, ge=2)  # connected source blocks a transform needs
    max_candidates: int = setting(40, ge=1)  # transforms verified (largest regions first)
    affine: bool = True  # also look for rotated / rescaled copies (smoothly varying shifts)
    affine_drift: float = setting(3.0, ge=0)  # px the shift may change between touching blocks
    max_affine: int = setting(10, ge=0)  # rotated / rescaled transforms verified per figure
    turn: float = setting(14.0, ge=0)  # degrees: blocks also described on the figure turned
    # The turned blocks are first looked up on a grid this many strides apart; only around
    # the rotated copies that sparse look-up gathers are all of them looked up. 1: all at
    # once; 2 halves the turned look-ups' time but misses about a third of the small
    # (16-30 block) rotated copies the full look-up finds.
    turn_coarse: int = setting(1, ge=1)
    min_affine_zncc: float = setting(0.95, **_CORR)  # correlation a resampled copy needs
    max_self_overlap: float = setting(0.2, **_UNIT)  # share of the source its copy may cover
    # A mirrored copy whose mirror axis is itself symmetric over +-mirror_band px
    # (ZNCC >= min_zncc) is one mirror-symmetric object; 0: never.
    mirror_band: int = setting(6, ge=0)
    core_erode: int = setting(3, ge=0)  # px (full resolution) the footprint is eroded by
    max_residual: float = setting(0.5, ge=0)  # copy-minus-source residual over 2x the grain
    min_exact: float = setting(0.9, **_UNIT)  # where that cannot be measured: equal pixels
    min_zncc: float = setting(0.98, **_CORR)  # correlation of source region and mapped copy
    min_hp_zncc: float = setting(0.9, **_CORR)  # ... of their fine texture (image - blur)
    hp_sigma: float = setting(1.5, gt=0)  # blur removed before the fine-texture correlation
    grain_quantile: float = setting(0.5, **_UNIT)  # fine texture compared on calm pixels
    min_grain: float = setting(2.0, ge=0)  # fine-texture std (grey) needed to compare at all
    max_flat: float = setting(0.2, **_UNIT)  # largest share of flat or saturated pixels
    min_stroke: float = setting(1.5, ge=0)  # median half-width (px) of the ink: not text
    local_window: int = setting(5, ge=3)  # window of the local agreement map (full res)
    local_zncc: float = setting(0.6, **_CORR)  # local correlation a grown pixel needs
    max_abs_diff: float = setting(4.0, ge=0)  # ... or an absolute grey difference at most
    min_area: int = setting(48, ge=0)  # smallest instance kept, full-resolution pixels
    merge_overlap: float = setting(0.2, **_UNIT)  # overlap share at which instances merge
    # With the figure's structure (forgeseg.panels): blocks made largely of its text mask
    # (text, panel letters, scale bars: legitimately repeated) are dropped, and no copy may
    # lie mostly in the gutters between panels. False: the structure is ignored.
    use_structure: bool = True
    max_text_share: float = setting(0.25, **_UNIT)  # of a block's pixels on the text mask
    max_gutter_share: float = setting(0.5, **_UNIT)  # of a source's or copy's block centres

    def check(self) -> None:
        if self.block % DENSE_GRID:
            raise ParamsError(
                f"{self.key('block')} must be a multiple of {DENSE_GRID}, got {self.block}"
            )


# The panel classes of forgeseg.panels.PANEL_CLASSES, written again here because the params
# tree stands below the panels package (tests/matchers/test_pairs.py checks they agree).
PAIR_CLASSES = ("blot", "microscopy", "chart", "flow", "other")
FEATURE_KINDS = ("rootsift", "aliked")  # forgeseg.matchers.pairs.features.FEATURES
ALIKED_MODELS = ("aliked-t16", "aliked-n16", "aliked-n16rot", "aliked-n32")


@dataclass(frozen=True)
class PairsConfig(Section):
    """Panel-against-panel matching (:mod:`forgeseg.matchers.pairs`). Distances are in
    full-resolution pixels of the panel unless named otherwise."""

    KEY: ClassVar[str] = "detect.pairs"

    features: str = setting("rootsift", choices=FEATURE_KINDS)
    # Panels of these classes are compared; charts and flow cytometry repeat look-alike
    # marks that are not reuse (COMPETITION.md).
    classes: tuple[str, ...] = setting(("blot", "microscopy", "other"), choices=PAIR_CLASSES)
    # Pair only panels of one class. The classical cut misnames about 6% of blot and
    # microscopy panels, and a reused panel turned a quarter turn or re-lit can change
    # class with it: False pairs any two compared panels.
    same_class: bool = False
    min_panel_side: int = setting(32, ge=8)  # panels with a shorter side are not compared
    max_area_ratio: float = setting(16.0, ge=1)  # larger / smaller panel area of a pair
    top_k: int = setting(3, ge=1)  # partners per panel kept by the global descriptor
    max_pairs: int = setting(24, ge=1)  # panel pairs matched per figure, most alike first
    max_side: int = setting(384, ge=32)  # panel long side for keypoints (larger: downscaled)
    # Panels with a shorter long side are upscaled: small blots show too few keypoints.
    min_side: int = setting(384, ge=16)
    n_features: int = setting(1000, ge=16)  # RootSIFT keypoints per panel and pose
    contrast_threshold: float = setting(0.01, ge=0)  # SIFT: low for faint blot bands
    ratio: float = setting(0.8, gt=0, le=1)  # RootSIFT: nearest / second nearest distance
    aliked_model: str = setting("aliked-n16", choices=ALIKED_MODELS)
    aliked_keypoints: int = setting(512, ge=16)  # ALIKED keypoints per panel and pose
    match_threshold: float = setting(0.1, ge=0, le=1)  # LightGlue's match confidence floor
    poses: int = setting(2, ge=1, le=8)  # dihedral poses tried by ALIKED (identity + best)
    magsac_threshold: float = setting(3.0, gt=0)  # MAGSAC++ reprojection error, working px
    # 4th place asked 20 MAGSAC++ inliers of a whole panel; a pasted part or a small blot
    # shows fewer, and the shared region's pixels are verified besides. On 300 generated
    # compound figures 8 found 9 more reuses than 12 (panels of 40-130 px hold 8-11) and
    # flagged no more authentic figures; 6 found none more.
    min_inliers: int = setting(8, ge=4)
    min_scale: float = setting(0.5, gt=0, le=1)  # singular values of the linear part ...
    max_scale: float = setting(2.0, ge=1)  # ... must lie within these
    # Ratio of singular values (similarity: 1). A reuse is rescaled alike on both axes; a
    # mirrored, stretched or sheared map of 1.3-1.5 paired the identical well markers of two
    # gels and the bars of two pieces of one chart (1.2 cost no reuse on 300 figures).
    max_anisotropy: float = setting(1.2, ge=1)
    # Inliers' std along their minor axis / the shared region's (uniform over it: 1.0).
    min_spread: float = setting(0.25, ge=0, le=1)
    # The shared region (where the mapped panel agrees, holding inliers) must cover this
    # share of the smaller panel (a lane strip: 4-20%; a letter that escaped the text mask:
    # under 1%) and hold this share of the inliers.
    min_region_share: float = setting(0.03, ge=0, le=1)
    # ... and at least this many full-resolution pixels: in tiny panels, a scale bar and
    # its label that escaped the text mask pass the share. 512 found 2 and 5 more reuses
    # than 1024 on two sets of 300 generated compound figures (a part pasted into a panel
    # of 40-130 px) and flagged no more authentic ones; 256 flagged 2 more.
    min_region_px: int = setting(512, ge=0)
    min_inside: float = setting(0.5, ge=0, le=1)
    min_zncc: float = setting(0.5, ge=-1, le=1)  # shared region against its mapped source
    # ... where the map is a panel's own place and size in the other (see verify.py)
    min_echo_zncc: float = setting(0.95, ge=-1, le=1)
    min_agree: float = setting(0.5, ge=0, le=1)  # share of its textured pixels that agree
    local_window: int = setting(7, ge=3)  # window of the local ZNCC (working px)
    local_zncc: float = setting(0.6, ge=-1, le=1)  # local correlation of an agreeing pixel
    min_std: float = setting(3.0, ge=0)  # local grey std under which a pixel is flat
    max_flat: float = setting(0.6, ge=0, le=1)  # largest share of flat / saturated pixels
    # The mask: the warped box where all of it agrees, else the part that agrees (agree);
    # always the warped box (warp); or the inliers' hull (hull).
    region: str = setting("agree", choices=("agree", "warp", "hull"))
    lanes: bool = True  # also match blot lanes against the lanes of the other blots
    lane_threshold: float = setting(0.3, gt=0, lt=1)  # column profile level of a lane
    lane_min_width: int = setting(6, ge=2)  # narrowest lane (px)
    lane_max_share: float = setting(0.4, gt=0, le=1)  # widest lane, share of panel width
    lane_min_height: int = setting(16, ge=2)  # shortest lane strip (px): one band is too little
    # Smallest lane strip (px): an authentic blot's 8 x 16 px sliver with one band found
    # its look-alike in another blot (zncc 0.99) among 130 generated authentic figures.
    lane_min_area: int = setting(512, ge=0)
    lane_scales: tuple[float, ...] = setting((0.9, 0.95, 1.0, 1.05, 1.1), ge=0.5, le=2)
    lane_min_zncc: float = setting(0.95, ge=-1, le=1)  # lane strip against its twin
    lane_min_hp_zncc: float = setting(0.75, ge=-1, le=1)  # ... of their fine texture
    hp_sigma: float = setting(1.0, gt=0)  # blur removed before a fine-texture correlation
    min_area: int = setting(64, ge=0)  # smallest instance kept, full-resolution pixels
    merge_overlap: float = setting(0.2, gt=0, le=1)  # overlap share at which instances merge

    def check(self) -> None:
        if self.min_side > self.max_side:
            raise ParamsError(
                f"{self.key('min_side')} ({self.min_side}) exceeds "
                f"{self.key('max_side')} ({self.max_side})"
            )
        if not self.classes:
            raise ParamsError(f"{self.key('classes')} must list at least one panel class")
        if not self.lane_scales:
            raise ParamsError(f"{self.key('lane_scales')} must list at least one scale")
