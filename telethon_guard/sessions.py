"""Exclusive ownership of Telethon sessions: one client, in one process, per session.

Two connections to one SQLite ``.session`` file make the second one block for SQLite's 5 s timeout
and then fail with ``database is locked`` (see ``TELETHON_FACTS.md``); the same auth key used by two
clients at once gets revoked by Telegram. A claim turns both into an immediate
:class:`~telethon_guard.SessionInUseError` that names the holder.

Mechanism: ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a sidecar ``<name>.session.lock`` (opened
``O_CLOEXEC``, mode 0600, never unlinked, so two processes can never lock two different inodes).
``flock`` conflicts between processes *and* between two opens in one process, and the kernel drops it
when the holder dies, SIGKILL included. POSIX ``lockf`` locks on the session file itself would not do:
SQLite opens and closes that file, which drops them. An in-process registry names the holding client
precisely for same-process conflicts.

Nothing here touches Telethon until :func:`_install_claims` (called by ``telethon_guard.install``).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import functools
import gc
import hashlib
import json
import logging
import os
import pathlib
import re
import shlex
import socket
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .errors import SessionInUseError, TelethonGuardError

try:
    import fcntl
except ImportError:  # not POSIX (Windows): claims only hold within this process
    fcntl = None  # type: ignore[assignment]

__all__ = ["ClaimOwner", "SessionClaim", "claim_session"]

_log = logging.getLogger("telethon_guard")

#: Telethon appends this to a session name that lacks it (telethon/sessions/sqlite.py:21, :43-46).
_SESSION_EXTENSION = ".session"
_LOCK_SUFFIX = ".lock"
#: Attribute under which a client keeps its claim binding (instances only; the class is untouched).
_CLIENT_ATTR = "_telethon_guard_claim"

_NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "ocfs2",
        "gfs2",
        "davfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.gcsfuse",
        "fuse.juicefs",
    }
)
_MOUNTS_FILE = "/proc/mounts"

_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


# --------------------------------------------------------------------------------------------------
# Who holds a claim
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimOwner:
    """Who holds a session claim. Written as JSON into the claim file; never holds a secret.

    Attributes:
        pid: process id of the holder.
        host: host name of the holder (a session directory may be shared between machines).
        started: when the holder process started (ISO 8601, UTC), where known.
        command: the holder's command line, with secret-looking values redacted.
        claimed_at: when the claim was taken (ISO 8601, UTC).
        holder: what holds it inside that process, e.g. ``TelegramClient created at app.py:12``.
    """

    pid: int
    host: str
    started: str | None
    command: str | None
    claimed_at: str | None
    holder: str | None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "tool": "telethon-guard",
                "pid": self.pid,
                "host": self.host,
                "started": self.started,
                "command": self.command,
                "claimed_at": self.claimed_at,
                "holder": self.holder,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ClaimOwner:
        raw = json.loads(data)
        if not isinstance(raw, dict) or not isinstance(raw.get("pid"), int):
            raise ValueError("not a claim record")

        def text(key: str) -> str | None:
            value = raw.get(key)
            return value if isinstance(value, str) else None

        return cls(
            pid=raw["pid"],
            host=text("host") or "?",
            started=text("started"),
            command=text("command"),
            claimed_at=text("claimed_at"),
            holder=text("holder"),
        )


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_start_time_cache: dict[int, str | None] = {}


def _process_start_time(pid: int) -> str | None:
    """Start time of a process from ``/proc`` (Linux), as ISO 8601 UTC, or None."""
    if pid in _start_time_cache:
        return _start_time_cache[pid]
    result: str | None = None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        # Field 22 is the start time in clock ticks after boot; fields 3.. follow the ")" of comm.
        ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime"))
        result = _iso(btime + ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, StopIteration):
        result = None
    _start_time_cache[pid] = result
    return result


_SECRET_OPTION = re.compile(
    r"^--?[\w.-]*(hash|secret|token|passw|key|auth|string|credential)[\w.-]*$", re.IGNORECASE
)
_OPAQUE = re.compile(r"[A-Za-z0-9_+=-]{32,}")


def _redact_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
        return "***"
    return run


def _redact_command(argv: list[str]) -> str:
    """The command line for humans, without API hashes, tokens or session strings."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        if _SECRET_OPTION.match(name):
            if eq:
                out.append(name + "=***")
                continue
            hide_next = True
        arg = _OPAQUE.sub(_redact_run, arg)
        out.append(arg if len(arg) <= 200 else arg[:200] + "...")
    command = shlex.join(out)
    return command if len(command) <= 1000 else command[:1000] + "..."


def _own_command() -> str:
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    return _redact_command(argv)


def _site(skip_self: object = None) -> str:
    """``file:line`` of the first caller outside telethon-guard and Telethon."""
    frame = sys._getframe(1)
    telethon_dir = _telethon_dir()
    fallback = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_OWN_DIR) and not (
            telethon_dir and filename.startswith(telethon_dir)
        ):
            # A subclass's own __init__ is part of the construction, not the caller.
            if not (
                skip_self is not None
                and frame.f_code.co_name == "__init__"
                and frame.f_locals.get("self") is skip_self
            ):
                return f"{_short_path(filename)}:{frame.f_lineno}"
            fallback = fallback or f"{_short_path(filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return fallback or "<unknown>"


def _short_path(filename: str) -> str:
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


@functools.lru_cache(maxsize=1)
def _telethon_dir() -> str | None:
    module = sys.modules.get("telethon")
    file = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(file)) + os.sep if file else None


def _task_name() -> str | None:
    try:
        import asyncio

        task = asyncio.current_task()
    except RuntimeError:
        return None
    return task.get_name() if task is not None else None


# --------------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------------

#: Live claims of this process by key; weak, so that a claim dropped without release() is let go.
_registry: weakref.WeakValueDictionary[str, SessionClaim] = weakref.WeakValueDictionary()
_registry_lock = threading.RLock()
_fork_hook_registered = False
_warned_network_fs: set[str] = set()


class SessionClaim:
    """Exclusive ownership of one session, returned by :func:`claim_session`.

    Use it as a context manager or call :meth:`release`. While it is held, constructing a
    ``TelegramClient`` on the same session in another process fails with
    :class:`~telethon_guard.SessionInUseError`; in this process (with the guard installed) exactly one
    client at a time may use the claimed session. The claim is released by :meth:`release`, when the
    claim object is garbage-collected, and by the kernel when the process dies.

    Attributes:
        path: absolute, resolved path of the ``.session`` file (``None`` for a ``StringSession``
            auth-key claim, which only exists inside this process).
        owner: who holds it (this process).
    """

    __slots__ = (
        "__weakref__",
        "_client",
        "_explicit",
        "_fd",
        "_finalizer",
        "_key",
        "_released",
        "_site",
        "owner",
        "path",
    )

    def __init__(
        self,
        key: str,
        path: pathlib.Path | None,
        fd: int,
        owner: ClaimOwner,
        site: str,
        explicit: bool,
    ) -> None:
        self._key = key
        self.path = path
        self._fd = fd
        self.owner = owner
        self._site = site
        self._explicit = explicit
        self._released = False
        self._client: weakref.ref[Any] | None = None
        # A claim dropped without release() closes its descriptor (which drops the flock). Not at
        # interpreter exit: other finalisers (a client's) may still release() it then, and the
        # kernel lets go of everything when the process ends anyway.
        self._finalizer = weakref.finalize(self, _close_fd, fd) if fd >= 0 else None
        if self._finalizer is not None:
            self._finalizer.atexit = False

    @property
    def released(self) -> bool:
        """True once the claim has been released (or dropped in a forked child)."""
        return self._released

    def release(self) -> None:
        """Release the claim (idempotent). Another client or process may claim the session afterwards."""
        with _registry_lock:
            if self._released:
                return
            self._released = True
            if _registry.get(self._key) is self:
                del _registry[self._key]
            fd, self._fd = self._fd, -1
            if self._finalizer is not None:
                self._finalizer.detach()
            if fd >= 0:
                # LOCK_UN first: a descriptor inherited by a child between fork and exec must not
                # keep the lock alive after we let go.
                with contextlib.suppress(OSError):
                    if fcntl is not None:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __enter__(self) -> SessionClaim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        what = str(self.path) if self.path is not None else "StringSession auth key"
        return f"<SessionClaim {what} {state} by PID {self.owner.pid} ({self.owner.holder})>"

    def _describe_holder(self) -> str:
        """For same-process conflicts: which object holds it and where it was made."""
        client = self._client() if self._client is not None else None
        if self._explicit:
            text = f"claim_session() called at {self._site}"
            if client is not None:
                text += f", used by a {type(client).__name__} ({_client_site(client)})"
            return text
        return self.owner.holder or f"a TelegramClient created at {self._site}"


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _after_fork_in_child() -> None:
    """A forked child must not keep its parent's claims usable.

    Closing the inherited descriptors does not release the parent's flock (the lock belongs to the
    open file description, still open in the parent); LOCK_UN would, so it is never used here.
    """
    global _registry_lock
    _registry_lock = threading.RLock()
    for claim in list(_registry.values()):
        claim._released = True
        fd, claim._fd = claim._fd, -1
        if claim._finalizer is not None:
            claim._finalizer.detach()
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
    _registry.clear()
    _start_time_cache.clear()


def _ensure_fork_hook() -> None:
    global _fork_hook_registered
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_registered = True


def _normalise(path: str | os.PathLike[str]) -> pathlib.Path:
    """The session file Telethon would open for ``path``: ``.session`` appended, absolute, resolved."""
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(
            f"a session path must be str or os.PathLike[str], not {type(path).__name__}"
        )
    if not name:
        raise ValueError("an empty session path names no session file")
    # telethon/sessions/sqlite.py:43-46 -- the same rule Telethon applies to session names.
    if not name.endswith(_SESSION_EXTENSION):
        name += _SESSION_EXTENSION
    return pathlib.Path(os.path.realpath(os.path.abspath(name)))


def _read_owner(fd: int) -> ClaimOwner | None:
    """The holder's record, retried briefly: the holder writes it just after taking the lock."""
    this_host = socket.gethostname()
    owner: ClaimOwner | None = None
    for _ in range(20):
        try:
            data = os.pread(fd, 8192, 0)
            owner = ClaimOwner.from_json(data)
        except (OSError, ValueError):
            owner = None
        if owner is not None and (owner.host != this_host or _pid_alive(owner.pid)):
            return owner
        # Empty, half-written, or left by a dead previous holder: the live one is about to write.
        time.sleep(0.01)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _conflict_in_process(path_text: str, holder: SessionClaim, what: str) -> SessionInUseError:
    task = _task_name()
    where = f" in task {task!r}" if task else ""
    return SessionInUseError(
        f"{what} is already in use in this process (PID {os.getpid()}): "
        f"{holder._describe_holder()}. Refused at {_site()}{where}. "
        "Two clients on one session corrupt it (sqlite3 'database is locked', a frozen event loop) and "
        "one auth key used twice at once gets revoked by Telegram (AuthKeyDuplicatedError). "
        + (
            "Fix: release that claim (`claim.release()`, or leave its `with` block) before "
            "claiming the session again."
            if holder._explicit and holder._client is None
            else "Fix: share the one existing client (one client per session), or "
            "`await client.disconnect()` it before creating another."
        )
        + (f" (session file: {path_text})" if path_text else "")
    )


def _conflict_other_process(
    path: pathlib.Path, lock_path: str, owner: ClaimOwner | None
) -> SessionInUseError:
    if owner is None:
        who = "another process (its record in the claim file could not be read)"
        how = f"find it with `fuser -v {shlex.quote(lock_path)}` or `lsof {shlex.quote(lock_path)}`"
    else:
        same_host = owner.host == socket.gethostname()
        who = f"PID {owner.pid} on host {owner.host}"
        if owner.pid == os.getpid() and same_host:
            who += " (this process, outside telethon-guard's registry)"
        if owner.started:
            who += f", started {owner.started}"
        if owner.holder:
            who += f", held by {owner.holder}"
        if owner.command:
            who += f", command: {owner.command}"
        if same_host:
            how = f"find it with `ps -p {owner.pid} -o pid,lstart,cmd` and stop it (`kill {owner.pid}`)"
        else:
            how = (
                f"it runs on another machine ({owner.host}) sharing this directory; stop it there "
                f"(`ps -p {owner.pid} -o pid,lstart,cmd` on {owner.host})"
            )
    return SessionInUseError(
        f"Session {path} is already in use by {who}. "
        "A second process on one session file blocks in SQLite for 5 s and then fails with "
        "'database is locked', and Telegram revokes an auth key used twice at once. "
        f"Fix: {how}, or give this process its own session file (one process per account). "
        f"(claim file: {lock_path})"
    )


def _network_filesystem(path: pathlib.Path, mounts_file: str | None = None) -> str | None:
    """The filesystem type under ``path`` if it is a network filesystem, from ``/proc/mounts``."""
    try:
        with open(mounts_file or _MOUNTS_FILE, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    target = str(path)
    best, best_type = "", ""
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        # /proc/mounts escapes spaces and friends as octal (\040).
        mount_point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, parts[2].lower()
    if best_type in _NETWORK_FILESYSTEMS or best_type.startswith(("nfs", "smb", "cifs")):
        return best_type
    return None


def _warn_network_fs(path: pathlib.Path) -> None:
    key = str(path)
    if key in _warned_network_fs:
        return
    _warned_network_fs.add(key)
    fs = _network_filesystem(path)
    if fs is not None:
        _log.warning(
            "Session %s is on a network filesystem (%s): SQLite's file locking is unreliable there, "
            "so the session can be corrupted and cross-machine claims are not guaranteed. Keep "
            "Telethon session files on a local disk.",
            path,
            fs,
        )


def _owner(holder: str) -> ClaimOwner:
    pid = os.getpid()
    return ClaimOwner(
        pid=pid,
        host=socket.gethostname(),
        started=_process_start_time(pid),
        command=_own_command(),
        claimed_at=_iso(time.time()),
        holder=holder,
    )


def _warn_no_flock() -> None:
    if "<no flock>" not in _warned_network_fs:
        _warned_network_fs.add("<no flock>")
        _log.warning(
            "fcntl.flock is not available on this platform: session claims only hold within this "
            "process; nothing stops a second process from opening the same session file."
        )


def _live_claim(key: str) -> SessionClaim | None:
    """The claim registered under ``key``, unless it belongs to a client that is garbage.

    A ``TelegramClient`` is full of reference cycles (its sender holds bound methods of the client),
    so one dropped without ``disconnect()`` -- e.g. re-created in a loop or a retry -- lives until
    the cyclic garbage collector runs, and its finaliser releases the claim only then. Before
    refusing a new claim because of a client that is not connected, collect once and look again.
    Called with ``_registry_lock`` held (an RLock: the finalisers release claims under it).
    """
    existing = _registry.get(key)
    if existing is None or existing._explicit or existing._client is None:
        return existing
    client = existing._client()
    try:
        connected = client is not None and bool(client.is_connected())
    except Exception:
        connected = True
    if connected:
        return existing
    del client
    gc.collect()
    return _registry.get(key)


def _claim_path(path: pathlib.Path, holder: str, site: str, explicit: bool) -> SessionClaim:
    """Claim a session file (normalised path) for this process. Raises SessionInUseError."""
    key = "path:" + str(path)
    with _registry_lock:
        existing = _live_claim(key)
        if existing is not None:
            raise _conflict_in_process(str(path), existing, f"Session {path}")
        if fcntl is None:
            _warn_no_flock()
            claim = SessionClaim(key, path, -1, _owner(holder), site, explicit)
            _registry[key] = claim
            return claim
        _ensure_fork_hook()
        lock_path = str(path) + _LOCK_SUFFIX
        fd = os.open(
            lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )  # raises OSError; the callers decide
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                owner = _read_owner(fd)
                raise _conflict_other_process(path, lock_path, owner) from None
            try:
                os.fchmod(fd, 0o600)
            except OSError:
                pass  # not ours to change; it holds nothing secret anyway
            me = _owner(holder)
            record = me.to_json()
            # Write then truncate, so a reader sees either a valid record or one that fails to parse.
            os.pwrite(fd, record, 0)
            os.ftruncate(fd, len(record))
        except BaseException:
            os.close(fd)
            raise
        claim = SessionClaim(key, path, fd, me, site, explicit)
        _registry[key] = claim
    _warn_network_fs(path)
    return claim


def claim_session(path: str | os.PathLike[str]) -> SessionClaim:
    """Claim exclusive ownership of the session file at ``path`` for this process.

    ``path`` is normalised as Telethon does it (``.session`` appended if missing), made absolute and
    resolved. The claim is an ``flock`` on the sidecar ``<name>.session.lock`` (mode 0600, holding this
    process's PID, host, start time and redacted command line; never a secret).

    With the guard installed, a ``TelegramClient`` constructed on a path you claimed uses your claim
    (one client at a time); disconnecting that client does not release it -- you do.

    Raises:
        SessionInUseError: at once, if another process or another claim in this process holds the
            session; the message names the holder (PID, host, start time, command line, or the
            client and ``file:line`` in this process) and how to find and stop it.
        TelethonGuardError: if the claim file cannot be created or locked (e.g. read-only directory).

    Example::

        with claim_session("relay.session"):
            client = TelegramClient("relay", api_id, api_hash)
            ...
    """
    normalised = _normalise(path)
    site = _site()
    try:
        return _claim_path(normalised, f"claim_session() at {site}", site, explicit=True)
    except OSError as exc:
        raise TelethonGuardError(
            f"Cannot claim session {normalised}: the claim file {normalised}{_LOCK_SUFFIX} could not be "
            f"created or locked ({exc.strerror or exc}). Make the session's directory writable by this "
            "process (SQLite needs that as well)."
        ) from exc


# --------------------------------------------------------------------------------------------------
# Automatic claims for TelegramClient (installed by telethon_guard.install(claim_sessions=True))
# --------------------------------------------------------------------------------------------------


class _ClientBinding:
    """What a client claimed: released on disconnect, on garbage collection, at uninstall."""

    __slots__ = ("__weakref__", "adopted", "claim", "key_hash", "site")

    def __init__(self, site: str) -> None:
        self.site = site
        self.claim: SessionClaim | None = None
        # The weak reference this client put on a user's explicit claim, when it adopted one.
        self.adopted: weakref.ref[Any] | None = None
        self.key_hash: str | None = None  # a StringSession's key hash, to re-claim on connect()

    def holds(self) -> bool:
        claim = self.claim
        if claim is None or claim.released:
            return False
        return self.adopted is None or claim._client is self.adopted

    def release(self) -> None:
        with _registry_lock:
            claim, self.claim = self.claim, None
            adopted, self.adopted = self.adopted, None
            if claim is None:
                return
            if adopted is not None:
                # The user's explicit claim outlives the client; only this client lets go of it.
                if claim._client is adopted:
                    claim._client = None
            else:
                claim.release()


def _client_site(client: Any) -> str:
    binding = client.__dict__.get(_CLIENT_ATTR)
    return f"created at {binding.site}" if binding is not None else "created elsewhere"


def _auth_key_hash(session: Any) -> str | None:
    key = getattr(getattr(session, "auth_key", None), "key", None)
    if not key:
        return None
    return hashlib.sha256(bytes(key)).hexdigest()


def _claim_key(client: Any, key_hash: str, binding: _ClientBinding) -> None:
    key = "authkey:" + key_hash
    with _registry_lock:
        existing = _live_claim(key)
        if existing is not None:
            raise _conflict_in_process(
                "", existing, f"The StringSession auth key (fingerprint {key_hash[:8]})"
            )
        holder = f"a {type(client).__name__} created at {binding.site}"
        claim = SessionClaim(key, None, -1, _owner(holder), binding.site, explicit=False)
        claim._client = weakref.ref(client)
        _registry[key] = claim
        binding.claim = claim
        binding.adopted = None
        binding.key_hash = key_hash


def _claim_file_for_client(client: Any, path: pathlib.Path, binding: _ClientBinding) -> None:
    key = "path:" + str(path)
    with _registry_lock:
        existing = _registry.get(key)
        if existing is not None and existing._explicit:
            holder_client = existing._client() if existing._client is not None else None
            if holder_client is None or holder_client is client:
                existing._client = binding.adopted = weakref.ref(client)
                binding.claim = existing
                return
        task = _task_name()
        holder = f"a {type(client).__name__} created at {binding.site}" + (
            f" in task {task!r}" if task else ""
        )
        try:
            claim = _claim_path(path, holder, binding.site, explicit=False)
        except FileNotFoundError:
            return  # no such directory: SQLite raises its own clear error right after
        except OSError as exc:
            _log.warning(
                "Cannot claim session %s (%s): ownership across processes is not enforced for this "
                "client. Make the session's directory writable.",
                path,
                exc.strerror or exc,
            )
            return
        claim._client = weakref.ref(client)
        binding.claim = claim
        binding.adopted = None


def _session_target(session: Any) -> pathlib.Path | str | None:
    """A session file path to claim, a StringSession key hash (``"key:..."``) or None (memory)."""
    if isinstance(session, (str, pathlib.Path)):
        # telethon/client/telegrambaseclient.py:295-297 -- str/Path become SQLiteSession(str(path)),
        # and an empty name is an in-memory SQLite database (telethon/sessions/sqlite.py:38-43).
        name = str(session)
        return _normalise(name) if name else None
    from telethon.sessions import SQLiteSession, StringSession

    if isinstance(session, SQLiteSession):
        filename = getattr(session, "filename", ":memory:")
        if isinstance(filename, str) and filename != ":memory:":
            return _normalise(filename)
        return None
    if isinstance(session, StringSession):
        key_hash = _auth_key_hash(session)
        return "key:" + key_hash if key_hash else None
    return None


def _binding_of(client: Any, site: str | None = None) -> _ClientBinding:
    binding: _ClientBinding | None = client.__dict__.get(_CLIENT_ATTR)
    if binding is None:
        binding = _ClientBinding(site or _site(skip_self=client))
        client.__dict__[_CLIENT_ATTR] = binding
        weakref.finalize(client, binding.release)
    return binding


def _claim_for_client(client: Any, session: Any, *, at_connect: bool) -> None:
    binding = _binding_of(client)
    if binding.holds():
        return
    binding.claim = binding.adopted = None
    if at_connect:
        if binding.key_hash is not None:
            # Re-claim the key this client claimed at construction. A key that only appears later
            # (a fresh login, or Telethon's CDN client whose cloned session receives the main key)
            # is deliberately not claimed here.
            _claim_key(client, binding.key_hash, binding)
            return
        from telethon.sessions import StringSession

        if isinstance(session, StringSession):
            return
    target = _session_target(session)
    if target is None:
        return
    if isinstance(target, str):
        _claim_key(client, target[len("key:") :], binding)
    else:
        _claim_file_for_client(client, target, binding)


def _release_client(client: Any) -> None:
    binding: _ClientBinding | None = client.__dict__.get(_CLIENT_ATTR)
    if binding is not None:
        binding.release()


_originals: dict[tuple[type, str], Any] = {}


def _install_claims() -> None:
    """Patch Telethon so every ``TelegramClient`` claims its session (idempotent).

    * ``TelegramBaseClient.__init__``: claim *before* the original runs, because that is where the
      SQLite file is opened (telethon/client/telegrambaseclient.py:295-297); release if it fails.
    * ``TelegramBaseClient.connect``: re-claim after a disconnect (connect reopens the file).
    * ``TelegramBaseClient._disconnect_coro``: release once the session is closed
      (telethon/client/telegrambaseclient.py:724-756; ``disconnect()`` and ``log_out()`` end there).
    * ``telethon.sync`` copies of ``connect`` on subclasses are wrapped too.
    """
    from telethon.client.telegrambaseclient import TelegramBaseClient

    with _registry_lock:
        if _originals:
            return
        base_init = TelegramBaseClient.__dict__["__init__"]
        base_connect = TelegramBaseClient.__dict__["connect"]
        base_disconnect = TelegramBaseClient.__dict__["_disconnect_coro"]

        @functools.wraps(base_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            session = args[0] if args else kwargs.get("session")
            _binding_of(self, _site(skip_self=self))
            _claim_for_client(self, session, at_connect=False)
            try:
                base_init(self, *args, **kwargs)
            except BaseException:
                _release_client(self)
                raise

        @functools.wraps(base_connect)
        async def connect(self: Any, *args: Any, **kwargs: Any) -> Any:
            session = getattr(self, "session", None)
            if session is not None:
                _claim_for_client(self, session, at_connect=True)
            return await base_connect(self, *args, **kwargs)

        @functools.wraps(base_disconnect)
        async def _disconnect_coro(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await base_disconnect(self, *args, **kwargs)
            finally:
                # Only once SQLite's connection is closed (it is None after SQLiteSession.close());
                # if the disconnect failed earlier the file is still open and stays claimed.
                if getattr(getattr(self, "session", None), "_conn", None) is None:
                    _release_client(self)

        _originals[(TelegramBaseClient, "__init__")] = base_init
        _originals[(TelegramBaseClient, "connect")] = base_connect
        _originals[(TelegramBaseClient, "_disconnect_coro")] = base_disconnect
        TelegramBaseClient.__init__ = __init__
        TelegramBaseClient.connect = connect
        TelegramBaseClient._disconnect_coro = _disconnect_coro

        for cls in _subclasses(TelegramBaseClient):
            synced = cls.__dict__.get("connect")
            if synced is None or not hasattr(synced, "__tl.sync"):
                continue
            _originals[(cls, "connect")] = synced
            setattr(cls, "connect", _wrap_synced_connect(synced))  # noqa: B010


def _wrap_synced_connect(synced: Any) -> Any:
    # telethon/sync.py:29-43 captured the unpatched coroutine function; claim before delegating.
    @functools.wraps(synced)
    def connect(self: Any, *args: Any, **kwargs: Any) -> Any:
        session = getattr(self, "session", None)
        if session is not None:
            _claim_for_client(self, session, at_connect=True)
        return synced(self, *args, **kwargs)

    return connect


def _subclasses(cls: type) -> list[type]:
    seen: list[type] = []
    stack: list[type] = list(cls.__subclasses__())
    while stack:
        sub = stack.pop()
        if sub not in seen:
            seen.append(sub)
            stack.extend(sub.__subclasses__())
    return seen


def _uninstall_claims() -> None:
    """Restore Telethon exactly and release the claims clients took automatically.

    Claims made with :func:`claim_session` stay held (a client using one just lets go of it).
    """
    with _registry_lock:
        if not _originals:
            return
        base = next(cls for cls, name in _originals if name == "__init__")
        ours = base.__dict__.get("connect")
        for (cls, name), original in _originals.items():
            setattr(cls, name, original)
        _originals.clear()
        # telethon.sync imported while we were installed copied our connect(); copy the original
        # instead, as telethon.sync would have done (telethon/sync.py:29-43).
        sync = sys.modules.get("telethon.sync")
        for cls in _subclasses(base):
            synced = cls.__dict__.get("connect")
            if synced is not None and getattr(synced, "__tl.sync", None) is ours:
                delattr(cls, "connect")
                if sync is not None and hasattr(sync, "_syncify_wrap"):
                    sync._syncify_wrap(cls, "connect")
        for claim in list(_registry.values()):
            if claim._explicit:
                claim._client = None
            else:
                claim.release()
