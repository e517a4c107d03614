"""The fingerprint of a run's inputs: what decides whether a re-run can reuse everything.

A run is determined by the raw snapshots it reads (their content sha256, from the manifests,
re-checked against the files), the dataset catalogue, its parameters and the code. Equal
fingerprints give equal outputs, so a run whose fingerprint equals that of the last
completed run has nothing to recompute or rewrite.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wijkprofiel.store._snapshots import latest_snapshots, sha256_file, verify_snapshot

__all__ = ["code_fingerprint", "input_fingerprint"]

_CODE_SUFFIXES = (".py", ".j2", ".sql", ".yaml", ".js", ".css", ".svg")


def code_fingerprint(*packages: Path) -> str:
    """sha256 over every source file (Python, templates, SQL, the catalogue) of ``packages``:
    a changed line of code is a changed run."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted(p for p in Path(package).rglob("*") if p.suffix in _CODE_SUFFIXES and p.is_file()):
            digest.update(path.relative_to(package).as_posix().encode("utf-8"))
            digest.update(path.read_bytes())
    return digest.hexdigest()


def input_fingerprint(roots: Sequence[Path], parameters: Mapping[str, Any], files: Sequence[Path] = (),
                      code: str = "") -> str | None:
    """sha256 of the newest snapshot of every dataset in the layered raw store (their content
    hashes), the run ``parameters`` (JSON), extra input ``files`` (catalogue, crosswalks) and
    the ``code`` fingerprint.

    Returns None when a snapshot's files differ from its manifest (a changed raw file): such a
    run must not be skipped — the load stage then marks the source corrupt.
    """
    snapshots = latest_snapshots([Path(r) for r in roots])
    if any(verify_snapshot(s) for s in snapshots):
        return None
    doc = {
        "snapshots": [[s.source, s.dataset, s.content_sha256] for s in snapshots],
        "parameters": parameters,
        "files": [[Path(f).name, sha256_file(Path(f))] for f in files],
        "code": code,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode("utf-8")).hexdigest()
