"""Reuse a benchmark's work product (a trained checkpoint, a generated test set) only while
what made it is unchanged.

A benchmark that trains a network or generates figures keeps the result under
`benchmarks/.work` so a rerun only scores. Keyed by file name alone, a checkpoint trained
before the data or the code changed would be scored as if it were new; here each product
carries a key (a hash of its params, the split files and the library's source), and a
product whose key differs is made again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from forgeseg.config import Params, as_dict
from forgeseg.core.atomic import write_text

SRC = Path(__file__).resolve().parent.parent / "src" / "forgeseg"


def source_digest(root: Path = SRC) -> str:
    """Hash of every ``.py`` file under ``root`` (path and content), in a stable order."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def file_digest(*paths: str | Path) -> str:
    """Hash of the given files' contents ("missing" for an absent one)."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        h.update(str(p).encode())
        h.update(p.read_bytes() if p.exists() else b"missing")
    return h.hexdigest()


def work_key(**parts: Any) -> str:
    """One key from named parts (params sections, digests); order does not matter."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def training_key(params: Params) -> str:
    """Key of a network trained with ``params`` (the full params, overrides applied) on the
    current split files by the current library."""
    return work_key(
        params={
            k: as_dict(getattr(params, k)) for k in ("base", "data", "synth", "model", "train")
        },
        splits=file_digest("data/splits/train.csv", "data/splits/val.csv"),
        source=source_digest(),
    )


def _key_file(product: Path) -> Path:
    return product.with_name(product.name + ".key")


def is_fresh(product: str | Path, key: str) -> bool:
    """Whether ``product`` exists and was made under ``key``."""
    product = Path(product)
    kf = _key_file(product)
    return product.exists() and kf.exists() and kf.read_text().strip() == key


def mark_fresh(product: str | Path, key: str) -> None:
    """Record that ``product`` (just made) belongs to ``key``."""
    write_text(_key_file(Path(product)), key + "\n")
