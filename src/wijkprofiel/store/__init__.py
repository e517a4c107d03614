"""The raw store: immutable source snapshots with manifests, and the run lock.

Takes the bytes a source connector fetched (or a file a user registers) and gives
:class:`Snapshot` objects: ``<raw>/<source>/<dataset>/<snapshot>/`` with a
``manifest.json`` (URL, retrieval time, sha256 per file, licence). Nothing in a written
snapshot changes afterwards; :func:`verify_snapshot` re-hashes it against its manifest.
:func:`publication_lock` keeps two runs out of one output directory.
"""

from __future__ import annotations

from wijkprofiel.store._locking import (
    LOCK_NAME,
    publication_lock,
)
from wijkprofiel.store._snapshots import (
    MANIFEST_NAME,
    Snapshot,
    latest_snapshot,
    list_snapshots,
    read_manifest,
    sha256_bytes,
    sha256_file,
    snapshot_file,
    verify_snapshot,
    write_snapshot,
)

__all__ = [
    "MANIFEST_NAME",
    "Snapshot",
    "sha256_bytes",
    "sha256_file",
    "write_snapshot",
    "read_manifest",
    "list_snapshots",
    "latest_snapshot",
    "snapshot_file",
    "verify_snapshot",
    "LOCK_NAME",
    "publication_lock",
]
