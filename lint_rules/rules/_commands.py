"""Server command lines: a small shell word splitter and the reload/worker analysis behind TG200/TG201.

Every character of a word remembers where it came from (an integer "offset": a source offset for text
files, an element index for Python argv lists), so findings point at the offending token even through
``sh -c "..."``, quotes and line continuations.

What starts a server (checked against uvicorn 0.54, gunicorn 27, hypercorn, the fastapi CLI):
- uvicorn: ``--reload``; ``--workers N``. ``--reload-dir``/``--reload-include`` alone do *not* reload
  (uvicorn/config.py: "Current configuration will not reload as not all conditions are met") and are
  not reported. Environment: ``UVICORN_RELOAD`` (click auto-envvar, uvicorn/main.py:61),
  ``UVICORN_WORKERS``, ``WEB_CONCURRENCY`` (uvicorn/config.py:358).
- gunicorn: ``-w N``/``-wN``/``--workers N``, ``--reload``, ``-c FILE`` (a Python config file),
  ``GUNICORN_CMD_ARGS`` (gunicorn/config.py:110), ``WEB_CONCURRENCY`` (gunicorn/config.py:762).
- hypercorn: ``-w N``/``--workers N``, ``--reload``, ``-c file:x.py``/``python:mod``.
- fastapi: ``fastapi dev`` reloads unless ``--no-reload``; ``fastapi run --reload``; ``--workers N``.
- granian (2.x): ``--workers N``, ``--reload``; ``GRANIAN_WORKERS``/``GRANIAN_RELOAD`` (granian/cli.py).
- A server wrapped in a file watcher (``watchmedo auto-restart``, ``watchfiles``, ``hupper``,
  ``nodemon``) is reloaded on every change too.

Wrappers are looked through: ``exec``, ``env X=Y``, ``sudo``/``gosu``/``su-exec``, ``nohup``/``nice``/
``tini``/``dumb-init``..., ``poetry``/``pipenv``/``pdm``/``uv``/``hatch`` ``run``, ``uvx``, ``python -m``,
``sh -c "..."``, ``docker``/``podman`` ``run``/``exec`` (with ``-e`` settings), ``&&``/``;`` chains.

Values that are not literals: ``${X:-4}`` (a literal default) uses the default (or the file's own
literal assignment of ``X``); ``$(nproc)`` means one worker per core (several); any other expansion
cannot be verified and is reported with a message asking to pin the value to 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..names import ModuleNames
    from .base import PythonModule

__all__ = [
    "SERVER_ENV",
    "UNKNOWN",
    "Issue",
    "Word",
    "analyze_command",
    "analyze_env",
    "analyze_shell",
    "split_shell",
    "word_from_text",
]

FIX = "run one worker without reload; scale with one process per Telegram account"


class _Sentinel:
    """A value that is not a literal (picklable: facts carry it between processes)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name


#: A value that cannot be verified statically.
UNKNOWN = _Sentinel("UNKNOWN")
#: One or more per CPU core (``$(nproc)``, ``cpu_count()``): several on any multi-core machine.
SEVERAL = _Sentinel("SEVERAL")

#: Environment variables a server reads: name -> (code, kind) where kind is "workers" or "reload".
SERVER_ENV: Mapping[str, tuple[str, str]] = {
    "WEB_CONCURRENCY": ("TG201", "workers"),
    "UVICORN_WORKERS": ("TG201", "workers"),
    "UVICORN_RELOAD": ("TG200", "reload"),
    # granian's click CLI reads GRANIAN_<OPTION> (auto_envvar_prefix, granian/cli.py).
    "GRANIAN_WORKERS": ("TG201", "workers"),
    "GRANIAN_RELOAD": ("TG200", "reload"),
}

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


@dataclass(frozen=True)
class Word:
    """One shell word after quote removal; ``offs[i]`` is where ``text[i]`` came from."""

    text: str
    offs: tuple[int, ...]
    start: int  # offset of the first raw character (quotes included)
    end: int  # offset just past the last raw character

    @property
    def base(self) -> str:
        """The program name without its directory (``/usr/local/bin/uvicorn`` -> ``uvicorn``)."""
        return self.text.rsplit("/", 1)[-1]

    def sub(self, i: int, j: int) -> tuple[int, int]:
        """Offsets spanning ``text[i:j]``."""
        if not self.offs or i >= j:
            return self.start, self.end
        return self.offs[i], self.offs[j - 1] + 1


def word_from_text(text: str, offset: int) -> Word:
    """A word whose every character sits at ``offset`` (a Python argv element at index ``offset``)."""
    return Word(text, (offset,) * len(text), offset, offset + 1)


@dataclass(frozen=True)
class Issue:
    """A finding on a command line: code, offsets ``[start, end)`` and message."""

    code: str
    start: int
    end: int
    message: str


_OPERATOR_CHARS = "&|;()"
_KEYWORDS = {
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "do",
    "done",
    "while",
    "until",
    "!",
    "{",
    "}",
    "time",
    "case",
    "esac",
    "in",
}


def split_shell(text: str, offs: Sequence[int] | None = None) -> list[list[Word]]:
    """Split shell ``text`` into simple commands (lists of words).

    Handles quotes, backslash escapes and line continuations, comments, ``&&``/``||``/``;``/``|``/``&``
    and newlines as separators, redirections (dropped with their target), here-documents (their body
    is skipped) and ``$(...)``/backticks/``${...}`` (kept verbatim inside the word).
    """
    if offs is None:
        offs = range(len(text))
    n = len(text)
    commands: list[list[Word]] = []
    current: list[Word] = []
    heredocs: list[str] = []
    i = 0

    def end_command() -> None:
        nonlocal current
        if current:
            commands.append(current)
        current = []

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "\n":
            end_command()
            i += 1
            if heredocs:
                i = _skip_heredocs(text, i, heredocs)
                heredocs = []
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in _OPERATOR_CHARS:
            end_command()
            i += 1
            while i < n and text[i] in "&|;":
                i += 1
            continue
        if c in "<>":
            # Redirection: an all-digit word just before it is a file descriptor, not an argument.
            if current and current[-1].text.isdigit() and current[-1].end == offs[i]:
                current.pop()
            j = i
            while j < n and text[j] in "<>&|-":
                j += 1
            op = text[i:j]
            i = j
            while i < n and text[i] in " \t":
                i += 1
            target, i = _read_word(text, offs, i)
            if op.startswith("<<") and not op.startswith("<<<") and target is not None:
                heredocs.append(target.text)
            continue
        word, i = _read_word(text, offs, i)
        if word is not None:
            current.append(word)
    end_command()
    return commands


def _skip_heredocs(text: str, i: int, delimiters: list[str]) -> int:
    for delimiter in delimiters:
        while i < len(text):
            nl = text.find("\n", i)
            line = text[i:] if nl < 0 else text[i:nl]
            i = len(text) if nl < 0 else nl + 1
            if line.strip() == delimiter:
                break
    return i


def _read_word(text: str, offs: Sequence[int], i: int) -> tuple[Word | None, int]:
    n = len(text)
    start = i
    chars: list[str] = []
    where: list[int] = []

    def take(k: int) -> None:
        chars.append(text[k])
        where.append(offs[k])

    while i < n:
        c = text[i]
        if c in " \t\r\n" or c in _OPERATOR_CHARS or c in "<>":
            break
        if c == "\\":
            if i + 1 < n and text[i + 1] == "\n":
                i += 2
                continue
            if i + 1 < n:
                take(i + 1)
            i += 2
            continue
        if c == "'" or (c == "$" and i + 1 < n and text[i + 1] == "'"):
            i += 2 if c == "$" else 1
            while i < n and text[i] != "'":
                take(i)
                i += 1
            i += 1
            continue
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
                    if text[i + 1] != "\n":
                        take(i + 1)
                    i += 2
                    continue
                if text[i] == "$" and i + 1 < n and text[i + 1] in "({":
                    i = _take_balanced(text, i, take)
                    continue
                take(i)
                i += 1
            i += 1
            continue
        if c == "$" and i + 1 < n and text[i + 1] in "({":
            i = _take_balanced(text, i, take)
            continue
        if c == "`":
            take(i)
            i += 1
            while i < n and text[i] != "`":
                take(i)
                i += 1
            if i < n:
                take(i)
            i += 1
            continue
        take(i)
        i += 1
    if i == start:
        return None, i
    last = min(i, n) - 1
    return Word("".join(chars), tuple(where), offs[start], offs[last] + 1), i


def _take_balanced(text: str, i: int, take: Callable[[int], None]) -> int:
    """Copy ``$(...)``/``${...}`` starting at ``text[i] == '$'`` verbatim, nesting included."""
    opener = text[i + 1]
    closer = ")" if opener == "(" else "}"
    depth = 0
    take(i)
    i += 1
    while i < len(text):
        c = text[i]
        take(i)
        i += 1
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                break
    return i


# --- values -----------------------------------------------------------------------------------

_VAR = re.compile(r"^\$(?:\{(\w+)(?::?[-=](.*))?\}|(\w+))$")


def _value(text: str, variables: Mapping[str, str], depth: int = 0) -> str | _Sentinel:
    """The literal a word stands for: its text, a variable's known value or default, or UNKNOWN."""
    if "$" not in text and "`" not in text:
        return text
    m = _VAR.match(text)
    if m:
        name = m.group(1) or m.group(3)
        if name in variables and depth < 8:  # W=$X, X=4 -> 4; a cycle gives up
            return _value(variables[name], variables, depth + 1)
        default = m.group(2)
        if default is not None and "$" not in default and "`" not in default:
            return default
        return UNKNOWN
    if "nproc" in text or "cpu_count" in text:
        return SEVERAL
    return UNKNOWN


def workers_value(text: str, variables: Mapping[str, str] = {}) -> int | _Sentinel:
    """An int, SEVERAL (per-core) or UNKNOWN."""
    value = _value(text, variables)
    if isinstance(value, _Sentinel):
        return value
    try:
        return int(value.strip())
    except ValueError:
        return UNKNOWN


def truthy(text: str, variables: Mapping[str, str] = {}) -> bool | _Sentinel:
    value = _value(text, variables)
    if isinstance(value, _Sentinel):
        return UNKNOWN
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    return UNKNOWN


def workers_issue(
    server: str, setting: str, value: int | _Sentinel, start: int, end: int
) -> Issue | None:
    """TG201 for a worker count above one or one that cannot be verified; None for 0/1."""
    if isinstance(value, int):
        if value <= 1:
            return None
        what = f"{value} worker processes"
    elif value == SEVERAL:
        what = "one or more worker processes per CPU core"
    else:
        return Issue(
            "TG201",
            start,
            end,
            f"{server} worker count `{setting}` cannot be verified statically: pin it to 1 "
            f"({FIX}); several workers would open the same Telethon session concurrently",
        )
    return Issue(
        "TG201",
        start,
        end,
        f"{server} runs {what} (`{setting}`): each opens the same Telethon session concurrently "
        f"(database is locked, duplicated auth key); {FIX}",
    )


def reload_issue(
    server: str, setting: str, start: int, end: int, *, unknown: bool = False
) -> Issue:
    if unknown:
        return Issue(
            "TG200",
            start,
            end,
            f"{server} reload setting `{setting}` cannot be verified statically: pin it off ({FIX})",
        )
    return Issue(
        "TG200",
        start,
        end,
        f"{server} reload is enabled (`{setting}`): the app runs in a reloader child and again on every "
        f"change, each opening the Telethon session while the old one may still hold it; {FIX}",
    )


def analyze_env(
    name: str, value: Word, start: int, end: int, variables: Mapping[str, str] = {}
) -> list[Issue]:
    """Issues for an environment assignment ``name=value`` (WEB_CONCURRENCY, UVICORN_RELOAD...)."""
    setting = f"{name}={value.text}"
    if name == "GUNICORN_CMD_ARGS":
        issues: list[Issue] = []
        for command in split_shell(value.text, value.offs):
            issues.extend(_server_options("gunicorn", command, variables, env_name=name))
        return issues
    spec = SERVER_ENV.get(name)
    if spec is None:
        return []
    _code, kind = spec
    server = (
        "uvicorn"
        if name.startswith("UVICORN")
        else "granian"
        if name.startswith("GRANIAN")
        else "the server"
    )
    if kind == "workers":
        issue = workers_issue(server, setting, workers_value(value.text, variables), start, end)
        return [issue] if issue else []
    flag = truthy(value.text, variables)
    if flag is False:
        return []
    return [reload_issue(server, setting, start, end, unknown=flag is UNKNOWN)]


# --- commands ---------------------------------------------------------------------------------

_SERVERS = {"uvicorn", "gunicorn", "hypercorn", "fastapi", "granian"}
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?[mw]?$|^pypy3?$")
_SHELLS = {"sh", "bash", "dash", "zsh", "ash", "ksh"}
_SIMPLE_WRAPPERS = {
    "exec",
    "nohup",
    "command",
    "builtin",
    "setsid",
    "dumb-init",
    "tini",
    "catatonit",
    "ddtrace-run",
    "opentelemetry-instrument",
    "nice",
    "stdbuf",
    "chpst",
    "timeout",
    "doppler",
    "infisical",
    "dotenv",
}
_RUNNERS = {"poetry", "pipenv", "pdm", "hatch", "rye", "uv", "pixi", "pipx", "conda", "micromamba"}
_USER_WRAPPERS = {"gosu", "su-exec"}
_CONTAINERS = {"docker", "podman", "nerdctl", "docker-compose"}


_RELOADERS = {"watchmedo", "watchfiles", "hupper", "nodemon"}


def _restarts(base: str, words: Sequence[Word]) -> bool:
    return base != "watchmedo" or (len(words) > 1 and words[1].text == "auto-restart")


def _inner_commands(words: Sequence[Word]) -> list[list[Word]]:
    """Commands given to a wrapper as one string argument (``watchfiles "uvicorn app:app"``)."""
    out: list[list[Word]] = []
    for word in words:
        if " " in word.text and not word.text.startswith("-"):
            out.extend(split_shell(word.text, word.offs))
    return out


def _next_command(words: Sequence[Word]) -> list[Word]:
    for k, word in enumerate(words):
        text, base = word.text, word.base
        if text.startswith("-"):
            continue
        if (
            _is_assignment(text)
            or base in _SERVERS
            or _PYTHON.match(base)
            or base in _SHELLS
            or base in _SIMPLE_WRAPPERS
            or base in _RUNNERS
            or base in _CONTAINERS
            or base in _USER_WRAPPERS
            or base in _RELOADERS
            or base in ("env", "sudo", "uvx")
        ):
            return list(words[k:])
    return []


def _server_of(words: Sequence[Word]) -> str | None:
    """``uvicorn`` for ``uvicorn ...`` and ``python -m uvicorn ...``; None for anything else."""
    if not words:
        return None
    if words[0].base in _SERVERS:
        return words[0].base
    if _PYTHON.match(words[0].base):
        module = _python_module(words)
        if module is not None and _SERVER_MODULES.get(module[0], module[0]) in _SERVERS:
            return _SERVER_MODULES.get(module[0], module[0])
    return None


def server_or_python(words: Sequence[Word]) -> str | None:
    """What a command runs, wrappers looked through: a server's name, ``python``, or None."""
    words = list(words)
    for _ in range(8):
        if not words:
            return None
        base = words[0].base
        if base in _SERVERS:
            return base
        if _PYTHON.match(base):
            return _server_of(words) or "python"
        if base in _SIMPLE_WRAPPERS or base in ("env", "sudo"):
            words = _next_command(words[1:])
        elif base in _RUNNERS and len(words) > 1 and words[1].text in ("run", "exec"):
            words = _from_server(words[2:])
        else:
            return None
    return None


def _from_server(words: Sequence[Word]) -> list[Word]:
    """The words from the first one naming a server or Python (after ``--``, if any); [] if none."""
    for k, word in enumerate(words):
        if word.base in _SERVERS or _PYTHON.match(word.base):
            return list(words[k:])
    return []


@dataclass(frozen=True)
class ConfigRef:
    """A server configuration file named on a command line (``gunicorn -c conf.py``)."""

    server: str
    target: str  # a path as written, or "python:module"
    start: int
    end: int


def analyze_command(
    words: Sequence[Word],
    variables: Mapping[str, str] = {},
    config_refs: list[ConfigRef] | None = None,
    depth: int = 0,
) -> list[Issue]:
    """Issues of one simple command (wrappers, ``sh -c``, ``python -m`` and env prefixes unwrapped)."""
    issues: list[Issue] = []
    words = list(words)
    while words:
        head = words[0]
        text, base = head.text, head.base
        if _is_assignment(text):
            name = text.partition("=")[0]
            value = Word(text[len(name) + 1 :], head.offs[len(name) + 1 :], head.start, head.end)
            issues.extend(analyze_env(name, value, head.start, head.end, variables))
            words = words[1:]
            continue
        if text in _KEYWORDS:
            words = words[1:]
            continue
        if base in _RELOADERS and _restarts(base, words):
            # `watchmedo auto-restart -- uvicorn ...`, `watchfiles "uvicorn ..."`: a reloader outside.
            wrapped = _from_server(words[1:])
            if not wrapped and base == "watchfiles":
                wrapped = [w for c in _inner_commands(words[1:]) for w in c]
                wrapped = _from_server(wrapped)
            server = _server_of(wrapped)
            if server is not None:
                setting = " ".join(w.text for w in words[: 2 if base == "watchmedo" else 1])
                start, end = head.start, words[1].end if base == "watchmedo" else head.end
                issues.append(
                    reload_issue(server, f"{setting} restarts it on every change", start, end)
                )
                words = wrapped
                continue
            return issues
        if base in _SIMPLE_WRAPPERS or base in ("env", "sudo", "export"):
            # Wrapper options vary (`nice -n 10`, `sudo -u app`): the command is the next word that
            # names a command we know, or an environment assignment.
            words = _next_command(words[1:])
            continue
        if base in _USER_WRAPPERS:
            words = words[2:]
            continue
        if base in _CONTAINERS:
            # `docker run [opts] IMAGE CMD...`, `docker compose run SERVICE CMD...`: -e settings count.
            rest = words[1:]
            if rest and rest[0].text == "compose":
                rest = rest[1:]
            if rest and rest[0].text in ("up", "scale"):
                # `docker compose up --scale relay=3`: three containers on one account.
                for k, word in enumerate(rest):
                    scale = None
                    if word.text == "--scale" and k + 1 < len(rest):
                        scale, end = rest[k + 1], rest[k + 1].end
                    elif word.text.startswith("--scale=") or (rest[0].text == "scale" and k):
                        scale, end = word, word.end
                    if scale is not None and "=" in scale.text:
                        count = workers_value(scale.text.partition("=")[2], variables)
                        setting = f"--scale {scale.text}" if scale is not word else word.text
                        issue = workers_issue("docker compose", setting, count, word.start, end)
                        if issue is not None:
                            issues.append(issue)
                return issues
            if not rest or rest[0].text not in ("run", "exec"):
                return issues
            for k, word in enumerate(rest):
                env = None
                if word.text in ("-e", "--env") and k + 1 < len(rest):
                    env = rest[k + 1]
                elif word.text.startswith("--env="):
                    cut = len("--env=")
                    env = Word(
                        word.text[cut:], word.offs[cut:], word.sub(cut, len(word.text))[0], word.end
                    )
                if env is not None and _is_assignment(env.text):
                    issues.extend(analyze_command([env], variables, config_refs, depth + 1))
            words = _from_server(rest[1:])
            continue
        if base in _RUNNERS or base == "uvx":
            rest = words[1:]
            if base != "uvx":
                if not rest or rest[0].text not in ("run", "exec"):
                    return issues
                rest = rest[1:]
            # Runner options vary; the command starts at the first word naming a server or Python.
            for k, word in enumerate(rest):
                if word.text == "--":
                    rest = rest[k + 1 :]
                    break
                if word.base in _SERVERS or _PYTHON.match(word.base):
                    rest = rest[k:]
                    break
            else:
                rest = [w for w in rest if not w.text.startswith("-")]
            words = rest
            continue
        if base in _SHELLS:
            for k in range(1, len(words)):
                option = words[k].text
                if not option.startswith("-"):
                    return issues
                if "c" in option[1:] and not option.startswith("--"):
                    if k + 1 < len(words) and depth < 4:
                        inner = words[k + 1]
                        for command in split_shell(inner.text, inner.offs):
                            issues.extend(
                                analyze_command(command, variables, config_refs, depth + 1)
                            )
                    return issues
            return issues
        if _PYTHON.match(base):
            module = _python_module(words)
            if module is None:
                return issues
            name, k = module
            name = _SERVER_MODULES.get(name, name)
            words = [Word(name, words[k].offs, words[k].start, words[k].end), *words[k + 1 :]]
            continue
        if base in _SERVERS:
            issues.extend(_server_options(base, words[1:], variables, config_refs=config_refs))
        return issues
    return issues


#: Runnable modules of the servers besides the package itself (``python -m gunicorn.app.wsgiapp``).
_SERVER_MODULES = {
    "uvicorn.main": "uvicorn",
    "uvicorn.__main__": "uvicorn",
    "gunicorn.app.wsgiapp": "gunicorn",
    "gunicorn.__main__": "gunicorn",
    "hypercorn.__main__": "hypercorn",
    "fastapi.__main__": "fastapi",
}


def _is_assignment(text: str) -> bool:
    return re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", text) is not None


def _python_module(words: Sequence[Word]) -> tuple[str, int] | None:
    """``python [opts] -m MODULE`` -> (MODULE, index of MODULE's word); None for scripts and -c."""
    k = 1
    while k < len(words):
        option = words[k].text
        if option == "-m" and k + 1 < len(words):
            return words[k + 1].text, k + 1
        if option.startswith("-m") and len(option) > 2:
            return option[2:], k
        if option in ("-W", "-X", "--check-hash-based-pycs"):
            k += 2
            continue
        if option.startswith("-") and option != "-" and not option.startswith("-c"):
            k += 1
            continue
        return None
    return None


_WORKER_OPTIONS = {
    "uvicorn": ("--workers",),
    "gunicorn": ("-w", "--workers"),
    "hypercorn": ("-w", "--workers"),
    "fastapi": ("--workers",),
    "granian": ("--workers",),
}
_CONFIG_OPTIONS = {"gunicorn": ("-c", "--config"), "hypercorn": ("-c", "--config")}


def _server_options(
    server: str,
    args: Sequence[Word],
    variables: Mapping[str, str],
    *,
    env_name: str | None = None,
    config_refs: list[ConfigRef] | None = None,
) -> list[Issue]:
    issues: list[Issue] = []
    reloads = server == "fastapi" and bool(args) and args[0].text == "dev"
    dev_word = args[0] if reloads else None
    explicit_reload = False
    label = f"{env_name} " if env_name else ""
    k = 0
    while k < len(args):
        word = args[k]
        text = word.text
        if text == "--":
            break
        option, value, span_end, attached = _option(args, k, _WORKER_OPTIONS[server])
        if option is not None:
            start = word.start
            end = span_end
            if value is None:
                setting = f"{label}{option}"
            elif attached:
                setting = f"{label}{text}"
            else:
                setting = f"{label}{option} {value.text}"
            if value is not None:
                issue = workers_issue(
                    server, setting, workers_value(value.text, variables), start, end
                )
                if issue:
                    issues.append(issue)
            k += 1 if value is None or attached else 2
            continue
        if text == "--reload":
            explicit_reload = True
            issues.append(reload_issue(server, f"{label}{text}", word.start, word.end))
        elif text == "--no-reload":
            reloads = False
        elif server in _CONFIG_OPTIONS and config_refs is not None:
            option, value, span_end, attached = _option(args, k, _CONFIG_OPTIONS[server])
            if option is not None and value is not None:
                config_refs.append(ConfigRef(server, value.text, word.start, span_end))
                k += 1 if attached else 2
                continue
        k += 1
    if reloads and not explicit_reload and dev_word is not None:
        issues.append(
            reload_issue(
                "fastapi", "fastapi dev (reloads by default)", dev_word.start, dev_word.end
            )
        )
    return issues


def _option(
    args: Sequence[Word], k: int, names: Sequence[str]
) -> tuple[str | None, Word | None, int, bool]:
    """Match ``--name V``, ``--name=V``, ``-nV``, ``-n=V`` or ``-n V`` at ``args[k]``.

    Returns (option, value word, end offset, whether the value is attached to the option word).
    """
    word = args[k]
    text = word.text
    for name in names:
        if text == name:
            if k + 1 < len(args):
                return name, args[k + 1], args[k + 1].end, False
            return name, None, word.end, False
        short = not name.startswith("--")
        if text.startswith(name + "=") or (
            short and text.startswith(name) and len(text) > len(name)
        ):
            cut = len(name) + (1 if text[len(name)] == "=" else 0)
            tail = Word(text[cut:], word.offs[cut:], word.sub(cut, len(text))[0], word.end)
            return name, tail, word.end, True
    return None, None, word.end, False


def analyze_shell(
    text: str,
    offs: Sequence[int] | None = None,
    variables: dict[str, str] | None = None,
    config_refs: list[ConfigRef] | None = None,
) -> list[Issue]:
    """Issues of a whole shell text; literal ``X=v``/``export X=v`` assignments feed ``$X`` lookups."""
    variables = {} if variables is None else variables
    issues: list[Issue] = []
    for command in split_shell(text, offs):
        words = command
        if words and words[0].text in ("export", "readonly", "declare", "local", "typeset"):
            words = [w for w in words[1:] if not w.text.startswith("-")]
            for word in words:
                if _is_assignment(word.text):
                    _remember(variables, word.text)
            issues.extend(analyze_command(words, variables, config_refs))
            continue
        if words and all(_is_assignment(w.text) for w in words):
            for word in words:
                _remember(variables, word.text)
        issues.extend(analyze_command(words, variables, config_refs))
    return issues


def _remember(variables: dict[str, str], assignment: str) -> None:
    name, _, value = assignment.partition("=")
    # Kept verbatim: `_value` resolves one level (`W=${WORKERS:-3}` then `--workers $W` -> 3).
    variables[name] = value


class ConstantTable:
    """Project constants by qualified name, for :func:`lint_rules.names.resolve_constant`.

    A name not found exactly is looked up by module suffix when that is unambiguous: a script
    directory without ``__init__.py`` imports ``config.SESSION`` while the engine may name the module
    ``examples.relay.config``.
    """

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self._by_last: dict[str, list[str]] = {}

    def add(self, module_name: str, name: str, value: object) -> None:
        key = f"{module_name}.{name}" if module_name else name
        self.values[key] = value
        self._by_last.setdefault(name, []).append(key)

    def __call__(self, qualified: str) -> object:
        from ..names import UNKNOWN as NAMES_UNKNOWN

        if qualified in self.values:
            return self.values[qualified]
        name = qualified.rpartition(".")[2]
        hits = [k for k in self._by_last.get(name, ()) if k.endswith("." + qualified)]
        if len(hits) == 1:
            return self.values[hits[0]]
        return NAMES_UNKNOWN


def class_constants(module: PythonModule, names: ModuleNames) -> dict[str, object]:
    """Literal class attributes of module-level classes, and of module-level instances built
    without positional arguments: ``Settings.debug`` and ``settings.debug`` for

        class Settings(BaseSettings):
            debug: bool = False
        settings = Settings()

    (a keyword argument of the construction wins: ``Settings(debug=True)``). A settings class reads
    its environment with the field's default as fallback: the default is what the source shows,
    as for ``os.getenv("X", "default")``.
    """
    import libcst as cst

    from ..names import UNKNOWN as NAMES_UNKNOWN

    classes: dict[str, dict[str, object]] = {}
    for stmt in module.tree.body:
        if not isinstance(stmt, cst.ClassDef) or not isinstance(stmt.body, cst.IndentedBlock):
            continue
        attrs: dict[str, object] = {}
        for line in stmt.body.body:
            if isinstance(line, cst.FunctionDef) and line.name.value == "__init__":
                attrs = {}  # its own __init__ may set the attributes otherwise: not a settings class
                break
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for small in line.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target, value = small.targets[0].target, small.value
                elif isinstance(small, cst.AnnAssign) and small.value is not None:
                    target, value = small.target, small.value
                else:
                    continue
                if isinstance(target, cst.Name):
                    v = names.constant_value(value)
                    if v is not NAMES_UNKNOWN:
                        attrs[target.value] = v
        if attrs:
            classes[stmt.name.value] = attrs
    if not classes:
        return {}
    out: dict[str, object] = {}
    for cls, attrs in classes.items():
        for attr, v in attrs.items():
            out[f"{cls}.{attr}"] = v
    for name, bindings in names.module_scope.bindings.items():
        if len(bindings) != 1 or bindings[0].kind not in ("assign", "annassign"):
            continue
        call = bindings[0].value
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Name):
            continue
        fields = classes.get(call.func.value)
        if fields is None or any(a.keyword is None for a in call.args):
            continue
        given = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        for attr, v in fields.items():
            if attr in given:
                v = names.constant_value(given[attr])
                if v is NAMES_UNKNOWN:
                    continue
            out[f"{name}.{attr}"] = v
    return out
