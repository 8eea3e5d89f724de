"""Refuse to run a Telethon service more than once: reload, several workers.

Every uvicorn worker, gunicorn worker or reload child imports the app and builds its own
``TelegramClient`` on the same session file, which is exactly the concurrent access that breaks
Telethon (see ``TELETHON_FACTS.md``). :func:`check_deployment` recognises those process models from
the server's own objects -- never from argv alone (``uvicorn.run(...)`` leaves ``sys.argv`` alone) and
never from the environment alone (``WEB_CONCURRENCY`` is set on many hosts that run one process):

* uvicorn: ``--reload`` and ``--workers N`` run the app in a spawned child whose Process target is
  ``uvicorn._subprocess.subprocess_started(config, ...)`` (kwargs on ``current_process()``, and the
  frame on the main thread's stack); that ``Config`` (pickled from the supervisor) says ``reload`` /
  ``workers``. A uvicorn ``Config`` in a process uvicorn did not spawn is ignored: there the server
  is single-process whatever its ``workers`` says (it may come from ``WEB_CONCURRENCY``).
* gunicorn: workers are forked by the Arbiter; its ``cfg`` (a ``gunicorn.config.Config``) is on the
  worker's stack (``Arbiter.spawn_worker`` -> ``Worker.init_process``). A ``UvicornWorker`` carries its
  own uvicorn ``Config(workers=1)``, which is ignored under gunicorn.
* hypercorn: ``hypercorn.run.run`` spawns ``config.workers`` children, each running ``*_worker(config)``.

The stack searched is the calling thread's and the main thread's (``sys._current_frames()``), so it
works at import time of the app module, in the lifespan, in a request, or from a worker thread. A
call made while a spawned child re-imports ``__main__`` (before it knows its target) is completed
when the child bootstraps (see :func:`_defer_until_bootstrap`).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shlex
import sys
import threading
from dataclasses import dataclass
from types import FrameType
from typing import Any

from .errors import UnsafeDeploymentError
from .sessions import _redact_command

__all__ = ["check_deployment"]

_SERVER_PACKAGES = frozenset({"uvicorn", "gunicorn", "hypercorn", "uvicorn_worker"})
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})


@dataclass(frozen=True)
class _Finding:
    server: str  # "uvicorn" | "gunicorn" | "hypercorn"
    setting: str  # "reload" | "workers"
    workers: int
    source: str  # where the setting came from, for the message
    master: bool = False  # found in a server's master process (gunicorn --preload), not a worker


def check_deployment() -> None:
    """Raise :class:`~telethon_guard.UnsafeDeploymentError` if this process runs the service twice.

    Refused: a uvicorn reload child or one of several uvicorn workers (``--reload``,
    ``--workers N``, ``uvicorn.run(..., reload=True / workers=N)``, ``uvicorn.Config``,
    ``UVICORN_RELOAD`` / ``UVICORN_WORKERS`` / ``WEB_CONCURRENCY``); a gunicorn worker or master with
    ``workers > 1`` or ``reload`` (``-w N``, ``GUNICORN_CMD_ARGS``, ``WEB_CONCURRENCY``, config file);
    a hypercorn worker with several workers or the reloader.

    Not refused: a plain script, a plain ``multiprocessing`` helper, ``WEB_CONCURRENCY`` set outside
    any server, a single-worker uvicorn / gunicorn / hypercorn.

    Call it at import time of the app module, in the lifespan, or let ``telethon_guard.install()``
    call it. The message names what was detected (flag, environment variable or config, and value),
    why it breaks Telethon, and the fix.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        _defer_until_bootstrap()
        return
    findings = _detect()
    if findings:
        raise UnsafeDeploymentError(_message(findings))


class _DeferredCheck:
    """The one deferred check of a spawned child (see :func:`_defer_until_bootstrap`)."""

    registered = False
    restore: list[tuple[type, Any]] = []


_DEFERRED = _DeferredCheck()


def _defer_until_bootstrap() -> None:
    """Called while a spawned child re-imports the parent's ``__main__`` (multiprocessing.spawn).

    At that moment nothing tells whether the child is a uvicorn reload child or worker: the Process
    object (with uvicorn's Config in its kwargs) is unpickled only afterwards. A script that does
    ``import telethon_guard.enforce`` and then ``uvicorn.run("main:app", reload=True)`` is checked
    here and never again (the module is cached). So check once more when the child bootstraps:
    ``BaseProcess._bootstrap`` calls ``self._after_fork()`` before the target
    (multiprocessing/process.py), a no-op staticmethod on ``SpawnProcess`` / ``ForkServerProcess``
    (multiprocessing/context.py). It is replaced for that one call and restored at once; a refusal
    there ends the child with ``SystemExit`` carrying the error text, before it serves anything.
    """
    if _DEFERRED.registered:
        return
    _DEFERRED.registered = True
    from multiprocessing import context

    def after_fork() -> None:
        # BaseProcess._bootstrap has just made the unpickled Process object the current process.
        own_class = type(multiprocessing.current_process())
        for cls, original in _DEFERRED.restore:
            setattr(cls, "_after_fork", original)  # noqa: B010
            if issubclass(own_class, cls):
                original.__func__()  # what the child would have run (a no-op today)
        _DEFERRED.restore = []
        _deferred_check()

    for name in ("SpawnProcess", "ForkServerProcess"):
        cls = getattr(context, name, None)
        original = getattr(cls, "__dict__", {}).get("_after_fork")
        if isinstance(cls, type) and isinstance(original, staticmethod):
            _DEFERRED.restore.append((cls, original))
            setattr(cls, "_after_fork", staticmethod(after_fork))  # noqa: B010


def _deferred_check() -> None:
    findings = _detect()
    if findings:
        error = UnsafeDeploymentError(_message(findings))
        name = f"{type(error).__module__}.{type(error).__name__}"
        raise SystemExit(f"{name}: {error}")


# --------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------


def _server_frames() -> list[FrameType]:
    """Frames of server code on this thread's and the main thread's stacks, innermost first."""
    starts: list[FrameType] = [sys._getframe(1)]
    main_ident = threading.main_thread().ident
    if main_ident is not None and main_ident != threading.get_ident():
        main_frame = sys._current_frames().get(main_ident)
        if main_frame is not None:
            starts.append(main_frame)
    found: list[FrameType] = []
    for frame in starts:
        current: FrameType | None = frame
        while current is not None:
            name = current.f_globals.get("__name__")
            if isinstance(name, str) and name.partition(".")[0] in _SERVER_PACKAGES:
                found.append(current)
            current = current.f_back
    return found


def _instance_of(value: object, module: str, cls: str) -> bool:
    # Never import a server ourselves: if it is not loaded, nothing of it can be on the stack.
    klass = getattr(sys.modules.get(module), cls, None)
    return isinstance(klass, type) and isinstance(value, klass)


class _Seen:
    def __init__(self) -> None:
        self.uvicorn_configs: list[Any] = []
        self.gunicorn_cfgs: list[Any] = []
        self.gunicorn_worker: Any = None
        self.gunicorn_arbiter: Any = None
        self.hypercorn_configs: list[Any] = []
        self.uvicorn_child = False
        self.hypercorn_run = False

    @staticmethod
    def _add(bucket: list[Any], value: object) -> None:
        if all(value is not seen for seen in bucket):
            bucket.append(value)

    def classify(self, value: object) -> None:
        if _instance_of(value, "uvicorn.config", "Config"):
            self._add(self.uvicorn_configs, value)
        elif _instance_of(value, "uvicorn.server", "Server"):
            self.classify(getattr(value, "config", None))
        elif _instance_of(value, "gunicorn.config", "Config"):
            self._add(self.gunicorn_cfgs, value)
        elif _instance_of(value, "hypercorn.config", "Config"):
            self._add(self.hypercorn_configs, value)
        else:
            cfg = getattr(value, "cfg", None) if _is_server_object(value) else None
            if cfg is not None and _instance_of(cfg, "gunicorn.config", "Config"):
                self._add(self.gunicorn_cfgs, cfg)
                if _instance_of(value, "gunicorn.arbiter", "Arbiter"):
                    self.gunicorn_arbiter = value
                elif _instance_of(value, "gunicorn.workers.base", "Worker"):
                    self.gunicorn_worker = value


def _is_server_object(value: object) -> bool:
    module = type(value).__module__
    return isinstance(module, str) and module.partition(".")[0] in _SERVER_PACKAGES


def _process_target(seen: _Seen) -> None:
    """A spawned server child knows its target and kwargs (uvicorn's or hypercorn's Config)."""
    process = multiprocessing.current_process()
    target = getattr(process, "_target", None)
    module = getattr(target, "__module__", None)
    if not isinstance(module, str) or module.partition(".")[0] not in _SERVER_PACKAGES:
        return
    if module == "uvicorn._subprocess":
        seen.uvicorn_child = True
    elif module.startswith("hypercorn."):
        seen.hypercorn_run = True
    kwargs = getattr(process, "_kwargs", None)
    if isinstance(kwargs, dict):
        for value in kwargs.values():
            seen.classify(value)


def _detect() -> list[_Finding]:
    seen = _Seen()
    _process_target(seen)
    for frame in _server_frames():
        module = frame.f_globals.get("__name__")
        if module == "uvicorn._subprocess":
            seen.uvicorn_child = True
        elif module == "hypercorn.run":
            seen.hypercorn_run = True
        for value in list(frame.f_locals.values()):
            seen.classify(value)

    findings: list[_Finding] = []
    if seen.gunicorn_cfgs:
        # gunicorn manages the processes; a UvicornWorker's own uvicorn Config (workers=1, or
        # WEB_CONCURRENCY read by uvicorn) says nothing about them.
        findings.extend(_gunicorn_findings(seen))
    elif seen.uvicorn_configs and seen.uvicorn_child:
        # Only a child uvicorn spawned itself is one of several: elsewhere (the CLI's own process,
        # a Server run by hand) uvicorn serves from one process whatever Config.workers says.
        findings.extend(_uvicorn_findings(seen.uvicorn_configs[-1]))
    if seen.hypercorn_configs and seen.hypercorn_run:
        findings.extend(_hypercorn_findings(seen.hypercorn_configs[-1]))
    return findings


def _cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _flag(argv: list[str] | None, long: str, short: str | None = None) -> str | None:
    """The value of ``--long V`` / ``--long=V`` / ``-s V`` / ``-sV`` in argv (last one wins)."""
    if not argv:
        return None
    value = None
    for i, arg in enumerate(argv):
        if arg == long or (short is not None and arg == short):
            if i + 1 < len(argv):
                value = argv[i + 1]
        elif arg.startswith(long + "="):
            value = arg[len(long) + 1 :]
        elif short is not None and arg.startswith(short) and len(arg) > len(short):
            if not arg.startswith("--"):
                value = arg[len(short) :]
    return value


def _as_int(value: object, default: int = 1) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _supervisor() -> str:
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None and parent.pid is not None else os.getppid()
    argv = _cmdline(pid)
    return f"PID {pid}" + (f": `{_redact_command(argv)}`" if argv else "")


# uvicorn ------------------------------------------------------------------------------------------


def _uvicorn_findings(config: Any) -> list[_Finding]:
    parent = multiprocessing.parent_process()
    argv = _cmdline(parent.pid) if parent is not None and parent.pid is not None else None
    sup = f"uvicorn supervisor {_supervisor()}"
    if getattr(config, "reload", False):
        if argv is not None and "--reload" in argv:
            source = f"the --reload flag ({sup})"
        elif os.environ.get("UVICORN_RELOAD", "").strip().lower() in _TRUE:
            source = f"UVICORN_RELOAD={os.environ['UVICORN_RELOAD']} in the environment ({sup})"
        elif argv is not None and _is_fastapi_dev(argv):
            source = f"the `fastapi dev` command, which reloads by default ({sup})"
        else:
            source = f"reload=True given to uvicorn.run() / uvicorn.Config() in code ({sup})"
        return [_Finding("uvicorn", "reload", 1, source)]
    workers = _as_int(getattr(config, "workers", 1))
    if workers > 1:
        return [
            _Finding("uvicorn", "workers", workers, _uvicorn_workers_source(argv, workers, sup))
        ]
    return []


def _uvicorn_workers_source(argv: list[str] | None, workers: int, sup: str) -> str:
    flag = _flag(argv, "--workers")
    if flag is not None:
        return f"the --workers {flag} flag ({sup})"
    env = os.environ.get("UVICORN_WORKERS")
    if env is not None and _as_int(env, 0) == workers:
        return f"UVICORN_WORKERS={env} in the environment ({sup})"
    env = os.environ.get("WEB_CONCURRENCY")
    if env is not None and _as_int(env, 0) == workers:
        return (
            f"WEB_CONCURRENCY={env} in the environment, which uvicorn uses when no worker count is "
            f"given ({sup})"
        )
    return f"workers={workers} given to uvicorn.run() / uvicorn.Config() in code ({sup})"


def _is_fastapi_dev(argv: list[str]) -> bool:
    for i, arg in enumerate(argv[:4]):
        if os.path.basename(arg) == "fastapi" or (
            arg == "-m" and argv[i + 1 : i + 2] == ["fastapi"]
        ):
            return "dev" in argv[i + 1 : i + 3]
    return False


# gunicorn -----------------------------------------------------------------------------------------


def _gunicorn_findings(seen: _Seen) -> list[_Finding]:
    cfg = seen.gunicorn_cfgs[-1]  # the outermost: the Arbiter's, shared with its workers
    workers = _as_int(getattr(cfg, "workers", 1))
    arbiter_workers = _as_int(getattr(seen.gunicorn_arbiter, "num_workers", 0), 0)
    master = os.getppid() if seen.gunicorn_worker is not None else os.getpid()
    argv = list(sys.argv)
    master_argv = _cmdline(master) or argv
    where = f"gunicorn master PID {master}: `{_redact_command(master_argv)}`"
    cmd_args = shlex.split(os.environ.get("GUNICORN_CMD_ARGS", ""))
    config_file = _gunicorn_config_file(cfg)
    findings: list[_Finding] = []
    if arbiter_workers > workers:
        findings.append(
            _Finding(
                "gunicorn",
                "workers",
                arbiter_workers,
                f"the master's worker count, raised to {arbiter_workers} (TTIN signal) ({where})",
                seen.gunicorn_worker is None,
            )
        )
    elif workers > 1:
        flag = _flag(argv, "--workers", "-w")
        env_flag = _flag(cmd_args, "--workers", "-w")
        if flag is not None:
            source = f"the -w/--workers {flag} flag ({where})"
        elif env_flag is not None:
            source = f"GUNICORN_CMD_ARGS={os.environ['GUNICORN_CMD_ARGS']!r} ({where})"
        elif config_file and _config_sets(config_file, "workers"):
            source = f"workers = {workers} in the gunicorn config file {config_file} ({where})"
        elif _as_int(os.environ.get("WEB_CONCURRENCY"), 0) == workers:
            source = (
                f"WEB_CONCURRENCY={os.environ['WEB_CONCURRENCY']} in the environment, gunicorn's "
                f"default worker count ({where})"
            )
        else:
            source = f"gunicorn's workers setting ({workers}) ({where})"
        findings.append(
            _Finding("gunicorn", "workers", workers, source, seen.gunicorn_worker is None)
        )
    if getattr(cfg, "reload", False):
        if "--reload" in argv:
            source = f"the --reload flag ({where})"
        elif "--reload" in cmd_args:
            source = f"GUNICORN_CMD_ARGS={os.environ['GUNICORN_CMD_ARGS']!r} ({where})"
        elif config_file and _config_sets(config_file, "reload"):
            source = f"reload = True in the gunicorn config file {config_file} ({where})"
        else:
            source = f"gunicorn's reload setting ({where})"
        findings.append(_Finding("gunicorn", "reload", max(workers, 1), source))
    return findings


def _gunicorn_config_file(cfg: Any) -> str | None:
    try:
        value = cfg.settings["config"].value
    except (AttributeError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


def _config_sets(config_file: str, name: str) -> bool:
    path = config_file[len("file:") :] if config_file.startswith("file:") else config_file
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    return re.search(rf"^\s*{name}\s*=", text, re.MULTILINE) is not None


# hypercorn ----------------------------------------------------------------------------------------


def _hypercorn_findings(config: Any) -> list[_Finding]:
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None and parent.pid is not None else os.getpid()
    argv = _cmdline(pid)
    where = f"hypercorn PID {pid}" + (f": `{_redact_command(argv)}`" if argv else "")
    findings: list[_Finding] = []
    workers = _as_int(getattr(config, "workers", 1))
    if getattr(config, "use_reloader", False):
        source = "the --reload flag" if argv and "--reload" in argv else "use_reloader = True"
        findings.append(_Finding("hypercorn", "reload", workers, f"{source} ({where})"))
    if workers > 1:
        flag = _flag(argv, "--workers", "-w")
        source = f"the --workers {flag} flag" if flag is not None else f"workers = {workers}"
        findings.append(_Finding("hypercorn", "workers", workers, f"{source} ({where})"))
    return findings


# message ------------------------------------------------------------------------------------------

_FIXES = {
    "uvicorn": "`uvicorn app:app` without --reload and with --workers 1 (unset UVICORN_RELOAD, "
    "UVICORN_WORKERS and WEB_CONCURRENCY for this service; in code: uvicorn.run(app, workers=1))",
    "gunicorn": "`gunicorn -w 1` without --reload (check GUNICORN_CMD_ARGS, WEB_CONCURRENCY and "
    "the gunicorn config file)",
    "hypercorn": "`hypercorn --workers 1` without --reload",
}


def _message(findings: list[_Finding]) -> str:
    lines = [f"Refusing to run Telethon in this process (PID {os.getpid()}):"]
    for finding in findings:
        if finding.setting == "reload":
            lines.append(
                f"- {finding.server} runs with auto-reload, set by {finding.source}. The reloader "
                "builds the client twice: a module-level client in the supervisor and again in "
                "each child it (re)starts, and restarts overlap old and new processes."
            )
        elif finding.master:
            lines.append(
                f"- this process is the {finding.server} master, which loads the app (--preload) "
                f"and then forks {finding.workers} worker processes, set by {finding.source}. Each "
                "worker then uses a TelegramClient on the same session."
            )
        else:
            lines.append(
                f"- this process is one of {finding.workers} {finding.server} worker processes, set "
                f"by {finding.source}. Each worker builds its own TelegramClient on the same session."
            )
    servers = list(dict.fromkeys(finding.server for finding in findings))
    lines.append(
        "Two clients on one session file fail with sqlite3 'database is locked' after freezing the "
        "event loop for SQLite's 5 s timeout, and Telegram revokes an auth key used from two "
        "connections at once (AuthKeyDuplicatedError)."
    )
    lines.append(
        "Fix: run exactly one process per Telegram session, without reload: "
        + "; ".join(_FIXES[server] for server in servers)
        + ". To scale, run one process per account (each with its own session file), never "
        "several workers on one account."
    )
    return "\n".join(lines)
