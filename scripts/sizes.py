"""Module and function sizes under src/: the limits docs/ARCHITECTURE.md sets.

No module over 400 lines, none over 300 without a row in the ARCHITECTURE.md table that
says why, and no function over 80 lines. Prints every breach; exit status 1 if any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_MODULE, EXPLAIN_MODULE, MAX_FUNCTION = 400, 300, 80


def breaches(src: Path, architecture: str) -> list[str]:
    out = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src.parent).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + 1
        if lines > MAX_MODULE:
            out.append(f"{rel}: {lines} lines (at most {MAX_MODULE})")
        elif lines > EXPLAIN_MODULE and f"`{rel.removeprefix('forgeseg/')}`" not in architecture:
            out.append(f"{rel}: {lines} lines, over {EXPLAIN_MODULE} with no reason in the doc")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION:
                    out.append(f"{rel}:{node.lineno} {node.name}: {n} lines (at most 80)")
    return out


def main() -> int:
    doc = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    found = breaches(REPO / "src" / "forgeseg", doc)
    for line in found:
        print(line)
    print(f"sizes: {len(found)} breaches")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
