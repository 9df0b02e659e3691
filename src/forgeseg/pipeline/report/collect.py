"""The evidence behind one figure's decision, gathered for a person to check.

:func:`examine` runs the detector's matchers and network exactly as
:meth:`forgeseg.decision.detector.Detector.evidence` does, asking the matchers that can
(``detect(..., trace=[])``: the dense matcher) why they rejected each candidate, then
applies the same :func:`forgeseg.decision.rules.decide`. What it keeps per figure is a
:class:`FigureReport`: each detected instance with its copy-moves (the transform, both
sides as masks, the matcher that verified it), or, for a figure called authentic, the
strongest candidate that was turned down and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from forgeseg.decision.detector import Detector
from forgeseg.decision.evidence import Detection, Evidence
from forgeseg.decision.rules import DecisionConfig, area_floor, decide, net_instances
from forgeseg.matchers import Transform
from forgeseg.matchers.dense import Verdict
from forgeseg.matchers.dense.align import full_matrix
from forgeseg.pipeline.report.sides import distinct, sides
from forgeseg.pipeline.report.words import rejection

__all__ = ["SUPPORT_UNITS", "Copy", "FigureReport", "Finding", "Rejected", "examine"]

# What one unit of support is, per matcher: the dense matcher counts source blocks.
SUPPORT_UNITS: dict[str, str] = {"sift": "inlier pairs", "dense": "matched blocks"}


@dataclass
class Copy:
    """One verified copy-move: ``transform`` maps ``source`` onto ``copy`` (bool (H, W)).

    Which side was the original cannot be told from the pixels; ``source`` is the side
    the transform starts from.
    """

    transform: Transform
    matcher: str
    source: np.ndarray
    copy: np.ndarray


@dataclass
class Finding:
    """One detected instance: ``mask`` bool (H, W) (source and copies together).

    ``origin``: ``"geometry"`` (verified copy-moves in ``copies``) or ``"network"`` (the
    network's region, mean probability ``net_mean``, no transform).
    """

    mask: np.ndarray
    origin: str
    support: int = 0
    copies: list[Copy] = field(default_factory=list)
    net_mean: float | None = None


@dataclass
class Rejected:
    """The strongest candidate turned down in a figure called authentic.

    ``strength``: its support (``unit``); ``reason``: the check that rejected it (a
    :class:`forgeseg.matchers.dense.Reason` value, ``min_support`` or ``min_area``);
    ``source``/``copy``: bool (H, W) sides (``copy`` None when unknown).
    """

    matcher: str
    strength: int
    unit: str
    reason: str
    source: np.ndarray
    copy: np.ndarray | None
    matrix: np.ndarray | None

    @property
    def words(self) -> str:
        return rejection(self.reason)


@dataclass
class FigureReport:
    """What the report shows of one (H, W) figure; ``facts``: (label, value) rows of the
    scores behind the decision; ``truth``: (M, H, W) bool when known."""

    uid: str
    shape: tuple[int, int]
    forged: bool
    score: float
    method: str
    findings: list[Finding]
    rejected: Rejected | None
    facts: list[tuple[str, str]]
    truth: np.ndarray | None = None


@dataclass
class _Run:
    cfg: DecisionConfig
    evidence: Evidence
    detection: Detection
    trace: list[Verdict]
    tracer: str  # the matcher that traced, and its working scale
    trace_scale: float


def _run(detector: Detector, image: np.ndarray, uid: str, truth: np.ndarray | None) -> _Run:
    """The detector's own steps (:meth:`Detector.match`, network, decision), with the
    rejected candidates traced: the report must judge as infer does."""
    trace: list[Verdict] = []
    got = detector.match(image, trace) if detector.use_geometry else None
    net = detector.predictor.predict(image) if detector.predictor is not None else None
    ev = Evidence(
        uid,
        image,
        net=net,
        geometry=got.geometry if got else None,
        truth=truth,
        structure=got.structure if got else None,
    )
    detection = decide(ev, detector.cfg, detector.learned)
    tracer, scale = (got.traced, got.scale) if got else ("", 1.0)
    return _Run(detector.cfg, ev, detection, trace, tracer, scale)


def _copies(mask: np.ndarray, trs: list[Transform], run: _Run, limit: int) -> list[Copy]:
    out = []
    for tr in distinct(trs)[:limit]:
        src, dst = sides(mask, tr)
        out.append(Copy(tr, tr.matcher or "geometry", src, dst))
    return out


def _findings(run: _Run, max_copies: int) -> list[Finding]:
    ev, det = run.evidence, run.detection
    geo = ev.geometry
    found = []
    for inst in det.instances:
        j = None
        if geo is not None:
            j = next((i for i, g in enumerate(geo.instances) if np.array_equal(g, inst)), None)
        if j is not None and geo is not None:
            trs = geo.transforms[j] if j < len(geo.transforms) else []
            found.append(
                Finding(inst, "geometry", geo.support[j], _copies(inst, trs, run, max_copies))
            )
        else:
            mean = float(ev.net.prob[inst].mean()) if ev.net is not None else None
            found.append(Finding(inst, "network", net_mean=mean))
    return found


def _candidate_map(v: Verdict, s: float) -> np.ndarray:
    """Full-resolution (2, 3) map of a traced candidate (working scale ``s``)."""
    # A rotated / rescaled candidate's linear part, when the trace carries it.
    linear = getattr(v, "linear", None)
    if linear is None:
        return full_matrix(v.g, v.shift, s)
    one = np.full(2, 0.5)
    lin = np.asarray(linear, np.float64)
    t = lin @ one - one + (v.shift + one - lin @ one) / s
    return np.hstack([lin, t[:, None]])


def _rejected_geometry(run: _Run) -> Rejected | None:
    """The best verified copy the decision's support or area floor dropped."""
    geo = run.evidence.geometry
    if geo is None or geo.instances.shape[0] == 0:
        return None
    i = int(np.argmax(geo.support))
    trs = distinct(geo.transforms[i]) if i < len(geo.transforms) else []
    inst = geo.instances[i]
    reason = "min_support" if geo.support[i] < run.cfg.min_support else "min_area"
    if not trs:
        return Rejected("geometry", geo.support[i], "support", reason, inst, None, None)
    matcher = trs[0].matcher or "geometry"
    src, dst = sides(inst, trs[0])
    unit = SUPPORT_UNITS.get(matcher, "support")
    return Rejected(matcher, geo.support[i], unit, reason, src, dst, trs[0].matrix)


def _rejected_trace(run: _Run, shape: tuple[int, int]) -> Rejected | None:
    """The traced candidate with the most blocks among those a check rejected."""
    turned_down = [v for v in run.trace if str(v.outcome) != "found"]
    if not turned_down:
        return None
    v = max(turned_down, key=lambda c: c.blocks)
    matrix = _candidate_map(v, run.trace_scale)
    H, W = shape
    copy = cv2.warpAffine(v.footprint.astype(np.uint8), matrix, (W, H), flags=cv2.INTER_NEAREST)
    unit = SUPPORT_UNITS.get(run.tracer, "support")
    return Rejected(
        run.tracer, v.blocks, unit, str(v.outcome), v.footprint, copy.astype(bool), matrix
    )


def _decision_words(run: _Run, findings: list[Finding], rejected: Rejected | None) -> str:
    if findings:
        n = len(findings)
        by = "verified copy-moves" if findings[0].origin == "geometry" else "the network's regions"
        return f"forged: {n} instance{'s' if n > 1 else ''} from {by}"
    if rejected is None:
        return "authentic: no candidate copy reached the checks"
    return f"authentic: no copy passed every check (best candidate: {rejected.reason})"


def _trace_counts(trace: list[Verdict]) -> str:
    counts: dict[str, int] = {}
    for v in trace:
        counts[str(v.outcome)] = counts.get(str(v.outcome), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return f"{len(trace)}: " + ", ".join(f"{k} {n}" for k, n in ranked)


def _facts(run: _Run, floor: int, decision: str) -> list[tuple[str, str]]:
    """The scores behind the decision, as (label, value) rows."""
    cfg, ev, det = run.cfg, run.evidence, run.detection
    rows = [("decision", decision), ("method", cfg.method), ("image score", f"{det.score:.3f}")]
    geo = ev.geometry
    if geo is not None:
        support = ", ".join(str(n) for n in geo.support) or "none"
        rows.append(("support per verified instance", f"{support} (floor {cfg.min_support})"))
        rows.append(("candidate matches before verification", str(geo.n_matches)))
    if run.trace:
        rows.append((f"{run.tracer} candidates checked", _trace_counts(run.trace)))
    rows.append(("smallest instance kept", f"{floor} px"))
    if ev.net is not None:
        inst, score = net_instances(ev, cfg.threshold, floor)
        rows.append(
            (
                "network evidence",
                f"{score:.3f} against gate {cfg.gate:.2f} "
                f"({inst.shape[0]} regions at pixel threshold {cfg.threshold:.2f})",
            )
        )
        rows.append(("network image head", f"{ev.net.image_score:.3f}"))
    if ev.truth is not None:
        m = int(ev.truth.shape[0])
        rows.append(("truth", f"forged, {m} instance{'s' if m > 1 else ''}" if m else "authentic"))
    return rows


def examine(
    detector: Detector,
    image: np.ndarray,
    uid: str = "",
    truth: np.ndarray | None = None,
    *,
    max_copies: int = 4,
) -> FigureReport:
    """One (H,W,3) uint8 figure through ``detector``, with the evidence a person checks.

    The decision is :func:`forgeseg.decision.rules.decide` on the same evidence as
    :meth:`Detector.evidence`; ``truth`` ((M, H, W) bool, optional) is shown beside it.
    At most ``max_copies`` copy-moves per instance are kept, strongest first.
    """
    run = _run(detector, image, uid, truth)
    shape = image.shape[:2]
    cfg = run.cfg
    floor = area_floor(shape, cfg.min_area, cfg.min_area_fraction)
    findings = _findings(run, max_copies)
    rejected = None
    if not run.detection.forged:
        rejected = _rejected_geometry(run) or _rejected_trace(run, shape)
    facts = _facts(run, floor, _decision_words(run, findings, rejected))
    det = run.detection
    return FigureReport(
        uid, shape, det.forged, det.score, cfg.method, findings, rejected, facts, truth
    )
