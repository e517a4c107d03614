"""The raw store: immutable source snapshots with manifests, the dataset catalogue, the run lock.

Takes the bytes a source connector fetched (or a file a user registers) and gives
:class:`Snapshot` objects: ``<raw>/<source>/<dataset>/<snapshot>/`` with a
``manifest.json`` (URL, retrieval time, sha256 per file, licence). Nothing in a written
snapshot changes afterwards; :func:`verify_snapshot` re-hashes it against its manifest.
:func:`publication_lock` keeps two runs out of one output directory.

The dataset catalogue (:func:`load_catalogue`, shipped as ``catalogus.yaml``) says which
datasets exist, how to fetch them, what their snapshots mean (indeling, indicators) and
which ones a scheduled run refreshes.
"""

from __future__ import annotations

from wijkprofiel.store._cache_entries import read_cache_entry, write_cache_entry
from wijkprofiel.store._catalogue import (
    DEFAULT_CATALOGUE,
    Catalogue,
    CatalogueError,
    Dataset,
    default_catalogue,
    load_catalogue,
)
from wijkprofiel.store._fingerprint import code_fingerprint, input_fingerprint
from wijkprofiel.store._locking import (
    LOCK_NAME,
    publication_lock,
)
from wijkprofiel.store._snapshots import (
    MANIFEST_NAME,
    Snapshot,
    latest_snapshot,
    latest_snapshots,
    list_snapshots,
    read_manifest,
    sha256_bytes,
    sha256_file,
    snapshot_file,
    verify_snapshot,
    write_snapshot,
)

__all__ = [
    "read_cache_entry",
    "write_cache_entry",
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
    "Catalogue",
    "CatalogueError",
    "Dataset",
    "DEFAULT_CATALOGUE",
    "load_catalogue",
    "default_catalogue",
    "code_fingerprint",
    "input_fingerprint",
    "LOCK_NAME",
    "publication_lock",
]
