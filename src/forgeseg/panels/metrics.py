"""How well a panel finder recovers a figure's structure: panel recall and precision at an
IoU floor, and the pixel F1 of the text mask, against the truth in ``structure.csv``."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from forgeseg.core.errors import DataError
from forgeseg.panels.structure import PANEL_CLASSES, STRUCTURE_KINDS, Box, Panel, Structure

__all__ = ["box_iou", "read_structure_csv", "structure_scores"]

_COLUMNS = ("image", "kind", "cls", "x0", "y0", "x1", "y1")


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (0.0 when disjoint)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _matched(pred: list[Box], truth: list[Box], floor: float) -> int:
    """Panels matched one-to-one, greedily by IoU, each pair at least ``floor``."""
    pairs = sorted(
        ((box_iou(p, t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth)),
        reverse=True,
    )
    used_p, used_t, n = set(), set(), 0
    for iou, i, j in pairs:
        if iou < floor:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            n += 1
    return n


def structure_scores(
    pairs: Iterable[tuple[Structure, Structure]], iou: float = 0.5
) -> dict[str, float | int]:
    """Scores of predicted against true structures, pooled over figures.

    ``pairs``: (predicted, true) per figure, text masks of one (H, W). Returns
    ``panel_recall``, ``panel_precision`` (one-to-one matches at IoU >= ``iou``),
    ``class_accuracy`` (matched panels of the right class), ``text_f1``, ``text_precision``,
    ``text_recall`` (pixels of the text masks), and the counts behind them.
    """
    n_pred = n_true = n_match = n_cls = 0
    tp = fp = fn = 0
    figures = 0
    for pred, truth in pairs:
        figures += 1
        pb = [p.box for p in pred.panels]
        tb = [t.box for t in truth.panels]
        n_pred, n_true = n_pred + len(pb), n_true + len(tb)
        n_match += _matched(pb, tb, iou)
        for t in truth.panels:
            best = max(pred.panels, key=lambda p, t=t: box_iou(p.box, t.box), default=None)
            if best is not None and box_iou(best.box, t.box) >= iou and best.cls == t.cls:
                n_cls += 1
        pm, tm = pred.text_mask.astype(bool), truth.text_mask.astype(bool)
        tp += int((pm & tm).sum())
        fp += int((pm & ~tm).sum())
        fn += int((~pm & tm).sum())
    return {
        "figures": figures,
        "panels_true": n_true,
        "panels_predicted": n_pred,
        "panel_recall": n_match / n_true if n_true else 0.0,
        "panel_precision": n_match / n_pred if n_pred else 0.0,
        "class_accuracy": n_cls / n_true if n_true else 0.0,
        "text_precision": tp / (tp + fp) if tp + fp else 0.0,
        "text_recall": tp / (tp + fn) if tp + fn else 0.0,
        "text_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
    }


def _row(path: Path, line: int, row: dict[str, str]) -> tuple[str, str, str, Box]:
    kind, cls = row.get("kind") or "", row.get("cls") or ""
    if kind not in STRUCTURE_KINDS:
        raise DataError(path, f"line {line}: kind {kind!r} is not one of {STRUCTURE_KINDS}")
    if kind == "panel" and cls not in PANEL_CLASSES:
        raise DataError(path, f"line {line}: panel class {cls!r} is not one of {PANEL_CLASSES}")
    try:
        box = tuple(int(row[k]) for k in ("x0", "y0", "x1", "y1"))
    except (TypeError, ValueError, KeyError):
        raise DataError(path, f"line {line}: box is not four integers") from None
    if not (box[0] < box[2] and box[1] < box[3]):
        raise DataError(path, f"line {line}: empty box {box}")
    return row["image"], kind, cls, box  # type: ignore[return-value]


def read_structure_csv(path: str | os.PathLike[str]) -> dict[str, Structure]:
    """The true :class:`Structure` of every figure in a ``structure.csv`` (its root is the
    file's folder): ``image -> Structure``, the text mask the union of the text, letter and
    scale-bar boxes. Raises :class:`DataError` naming the file for a bad header or row."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != _COLUMNS:
                raise DataError(path, f"header must be {','.join(_COLUMNS)}")
            rows = [_row(path, i + 2, r) for i, r in enumerate(reader)]
    except OSError as err:
        raise DataError(path, f"cannot read: {err.strerror or err}") from None
    grouped: dict[str, list[tuple[str, str, Box]]] = {}
    for image, kind, cls, box in rows:
        grouped.setdefault(image, []).append((kind, cls, box))
    out = {}
    for image, items in grouped.items():
        try:
            with Image.open(path.parent / image) as im:
                w, h = im.size
        except OSError:
            raise DataError(path, f"figure {image} is missing or unreadable") from None
        text = np.zeros((h, w), bool)
        panels = []
        for kind, cls, (x0, y0, x1, y1) in items:
            if kind == "panel":
                panels.append(Panel((x0, y0, x1, y1), cls))
            else:
                text[y0:y1, x0:x1] = True
        out[image] = Structure(tuple(panels), text)
    return out
