"""SHA-256 of model files, remembered per (path, size, mtime) so big files are read once.

ViT-H exports are ~2.5 GB; hashing one takes seconds. ``wham-ros models check`` and
``wham-ros doctor`` hash every file, so the digests are kept in a small JSON file (in the
model cache directory) keyed by the absolute path and invalidated by a change of size or
modification time.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Dict, Optional

LOG = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 20


def sha256_file(path: str) -> str:
    """Hex SHA-256 of the file at ``path`` (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


class HashCache:
    """Digests of files keyed by (absolute path, size, mtime_ns), stored as JSON.

    Args:
        store: JSON file holding the digests (None: remember in memory only). An unreadable
            or unwritable store is ignored: hashing still works, only without the cache.
    """

    def __init__(self, store: Optional[str] = None) -> None:
        self.store = store
        self._entries: Dict[str, dict] = {}
        if store and os.path.isfile(store):
            try:
                with open(store, encoding="utf-8") as fh:
                    loaded = json.load(fh)
                if isinstance(loaded, dict):
                    self._entries = {k: v for k, v in loaded.items() if isinstance(v, dict)}
            except (OSError, ValueError) as exc:
                LOG.debug("ignoring hash cache %s: %s", store, exc)

    def sha256(self, path: str) -> str:
        """SHA-256 of ``path``, from the cache when its size and mtime are unchanged."""
        key = os.path.abspath(path)
        st = os.stat(key)
        known = self._entries.get(key)
        if known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns:
            return known["sha256"]
        digest = sha256_file(key)
        self._entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        self._save()
        return digest

    def _save(self) -> None:
        if not self.store:
            return
        tmp = f"{self.store}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.store)), exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self._entries, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.store)
        except OSError as exc:
            LOG.debug("cannot write hash cache %s: %s", self.store, exc)
