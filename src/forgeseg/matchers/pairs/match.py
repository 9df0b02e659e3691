"""Panel against panel, put together: :func:`detect`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from forgeseg.config.matchers import PairsConfig
from forgeseg.core.imageio import to_gray
from forgeseg.matchers.base import MatchResult, Transform, assemble_result
from forgeseg.matchers.pairs.features import (
    FEATURES,
    FeatureKind,
    Features,
    describe,
    working_copy,
)
from forgeseg.matchers.pairs.lanes import Lane, find_lanes, match_lanes
from forgeseg.matchers.pairs.poses import IDENTITY, MIRROR, Pose
from forgeseg.matchers.pairs.region import (
    agreed_region,
    figure_matrix,
    hull_region,
    shared_region,
)
from forgeseg.matchers.pairs.shortlist import Candidate, ranked_poses, shortlist, summarise
from forgeseg.matchers.pairs.verify import Verified, verify_pair
from forgeseg.panels.structure import Box, Panel, Structure

__all__ = ["compared_panels", "detect", "figure_structure"]

log = logging.getLogger(__name__)

_BLOCK_AREA = 64  # a lane match's support: its 8 x 8 blocks, as the dense matcher counts


def figure_structure(image: np.ndarray) -> Structure:
    """The structure of a figure by the classical panel finder
    (``forgeseg.panels.classical.find_panels``), or the whole figure as one panel where
    that finder is not installed."""
    try:
        from forgeseg.panels.classical import find_panels
    except ModuleNotFoundError as exc:
        if exc.name not in ("forgeseg.panels.classical", "forgeseg.panels"):
            raise
        return Structure.whole(image.shape[:2])
    return find_panels(image)


@dataclass
class _Figure:
    """The compared panels of one figure and what was found on them so far."""

    image: np.ndarray  # uint8 (H, W, 3)
    gray: np.ndarray  # uint8 (H, W)
    text: np.ndarray  # bool (H, W)
    panels: list[Panel]
    kind: FeatureKind
    cfg: PairsConfig
    work: dict[int, np.ndarray] = field(default_factory=dict)  # working copies
    feats: dict[tuple[int, Pose], Features] = field(default_factory=dict)
    lanes: dict[int, list[Lane]] = field(default_factory=dict)
    found: list[tuple[np.ndarray, Transform]] = field(default_factory=list)
    n_matches: int = 0

    def crop(self, arr: np.ndarray, i: int) -> np.ndarray:
        x0, y0, x1, y1 = self.panels[i].box
        return arr[y0:y1, x0:x1]

    def features(self, i: int, pose: Pose) -> Features:
        if (i, pose) not in self.feats:
            if i not in self.work:
                self.work[i] = working_copy(
                    np.ascontiguousarray(self.crop(self.image, i)), self.cfg
                )
            shape = self.crop(self.gray, i).shape
            self.feats[i, pose] = describe(self.work[i], shape, pose, self.kind, self.cfg)
        return self.feats[i, pose]

    def panel_lanes(self, i: int) -> list[Lane]:
        if i not in self.lanes:
            self.lanes[i] = find_lanes(self.crop(self.gray, i), self.cfg)
        return self.lanes[i]

    @property
    def n_keypoints(self) -> int:
        return sum(len(f.pts) for f in self.feats.values())


def compared_panels(structure: Structure, shape: tuple[int, int], cfg: PairsConfig) -> list[Panel]:
    """The structure's panels clipped to the figure, of a compared class and large enough."""
    H, W = shape
    out = []
    for p in structure.panels:
        x0, y0, x1, y1 = p.box
        box: Box = (max(x0, 0), max(y0, 0), min(x1, W), min(y1, H))
        if p.cls not in cfg.classes:
            continue
        if min(box[2] - box[0], box[3] - box[1]) >= cfg.min_panel_side:
            out.append(Panel(box, p.cls, p.score))
    return out


def _match_pair(fig: _Figure, cand: Candidate) -> None:
    """Keypoint matching of one panel pair under its poses; the best verified fit, if any,
    becomes a finding."""
    i, j = cand.i, cand.j
    poses = (IDENTITY, MIRROR) if fig.kind.rotation_invariant else ranked_poses(cand, fig.cfg.poses)
    ga, gb = fig.crop(fig.gray, i), fig.crop(fig.gray, j)
    ta, tb = fig.crop(fig.text, i), fig.crop(fig.text, j)
    fa = fig.features(i, IDENTITY)
    best: Verified | None = None
    for pose in poses:
        fb = fig.features(j, pose)
        idx = fig.kind.match(fa, fb, fig.cfg)
        fig.n_matches += len(idx)
        if len(idx) < fig.cfg.min_inliers:
            continue
        thr = fig.cfg.magsac_threshold / fb.scale
        v = verify_pair(fa.pts[idx[:, 0]], fb.pts[idx[:, 1]], ga, gb, ta, tb, thr, fig.cfg)
        if v is not None and (best is None or len(v.src) > len(best.src)):
            best = v
    if best is None:
        return
    box_a, box_b = fig.panels[i].box, fig.panels[j].box
    shape = fig.gray.shape
    if fig.cfg.region == "agree" and not best.whole:
        mask = agreed_region(best.region, best.matrix, box_a, box_b, shape)
    elif fig.cfg.region == "hull":
        mask = hull_region(best.src, best.dst, box_a, box_b, shape)
    else:
        mask = shared_region(best.matrix, box_a, box_b, shape)
    src = best.src + np.array(box_a[:2], np.float32)
    dst = best.dst + np.array(box_b[:2], np.float32)
    m_fig = figure_matrix(best.matrix, box_a, box_b)
    tr = Transform(
        m_fig, len(best.src), best.zncc, best.hp_zncc, best.graphic, best.flipped, src, dst
    )
    fig.found.append((mask, tr))


def _match_lanes(fig: _Figure, cand: Candidate) -> None:
    """Every lane of one blot searched in the other; each verified lane is a finding."""
    i, j = cand.i, cand.j
    ga, gb = fig.crop(fig.gray, i), fig.crop(fig.gray, j)
    box_a, box_b = fig.panels[i].box, fig.panels[j].box
    for lm in match_lanes(ga, fig.panel_lanes(i), gb, fig.panel_lanes(j), fig.cfg):
        mask = np.zeros(fig.gray.shape, bool)
        ln, (bx0, by0, bx1, by1) = lm.lane, lm.box
        mask[box_a[1] + ln.y0 : box_a[1] + ln.y1, box_a[0] + ln.x0 : box_a[0] + ln.x1] = True
        mask[box_b[1] + by0 : box_b[1] + by1, box_b[0] + bx0 : box_b[0] + bx1] = True
        corners = np.array([[ln.x0, ln.y0], [ln.x1 - 1, ln.y1 - 1]], np.float32)
        mapped = corners @ lm.matrix[:, :2].T.astype(np.float32) + lm.matrix[:, 2]
        src = corners + np.array(box_a[:2], np.float32)
        dst = (mapped + np.array(box_b[:2])).astype(np.float32)
        support = max(1, (ln.x1 - ln.x0) * (ln.y1 - ln.y0) // _BLOCK_AREA)
        m_fig = figure_matrix(lm.matrix, box_a, box_b)
        tr = Transform(m_fig, support, lm.zncc, lm.hp_zncc, 0.0, lm.flipped, src, dst)
        fig.found.append((mask, tr))


def detect(
    image: np.ndarray, cfg: PairsConfig | None = None, structure: Structure | None = None
) -> MatchResult:
    """Find panels of a compound figure that reuse each other (whole, mirrored, turned,
    rescaled, cropped), and blot lanes reused across blots.

    Args:
        image: uint8 RGB (H, W, 3) (grey (H, W) and RGBA (H, W, 4) also accepted).
        cfg: settings; defaults when None.
        structure: the figure's panels and text mask; None: found by
            :func:`figure_structure`.

    Returns:
        :class:`forgeseg.matchers.base.MatchResult`: ``instances`` bool (N, H, W), each the
        shared region on both panels of a pair (pairs that share one region merge);
        ``support`` the verified inliers (plus 8 x 8 blocks of each matched lane strip);
        ``n_matches`` the tentative keypoint matches; ``n_keypoints`` the keypoints
        described over every panel and pose; ``scale`` 1.0 (instances at full size).

    Raises:
        ValueError: when the image is not uint8 (H, W[, C]) or the structure's text mask
            is not (H, W).
    """
    cfg = cfg or PairsConfig()
    gray = to_gray(image)
    H, W = gray.shape
    rgb = np.ascontiguousarray(
        np.repeat(gray[:, :, None], 3, 2) if image.ndim == 2 else image[:, :, :3]
    )
    structure = structure if structure is not None else figure_structure(rgb)
    if structure.text_mask.shape != (H, W):
        raise ValueError(
            f"structure.text_mask must be the figure's shape {(H, W)}, got "
            f"{structure.text_mask.shape}"
        )
    empty = MatchResult(np.zeros((0, H, W), bool), [], 0, 0.0)
    panels = compared_panels(structure, (H, W), cfg)
    if len(panels) < 2:
        return empty
    fig = _Figure(rgb, gray, structure.text_mask.astype(bool), panels, FEATURES[cfg.features], cfg)
    summaries = [summarise(fig.crop(gray, i)) for i in range(len(panels))]
    cands = shortlist(summaries, [p.cls for p in panels], [p.box for p in panels], cfg)
    for cand in cands:
        _match_pair(fig, cand)
        if cfg.lanes and panels[cand.i].cls == panels[cand.j].cls == "blot":
            _match_lanes(fig, cand)
    log.debug(
        "pairs: %d panels, %d pairs, %d keypoints, %d matches, %d findings",
        len(panels),
        len(cands),
        fig.n_keypoints,
        fig.n_matches,
        len(fig.found),
    )
    empty.n_matches, empty.n_keypoints = fig.n_matches, fig.n_keypoints
    if not fig.found:
        return empty
    return assemble_result(
        fig.found,
        (H, W),
        merge_overlap=cfg.merge_overlap,
        min_area=cfg.min_area,
        combine=sum,  # distinct pairs or lanes: their evidence adds up
        n_matches=fig.n_matches,
        n_keypoints=fig.n_keypoints,
        scale=1.0,
    )
