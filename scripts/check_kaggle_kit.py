"""Install the Kaggle kit with no package index and run its notebook on a look-alike /kaggle.

    python scripts/check_kaggle_kit.py [--kit build/kaggle] [--work build/kaggle-check]
        [--n-test 8] [--seed 7]

1. ``WORK/kaggle/input/<competition>/``: figures generated in the Kaggle layout
   (``test_images/`` and, for scoring only, ``test_solution.csv``); ``input/forgeseg-kit``
   links to the kit; ``working/`` is where the submission lands.
2. A fresh venv (pip only) that sees this venv's torch and torchvision through a ``.pth``
   file, the way Kaggle's image has its own torch: nothing else of this venv is visible.
3. The notebook's code cells, run as one script by that venv's Python with no index
   (``PIP_NO_INDEX``, no pip config file, no find-links) and every HTTP(S) proxy set to a
   closed port, so a download attempt fails instead of passing unnoticed.
4. ``forgeseg score`` (the one the kit installed) on ``working/submission.csv``.

Prints each step with its time, and the score; exits non-zero at the first failure.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from forgeseg.core.atomic import write_text
from forgeseg.synth import generate_dataset

REPO = Path(__file__).resolve().parents[1]
COMPETITION = "recodai-luc-scientific-image-forgery-detection"
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers


class CheckFailed(Exception):
    pass


def _step(msg: str, t0: float) -> None:
    print(f"[{time.monotonic() - t0:6.1f} s] {msg}", flush=True)


def _closure(names: list[str]) -> list[md.Distribution]:
    """The installed distributions ``names`` need, themselves included, extras followed
    (torch needs ``cuda-toolkit[cudart, ...]``)."""
    seen: dict[str, md.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo = [(Requirement(n), "") for n in names]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(req.name)
        wanted = {("", key)} | {(e, key) for e in req.extras}
        if wanted <= {(e, k) for k, e in done}:
            continue
        seen.setdefault(key, md.distribution(req.name))
        for e, _ in wanted:
            done.add((key, e))
            todo.extend((Requirement(r), e) for r in seen[key].requires or [])
    return list(seen.values())


def preinstall_torch(target: Path) -> list[str]:
    """Link torch (with what it needs) and torchvision, from this environment, into
    ``target``: the "preinstalled" packages of the look-alike Kaggle image."""
    target.mkdir(parents=True, exist_ok=True)
    dists = [*_closure(["torch"]), md.distribution("torchvision")]
    for dist in dists:
        for top in {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] != ".."}:
            src, dst = Path(str(dist.locate_file(top))), target / top
            if src.exists() and not dst.exists():
                dst.symlink_to(src)
    return sorted(f"{d.metadata['Name']}=={d.version}" for d in dists)


def _offline_env(kaggle: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not re.match(r"^(PIP_|PYTHON|VIRTUAL_ENV|.*_PROXY$)", k, re.IGNORECASE)
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONNOUSERSITE="1",
        HTTP_PROXY=DEAD_PROXY,
        HTTPS_PROXY=DEAD_PROXY,
        ALL_PROXY=DEAD_PROXY,
        http_proxy=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
        FORGESEG_KAGGLE_ROOT=str(kaggle),
    )
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path, what: str) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise CheckFailed(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def notebook_script(notebook: Path) -> str:
    """The notebook's code cells, in order, as one Python script."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code") + "\n"


def check(kit: Path, work: Path, n_test: int, seed: int) -> float:
    """Run the whole offline check; return the submission's official score."""
    t0 = time.monotonic()
    if not (kit / "forgeseg-kit.json").is_file():
        raise CheckFailed(f"{kit}: no forgeseg-kit.json (run `make kaggle` first)")
    if work.exists():
        shutil.rmtree(work)
    kaggle = work / "kaggle"
    data = kaggle / "input" / COMPETITION
    generate_dataset(data, n=2, seed=seed, n_test=n_test, max_side=320, progress=False)
    (kaggle / "input" / "forgeseg-kit").symlink_to(kit.resolve(), target_is_directory=True)
    (kaggle / "working").mkdir(parents=True)
    _step(f"look-alike {kaggle}: {n_test} test figures, the kit linked from {kit}", t0)

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"], {}, work, "venv"
        ).strip()
    )
    # ensurepip's old setuptools would shadow the one torch needs (Kaggle's image is whole).
    _run([str(python), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], {}, work, "pip")
    provided = preinstall_torch(work / "preinstalled")
    write_text(site / "kaggle_preinstalled.pth", str(work / "preinstalled") + "\n")
    _step(
        f"fresh venv {venv}; preinstalled like Kaggle's image: {', '.join(provided[:2])} "
        f"and {len(provided) - 2} packages torch needs",
        t0,
    )

    env = _offline_env(kaggle)
    script = work / "notebook.py"
    write_text(script, notebook_script(kit / "forgeseg-submit.ipynb"))
    out = _run([str(python), str(script)], env, kaggle / "working", "the notebook")
    print(out.strip())
    _step("notebook ran offline: installed from the kit's wheels, predicted test_images/", t0)

    where = _run(
        [
            str(python),
            "-c",
            "import importlib.util as u, forgeseg, torch; "
            "print(forgeseg.__file__); print(torch.__file__); print(u.find_spec('dvc'))",
        ],
        env,
        work,
        "import check",
    ).split()
    if not where[0].startswith(str(venv)) or "preinstalled" not in where[1] or where[2] != "None":
        raise CheckFailed(f"forgeseg, torch or dvc came from the wrong place: {where}")
    _step(f"forgeseg from the venv, torch from the preinstalled packages, no dvc: {where[:2]}", t0)

    submission = kaggle / "working" / "submission.csv"
    scored = _run(
        [
            str(python),
            "-m",
            "forgeseg.cli",
            "score",
            str(data / "test_solution.csv"),
            str(submission),
        ],
        env,
        work,
        "forgeseg score",
    )
    print(scored.strip())
    _step(f"scored {submission}", t0)
    return float(scored.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kit", type=Path, default=REPO / "build" / "kaggle")
    ap.add_argument("--work", type=Path, default=REPO / "build" / "kaggle-check")
    ap.add_argument("--n-test", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    try:
        score = check(args.kit, args.work, args.n_test, args.seed)
    except CheckFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"kit check passed: official oF1 {score:.4f} on {args.n_test} generated test figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
