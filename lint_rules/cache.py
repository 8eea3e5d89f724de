"""The on-disk cache: ``.telethon_guard_cache/`` at the project root.

Three kinds of entries, named by a key digest (pickles, but ``replay/`` is marshal: no import):

* ``files/``: one per analysed file, keyed by its content hash, the tool version, the linter's own
  code (every module of ``lint_rules``), the config and the file's display path and module name.
  It holds what the families returned and the suppression comments.
* ``runs/``: one per invocation shape, keyed by the same versions plus the stat data (size, mtime,
  inode) of every listed file. A hit returns the final findings without reading a single file,
  importing libcst or the rules.
* ``replay/``: one per command line (see :func:`replay_key`), written by the CLI: the exact output
  and exit code of a run, with the stat signature of everything that run depended on (every listed
  file, every directory that was or could have been listed, ``.gitignore`` files, git's index and
  exclude files, ...). When every signature still matches, the CLI prints the output again without
  importing anything else, listing files or spawning git (:func:`load_replay`).

A corrupt or unreadable entry is a miss, never an error; a cache directory that cannot be written
just means no caching. Writes are atomic (temp file + rename), so concurrent runs are safe.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False  # not typing's: the CLI's cached path imports as little as it can
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

try:  # the builtin module: hashlib would also load OpenSSL, a noticeable start-up cost
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b

__all__ = [
    "CACHE_DIR",
    "Cache",
    "code_version",
    "digest",
    "find_pyproject",
    "load_replay",
    "replay_key",
    "signature",
    "store_replay",
]

CACHE_DIR = ".telethon_guard_cache"
_FORMAT = b"telethon-guard-cache-1"


def digest(*parts: bytes | str) -> str:
    h = blake2b(digest_size=20)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


_code_version: list[str] = []


def code_version() -> str:
    """A digest of the linter's own sources (engine and every rule family) and Python's version."""
    if _code_version:
        return _code_version[0]
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
    _code_version.append(h.hexdigest())
    return _code_version[0]


class Cache:
    """Pickled entries under ``<root>/.telethon_guard_cache``."""

    def __init__(self, root: str) -> None:
        self.directory = os.path.join(root, CACHE_DIR)
        self._ready = False
        self.writable = True

    def _path(self, kind: str, key: str) -> str:
        if kind in ("runs", "replay"):
            return os.path.join(self.directory, kind, key)
        return os.path.join(self.directory, kind, key[:2], key)

    def prune_runs(self, keep: int = 32, kind: str = "runs") -> None:
        """Drop all but the ``keep`` most recent run entries (each edit makes a new one)."""
        directory = os.path.join(self.directory, kind)
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
        import pickle

        try:
            with open(self._path(kind, key), "rb") as f:
                return pickle.load(f)
        except Exception:  # any broken entry is a miss
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        if not self.writable:
            return
        import pickle

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

    def prepare(self) -> None:
        """Create the cache directory (with its ``.gitignore`` and ``CACHEDIR.TAG``) if missing."""
        self._prepare()

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


# --- replay of whole runs (the CLI's cached path) --------------------------------------------------

_REPLAY_FORMAT = "telethon-guard-replay-1"
#: A path whose ctime is this close to (or after) the start of the run may have changed while the
#: run read it (file systems stamp with a coarse clock): such a run is not recorded. ctime, not
#: mtime: every change sets it to the current time, while mtime can be set to anything (even the
#: future, which would disable recording for good).
_RACY_NS = 100_000_000


def find_pyproject(start: str | os.PathLike[str] | None = None) -> tuple[str, bytes] | None:
    """(path, contents) of the nearest ``pyproject.toml`` at or above ``start`` that mentions
    ``telethon-guard``; files that do not are skipped without being parsed."""
    here = os.path.abspath(start if start is not None else os.getcwd())
    if not os.path.isdir(here):
        here = os.path.dirname(here)
    while True:
        candidate = os.path.join(here, "pyproject.toml")
        try:
            with open(candidate, "rb") as f:
                data = f.read()
        except OSError:
            data = b""
        if b"telethon-guard" in data:
            return candidate, data
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def signature(path: str) -> tuple[int, ...] | None:
    """What changes when a file or directory changes: type, size, mtime, ctime, inode, device.

    A directory's mtime changes when an entry is added, removed or renamed in it; ctime changes on
    every write, chmod or replacement. None: the path does not exist (or cannot be stat-ed).
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def replay_key(argv: Sequence[str], cwd: str, color: bool, config: tuple[str, bytes] | None) -> str:
    """The key of a command line: arguments, working directory, colour, the linter's code, the
    config file's path and bytes, and the environment git's ignore rules read."""
    env = sorted(
        f"{k}={v}"
        for k, v in os.environ.items()
        if k.startswith("GIT_") or k in ("HOME", "XDG_CONFIG_HOME")
    )
    path, data = config if config is not None else ("", b"")
    return digest(
        _REPLAY_FORMAT, code_version(), cwd, str(color), path, data, *env, "\0argv", *argv
    )


def load_replay(root: str, key: str) -> tuple[str, int] | None:
    """(output, exit code) recorded under ``key`` if nothing it depended on changed, else None."""
    try:
        with open(os.path.join(root, CACHE_DIR, "replay", key), "rb") as f:
            entry = marshal.load(f)
        tag, watched, output, code = entry
        if tag != _REPLAY_FORMAT or not isinstance(output, str) or not isinstance(code, int):
            return None
        for path, sig in watched:
            if signature(path) != sig:
                return None
    except Exception:  # missing, corrupt or foreign: a miss
        return None
    return output, code


def store_replay(
    root: str, key: str, watched: Sequence[str], since_ns: int, output: str, code: int
) -> bool:
    """Record a run's output with the signatures of ``watched`` (whether recorded).

    Nothing is recorded when any watched path changed since ``since_ns`` (the start of the run,
    from ``time.time_ns()``) or so shortly before it that the run may have seen another state.
    """
    limit = since_ns - _RACY_NS
    sigs = []
    for path in dict.fromkeys(watched):
        sig = signature(path)
        if sig is not None and sig[3] >= limit:
            return False
        sigs.append((path, sig))
    cache = Cache(root)
    if not cache.writable:
        return False
    try:
        cache._prepare()
        path = cache._path("replay", key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                marshal.dump((_REPLAY_FORMAT, sigs, output, code), f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        return False
    cache.prune_runs(kind="replay")
    return True
