"""The packages of forgeseg stand in layers: none imports one that stands above it, so each
can be read, tested and reused with only what lies below it (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "forgeseg"
# Lowest first. A package may import itself and anything earlier in this list.
LAYERS = (
    "core",
    "config",
    "synth",
    "data",
    "scoring",
    "models",
    "panels",
    "matchers",
    "decision",
    "pipeline",
    "cli",
)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "forgeseg" else None


def _imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _files(layer: str) -> list[Path]:
    single = PKG / f"{layer}.py"
    return [single] if single.is_file() else sorted((PKG / layer).rglob("*.py"))


def test_every_package_is_in_a_layer():
    on_disk = {p.stem for p in PKG.iterdir() if p.suffix == ".py" and p.stem != "__init__"}
    on_disk |= {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    assert on_disk == set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_no_package_imports_one_above_it(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    wrong = sorted(
        f"{path.relative_to(PKG)} imports {mod}"
        for path in _files(layer)
        for mod in _imported(path)
        if _layer(mod) is not None and _layer(mod) not in allowed
    )
    assert not wrong, wrong
