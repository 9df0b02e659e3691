"""Do the geometric matchers still give exactly the same answers? A refactoring guard.

    python benchmarks/check_matchers_regression.py --write ref.json   # record
    python benchmarks/check_matchers_regression.py --check ref.json   # compare

Generates a fixed set of figures with :mod:`forgeseg.synth` (every kind, sides up to 640 px,
authentic figures, and forged ones with rotated or rescaled copies) plus a few hand-made
figures that reach the dense matcher's rarer checks (periodic patterns, repeated labels,
look-alike twins), and records for each what the SIFT and dense matchers report with their
default settings, and with a second setting each on part of the set: a hash of the instance
masks, the support list, ``n_matches``, ``score``, the transforms (matrices rounded to 1e-9,
and a hash of all their raw bytes) and the dense trace (one verdict per candidate). Any
difference, however small, is printed and the check exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from typing import Any

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig, SiftConfig
from forgeseg.synth import KINDS, apply_geometry, make_case

try:  # the package's public entry point ...
    from forgeseg.matchers.dense import detect as dense_detect
except ImportError:  # ... or, before it existed, the single module
    from forgeseg.matchers.dense.core import detect as dense_detect
from forgeseg.matchers.sift import detect as sift_detect

N_BASE = 32  # figures cycling through the kinds, every fourth authentic
N_GEOMETRY = 8  # forged figures whose copy is rotated or rescaled
MAX_SIDE = 640
# Second settings, run on every third figure: other branches of the same code.
SIFT_ALT = {"flip": False, "max_side": 400, "min_side": 256}
DENSE_ALT = {"flips": False, "dense_index": False, "stride": 3, "turn": 0.0}


def _sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


def _num(x: float) -> str:
    return repr(float(x))


def _support(obj: Any) -> Any:
    # ``support`` after the refactor, ``inliers`` before it.
    return obj.support if hasattr(obj, "support") else obj.inliers


def _transform(t: Any) -> dict[str, Any]:
    return {
        "matrix": np.round(t.matrix.astype(np.float64), 9).tolist(),
        "support": int(_support(t)),
        "zncc": _num(t.zncc),
        "hp_zncc": _num(t.hp_zncc),
        "graphic": _num(t.graphic),
        "residual": _num(t.residual),
        "flipped": bool(t.flipped),
        "raw": _sha(t.matrix, t.src_points, t.dst_points),
    }


def _result(res: Any) -> dict[str, Any]:
    return {
        "instances": _sha(res.instances),
        "n_instances": int(res.instances.shape[0]),
        "support": [int(n) for n in _support(res)],
        "n_matches": int(res.n_matches),
        "score": _num(res.score),
        "n_keypoints": int(res.n_keypoints),
        "scale": _num(res.scale),
        "transforms": [[_transform(t) for t in group] for group in res.transforms],
    }


def _trace(trace: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "g": int(v.g),
            "shift": [_num(x) for x in np.asarray(v.shift).ravel()],
            "blocks": int(v.blocks),
            "footprint": _sha(v.footprint),
            "outcome": str(v.outcome),
        }
        for v in trace
    ]


def _synthetic() -> list[tuple[str, np.ndarray]]:
    figures = []
    for i in range(N_BASE):
        kind = KINDS[i % len(KINDS)]
        forged = i % 4 != 3
        case = make_case(
            np.random.default_rng(1000 + i),
            kind=kind,
            forged=forged,
            with_authentic=False,
            min_side=160 if i % 2 else 100,
            max_side=MAX_SIDE,
            post_effects=i % 3 != 0,
        )
        image = case.forged if forged else case.authentic
        figures.append((f"synth{i:02d}-{kind}-{'forged' if forged else 'authentic'}", image))
    seed, found = 5000, 0
    while found < N_GEOMETRY:
        kind = KINDS[seed % len(KINDS)]
        case = make_case(
            np.random.default_rng(seed), kind=kind, with_authentic=False, max_side=MAX_SIDE
        )
        seed += 1
        kinds = set(case.meta["transforms"])
        if kinds & {"rotate", "scale"}:
            name = "+".join(sorted(kinds))
            figures.append((f"geom{seed - 1}-{kind}-{name}", case.forged))
            found += 1
    return figures


def _handmade() -> list[tuple[str, np.ndarray]]:
    """Small figures built to reach the checks synthetic figures rarely reach."""
    rng = np.random.default_rng(11)
    h, w = 200, 320
    out = []
    # A tile stamped at a fixed pitch, grain included: the periodicity check.
    tile = np.clip(190 + 5 * rng.normal(0, 1, (40, 32)), 0, 255).astype(np.uint8)
    cv2.rectangle(tile, (6, 12), (25, 27), 60, 2)
    img = np.full((h, w), 200, np.uint8)
    img[80:120, : 32 * 10] = np.tile(tile, (1, 10))
    out.append(("hand-periodic", img))
    # One label image pasted twice on a shaded page, and a label typeset twice on grain.
    page = np.repeat(np.linspace(170, 230, w)[None, :], h, axis=0).astype(np.uint8)
    label = np.clip(200 + 6 * rng.normal(0, 1, (30, 70)), 0, 255).astype(np.uint8)
    cv2.putText(label, "AKT", (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 40, 2, cv2.LINE_AA)
    page[20:50, 10:80] = label
    page[130:160, 10:80] = label
    out.append(("hand-label-pasted", page))
    grain = np.clip(200 + 6 * rng.normal(0, 1, (h, w)), 0, 255).astype(np.uint8)
    for y in (45, 155):
        cv2.putText(grain, "AKT", (14, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 40, 2, cv2.LINE_AA)
    out.append(("hand-label-typeset", grain))
    # Two bands of one smooth shape under their own grain; then the second pasted.
    yy, xx = np.mgrid[:40, :60].astype(np.float32)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (40, 60)).astype(np.float32), (0, 0), 2.0)
    band = np.exp(-(((yy - 20) / 7) ** 2 + ((xx - 30) / 16) ** 2) / 2) * (1 + 1.5 * texture)
    sheet = np.full((h, w), 215, np.float32)
    sheet[80:120, 60:120] -= 110 * band
    sheet[80:120, 200:260] -= 110 * band
    twins = np.clip(sheet + 3 * rng.normal(0, 1, (h, w)), 0, 255).astype(np.uint8)
    out.append(("hand-twins-lookalike", twins))
    copied = twins.copy()
    copied[80:120, 200:260] = copied[80:120, 60:120]
    out.append(("hand-twins-copied", copied))
    # Text only, on white.
    text = np.full((h, w, 3), 255, np.uint8)
    for row in range(4):
        for col, lab in enumerate(("WT", "KO", "Actin", "kDa 50")):
            org = (10 + 75 * col, 35 + 45 * row)
            cv2.putText(text, lab, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    out.append(("hand-text", text))
    # A smooth texture with fine grain, a patch of it copied flipped, rotated or rescaled:
    # SIFT's verification and localisation.
    base = cv2.resize(rng.normal(0, 1, (40, 52)).astype(np.float32), (400, 300))
    base += 0.5 * cv2.GaussianBlur(rng.normal(0, 1, (300, 400)).astype(np.float32), (0, 0), 1.5)
    base = ((base - base.min()) / (base.max() - base.min()) * 200 + 30).astype(np.uint8)
    for op in ("flip", "rot20", "scale0.8"):
        patch = base[30:110, 30:110].copy()
        if op == "flip":
            patch = patch[:, ::-1]
        else:
            geom = {"angle": 20.0} if op == "rot20" else {"scale": 0.8}
            patch = apply_geometry(patch, geom)
        fig = base.copy()
        ph, pw = patch.shape
        fig[300 - ph - 40 : 260, 400 - pw - 50 : 350] = patch
        out.append((f"hand-texture-{op}", np.repeat(fig[:, :, None], 3, axis=2)))
    # Blot-like bands, one box copied rotated or rescaled: the dense affine steps.
    for k, geom in enumerate(({"angle": -6.0}, {"scale": 1.15}, {"angle": 16.0})):
        blot = _blot(k)
        patch = blot[30:70, 76:124]
        moved = apply_geometry(patch, geom)
        inside = apply_geometry(np.ones(patch.shape, bool), geom, is_mask=True)
        ph, pw = moved.shape
        ty, tx = 140 - ph // 2, 220 - pw // 2
        blot[ty : ty + ph, tx : tx + pw][inside] = moved[inside]
        out.append((f"hand-blot-{next(iter(geom.items()))}", blot))
    return out


def _blot(seed: int) -> np.ndarray:
    """Grey (200, 320) uint8: two rows of independently rendered grainy dark bands."""
    rng = np.random.default_rng(seed)
    h, w = 200, 320
    img = 215 + 4 * rng.normal(0, 1, (h, w)).astype(np.float32)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    for cy in (50, 140):
        for cx in range(40, w - 20, 60):
            sy, sx = rng.uniform(4, 6), rng.uniform(10, 14)
            depth = rng.uniform(90, 140)
            blob = np.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2) / 2)
            grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.0)
            img -= depth * blob * (1 + 0.35 * grain)
    return np.clip(img, 0, 255).astype(np.uint8)


def record(figures: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    alt_sift, alt_dense = SiftConfig(**SIFT_ALT), DenseConfig(**DENSE_ALT)
    for k, (name, image) in enumerate(figures):
        t0 = time.perf_counter()
        trace: list[Any] = []
        entry: dict[str, Any] = {
            "shape": list(image.shape),
            "image": _sha(image),
            "sift": _result(sift_detect(image, SiftConfig())),
            "dense": _result(dense_detect(image, DenseConfig(), trace=trace)),
        }
        entry["dense_trace"] = _trace(trace)
        if k % 3 == 0:
            trace = []
            entry["sift_alt"] = _result(sift_detect(image, alt_sift))
            entry["dense_alt"] = _result(dense_detect(image, alt_dense, trace=trace))
            entry["dense_alt_trace"] = _trace(trace)
        out[name] = entry
        outcomes = sorted({v["outcome"] for v in entry["dense_trace"]})
        print(
            f"{name:48s} {image.shape!s:16s} sift {entry['sift']['n_instances']} "
            f"dense {entry['dense']['n_instances']} {outcomes} "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    return out


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'reference' if k in a else 'current'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: reference {a!r} != current {b!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", help="record the current outputs to this JSON file")
    group.add_argument("--check", help="compare the current outputs with this JSON file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    got = record(_synthetic() + _handmade())
    print(f"{len(got)} figures in {time.perf_counter() - t0:.0f} s")
    if args.write:
        with open(args.write, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
        return 0
    with open(args.check) as f:
        ref = json.load(f)
    diffs: list[str] = []
    _diff(ref, json.loads(json.dumps(got)), "", diffs)
    for line in diffs[:50]:
        print(line)
    outcomes = sorted({v["outcome"] for e in got.values() for v in e["dense_trace"]})
    print(f"dense outcomes covered: {outcomes}")
    print("IDENTICAL" if not diffs else f"{len(diffs)} DIFFERENCES")
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())
