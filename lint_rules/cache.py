"""The on-disk cache: ``.telethon_guard_cache/`` at the project root.

Two kinds of entries, both pickles named by a key digest:

* ``files/``: one per analysed file, keyed by its content hash, the tool version, the linter's own
  code (every module of ``lint_rules``), the config and the file's display path and module name.
  It holds what the families returned and the suppression comments.
* ``runs/``: one per invocation shape, keyed by the same versions plus the stat data (size, mtime,
  inode) of every listed file. A hit returns the final findings without reading a single file,
  importing libcst or the rules.

A corrupt or unreadable entry is a miss, never an error; a cache directory that cannot be written
just means no caching. Writes are atomic (temp file + rename), so concurrent runs are safe.
"""

from __future__ import annotations

import os
import pickle
import sys
from functools import lru_cache
from typing import Any

try:  # the builtin module: hashlib would also load OpenSSL, a noticeable start-up cost
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b

__all__ = ["CACHE_DIR", "Cache", "code_version", "digest"]

CACHE_DIR = ".telethon_guard_cache"
_FORMAT = b"telethon-guard-cache-1"


def digest(*parts: bytes | str) -> str:
    h = blake2b(digest_size=20)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of the linter's own sources (engine and every rule family) and Python's version."""
    from . import __version__

    package = os.path.dirname(os.path.abspath(__file__))
    h = blake2b(digest_size=20)
    h.update(_FORMAT)
    h.update(__version__.encode())
    h.update(sys.version.encode())
    for directory, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                h.update(os.path.relpath(path, package).encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


class Cache:
    """Pickled entries under ``<root>/.telethon_guard_cache``."""

    def __init__(self, root: str) -> None:
        self.directory = os.path.join(root, CACHE_DIR)
        self._ready = False
        self.writable = True

    def _path(self, kind: str, key: str) -> str:
        if kind == "runs":
            return os.path.join(self.directory, kind, key)
        return os.path.join(self.directory, kind, key[:2], key)

    def prune_runs(self, keep: int = 32) -> None:
        """Drop all but the ``keep`` most recent run entries (each edit makes a new one)."""
        directory = os.path.join(self.directory, "runs")
        try:
            entries = [e for e in os.scandir(directory) if not e.name.startswith(".")]
            if len(entries) <= keep:
                return
            entries.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
            for entry in entries[keep:]:
                os.unlink(entry.path)
        except OSError:
            pass

    def get(self, kind: str, key: str) -> Any:
        """The entry stored under ``key``, or None (missing, unreadable or corrupt)."""
        try:
            with open(self._path(kind, key), "rb") as f:
                return pickle.load(f)
        except Exception:  # any broken entry is a miss
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        if not self.writable:
            return
        try:
            self._prepare()
            path = self._path(kind, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}-{id(value):x}"
            try:
                with open(tmp, "wb") as f:
                    pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            self.writable = False

    def _prepare(self) -> None:
        if self._ready:
            return
        os.makedirs(self.directory, exist_ok=True)
        marker = os.path.join(self.directory, ".gitignore")
        if not os.path.exists(marker):
            with open(marker, "w", encoding="utf-8") as f:
                f.write("# Created by telethon-guard: the lint cache is never committed.\n*\n")
            with open(os.path.join(self.directory, "CACHEDIR.TAG"), "w", encoding="utf-8") as f:
                f.write(
                    "Signature: 8a477f597d28d172789f06886806bc55\n"
                    "# This directory is a cache created by telethon-guard.\n"
                )
        self._ready = True
