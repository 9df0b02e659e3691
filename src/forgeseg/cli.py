"""The ``forgeseg`` command: the library's tools outside DVC.

forgeseg synth OUT_DIR --n 200 --seed 1        generate a dataset in the Kaggle layout
forgeseg validate ROOT [--lenient]              check every file of a Kaggle-layout folder
forgeseg score SOLUTION SUBMISSION [--json F]  the official oF1 (last line: the number)
forgeseg solution ROOT --out F [--index CSV]   ground truth in the official solution format
forgeseg predict --images DIR --out F          a submission for any folder of figures
                [--workers N] [--scheduler ADDR] [--strict]   (exit 3: complete, some skipped)
forgeseg report --images DIR [--out D]         an HTML evidence report, most suspicious first
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from forgeseg.core.errors import ForgesegError
from forgeseg.core.logs import setup_logging

__all__ = ["main"]


def _cmd_synth(args: argparse.Namespace) -> None:
    from forgeseg.synth import generate_dataset

    summary = generate_dataset(
        args.out_dir,
        n=args.n,
        seed=args.seed,
        n_test=args.n_test,
        n_supplemental=args.n_supplemental,
        min_side=args.min_side,
        max_side=args.max_side,
        reuse_fraction=args.reuse_fraction,
        workers=args.workers,
    )
    print(f"wrote {args.out_dir}: {summary}")


def _cmd_validate(args: argparse.Namespace) -> None:
    from forgeseg.data.layout import scan

    result = scan(args.root, strict=not args.lenient, workers=args.workers)
    for skip in result.skipped:
        print(f"skipped {skip.path}: {skip.reason}")
    for note in result.warnings:
        print(f"warning {note.path}: {note.reason}")
    labels: dict[str, int] = {}
    for rec in result.records:
        key = f"{rec.subset}/{rec.label}"
        labels[key] = labels.get(key, 0) + 1
    counts = ", ".join(f"{k} {v}" for k, v in sorted(labels.items()))
    print(
        f"{len(result.records)} valid figures ({counts}), {len(result.skipped)} skipped, "
        f"{len(result.warnings)} warning(s)"
    )


def _cmd_score(args: argparse.Namespace) -> None:
    from forgeseg.core.atomic import write_json
    from forgeseg.scoring.files import score_files

    report = score_files(args.solution, args.submission)
    b = report.breakdown
    print(f"figures {b['n']} (authentic {b['n_authentic']}, forged {b['n_forged']})")
    for key in ("floor", "forged_only_mean", "authentic_accuracy", "authentic_fpr"):
        value = b.get(key)
        print(f"{key}: {value:.6f}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        write_json(args.json, report.to_dict())
    print(repr(float(report.mean)))


def _cmd_solution(args: argparse.Namespace) -> None:
    from forgeseg.data.layout import read_index, scan
    from forgeseg.scoring.files import build_solution, write_solution

    if args.index:
        records = read_index(args.index)
    else:
        records = [r for r in scan(args.root, strict=True).records if r.subset != "test"]
    write_solution(build_solution(records), args.out)
    print(f"wrote {args.out}: {len(records)} rows")


# `forgeseg predict` exit status when the submission is complete but some figures were
# skipped (1 is an error, 2 a usage error).
PREDICT_SKIPPED_STATUS = 3


def _cmd_predict(args: argparse.Namespace) -> None:
    from forgeseg.config import load_params
    from forgeseg.pipeline.corpus import default_workers
    from forgeseg.pipeline.infer import predict_folder

    if args.workers is not None and args.workers < 1:
        raise ForgesegError(f"--workers must be at least 1, got {args.workers}")
    detect = load_params(args.params).detect if Path(args.params).is_file() else None
    summary = predict_folder(
        args.images,
        args.out,
        model_path=args.model,
        calibration_path=args.postprocess,
        detect=detect,
        device=args.device,
        workers=args.workers or default_workers(),
        scheduler=args.scheduler,
        strict=args.strict,
    )
    print(f"wrote {summary.out}: {summary.n_rows} rows, {summary.n_skipped} figures skipped")
    if summary.n_skipped:
        print(f"skipped figures and why: {summary.skip_file}")
        raise SystemExit(PREDICT_SKIPPED_STATUS)


def _cmd_report(args: argparse.Namespace) -> None:
    from forgeseg.config import load_params
    from forgeseg.pipeline.report.folder import report_folder
    from forgeseg.pipeline.report.settings import ReportConfig

    detect = load_params(args.params).detect if Path(args.params).is_file() else None
    page = report_folder(
        args.images,
        args.out,
        model_path=args.model,
        calibration_path=args.postprocess,
        detect=detect,
        device=args.device,
        cfg=ReportConfig(max_figures=args.max_figures, max_kb=args.max_kb),
    )
    print(f"wrote {page}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forgeseg", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate a dataset in the Kaggle layout")
    p.add_argument("out_dir")
    p.add_argument("--n", type=int, default=200, help="train case_ids (default 200)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--n-supplemental", type=int, default=None)
    p.add_argument("--min-side", type=int, default=100)
    p.add_argument("--max-side", type=int, default=1024)
    p.add_argument(
        "--reuse-fraction",
        type=float,
        default=0.5,
        help="share of compound figures with reuse between panels (default 0.5)",
    )
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("validate", help="check every file of a Kaggle-layout folder")
    p.add_argument("root")
    p.add_argument("--lenient", action="store_true", help="skip bad files instead of failing")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("score", help="official oF1 of a submission against a solution")
    p.add_argument("solution")
    p.add_argument("submission")
    p.add_argument("--json", help="write per-figure scores and the breakdown here")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("solution", help="ground truth of a Kaggle-layout folder as a solution CSV")
    p.add_argument("root")
    p.add_argument("--out", required=True)
    p.add_argument("--index", help="restrict to the figures of a split index file")
    p.set_defaults(func=_cmd_solution)

    p = sub.add_parser("predict", help="a Kaggle submission for a folder of figures")
    p.add_argument("--images", required=True, help="folder of figures (e.g. test_images)")
    p.add_argument("--out", required=True, help="submission CSV to write")
    p.add_argument("--model", default="models/model.pt")
    p.add_argument("--postprocess", default="models/postprocess.json")
    p.add_argument("--params", default="params.yaml", help="matcher settings (its detect section)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--workers", type=int, default=None, help="local processes (default: every core)"
    )
    p.add_argument(
        "--scheduler", default=None, help="Dask scheduler address (tcp://HOST:8786) instead"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad figure; without it a bad figure is recorded in "
        "OUT's .skipped.csv, written authentic, and the exit status is 3",
    )
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("report", help="an HTML evidence report for a folder of figures")
    p.add_argument("--images", required=True, help="folder of figures")
    p.add_argument("--out", default="report", help="folder for index.html (default report)")
    p.add_argument("--model", default="models/model.pt")
    p.add_argument("--postprocess", default="models/postprocess.json")
    p.add_argument("--params", default="params.yaml", help="matcher settings (its detect section)")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-figures", type=int, default=0, help="first N figures only (0: all)")
    p.add_argument("--max-kb", type=int, default=200, help="image bytes per figure, KiB")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        args.func(args)
    except ForgesegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
