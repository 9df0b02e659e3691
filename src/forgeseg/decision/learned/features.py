"""Candidates of one figure and the evidence about each, as a fixed row of numbers.

A *candidate* is a proposed instance: a verified geometric copy (every matcher's, merged as
the decision sees them) or a region of the network's probability map. Its features are the
evidence a person weighs: how much support, which matchers saw it, how well source and copy
correlate and whether the copy carries its source's grain (the residual), what kind of
transform, how large, how much of it is text, flat background or gutter, which panel class
it sits in and whether it spans two panels, and what the network thinks inside and outside.
Missing evidence is NaN (the trees send it down its own branch), never a made-up value.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.decision.evidence import Evidence
from forgeseg.panels.structure import PANEL_CLASSES

__all__ = ["FEATURES", "Candidate", "candidates", "label_candidates"]

_MATCHERS = ("sift", "dense", "pairs")
FEATURES: tuple[str, ...] = (
    "from_network",
    *(f"from_{m}" for m in _MATCHERS),
    "n_matchers",
    "support",
    "n_transforms",
    "zncc_max",
    "hp_zncc_max",
    "graphic_min",
    "residual_min",
    "flipped",
    "log_scale",
    "rotation_deg",
    "shift",
    "area_share",
    "n_parts",
    "text_share",
    "gutter_share",
    "n_panels",
    *(f"panel_{c}" for c in PANEL_CLASSES),
    "net_inside_mean",
    "net_inside_max",
    "net_outside_mean",
    "net_image",
    "figure_mp",
    "n_candidates",
    "figure_best_support",
)
_NAN = float("nan")
# A network region overlapping a geometric candidate by this IoU is the same copy: the
# geometric one already carries the network's view of it (net_inside_*).
_SAME_REGION_IOU = 0.3


@dataclass
class Candidate:
    """One proposed instance: ``mask`` (H, W) bool (source and copies) and its ``features``
    (F,) float64 in the order of :data:`FEATURES`."""

    mask: np.ndarray
    features: np.ndarray
    origin: str  # "geometry" or "network"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.count_nonzero(a & b)
    return inter / max(np.count_nonzero(a | b), 1)


def _transform_features(transforms: list) -> dict[str, float]:
    """What the verified transforms behind one geometric candidate say."""
    if not transforms:
        return {}
    names = {t.matcher for t in transforms}
    scales, angles, shifts = [], [], []
    for t in transforms:
        a = np.asarray(t.matrix, float)[:, :2]
        det = abs(float(np.linalg.det(a)))
        scales.append(abs(np.log(np.sqrt(det))) if det > 0 else _NAN)
        ang = abs(np.degrees(np.arctan2(a[1, 0], a[0, 0]))) % 90.0
        angles.append(min(ang, 90.0 - ang))  # quarter turns are as plain as none
        if len(t.src_points) and len(t.dst_points):
            d = np.asarray(t.dst_points, float).mean(0) - np.asarray(t.src_points, float).mean(0)
            shifts.append(float(np.hypot(*d)))
    residuals = [t.residual for t in transforms if np.isfinite(t.residual)]
    row = {f"from_{m}": float(m in names) for m in _MATCHERS}
    row.update(
        n_matchers=float(len(names - {""})),
        n_transforms=float(len(transforms)),
        zncc_max=max(t.zncc for t in transforms),
        hp_zncc_max=max(t.hp_zncc for t in transforms),
        graphic_min=min(t.graphic for t in transforms),
        residual_min=min(residuals) if residuals else _NAN,
        flipped=float(any(t.flipped for t in transforms)),
        log_scale=float(np.nanmax(scales)) if np.isfinite(scales).any() else _NAN,
        rotation_deg=float(max(angles)),
        shift=max(shifts) if shifts else _NAN,
    )
    return row


def _structure_features(ev: Evidence, mask: np.ndarray, area: int) -> dict[str, float]:
    """Text, gutter and panel class under the candidate (NaN without a structure)."""
    st = ev.structure
    if st is None:
        return {}
    row = {"text_share": np.count_nonzero(mask & st.text_mask) / area}
    inside = np.zeros(mask.shape, bool)
    per_panel = []
    for p in st.panels:
        x0, y0, x1, y1 = p.box
        inside[y0:y1, x0:x1] = True
        per_panel.append((np.count_nonzero(mask[y0:y1, x0:x1]), p.cls))
    row["gutter_share"] = np.count_nonzero(mask & ~inside) / area
    row["n_panels"] = float(sum(n >= 0.1 * area for n, _ in per_panel))
    best = max(per_panel, default=(0, "other"))[1]
    row.update({f"panel_{c}": float(c == best) for c in PANEL_CLASSES})
    return row


def _net_features(ev: Evidence, mask: np.ndarray) -> dict[str, float]:
    if ev.net is None:
        return {}
    prob = ev.net.prob
    outside = prob[~mask]
    return {
        "net_inside_mean": float(prob[mask].mean()),
        "net_inside_max": float(prob[mask].max()),
        "net_outside_mean": float(outside.mean()) if outside.size else _NAN,
        "net_image": float(ev.net.image_score),
    }


def _row(ev: Evidence, mask: np.ndarray, support: float, transforms: list) -> dict[str, float]:
    h, w = mask.shape
    area = max(int(np.count_nonzero(mask)), 1)
    n_parts, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    row = {
        "from_network": float(not transforms),
        "support": support,
        "area_share": area / (h * w),
        "n_parts": float(n_parts - 1),
        "figure_mp": h * w / 1e6,
    }
    row.update(_transform_features(transforms))
    row.update(_structure_features(ev, mask, area))
    row.update(_net_features(ev, mask))
    return row


def _network_regions(ev: Evidence, threshold: float, min_area: int) -> np.ndarray:
    from forgeseg.decision.instances import build_instances

    if ev.net is None:
        return np.zeros((0, *ev.image.shape[:2]), bool)
    return build_instances(ev.net.prob, ev.image, threshold=threshold, min_area=min_area)


def candidates(ev: Evidence, net_threshold: float, min_area: int) -> list[Candidate]:
    """Every candidate of one figure with its features; cached on the evidence."""
    key = ("candidates", net_threshold, min_area)
    if key in ev._cache:
        return ev._cache[key]
    geo = ev.geometry
    rows, masks, origins = [], [], []
    if geo is not None:
        for i in range(geo.instances.shape[0]):
            trs = geo.transforms[i] if i < len(geo.transforms) else []
            masks.append(geo.instances[i])
            rows.append(_row(ev, geo.instances[i], float(geo.support[i]), trs))
            origins.append("geometry")
    n_geo = len(masks)
    for region in _network_regions(ev, net_threshold, min_area):
        if any(_iou(region, m) >= _SAME_REGION_IOU for m in masks[:n_geo]):
            continue
        masks.append(region)
        rows.append(_row(ev, region, _NAN, []))
        origins.append("network")
    best = float(max(geo.support, default=0)) if geo is not None else 0.0
    out = []
    for mask, row, origin in zip(masks, rows, origins, strict=True):
        row.update(n_candidates=float(len(masks)), figure_best_support=best)
        feats = np.array([row.get(name, _NAN) for name in FEATURES], np.float64)
        out.append(Candidate(mask, feats, origin))
    ev._cache[key] = out
    return out


def label_candidates(cands: list[Candidate], truth: np.ndarray, positive_dice: float) -> np.ndarray:
    """(C,) int: 1 where a candidate's Dice with some true instance (M, H, W) reaches
    ``positive_dice``; an authentic figure's (M = 0) candidates are all 0."""
    labels = np.zeros(len(cands), np.int64)
    if truth.shape[0] == 0:
        return labels
    t_area = truth.reshape(truth.shape[0], -1).sum(axis=1)
    for i, c in enumerate(cands):
        inter = (truth & c.mask).reshape(truth.shape[0], -1).sum(axis=1)
        dice = 2 * inter / np.maximum(t_area + np.count_nonzero(c.mask), 1)
        labels[i] = int(dice.max() >= positive_dice)
    return labels
