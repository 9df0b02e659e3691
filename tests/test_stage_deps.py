"""Every stage in dvc.yaml lists every library module it imports, so that editing a module
reruns the stages that use it (and DVC never calls a stale output "up to date")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """forgeseg modules imported anywhere in ``path`` (inside functions too: lazy imports
    run as surely as top-level ones)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name == "forgeseg" or name.startswith("forgeseg."):
                parts = name.split(".")
                # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def _docstring_only(path: Path) -> bool:
    """A package ``__init__`` holding only its docstring (and ``__version__``): editing it
    changes no behaviour."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return path.name == "__init__.py" and all(
        isinstance(getattr(n, "value", None), ast.Constant) and isinstance(n, ast.Expr | ast.Assign)
        for n in body
    )


def _closure(script: Path) -> set[Path]:
    files, todo, seen = set(), [script], set()
    while todo:
        path = todo.pop()
        for name in _imports(path) - seen:
            seen.add(name)
            f = _module_file(name)
            if f is not None:
                files.add(f)
                todo.append(f)
    return files


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_every_imported_module(name):
    stage = STAGES[name]
    script = REPO / stage["cmd"].split()[-1]
    deps = [REPO / d for d in stage.get("deps", []) if isinstance(d, str)]
    assert script in deps, f"{name}: its script {script.name} is not a dep"
    missing = sorted(
        str(f.relative_to(REPO))
        for f in _closure(script)
        if not _docstring_only(f)
        if not any(f == d or d in f.parents for d in deps)
    )
    assert not missing, f"stage {name} imports modules missing from its deps: {missing}"


def test_the_check_sees_lazy_imports():
    # The evaluate stage reaches the network only through a function-level import.
    files = _closure(REPO / "stages" / "evaluate.py")
    assert SRC / "forgeseg" / "models" / "predictor.py" in files
