"""The raw store: immutable snapshots of source files with a manifest.

Layout (the same for the embedded default and for live fetches)::

    <root>/<source>/<dataset>/<snapshot>/
        manifest.json
        <file> ...

``<snapshot>`` is ``<UTC timestamp>-<content hash[:12]>``. A snapshot is written in a
temporary directory beside its final place and renamed into place in one step, so a
crash never leaves a partial snapshot. Writing content identical to the latest snapshot of
the same dataset creates no new snapshot and returns the existing one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wijkprofiel.errors import SourceError

__all__ = [
    "MANIFEST_NAME",
    "Snapshot",
    "sha256_bytes",
    "sha256_file",
    "write_snapshot",
    "read_manifest",
    "list_snapshots",
    "latest_snapshot",
    "latest_snapshots",
    "snapshot_file",
    "verify_snapshot",
]

MANIFEST_NAME = "manifest.json"
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Snapshot:
    """One immutable snapshot of a source dataset in the raw store."""

    source: str
    dataset: str
    path: Path
    manifest: Mapping[str, Any]

    @property
    def snapshot_id(self) -> str:
        """The directory name of the snapshot."""
        return self.path.name

    @property
    def content_sha256(self) -> str:
        """Hash over the sorted (name, sha256) pairs of the snapshot's files."""
        return str(self.manifest["content_sha256"])


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of the file at ``path`` (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _content_hash(file_hashes: Mapping[str, str]) -> str:
    joined = "\n".join(f"{name}\t{digest}" for name, digest in sorted(file_hashes.items()))
    return sha256_bytes(joined.encode("utf-8"))


def _check_name(kind: str, value: str) -> None:
    if not value or value in {".", ".."} or "/" in value or "\\" in value or "\x00" in value:
        msg = f"{kind} must be a plain name without path separators, got {value!r}"
        raise SourceError(msg)


def write_snapshot(
    root: Path,
    source: str,
    dataset: str,
    files: Mapping[str, bytes | Path],
    *,
    url: str,
    licence: str,
    params: Mapping[str, Any] | None = None,
    client: str | None = None,
    retrieved_at: dt.datetime | None = None,
    rows: Mapping[str, int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Snapshot:
    """Write ``files`` as a new immutable snapshot, atomically.

    Parameters
    ----------
    root
        The raw store root (e.g. ``data/raw``).
    source, dataset
        Source and dataset names (plain names, e.g. ``"rivm"``, ``"50090NED"``).
    files
        File name → content (bytes) or path of a file to copy.
    url
        Where the content was retrieved from.
    licence
        Licence of the content (e.g. ``"CC BY 4.0"``).
    params
        Query parameters of the request (never secrets such as API keys).
    client
        Client and version used, e.g. ``"cbsodata 1.3.5"``.
    retrieved_at
        Retrieval time (UTC); defaults to now.
    rows
        Optional row counts per file.
    extra
        Further manifest fields (e.g. attribution).

    Returns
    -------
    Snapshot
        The new snapshot, or the latest existing one when its content is identical.
    """
    _check_name("source", source)
    _check_name("dataset", dataset)
    if not files:
        msg = f"snapshot {source}/{dataset} needs at least one file, got none"
        raise SourceError(msg)
    for name in files:
        _check_name("file name", name)
        if name == MANIFEST_NAME:
            msg = f"file name {MANIFEST_NAME!r} is reserved for the manifest"
            raise SourceError(msg)
    when = (retrieved_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    dataset_dir = Path(root) / source / dataset
    dataset_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=dataset_dir))
    try:
        hashes: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for name, content in files.items():
            target = tmp / name
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_bytes(content)
            hashes[name] = sha256_file(target)
            sizes[name] = target.stat().st_size
        content_sha = _content_hash(hashes)
        latest = latest_snapshot(root, source, dataset)
        if latest is not None and latest.content_sha256 == content_sha:
            shutil.rmtree(tmp)
            return latest
        manifest: dict[str, Any] = {
            "source": source,
            "dataset": dataset,
            "url": url,
            "params": dict(params or {}),
            "client": client,
            "retrieved_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "written_at_ns": time.time_ns(),
            "licence": licence,
            "content_sha256": content_sha,
            "files": {
                name: {"sha256": hashes[name], "bytes": sizes[name], "rows": (rows or {}).get(name)}
                for name in sorted(hashes)
            },
        }
        manifest.update(dict(extra or {}))
        (tmp / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        final = dataset_dir / f"{when.strftime('%Y%m%dT%H%M%SZ')}-{content_sha[:12]}"
        if final.exists():
            shutil.rmtree(tmp)
            return Snapshot(source, dataset, final, read_manifest(final))
        os.rename(tmp, final)
        return Snapshot(source, dataset, final, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_manifest(snapshot_dir: Path) -> dict[str, Any]:
    """Read the manifest of a snapshot directory."""
    path = Path(snapshot_dir) / MANIFEST_NAME
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        msg = f"{path}: expected a snapshot manifest, found no file"
        raise SourceError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"{path}: manifest is not valid JSON ({exc})"
        raise SourceError(msg) from exc
    return data


def list_snapshots(root: Path, source: str | None = None, dataset: str | None = None) -> list[Snapshot]:
    """List complete snapshots (oldest first per dataset), skipping temporary directories."""
    root = Path(root)
    out: list[Snapshot] = []
    if not root.is_dir():
        return out
    for source_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if source is not None and source_dir.name != source:
            continue
        for dataset_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
            if dataset is not None and dataset_dir.name != dataset:
                continue
            for snap in sorted(p for p in dataset_dir.iterdir() if p.is_dir()):
                if snap.name.startswith(_TMP_PREFIX) or not (snap / MANIFEST_NAME).is_file():
                    continue
                out.append(Snapshot(source_dir.name, dataset_dir.name, snap, read_manifest(snap)))
    return out


def latest_snapshot(root: Path, source: str, dataset: str) -> Snapshot | None:
    """Return the newest complete snapshot of a dataset, or None when there is none."""
    snaps = list_snapshots(root, source, dataset)
    if not snaps:
        return None
    return max(snaps, key=_newness)


def _newness(snapshot: Snapshot) -> tuple[str, int]:
    return str(snapshot.manifest.get("retrieved_at", "")), int(snapshot.manifest.get("written_at_ns", 0))


def latest_snapshots(roots: Sequence[Path], source: str | None = None) -> list[Snapshot]:
    """The newest snapshot of every dataset over layered raw stores (e.g. the writable store
    of fetched data above the embedded seed), sorted by source and dataset.

    A dataset present in several layers counts once: its newest snapshot wins (by retrieval
    time, then write time; on a tie the first layer).
    """
    best: dict[tuple[str, str], Snapshot] = {}
    for root in roots:
        for snap in list_snapshots(Path(root), source):
            key = (snap.source, snap.dataset)
            if key not in best or _newness(snap) > _newness(best[key]):
                best[key] = snap
    return [best[k] for k in sorted(best)]


def snapshot_file(root: Path, source: str, dataset: str, name: str) -> tuple[Path, Snapshot]:
    """Return the path of file ``name`` in the latest snapshot, and that snapshot."""
    snap = latest_snapshot(root, source, dataset)
    if snap is None:
        msg = (
            f"no snapshot of {source}/{dataset} in raw store {root}; "
            f"run `wijkprofiel fetch {source}` or restore the embedded data"
        )
        raise SourceError(msg)
    path = snap.path / name
    if not path.is_file():
        valid = ", ".join(sorted(snap.manifest.get("files", {})))
        msg = f"snapshot {snap.path} has no file {name!r}; files: {valid}"
        raise SourceError(msg)
    return path, snap


def verify_snapshot(snapshot: Snapshot) -> list[str]:
    """Re-hash every file of a snapshot; return a list of problems (empty when intact)."""
    problems: list[str] = []
    for name, meta in snapshot.manifest.get("files", {}).items():
        path = snapshot.path / name
        if not path.is_file():
            problems.append(f"{path}: listed in manifest but missing")
            continue
        digest = sha256_file(path)
        if digest != meta.get("sha256"):
            problems.append(f"{path}: sha256 {digest[:12]}… differs from manifest {str(meta.get('sha256'))[:12]}…")
    return problems
