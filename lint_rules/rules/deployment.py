"""TG200 reload-enabled and TG201 several-workers: servers that run the app more than once.

Python sources (``uvicorn.run``/``uvicorn.Config``, subprocess argv, gunicorn/hypercorn config modules,
``os.environ``) and deployment files (Dockerfile, Procfile, compose/Kubernetes YAML, shell scripts,
Makefiles, systemd units, configured globs) are both read. The command-line analysis lives in
``_commands.py``; the YAML subset reader is at the end of this module.

Every server command is checked, whatever app it serves: the linter runs on Telethon services, where a
second server process on the same code opens the same session.
"""

from __future__ import annotations

import bisect
import json
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from ..config import Config
from ..discovery import glob_match
from ..model import Finding
from ..names import UNKNOWN, iter_child_nodes, resolve_constant
from . import _commands as cmd
from ._commands import ConfigRef, Issue, Word
from .base import Family, FileResult, PythonModule, Rule, TextFile

__all__ = ["DeploymentFamily", "ReloadEnabled", "SeveralWorkers"]

_FILES = (
    "deployment files: `Dockerfile`, `Dockerfile.*`, `*.Dockerfile`, `Containerfile` (`CMD`/"
    "`ENTRYPOINT`/`RUN`, `ENV`), `Procfile`, `docker-compose*.yml`/`compose*.yaml` (`command`, "
    "`entrypoint`, `environment`), `*.sh`/`*.bash` and files with a sh/bash shebang, `Makefile`/`*.mk` "
    "recipes, systemd `*.service` units (`ExecStart=`, `Environment=`), supervisord configuration "
    "(`supervisord.conf`, `supervisor/*.conf`: `command=`, `environment=`, `numprocs=` of a server "
    "or Python program), `.env` files, and the "
    "`deployment-globs` of the configuration (YAML there is read like compose and Kubernetes "
    "manifests; other formats line by line after a `key=`/`key:` prefix)."
)
_POLICY = (
    "\n\nValues that are not literals: a variable (or a wrapper function's parameter) with a literal "
    'default uses the default (`${WEB_CONCURRENCY:-4}` is 4, `int(os.getenv("WORKERS", "1"))` is 1, '
    '`W=4` earlier in the same file is 4; `os.getenv("DEBUG")` without a default is None, so '
    '`reload=os.getenv("ENV", "prod").lower() == "dev"` is off); `$(nproc)` and `cpu_count()` mean '
    "several; any other value "
    '(`--workers $WORKERS`, `workers=int(os.environ["WORKERS"])`, `reload=settings.debug`, a '
    "wrapper's parameter without a literal default) cannot be verified and is reported, asking to pin "
    "it (suppress with `# noqa: TG201` where it is guaranteed to be 1). `--reload-dir` and "
    "`reload_dirs=` alone do not enable reloading (uvicorn 0.54 ignores them without `--reload`) and "
    "are not reported. Every server command is checked, not only the one serving the Telethon app. "
    "Other tools' flags are not a server's: `flask run --reload` (WSGI, out of scope), "
    "`celery -c 4`, `pytest -n 4`, nginx `worker_processes 4`, gunicorn `--threads 8` are not reported."
)


class ReloadEnabled(Rule):
    code = "TG200"
    name = "reload-enabled"
    what = (
        "Reports a uvicorn/gunicorn/hypercorn/granian/fastapi server started with auto-reload: `--reload`, "
        "`reload=True`, `fastapi dev`, `UVICORN_RELOAD=true`, gunicorn `reload = True`, hypercorn "
        "`use_reloader`, or a server wrapped in a file watcher (`watchmedo auto-restart`, "
        "`watchfiles`, `hupper`, `nodemon`), in Python code and in " + _FILES + _POLICY
    )
    why = (
        "A reloader runs the app in a child process and starts a new child on every change: a "
        "module-level client is built in the supervisor and again in the child, and a restart can "
        "overlap the old process. Two processes on one `.session` file get `database is locked` "
        "and frozen event loops; the same auth key used twice gets revoked."
    )
    example = 'import uvicorn\n\nuvicorn.run("app:app", reload=True)\n'
    instead = 'import uvicorn\n\n# One process, no reloader: restart by hand in development.\nuvicorn.run("app:app")\n'
    valid = (
        'import uvicorn\n\nuvicorn.run("app:app", reload=False)\n',
        'import uvicorn\n\nuvicorn.run("app:app", reload_dirs=["src"])\n',
        "def run(app, reload):\n    pass\n\nrun('app:app', reload=True)\n",
        'from myserver import run\n\nrun("app:app", reload=True)\n',
        'import subprocess\n\nsubprocess.run(["fastapi", "dev", "--no-reload", "main.py"])\n',
    )
    invalid = (
        'from uvicorn import run as serve\n\nserve("app:app", reload=True)\n',
        'import uvicorn as u\n\nconfig = u.Config("app:app", reload=True)\n',
        'import subprocess\n\nsubprocess.Popen(["uvicorn", "app:app", "--reload"])\n',
        'import subprocess, sys\n\nsubprocess.run([sys.executable, "-m", "fastapi", "dev", "main.py"])\n',
        'import os\n\nos.environ["UVICORN_RELOAD"] = "true"\n',
        "import uvicorn, os\n\nuvicorn.run('app:app', reload=os.environ['DEBUG'] == '1')\n",
    )


class SeveralWorkers(Rule):
    code = "TG201"
    name = "several-workers"
    what = (
        "Reports a server started with more than one worker process: `--workers 4`, `-w 4`, "
        '`workers=4`, `WEB_CONCURRENCY=4`, `UVICORN_WORKERS`, `GUNICORN_CMD_ARGS="-w 4"`, '
        "gunicorn config `workers = cpu_count() * 2 + 1`, hypercorn `config.workers = 2`, gunicorn "
        'custom applications\' `{"workers": 4}` options, compose/Kubernetes `replicas: 3`, '
        "`docker compose up --scale relay=3`, in Python code and in " + _FILES + " "
        "`--workers 1` and gunicorn without `-w` are fine." + _POLICY
    )
    why = (
        "Each worker is a separate process that imports the app and opens the Telethon session: "
        "two processes on one `.session` file get `database is locked` (the loser's event loop "
        "freezes for SQLite's 5 s timeout), and one auth key used from two places gets revoked "
        "(`AuthKeyDuplicatedError`)."
    )
    example = 'import uvicorn\n\nuvicorn.run("app:app", workers=4)\n'
    instead = (
        "import uvicorn\n\n# One worker per Telegram account; scale with one process per account.\n"
        'uvicorn.run("app:app", workers=1)\n'
    )
    valid = (
        'import uvicorn\n\nuvicorn.run("app:app", workers=1)\n',
        'import uvicorn, os\n\nuvicorn.run("app:app", workers=int(os.getenv("WORKERS", "1")))\n',
        'import subprocess\n\nsubprocess.run(["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "app:app"])\n',
        "class Pool:\n    def run(self, app, workers):\n        pass\n\nPool().run('app', workers=4)\n",
        "from hypercorn.config import Config\n\nconfig = Config()\nconfig.workers = 1\n",
    )
    invalid = (
        'import uvicorn\n\nuvicorn.run("app:app", workers=4)\n',
        'import uvicorn, os\n\nuvicorn.run("app:app", workers=int(os.environ["WORKERS"]))\n',
        'import subprocess\n\nsubprocess.run(["gunicorn", "-w4", "app:app"])\n',
        'import subprocess\n\nsubprocess.run("uvicorn app:app --workers=2", shell=True)\n',
        "from hypercorn.config import Config\n\nconfig = Config()\nconfig.workers = 2\n",
        'import subprocess, os\n\nsubprocess.run(["uvicorn", "app:app"], env={**os.environ, "WEB_CONCURRENCY": "3"})\n',
    )


# --- facts ------------------------------------------------------------------------------------


@dataclass
class Pending:
    """A setting whose value is a project constant defined in another module (resolved in the project pass)."""

    kind: str  # "workers" | "reload"
    server: str
    setting: str  # as written, e.g. "workers=WORKERS"
    value: object  # a ("ref", ...)/("concat", ...) marker
    where: tuple[int, int, int, int]


@dataclass
class ConfigSetting:
    """A module-level ``workers``/``reload``/``use_reloader`` assignment (a possible server config file)."""

    name: str
    value: object  # int | bool | str | cmd.UNKNOWN/SEVERAL | marker
    setting: str
    where: tuple[int, int, int, int]


@dataclass
class DeploymentFacts:
    module_name: str = ""
    constants: dict[str, object] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    config_refs: list[tuple[str, str, tuple[int, int, int, int]]] = field(default_factory=list)
    config_settings: list[ConfigSetting] = field(default_factory=list)


# --- text files -------------------------------------------------------------------------------

_SHELL_SHEBANG = re.compile(r"^#!\s*\S*/(?:env\s+(?:-\S+\s+)*)?(?:ba|da|z|k|a)?sh\b")
_NOT_SCRIPTS = {
    "license",
    "licence",
    "readme",
    "authors",
    "changelog",
    "changes",
    "notice",
    "copying",
    "codeowners",
    "contributors",
    "history",
    "version",
    "manifest",
}


def file_kind(path: str, config: Config) -> str | None:
    """Which reader handles ``path`` (relative, '/'-separated); None when it is not a deployment file."""
    base = path.rsplit("/", 1)[-1]
    lower = base.lower()
    if (
        lower in ("dockerfile", "containerfile")
        or lower.startswith("dockerfile.")
        or lower.endswith(".dockerfile")
    ):
        return "dockerfile"
    if lower == "procfile" or lower.startswith("procfile."):
        return "procfile"
    if re.match(r"^(docker-)?compose[\w.-]*\.ya?ml$", lower):
        return "yaml"
    if lower.endswith((".sh", ".bash")):
        return "shell"
    if lower in ("makefile", "gnumakefile") or lower.endswith(".mk"):
        return "make"
    if lower.endswith(".service"):
        return "systemd"
    if lower in ("supervisord.conf", "supervisor.conf") or (
        lower.endswith((".conf", ".ini"))
        and any(d in ("supervisor", "supervisor.d", "supervisord.d") for d in path.split("/")[:-1])
    ):
        return "supervisor"
    if (
        lower == ".env" or lower.startswith(".env.") or lower.endswith(".env")
    ) and not lower.endswith((".example", ".sample", ".template", ".dist")):
        return "envfile"
    for pattern in config.deployment_globs:
        if glob_match(pattern, path):  # the same glob semantics as `exclude`
            if lower.endswith((".yml", ".yaml")):
                return "yaml"
            return "generic"
    if "." not in base and lower not in _NOT_SCRIPTS and not base.startswith("."):
        return "maybe-shell"  # a script if its first line is a sh/bash shebang
    return None


class _Lines:
    """Offsets -> 1-based (line, column)."""

    def __init__(self, source: str) -> None:
        self.starts = [0]
        for m in re.finditer("\n", source):
            self.starts.append(m.end())

    def pos(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def span(self, start: int, end: int) -> tuple[int, int, int, int]:
        sl, sc = self.pos(start)
        el, ec = self.pos(max(end, start))
        return sl, sc, el, ec


def _scan_text(kind: str, source: str) -> tuple[list[Issue], list[ConfigRef]]:
    refs: list[ConfigRef] = []
    if kind == "maybe-shell":
        if not _SHELL_SHEBANG.match(source):
            return [], refs
        kind = "shell"
    if kind == "shell":
        issues = cmd.analyze_shell(source, None, {}, refs)
    elif kind == "dockerfile":
        issues = _dockerfile(source, refs)
    elif kind == "procfile":
        issues = _procfile(source, refs)
    elif kind == "yaml":
        issues = _yaml_file(source, refs)
    elif kind == "make":
        issues = _makefile(source, refs)
    elif kind == "systemd":
        issues = _systemd(source, refs)
    elif kind == "envfile":
        issues = _envfile(source)
    elif kind == "supervisor":
        issues = _supervisor(source, refs)
    else:
        issues = _generic(source, refs)
    return issues, refs


def _text(source: str, start: int, end: int) -> tuple[str, list[int]]:
    return source[start:end], list(range(start, end))


# Dockerfile ----------------------------------------------------------------------------------


def _dockerfile(source: str, refs: list[ConfigRef]) -> list[Issue]:
    escape = "\\"
    m = re.match(r"(?:#\s*\w+\s*=.*\n)*?#\s*escape\s*=\s*(\S)", source, re.IGNORECASE)
    if m:
        escape = m.group(1)
    issues: list[Issue] = []
    variables: dict[str, str] = {}
    exec_forms: dict[str, list[Word]] = {}
    for instruction, text, offs in _docker_instructions(source, escape):
        if instruction == "FROM":
            _combine_entrypoint(exec_forms, variables, issues, refs)
            variables = {}
            exec_forms = {}
        elif instruction in ("ENV", "ARG"):
            issues.extend(_docker_env(instruction, text, offs, variables))
        elif instruction in ("CMD", "ENTRYPOINT", "RUN"):
            body, boffs = _strip_flags(text, offs) if instruction == "RUN" else (text, offs)
            words = _json_argv(body, boffs)
            if words is not None:
                issues.extend(cmd.analyze_command(words, variables, refs))
                if instruction != "RUN":
                    exec_forms[instruction] = words
            else:
                issues.extend(cmd.analyze_shell(body, boffs, dict(variables), refs))
                if instruction != "RUN":
                    exec_forms.pop(instruction, None)
                    if instruction == "ENTRYPOINT":
                        exec_forms["shell-entrypoint"] = []
    _combine_entrypoint(exec_forms, variables, issues, refs)
    return _dedupe(issues)


def _combine_entrypoint(
    forms: dict[str, list[Word]],
    variables: dict[str, str],
    issues: list[Issue],
    refs: list[ConfigRef],
) -> None:
    # An exec-form ENTRYPOINT receives CMD as arguments: ENTRYPOINT ["uvicorn"] CMD ["--workers", "4"].
    if "ENTRYPOINT" in forms and "CMD" in forms and "shell-entrypoint" not in forms:
        issues.extend(cmd.analyze_command(forms["ENTRYPOINT"] + forms["CMD"], variables, refs))


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, int, int]] = set()
    out = []
    for issue in issues:
        key = (issue.code, issue.start, issue.end)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def _docker_instructions(source: str, escape: str) -> Iterator[tuple[str, str, list[int]]]:
    """(INSTRUCTION, arguments with continuations joined, their offsets) per logical line."""
    lines = source.split("\n")
    starts = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    k = 0
    while k < len(lines):
        line = lines[k].rstrip("\r")
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            k += 1
            continue
        m = re.match(r"\s*(\w+)\s*", line)
        if not m:
            k += 1
            continue
        instruction = m.group(1).upper()
        chars: list[str] = []
        offs: list[int] = []
        col = m.end()
        heredoc: str | None = None
        while True:
            seg = line[col:]
            seg_start = starts[k] + col
            trimmed = seg.rstrip()
            continued = trimmed.endswith(escape)
            if continued:
                trimmed = trimmed[: -len(escape)]
            chars.append(trimmed)
            offs.extend(range(seg_start, seg_start + len(trimmed)))
            hd = re.search(r"<<-?\s*[\"']?(\w+)[\"']?", trimmed) if instruction == "RUN" else None
            if hd:
                heredoc = hd.group(1)
            k += 1
            if not continued:
                break
            # Comment and empty lines inside a continuation are dropped by Docker.
            while k < len(lines) and (not lines[k].strip() or lines[k].lstrip().startswith("#")):
                k += 1
            if k >= len(lines):
                break
            line = lines[k].rstrip("\r")
            col = 0
            chars.append(" ")
            offs.append(offs[-1] if offs else seg_start)
        if heredoc is not None:
            # RUN <<EOF ... EOF: the body is a shell script.
            body_start = k
            while k < len(lines) and lines[k].strip() != heredoc:
                k += 1
            if k > body_start:
                start = starts[body_start]
                end = starts[k - 1] + len(lines[k - 1])
                yield "RUN", source[start:end], list(range(start, end))
            k += 1
            text = "".join(chars)
            text = re.sub(r"<<-?\s*[\"']?\w+[\"']?", lambda mm: " " * len(mm.group(0)), text)
            yield instruction, text, offs
            continue
        yield instruction, "".join(chars), offs


def _strip_flags(text: str, offs: list[int]) -> tuple[str, list[int]]:
    """Drop ``RUN --mount=... --network=...`` flags."""
    i = 0
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if text.startswith("--", i):
            while i < len(text) and text[i] not in " \t":
                i += 1
            continue
        return text[i:], offs[i:]


def _json_argv(text: str, offs: list[int]) -> list[Word] | None:
    """An exec-form ``["a", "b"]`` as words with offsets; None for shell form."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        values = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    words: list[Word] = []
    i = text.index("[") + 1
    for _ in values:
        while i < len(text) and text[i] != '"':
            i += 1
        chars, local, j = _json_string(text, i)
        words.append(
            Word(
                "".join(chars),
                tuple(offs[n] for n in local),
                offs[i],
                offs[min(j, len(offs)) - 1] + 1,
            )
        )
        i = j
    return words


def _json_string(text: str, i: int) -> tuple[list[str], list[int], int]:
    chars: list[str] = []
    local: list[int] = []
    i += 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and i + 1 < len(text):
            esc = text[i + 1]
            if esc == "u" and i + 5 < len(text):
                chars.append(chr(int(text[i + 2 : i + 6], 16)))
                local.append(i)
                i += 6
                continue
            chars.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(esc, esc))
            local.append(i + 1)
            i += 2
            continue
        chars.append(text[i])
        local.append(i)
        i += 1
    return chars, local, i + 1


def _docker_env(
    instruction: str, text: str, offs: list[int], variables: dict[str, str]
) -> list[Issue]:
    words = [w for command in cmd.split_shell(text, offs) for w in command]
    issues: list[Issue] = []
    if words and "=" not in words[0].text:
        # Legacy `ENV KEY value with spaces`.
        name = words[0].text
        rest = words[1:]
        if not rest:
            return issues
        value = Word(
            " ".join(w.text for w in rest),
            tuple(o for w in rest for o in (*w.offs, w.end)),
            rest[0].start,
            rest[-1].end,
        )
        pairs = [(name, value, words[0].start, rest[-1].end)]
    else:
        pairs = []
        for w in words:
            name, eq, _ = w.text.partition("=")
            if not eq:
                continue
            cut = len(name) + 1
            pairs.append((name, Word(w.text[cut:], w.offs[cut:], w.start, w.end), w.start, w.end))
    for name, value, start, end in pairs:
        variables[name] = value.text
        if instruction == "ENV":
            issues.extend(cmd.analyze_env(name, value, start, end, variables))
    return issues


# Procfile, Makefile, systemd, generic ----------------------------------------------------------


def _procfile(source: str, refs: list[ConfigRef]) -> list[Issue]:
    issues: list[Issue] = []
    for m in re.finditer(r"^[ \t]*[\w.-]+[ \t]*:(.*)$", source, re.MULTILINE):
        issues.extend(cmd.analyze_shell(m.group(1), range(m.start(1), m.end(1)), {}, refs))
    return issues


def _makefile(source: str, refs: list[ConfigRef]) -> list[Issue]:
    lines = source.split("\n")
    starts = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    variables: dict[str, str] = {}
    issues: list[Issue] = []
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("\t"):
            # A recipe: continuation lines belong to the same shell command.
            chars: list[str] = []
            offs: list[int] = []
            col = 1
            while True:
                seg = lines[k][col:].rstrip("\r")
                chars.append(seg)
                offs.extend(range(starts[k] + col, starts[k] + col + len(seg)))
                k += 1
                if not seg.endswith("\\") or k >= len(lines):
                    break
                chars.append("\n")
                offs.append(starts[k])
                col = 1 if lines[k].startswith("\t") else 0
            text, toffs = _make_expand("".join(chars), offs, variables)
            text = text.lstrip("@-+ ")
            toffs = toffs[len(toffs) - len(text) :]
            issues.extend(cmd.analyze_shell(text, toffs, {}, refs))
            continue
        rule = re.match(r"^[^\s#=:][^=:;]*::?(?!=)[^=;]*;(.*)$", line)
        if rule:
            # `run: deps ; uvicorn app:app --reload`: a recipe on the rule line.
            start = starts[k] + rule.start(1)
            text, toffs = _make_expand(
                rule.group(1), list(range(start, start + len(rule.group(1)))), variables
            )
            issues.extend(cmd.analyze_shell(text, toffs, {}, refs))
            k += 1
            continue
        m = re.match(
            r"^\s*(?:export\s+|override\s+)?([A-Za-z_][\w.-]*)\s*(?::{1,3}|\?|\+|!)?=\s*(.*?)\s*$",
            line,
        )
        if m:
            name, value = m.group(1), m.group(2)
            if (
                line.lstrip().startswith("export")
                or name in cmd.SERVER_ENV
                or name == "GUNICORN_CMD_ARGS"
            ):
                start = starts[k] + m.start(1)
                word = Word(
                    value,
                    tuple(range(starts[k] + m.start(2), starts[k] + m.end(2))),
                    start,
                    starts[k] + m.end(2),
                )
                issues.extend(cmd.analyze_env(name, word, start, starts[k] + m.end(2)))
            variables[name] = value
        k += 1
    return issues


def _make_expand(text: str, offs: list[int], variables: Mapping[str, str]) -> tuple[str, list[int]]:
    """Substitute trivial ``$(VAR)``/``${VAR}`` (literal values) and ``$$``; the rest stays verbatim."""
    out: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                where.append(offs[i])
                i += 2
                continue
            m = re.match(r"\$[({]([A-Za-z_][\w.-]*)[)}]", text[i:])
            if m and m.group(1) in variables and "$" not in variables[m.group(1)]:
                value = variables[m.group(1)]
                out.extend(value)
                # The value spans the whole reference: findings cover `$(W)`.
                where.extend(
                    [offs[i]] * (len(value) - 1) + [offs[i + m.end() - 1]] * min(len(value), 1)
                )
                i += m.end()
                continue
        out.append(text[i])
        where.append(offs[i])
        i += 1
    return "".join(out), where


def _systemd(source: str, refs: list[ConfigRef]) -> list[Issue]:
    issues: list[Issue] = []
    variables: dict[str, str] = {}  # Environment= feeds $VAR/${VAR} in Exec lines
    for m in re.finditer(
        r"^[ \t]*(ExecStart|ExecStartPre|ExecStartPost|ExecReload|Environment)[ \t]*=((?:[^\n]*\\\n)*[^\n]*)$",
        source,
        re.MULTILINE,
    ):
        key = m.group(1)
        text = m.group(2)
        offs = list(range(m.start(2), m.end(2)))
        if key == "Environment":
            for command in cmd.split_shell(text, offs):
                for w in command:
                    name, eq, _ = w.text.partition("=")
                    if eq:
                        cut = len(name) + 1
                        variables[name] = w.text[cut:]
                        issues.extend(
                            cmd.analyze_env(
                                name,
                                Word(w.text[cut:], w.offs[cut:], w.start, w.end),
                                w.start,
                                w.end,
                            )
                        )
            continue
        # Prefixes: "-" (ignore failure), "@", "+", "!", "!!", ":".
        stripped = text.lstrip()
        lead = len(text) - len(stripped)
        n = len(stripped) - len(stripped.lstrip("-@+!:"))
        issues.extend(cmd.analyze_shell(text[lead + n :], offs[lead + n :], dict(variables), refs))
    return issues


def _supervisor(source: str, refs: list[ConfigRef]) -> list[Issue]:
    """supervisord ``[program:x]`` sections: ``command=``, ``environment=`` and ``numprocs=``.

    ``numprocs=N`` runs N copies of the command: reported for servers and Python programs (a
    Telethon bot run twice opens its session twice), not for other programs."""
    issues: list[Issue] = []
    for section in re.finditer(r"^\[[^\]\n]*\][^\n]*\n?((?:(?!\[)[^\n]*\n?)*)", source, re.M):
        body_start = section.start(1)
        body = section.group(1)
        command: list[list[Word]] = []
        numprocs: tuple[str, int, int] | None = None
        for m in re.finditer(
            r"^[ \t]*(command|environment|numprocs)[ \t]*=[ \t]*(.*?)[ \t\r]*$", body, re.M
        ):
            key, value = m.group(1), m.group(2)
            start = body_start + m.start(2)
            offs = range(start, start + len(value))
            if key == "command":
                command = cmd.split_shell(value, offs)
                issues.extend(cmd.analyze_shell(value, offs, {}, refs))
            elif key == "numprocs":
                numprocs = (value, body_start + m.start(1), start + len(value))
            else:
                # KEY="value",KEY2=value2 (supervisord quotes values containing commas).
                for pair in re.finditer(r'([A-Za-z_]\w*)=("[^"]*"|\'[^\']*\'|[^,]*)', value):
                    raw = pair.group(2)
                    vstart = start + pair.start(2)
                    if raw[:1] in "\"'" and len(raw) >= 2:
                        raw, vstart = raw[1:-1], vstart + 1
                    word = Word(
                        raw, tuple(range(vstart, vstart + len(raw))), vstart, vstart + len(raw)
                    )
                    issues.extend(
                        cmd.analyze_env(
                            pair.group(1), word, start + pair.start(1), start + pair.end()
                        )
                    )
        if numprocs is not None and command:
            head = command[0]
            runs = cmd.server_or_python(head)
            if runs is not None:
                count = cmd.workers_value(numprocs[0])
                issue = cmd.workers_issue(
                    f"supervisord ({runs})",
                    f"numprocs={numprocs[0]}",
                    count,
                    numprocs[1],
                    numprocs[2],
                )
                if issue is not None:
                    issues.append(issue)
    return issues


def _envfile(source: str) -> list[Issue]:
    """``KEY=value`` lines (``.env`` read by compose and dotenv loaders; ``export`` allowed)."""
    issues: list[Issue] = []
    pos = 0
    for line in source.split("\n"):
        m = re.match(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_]\w*)[ \t]*=[ \t]*(.*?)[ \t\r]*$", line)
        if m:
            raw = m.group(2)
            start = pos + m.start(2)
            end = start + len(raw)
            if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
                raw, start = raw[1:-1], start + 1
            elif " #" in raw:
                raw = raw.split(" #", 1)[0].rstrip()
                end = start + len(raw)
            value = Word(raw, tuple(range(start, start + len(raw))), start, start + len(raw))
            issues.extend(cmd.analyze_env(m.group(1), value, pos + m.start(1), end))
        pos += len(line) + 1
    return issues


_PREFIX = re.compile(r"^[ \t]*[\w.-]+[ \t]*[=:][ \t]*")


def _generic(source: str, refs: list[ConfigRef]) -> list[Issue]:
    """A configured file of unknown format (supervisord...): each line, after a ``key=``/``key:`` prefix."""
    issues: list[Issue] = []
    pos = 0
    for line in source.split("\n"):
        m = _PREFIX.match(line)
        cut = m.end() if m and not re.match(r"^[ \t]*[A-Z_][A-Z0-9_]*=", line) else 0
        issues.extend(cmd.analyze_shell(line[cut:], range(pos + cut, pos + len(line)), {}, refs))
        pos += len(line) + 1
    return issues


# YAML (compose, Kubernetes) -------------------------------------------------------------------


def _yaml_file(source: str, refs: list[ConfigRef]) -> list[Issue]:
    issues: list[Issue] = []
    for doc in parse_yaml(source):
        for mapping in _mappings(doc):
            issues.extend(_yaml_service(mapping, refs))
        services = doc.get("services") if isinstance(doc, YMap) else None
        units = [v for _, v in services.items] if isinstance(services, YMap) else [doc]
        for unit in units:
            issues.extend(_replicas(unit))
    return _dedupe(issues)


_SERVER_WORD = re.compile(r"\b(?:uvicorn|gunicorn|hypercorn|fastapi|granian)\b")


def _replicas(unit: YNode) -> list[Issue]:
    """compose ``deploy: replicas: 3``/``scale: 3``, Kubernetes ``replicas: 3`` of *our* service.

    Each replica is one more process on the same account (a shared volume, or a copied auth key).
    Only a unit (a compose service, a Kubernetes document) built from this project (``build:``) or
    running a server counts: three Redis replicas are none of our business.
    """
    mappings = list(_mappings(unit))
    ours = any(m.get("build") is not None for m in mappings[:1]) or any(
        _SERVER_WORD.search(word.text)
        for m in mappings
        for key in ("command", "entrypoint", "args")
        for words in _yaml_commands(m.get(key))
        for word in words
    )
    issues: list[Issue] = []
    if not ours:
        return issues
    for m in mappings:
        for name, value in m.items:
            if name.text in ("replicas", "scale") and isinstance(value, YScalar):
                count = cmd.workers_value(value.text)
                setting = f"{name.text}: {value.text}"
                issue = cmd.workers_issue("the deployment", setting, count, name.start, value.end)
                if issue is not None:
                    issues.append(issue)
    return issues


def _mappings(node: YNode, seen: set[int] | None = None) -> Iterator[YMap]:
    """Every mapping in ``node``, each once (aliases share nodes: "billion laughs" stays linear)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, YMap):
        yield node
        for _, value in node.items:
            yield from _mappings(value, seen)
    elif isinstance(node, YSeq):
        for item in node.items:
            yield from _mappings(item, seen)


def _compose_text(node: YScalar) -> tuple[str, tuple[int, ...]]:
    """A scalar with compose's ``$$`` escape (a literal ``$`` for the container) undone."""
    if "$$" not in node.text:
        return node.text, node.offs
    chars: list[str] = []
    offs: list[int] = []
    i = 0
    while i < len(node.text):
        chars.append(node.text[i])
        offs.append(node.offs[i])
        i += 2 if node.text.startswith("$$", i) else 1
    return "".join(chars), tuple(offs)


def _yaml_commands(node: YNode) -> list[list[Word]]:
    if isinstance(node, YScalar):
        text, offs = _compose_text(node)
        return cmd.split_shell(text, offs)
    if isinstance(node, YSeq):
        words = [
            Word(*_compose_text(item), item.start, item.end)
            for item in node.items
            if isinstance(item, YScalar)
        ]
        return [words] if words else []
    return []


def _yaml_service(mapping: YMap, refs: list[ConfigRef]) -> list[Issue]:
    issues: list[Issue] = []
    keys = {k.text for k, _ in mapping.items}
    # The service's own environment feeds `$VAR` in its command (`sh -c "... --workers $W"`).
    variables: dict[str, str] = {}
    for key in ("environment", "env"):
        if key in keys:
            issues.extend(_yaml_env(mapping.get(key), variables))
    heads: list[list[Word]] = []
    for key in ("entrypoint", "command", "args"):
        if key in keys:
            commands = _yaml_commands(mapping.get(key))
            for words in commands:
                issues.extend(cmd.analyze_command(words, variables, refs))
            heads.append([w for c in commands for w in c] if len(commands) == 1 else [])
    if len(heads) == 2 and all(heads):
        # compose `entrypoint` + `command`, Kubernetes `command` + `args`: one argv.
        issues.extend(cmd.analyze_command(heads[0] + heads[1], variables, refs))
    return issues


def _yaml_env(node: YNode, variables: dict[str, str]) -> list[Issue]:
    issues: list[Issue] = []
    pairs: list[tuple[str, Word, int, int]] = []
    if isinstance(node, YMap):
        for key, value in node.items:
            if isinstance(value, YScalar):
                pairs.append(
                    (
                        key.text,
                        Word(value.text, value.offs, value.start, value.end),
                        key.start,
                        value.end,
                    )
                )
    elif isinstance(node, YSeq):
        for item in node.items:
            if isinstance(item, YScalar):
                name, eq, _ = item.text.partition("=")
                if eq:
                    cut = len(name) + 1
                    value_word = Word(item.text[cut:], item.offs[cut:], item.start, item.end)
                    pairs.append((name, value_word, item.start, item.end))
            elif isinstance(item, YMap):
                # Kubernetes: - name: WEB_CONCURRENCY / value: "4"
                name_node, value_node = item.get("name"), item.get("value")
                if isinstance(name_node, YScalar) and isinstance(value_node, YScalar):
                    value_word = Word(
                        value_node.text, value_node.offs, value_node.start, value_node.end
                    )
                    pairs.append((name_node.text, value_word, name_node.start, value_node.end))
    for name, env_value, start, end in pairs:
        variables[name] = env_value.text
        issues.extend(cmd.analyze_env(name, env_value, start, end))
    return issues


# --- Python -----------------------------------------------------------------------------------

_UVICORN_CALLS = {
    "uvicorn.run": "uvicorn",
    "uvicorn.main.run": "uvicorn",
    "uvicorn.Config": "uvicorn",
    "uvicorn.config.Config": "uvicorn",
    "granian.Granian": "granian",  # Granian("app:app", workers=4, reload=True).serve()
    "granian.server.Server": "granian",
}
#: Config classes whose instances carry the settings as attributes: qualified name -> (server, reload attr).
_CONFIG_CLASSES = {
    "uvicorn.Config": ("uvicorn", "reload"),
    "uvicorn.config.Config": ("uvicorn", "reload"),
    "hypercorn.config.Config": ("hypercorn", "use_reloader"),
    "hypercorn.Config": ("hypercorn", "use_reloader"),
}
_ARGV_CALLS = {
    # qualified name -> index of the argv (list or string) argument; -1: every positional is argv.
    "subprocess.run": 0,
    "subprocess.Popen": 0,
    "subprocess.call": 0,
    "subprocess.check_call": 0,
    "subprocess.check_output": 0,
    "subprocess.getoutput": 0,
    "subprocess.getstatusoutput": 0,
    "asyncio.create_subprocess_exec": -1,
    "asyncio.create_subprocess_shell": 0,
    "os.system": 0,
    "os.popen": 0,
    "os.execv": 1,
    "os.execve": 1,
    "os.execvp": 1,
    "os.execvpe": 1,
    "os.execl": -2,
    "os.execle": -2,
    "os.execlp": -2,
    "os.execlpe": -2,
    "os.spawnv": 2,
    "os.spawnve": 2,
    "os.spawnvp": 2,
    "os.spawnvpe": 2,
    "os.posix_spawn": 1,
    "os.posix_spawnp": 1,
    "anyio.run_process": 0,
    "anyio.open_process": 0,
    "trio.run_process": 0,
}
_ENV_INDEX = {
    "os.execve": 2,
    "os.execvpe": 2,
    "os.spawnve": 3,
    "os.spawnvpe": 3,
    "os.posix_spawn": 2,
    "os.posix_spawnp": 2,
}
_CPU_COUNT = {
    "os.cpu_count",
    "multiprocessing.cpu_count",
    "psutil.cpu_count",
    "os.process_cpu_count",
    "os.sched_getaffinity",
}
_CONFIG_FILES = {"gunicorn.conf.py", "gunicorn_conf.py", "gunicorn_config.py"}
_GUNICORN_APPS = {
    "gunicorn.app.base.BaseApplication",
    "gunicorn.app.base.Application",
    "gunicorn.app.wsgiapp.WSGIApplication",
}
_CONFIG_NAMES = {"workers": "workers", "reload": "reload", "use_reloader": "reload"}
#: A module-level setting `config_module` reads (over-approximated: any line or `;` statement).
_CONFIG_ASSIGN = re.compile(
    rb"(?:^|;)[ \t]*(?:workers|reload|use_reloader)[ \t]*(?::[^=\n]*)?=", re.MULTILINE
)


_IMPORT_ROOTS = re.compile(
    r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w., \t]+))", re.M
)
#: Import roots whose calls TG200/TG201 inspect, and the text a relevant call needs besides.
_ROOT_HINTS: Mapping[str, tuple[str, ...]] = {
    "uvicorn": ("",),
    "gunicorn": ("",),
    "hypercorn": ("",),
    "granian": ("",),
    "subprocess": ("",),
    "os": ("environ", "exec", "system(", "spawn", "popen", "putenv"),
    "asyncio": ("create_subprocess",),
    "anyio": ("_process",),
    "trio": ("_process",),
}


def _needs_walk(source: str) -> bool:
    """Whether a call or assignment TG200/TG201 inspect can occur: every one resolves through an
    import of a module in ``_ROOT_HINTS`` (a cheap text check spares the walk of most modules)."""
    for m in _IMPORT_ROOTS.finditer(source):
        modules = [m.group(1)] if m.group(1) else m.group(2).split(",")
        for module in modules:
            root = module.strip().split(".")[0].split(" ")[0]
            hints = _ROOT_HINTS.get(root)
            if hints is not None and any(h in source for h in hints):
                return True
    return False


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(iter_child_nodes(n))


def _walk_ordered(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Pre-order, children in source order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(iter_child_nodes(n))))


class _PythonScan:
    def __init__(self, module: PythonModule) -> None:
        self.module = module
        self.names = module.names
        self.findings: list[Finding] = []
        self.facts = DeploymentFacts(module_name=module.module_name)
        self._mutations: dict[tuple[int, str], list[cst.BaseExpression]] = {}
        self.gunicorn_apps = self._gunicorn_apps()

    def _gunicorn_apps(self) -> set[str]:
        """Classes of this module built on gunicorn's BaseApplication (the "custom application")."""
        apps: set[str] = set()
        classes = [
            (self.names.qualify(c.name.value, self.names.scope_of(c)), c)
            for c, _ in self.names.classes
        ]
        changed = True
        while changed:
            changed = False
            for q, c in classes:
                if q is None or q in apps:
                    continue
                bases = {self.names.qualified_name(b.value) for b in c.bases if b.keyword is None}
                if bases & (_GUNICORN_APPS | apps):
                    apps.add(q)
                    changed = True
        return apps

    def where(
        self, first: cst.CSTNode, last: cst.CSTNode | None = None
    ) -> tuple[int, int, int, int]:
        a = self.module.range_of(first)
        b = self.module.range_of(last) if last is not None else a
        return a.start.line, a.start.column + 1, b.end.line, b.end.column + 1

    def emit(self, code: str, where: tuple[int, int, int, int], message: str) -> None:
        self.findings.append(Finding(self.module.path, *where, code, message))

    def run(self) -> FileResult:
        if _needs_walk(self.module.source):
            for node in _walk(self.module.tree):
                t = type(node)  # not isinstance: libcst nodes are ABCs, and this runs per node
                if t is cst.Call:
                    self.call(node)  # type: ignore[arg-type]
                elif t is cst.Assign:
                    self.assign(node)  # type: ignore[arg-type]
        self.config_module()
        constants: dict[str, object] = {
            k: v
            for k, v in {
                **cmd.class_constants(self.module, self.names),
                **self.names.module_constants,
            }.items()
            if isinstance(v, (str, int, bool, tuple)) or v is None
        }
        self.facts.constants = constants
        self.findings.sort()
        return FileResult(self.findings, self.facts)

    # values

    def value(self, expr: cst.BaseExpression) -> object:
        """A literal, a project marker, cmd.SEVERAL (per core) or cmd.UNKNOWN."""
        if isinstance(expr, cst.Call):
            q = self.names.qualified_name(expr.func)
            if q in _CPU_COUNT or (
                q == "builtins.len"
                and any(
                    self.names.qualified_name(n.func) in _CPU_COUNT
                    for n in _walk(expr)
                    if isinstance(n, cst.Call)
                )
            ):
                return cmd.SEVERAL
            if q in ("builtins.int", "builtins.bool") and expr.args:
                inner = self.value(expr.args[0].value)
                if q == "builtins.int" and isinstance(inner, str):
                    try:
                        return int(inner)
                    except ValueError:
                        return cmd.UNKNOWN
                if q == "builtins.int" and inner is None:
                    return cmd.UNKNOWN  # int(os.getenv("W")): must be set, to anything
                return inner
            if q == "builtins.str" and len(expr.args) == 1:
                inner = self.value(expr.args[0].value)
                if isinstance(inner, (str, int)) and not isinstance(inner, bool):
                    return str(inner)  # ["--workers", str(WORKERS)]
                return inner if isinstance(inner, cmd._Sentinel) else cmd.UNKNOWN
            if q in ("os.getenv", "os.environ.get") and len(expr.args) == 1:
                return (
                    None  # the implicit default: unset means None (`reload=os.getenv("X") == "1"`)
                )
            if (
                isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in _STR_METHODS
                and not expr.args
            ):
                receiver = self.value(expr.func.value)
                if isinstance(receiver, str):
                    return str(getattr(receiver, expr.func.attr.value)())
                return receiver if isinstance(receiver, cmd._Sentinel) else cmd.UNKNOWN
        if isinstance(expr, cst.BinaryOperation):
            left, right = self.value(expr.left), self.value(expr.right)
            if cmd.SEVERAL in (left, right) and isinstance(expr.operator, (cst.Multiply, cst.Add)):
                return cmd.SEVERAL
            if isinstance(left, int) and isinstance(right, int):
                ops = {
                    cst.Add: int.__add__,
                    cst.Multiply: int.__mul__,
                    cst.Subtract: int.__sub__,
                    cst.FloorDivide: int.__floordiv__,
                }
                op = ops.get(type(expr.operator))
                if op is not None and not (
                    isinstance(expr.operator, cst.FloorDivide) and right == 0
                ):
                    return op(left, right)
            return cmd.UNKNOWN
        if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
            left, right = self.value(expr.left), self.value(expr.comparisons[0].comparator)
            operator = expr.comparisons[0].operator
            if _plain(left) and _plain(right):
                if isinstance(operator, cst.Equal):
                    return left == right
                if isinstance(operator, cst.NotEqual):
                    return left != right
            if _plain(left) and isinstance(operator, (cst.In, cst.NotIn)):
                # `os.getenv("ENV", "prod") in ("dev", "local")`
                options = expr.comparisons[0].comparator
                if isinstance(options, (cst.Tuple, cst.List, cst.Set)):
                    values = [self.value(e.value) for e in options.elements]
                    if all(_plain(v) for v in values):
                        return (left in values) == isinstance(operator, cst.In)
            return cmd.UNKNOWN
        if isinstance(expr, cst.Name):
            bindings = self.names.bindings_of(expr)
            if bindings and len(bindings) == 1 and bindings[0].kind == "param":
                # A wrapper's parameter: like a variable, its literal default decides.
                default = bindings[0].value
                return cmd.UNKNOWN if default is None else self.value(default)
        v = self.names.constant_value(expr)
        if v is UNKNOWN:
            return cmd.UNKNOWN
        return v

    def report_value(
        self, kind: str, server: str, setting: str, value: object, where: tuple[int, int, int, int]
    ) -> None:
        if isinstance(value, tuple):
            self.facts.pending.append(Pending(kind, server, setting, value, where))
            return
        issue = _value_issue(kind, server, setting, value)
        if issue is not None:
            self.emit(issue.code, where, issue.message)

    # calls

    def call(self, node: cst.Call) -> None:
        q = self.names.qualified_name(node.func)
        if q is None:
            return
        server = _UVICORN_CALLS.get(q)
        if server is not None:
            for kw, value, where in self.keyword_items(node):
                if kw in ("reload", "workers"):
                    setting = f"{kw}={_code(self.module, value)}"
                    self.report_value(kw, server, setting, self.value(value), self.where(where))
            return
        if q.endswith(".from_mapping") and q[: -len(".from_mapping")] in _CONFIG_CLASSES:
            server, reload_attr = _CONFIG_CLASSES[q[: -len(".from_mapping")]]
            self.mapping_settings(node, server, reload_attr)
            return
        if q in _ARGV_CALLS:
            self.argv_call(q, node)
            return
        if q in self.gunicorn_apps:
            # StandaloneApplication(app, {"workers": 4}).run()
            for arg in node.args:
                options = arg.value
                if isinstance(options, cst.Name):
                    bindings = self.names.bindings_of(options)
                    if bindings and len(bindings) == 1 and isinstance(bindings[0].value, cst.Dict):
                        options = bindings[0].value
                if isinstance(options, cst.Dict):
                    for element in options.elements:
                        if isinstance(element, cst.DictElement):
                            key = self.names.constant_value(element.key)
                            if isinstance(key, str):
                                self.setting("gunicorn", "reload", key, element.value, element)
            return
        if q in ("os.environ.setdefault", "os.putenv") and len(node.args) >= 2:
            self.env_pair(node.args[0].value, node.args[1].value, node)
        elif q == "os.environ.update":
            for arg in node.args:
                if arg.keyword is not None:
                    self.env_pair(arg.keyword, arg.value, arg)
                elif isinstance(arg.value, cst.Dict):
                    self.env_dict(arg.value)

    def keyword_items(
        self, node: cst.Call
    ) -> Iterator[tuple[str, cst.BaseExpression, cst.CSTNode]]:
        """(keyword, value, node to report) of a call, ``**options`` expanded when it is a literal
        dict (``uvicorn.run("app:app", **{"reload": True})``, ``opts = dict(workers=4)``)."""
        for arg in node.args:
            if arg.keyword is not None:
                yield arg.keyword.value, arg.value, arg
            elif arg.star == "**":
                # Options defined elsewhere (`opts = {...}`) are reported where the server starts.
                inline = isinstance(arg.value, cst.Dict)
                for key, value, where in self.dict_items(arg.value):
                    yield key, value, where if inline else arg

    def dict_items(
        self, expr: cst.BaseExpression, depth: int = 0
    ) -> Iterator[tuple[str, cst.BaseExpression, cst.CSTNode]]:
        """The string-keyed items of a dict display or ``dict(...)`` call (a name bound once to one
        is followed; ``**`` inside is expanded), each with the node to report."""
        if depth > 5:
            return
        if isinstance(expr, cst.Name):
            bindings = self.names.bindings_of(expr)
            if bindings and len(bindings) == 1 and bindings[0].value is not None:
                yield from self.dict_items(bindings[0].value, depth + 1)
            return
        if isinstance(expr, cst.Dict):
            for element in expr.elements:
                if isinstance(element, cst.DictElement):
                    key = self.names.constant_value(element.key)
                    if isinstance(key, str):
                        yield key, element.value, element
                else:
                    yield from self.dict_items(element.value, depth + 1)
        elif isinstance(expr, cst.Call) and self.names.qualified_name(expr.func) == "builtins.dict":
            for arg in expr.args:
                if arg.keyword is not None:
                    yield arg.keyword.value, arg.value, arg
                elif arg.star in ("", "**"):
                    yield from self.dict_items(arg.value, depth + 1)

    def mapping_settings(self, node: cst.Call, server: str, reload_attr: str) -> None:
        for arg in node.args:
            if arg.keyword is not None:
                self.setting(server, reload_attr, arg.keyword.value, arg.value, arg)
            else:
                for key, value, where in self.dict_items(arg.value):
                    self.setting(server, reload_attr, key, value, where)

    def setting(
        self,
        server: str,
        reload_attr: str,
        name: str,
        value: cst.BaseExpression,
        where: cst.CSTNode,
    ) -> None:
        kind = "workers" if name == "workers" else "reload" if name == reload_attr else None
        if kind is not None:
            setting = f"{name}={_code(self.module, value)}"
            self.report_value(kind, server, setting, self.value(value), self.where(where))

    def assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Subscript) and self.names.qualified_name(t.value) == "os.environ":
                if len(t.slice) == 1 and isinstance(t.slice[0].slice, cst.Index):
                    self.env_pair(t.slice[0].slice.value, node.value, node)
            elif isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name):
                cls = self.config_class_of(t.value)
                if cls is not None:
                    server, reload_attr = _CONFIG_CLASSES[cls]
                    self.setting(server, reload_attr, t.attr.value, node.value, node)

    def config_class_of(self, name: cst.Name) -> str | None:
        """``config`` in ``config.workers = 2`` when it was bound to ``Config()`` of uvicorn/hypercorn."""
        bindings = self.names.bindings_of(name)
        if not bindings:
            return None
        for b in bindings:
            value = b.value
            if isinstance(value, cst.Call):
                q = self.names.qualified_name(value.func)
                if q in _CONFIG_CLASSES:
                    return q
                # hypercorn's alternative constructors: Config.from_toml(...), .from_mapping(...)
                owner, _, method = (q or "").rpartition(".")
                if owner in _CONFIG_CLASSES and method.startswith("from_"):
                    return owner
            if b.annotation is not None:
                q = self.names.qualified_name(b.annotation)
                if q in _CONFIG_CLASSES:
                    return q
        return None

    def env_pair(
        self, key_node: cst.CSTNode, value_node: cst.BaseExpression, where: cst.CSTNode
    ) -> None:
        key = (
            key_node.value
            if isinstance(key_node, cst.Name)
            else self.names.constant_value(key_node)
        )
        if not isinstance(key, str) or (key not in cmd.SERVER_ENV and key != "GUNICORN_CMD_ARGS"):
            return
        value = self.value(value_node)
        text = (
            value
            if isinstance(value, str)
            else str(value)
            if isinstance(value, int)
            else "$__unknown__"
        )
        for issue in cmd.analyze_env(key, cmd.word_from_text(text, 0), 0, 1):
            self.emit(
                issue.code,
                self.where(where),
                issue.message.replace("$__unknown__", _code(self.module, value_node)),
            )

    def env_dict(self, node: cst.Dict) -> None:
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                self.env_pair(element.key, element.value, element)

    def argv_call(self, q: str, node: cst.Call) -> None:
        positional = [a for a in node.args if a.keyword is None]
        index = _ARGV_CALLS[q]
        argv_node: cst.BaseExpression | None = None
        elements: list[cst.BaseExpression] | None = None
        anchor: cst.CSTNode | None = None
        if index == -1:
            elements = [a.value for a in positional]
            if positional and positional[0].star == "*":
                elements = self.sequence(positional[0].value)
                anchor = positional[0]
        elif index == -2:
            elements = [a.value for a in positional[1:]]
        else:
            kw = next(
                (a.value for a in node.args if a.keyword is not None and a.keyword.value == "args"),
                None,
            )
            argv_node = (
                kw
                if kw is not None
                else positional[index].value
                if len(positional) > index
                else None
            )
            if argv_node is not None:
                elements = self.sequence(argv_node)
                if not isinstance(argv_node, (cst.List, cst.Tuple)):
                    anchor = argv_node
        if elements is not None:
            # An argv defined elsewhere (`CMD = [...]`) is reported where it is run.
            self.argv(elements, anchor)
        elif argv_node is not None:
            self.shell_string(argv_node)
        env = next(
            (a.value for a in node.args if a.keyword is not None and a.keyword.value == "env"), None
        )
        if env is None and q in _ENV_INDEX and len(positional) > _ENV_INDEX[q]:
            env = positional[_ENV_INDEX[q]].value
        if isinstance(env, cst.Dict):
            self.env_dict(env)
        elif isinstance(env, cst.Call) and self.names.qualified_name(env.func) == "builtins.dict":
            for arg in env.args:
                if arg.keyword is not None:
                    self.env_pair(arg.keyword, arg.value, arg)
                elif isinstance(arg.value, cst.Dict):
                    self.env_dict(arg.value)

    def sequence(self, expr: cst.BaseExpression, depth: int = 0) -> list[cst.BaseExpression] | None:
        """The element expressions of a list/tuple argv (``*`` splices and named lists followed)."""
        if depth > 5:
            return None
        if isinstance(expr, cst.Name):
            found = self.names.lookup(expr.value, self.names.scope_of(expr))
            if found is None:
                return None
            scope, bindings = found
            if len(bindings) == 1 and bindings[0].value is not None:
                base = self.sequence(bindings[0].value, depth + 1)
                if base is None:
                    return None
                return base + self.mutations(expr.value, scope, depth)
            return None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            # `base + ["--workers", "4"]`: an unresolved side stays one unknown word.
            left = self.sequence(expr.left, depth + 1)
            right = self.sequence(expr.right, depth + 1)
            if left is None and right is None:
                return None
            return (left or [expr.left]) + (right or [expr.right])
        if not isinstance(expr, (cst.List, cst.Tuple)):
            return None
        out: list[cst.BaseExpression] = []
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                inner = self.sequence(element.value, depth + 1)
                if inner is None:
                    out.append(element)
                else:
                    out.extend(inner)
            else:
                out.append(element.value)
        return out

    def mutations(self, name: str, scope: Any, depth: int) -> list[cst.BaseExpression]:
        """Elements added to the list ``name`` of ``scope`` in place, in source order:
        ``argv += [...]``, ``argv.append(x)``, ``argv.extend([...])``, ``argv.insert(i, x)``.

        Computed once per list; a list added to itself (``argv += argv``) adds nothing new."""
        key = (id(scope), name)
        if key in self._mutations:
            return self._mutations[key]
        self._mutations[key] = []  # while computing: self-references see no additions
        out: list[cst.BaseExpression] = []
        same = self._same_binding

        for node in _walk_ordered(scope.node):
            if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign):
                if isinstance(node.target, cst.Name) and same(node.target, name, scope):
                    added = self.sequence(node.value, depth + 1)
                    out.extend(added if added is not None else [node.value])
            elif (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and isinstance(node.func.value, cst.Name)
                and node.func.attr.value in ("append", "extend", "insert")
                and same(node.func.value, name, scope)
            ):
                args = [a.value for a in node.args if a.keyword is None and not a.star]
                method = node.func.attr.value
                if method == "append" and len(args) == 1:
                    out.append(args[0])
                elif method == "extend" and len(args) == 1:
                    added = self.sequence(args[0], depth + 1)
                    out.extend(added if added is not None else [args[0]])
                elif method == "insert" and len(args) == 2:
                    out.append(args[1])  # position unknown in general; the flag still counts
        self._mutations[key] = out
        return out

    def _same_binding(self, node: cst.Name, name: str, scope: Any) -> bool:
        if node.value != name:
            return False
        found = self.names.lookup(name, self.names.scope_of(node))
        return found is not None and found[0] is scope

    def argv(self, elements: list[cst.BaseExpression], anchor: cst.CSTNode | None) -> None:
        words = []
        for i, element in enumerate(elements):
            v: object = cmd.UNKNOWN
            if not isinstance(element, cst.StarredElement):
                v = self.text_of(element)
                v = cmd.UNKNOWN if v is None else v
                if v is cmd.UNKNOWN:
                    v = self.value(element)
            if (
                isinstance(element, (cst.Attribute, cst.Name))
                and self.names.qualified_name(element) == "sys.executable"
            ):
                v = "python"
            text = (
                v
                if isinstance(v, str)
                else str(v)
                if isinstance(v, int) and not isinstance(v, bool)
                else _SEVERAL
                if v is cmd.SEVERAL
                else "$__unknown__"
            )
            words.append(cmd.word_from_text(text, i))
        refs: list[ConfigRef] = []
        for issue in cmd.analyze_command(words, {}, refs):
            first, last = elements[issue.start], elements[max(issue.end - 1, issue.start)]
            self.emit(
                issue.code,
                self.where(anchor) if anchor is not None else self.where(first, last),
                _unknown_text(issue.message, self.module, elements, issue),
            )
        for ref in refs:
            where = self.where(anchor if anchor is not None else elements[ref.start])
            self.facts.config_refs.append((ref.server, ref.target, where))

    def shell_string(self, node: cst.BaseExpression) -> None:
        target = node
        if (
            isinstance(node, cst.Call)
            and self.names.qualified_name(node.func) == "shlex.split"
            and node.args
        ):
            target = node.args[0].value
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "split"
            and not node.args
        ):
            target = node.func.value  # "uvicorn app:app --workers 2".split()
        text = self.text_of(target)
        if text is None:
            return
        refs: list[ConfigRef] = []
        for issue in cmd.analyze_shell(text, None, {}, refs):
            self.emit(issue.code, self.where(target), issue.message.replace(_PART, "{...}"))
        for ref in refs:
            self.facts.config_refs.append((ref.server, ref.target, self.where(target)))

    def text_of(self, expr: cst.BaseExpression) -> str | None:
        """A command string: a constant, or an f-string whose unknown parts become ``_PART``
        (``f"uvicorn app:app --workers {n}"`` cannot be verified; the rest of it still can)."""
        value = self.value(expr)
        if isinstance(value, str):
            return value
        if isinstance(expr, cst.FormattedString):
            parts: list[str] = []
            for part in expr.parts:
                if isinstance(part, cst.FormattedStringText):
                    parts.append(part.value)
                else:
                    assert isinstance(part, cst.FormattedStringExpression)
                    v = self.value(part.expression)
                    plain = isinstance(v, (str, int)) and not isinstance(v, bool)
                    parts.append(str(v) if plain and not part.format_spec else _PART)
            return "".join(parts)
        return None

    # gunicorn / hypercorn configuration modules

    def config_module(self) -> None:
        base = self.module.path.rsplit("/", 1)[-1]
        for stmt in self.module.tree.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target, value = small.targets[0].target, small.value
                elif isinstance(small, cst.AnnAssign) and small.value is not None:
                    target, value = small.target, small.value
                else:
                    continue
                if not isinstance(target, cst.Name) or target.value not in _CONFIG_NAMES:
                    continue
                setting = f"{target.value} = {_code(self.module, value)}"
                v = self.value(value)
                where = self.where(small)
                if base in _CONFIG_FILES:
                    self.report_value(_CONFIG_NAMES[target.value], "gunicorn", setting, v, where)
                else:
                    self.facts.config_settings.append(
                        ConfigSetting(target.value, v, setting, where)
                    )


#: A per-core argv element (`str(os.cpu_count() * 2)`): a word the shell analysis reads as several.
_SEVERAL = "$(__per_core_nproc__)"
#: An unknown part of an f-string command: a shell variable the analysis cannot resolve.
_PART = "${__expr__}"


_STR_METHODS = frozenset({"lower", "upper", "strip", "casefold", "title"})


def _plain(v: object) -> bool:
    return isinstance(v, (str, int, float)) or v is None


def _code(module: PythonModule, node: cst.CSTNode) -> str:
    text = module.tree.code_for_node(node).strip()
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_text(
    message: str, module: PythonModule, elements: Sequence[cst.BaseExpression], issue: Issue
) -> str:
    message = message.replace(_PART, "{...}")
    if "$__unknown__" not in message and _SEVERAL not in message:
        return message
    last = _code(module, elements[max(issue.end - 1, issue.start)])
    return message.replace("$__unknown__", last).replace(_SEVERAL, last)


def _value_issue(kind: str, server: str, setting: str, value: object) -> Issue | None:
    """The issue of a Python-side setting: ``value`` is a literal, SEVERAL or UNKNOWN."""
    if kind == "workers":
        count: int | cmd._Sentinel
        if value is None:
            count = 1
        elif value is cmd.SEVERAL:
            count = cmd.SEVERAL
        elif isinstance(value, int) and not isinstance(value, bool):
            count = value
        elif isinstance(value, str):
            count = cmd.workers_value(value)
        else:
            count = cmd.UNKNOWN
        return cmd.workers_issue(server, setting, count, 0, 0)
    if isinstance(value, str) and server == "gunicorn":
        # gunicorn parses "true"/"false" (gunicorn/config.py validate_bool).
        flag = cmd.truthy(value)
        if flag is False:
            return None
        return cmd.reload_issue(server, setting, 0, 0, unknown=flag is cmd.UNKNOWN)
    if isinstance(value, cmd._Sentinel):
        return cmd.reload_issue(server, setting, 0, 0, unknown=True)
    if value:
        return cmd.reload_issue(server, setting, 0, 0)
    return None


# --- the family -------------------------------------------------------------------------------


class DeploymentFamily(Family):
    rules = (ReloadEnabled, SeveralWorkers)
    keywords = (
        b"uvicorn",
        b"gunicorn",
        b"hypercorn",
        b"fastapi",
        b"granian",
        b"WEB_CONCURRENCY",
        b"UVICORN_",
        b"GRANIAN_",
        b"workers",
        b"WORKERS",
        b"reload",
        b"RELOAD",
    )
    # Facts flow one way: a server call or config module reads constants from the modules it
    # imports (`workers=settings.WORKERS`); nothing of a module that merely imports one matters.
    follow_imports = False

    def reads_imports(self, data: bytes) -> bool:
        # Only a server call or setting reads another module's constant: a module the walk visits
        # (an import of a server or process module) or a config module (`workers = N`).
        return _CONFIG_ASSIGN.search(data) is not None or _needs_walk(
            data.decode("utf-8", "replace")
        )

    def check_module(self, module: PythonModule) -> FileResult:
        return _PythonScan(module).run()

    def wants_text_file(self, path: str, config: Config) -> bool:
        return file_kind(path, config) is not None

    def check_text_file(self, file: TextFile) -> FileResult:
        kind = file_kind(file.path, file.config)
        if kind is None:
            return FileResult()
        # CRLF (files edited on Windows): "\r" only ends lines, so dropping it keeps every line
        # number and every column before the line end; continuations then read as in Unix files.
        source = file.source.replace("\r\n", "\n")
        issues, refs = _scan_text(kind, source)
        lines = _Lines(source)
        findings = [
            file.finding(*lines.span(issue.start, issue.end), issue.code, issue.message)
            for issue in issues
        ]
        facts = None
        if refs:
            facts = DeploymentFacts(
                config_refs=[(r.server, r.target, lines.span(r.start, r.end)) for r in refs]
            )
        return FileResult(sorted(findings), facts)

    def check_project(self, facts: Mapping[str, Any], config: Config) -> Sequence[Finding]:
        modules = {path: f for path, f in facts.items() if isinstance(f, DeploymentFacts)}
        table = cmd.ConstantTable()
        for f in modules.values():
            for name, value in f.constants.items():
                table.add(f.module_name, name, value)
        findings: list[Finding] = []
        for path, f in modules.items():
            for p in f.pending:
                value = resolve_constant(p.value, table)
                value = cmd.UNKNOWN if value is UNKNOWN else value
                issue = _value_issue(p.kind, p.server, p.setting, value)
                if issue is not None:
                    findings.append(Finding(path, *p.where, issue.code, issue.message))
        # Python config files named on a command line (`gunicorn -c conf/prod.py`).
        for f in modules.values():
            for server, target, _ in f.config_refs:
                for path in _config_targets(target, modules):
                    if path.rsplit("/", 1)[-1] in _CONFIG_FILES and server == "gunicorn":
                        continue  # already reported by check_module
                    for s in modules[path].config_settings:
                        if s.name == "use_reloader" and server != "hypercorn":
                            continue
                        if s.name == "reload" and server == "hypercorn":
                            continue
                        value = (
                            resolve_constant(s.value, table)
                            if isinstance(s.value, tuple)
                            else s.value
                        )
                        issue = _value_issue(
                            _CONFIG_NAMES[s.name],
                            server,
                            f"{s.setting} (in the {server} config {target})",
                            cmd.UNKNOWN if value is UNKNOWN else value,
                        )
                        if issue is not None:
                            findings.append(Finding(path, *s.where, issue.code, issue.message))
        return sorted(set(findings))


def _config_targets(target: str, modules: Mapping[str, DeploymentFacts]) -> list[str]:
    """Linted Python files a ``-c`` argument names (``python:pkg.mod``, ``file:x.py``, a path)."""
    if target.startswith("python:"):
        name = target[len("python:") :]
        return [p for p, f in modules.items() if f.module_name == name]
    if target.startswith("file:"):
        target = target[len("file:") :]
    parts = [p for p in posixpath.normpath(target).split("/") if p not in ("", ".")]
    for i in range(len(parts)):
        suffix = "/".join(parts[i:])
        hits = [p for p in modules if p == suffix or p.endswith("/" + suffix)]
        if hits:
            return hits
    return []


# --- YAML subset reader -----------------------------------------------------------------------
#
# A small, careful reader for the YAML subset deployment files use (compose, Kubernetes manifests).
#
# No YAML library is a dependency. This reader handles block mappings and sequences (including
# ``- key: value`` items and sequences at their key's indentation), flow collections (``[a, "b"]``,
# ``{K: v}``) spanning lines, plain multi-line scalars, single- and double-quoted scalars, literal
# ``|`` and folded ``>`` block scalars, comments, tags (skipped), anchors and aliases (an alias is the
# anchored node itself; ``<<`` merges its keys where not given explicitly) and several documents. Every scalar keeps the source offset of each of its characters so findings point at the token.
# Anything it cannot read becomes ``None`` (unknown), never an exception.


@dataclass
class YScalar:
    text: str
    offs: tuple[int, ...]
    start: int
    end: int


@dataclass
class YSeq:
    items: list[YNode] = field(default_factory=list)


@dataclass
class YMap:
    items: list[tuple[YScalar, YNode]] = field(default_factory=list)

    def get(self, key: str) -> YNode:
        for k, v in self.items:
            if k.text == key:
                return v
        return None


YNode = YScalar | YSeq | YMap | None

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", " ": " ", "/": "/", '"': '"', "\\": "\\"}


def parse_yaml(src: str) -> list[YNode]:
    """The documents of ``src`` (best effort)."""
    try:
        return _Reader(src).documents()
    except (IndexError, ValueError, RecursionError):
        return []


class _Reader:
    def __init__(self, src: str) -> None:
        self.src = src
        self.starts: list[int] = []
        self.ends: list[int] = []
        pos = 0
        for line in src.split("\n"):
            self.starts.append(pos)
            self.ends.append(pos + len(line.rstrip("\r")))
            pos += len(line) + 1
        self.n = len(self.starts)
        self.k = 0
        self.cs: int | None = None  # content start override for `- key: v` virtual lines
        self.anchors: dict[str, YNode] = {}  # `&name` -> node; `*name` is that node

    # --- lines -------------------------------------------------------------------------------

    def _content(self, k: int, cs: int | None = None) -> tuple[int, int]:
        """Content of line ``k`` from ``cs`` (default: first non-space), comments stripped."""
        src, end = self.src, self.ends[k]
        i = self.starts[k] if cs is None else cs
        while i < end and src[i] == " ":
            i += 1
        start = i
        quote = ""
        while i < end:
            c = src[i]
            if quote:
                if c == "\\" and quote == '"':
                    i += 2
                    continue
                if c == quote:
                    quote = ""
            elif c in "\"'" and (i == start or src[i - 1] in " \t[{,:"):
                quote = c
            elif c == "#" and (i == start or src[i - 1] in " \t"):
                end = i
                break
            i += 1
        while end > start and src[end - 1] in " \t":
            end -= 1
        return start, end

    def _cur(self) -> tuple[int, int, int]:
        cs, ce = self._content(self.k, self.cs)
        return cs, ce, cs - self.starts[self.k]

    def _skip_blank(self) -> None:
        while self.k < self.n:
            cs, ce = self._content(self.k, self.cs)
            if cs < ce:
                return
            self.k += 1
            self.cs = None

    def _advance(self) -> None:
        self.k += 1
        self.cs = None

    # --- block structure ---------------------------------------------------------------------

    def documents(self) -> list[YNode]:
        docs: list[YNode] = []
        while self.k < self.n:
            self._skip_blank()
            if self.k >= self.n:
                break
            cs, ce, _ = self._cur()
            text = self.src[cs:ce]
            if text.startswith(("---", "...", "%")):
                self._advance()
                continue
            before = self.k
            node = self.block(0)
            docs.append(node)
            if self.k == before:
                self._advance()
        return docs

    def block(self, min_indent: int) -> YNode:
        self._skip_blank()
        if self.k >= self.n:
            return None
        cs, ce, ind = self._cur()
        if ind < min_indent:
            return None
        text = self.src[cs:ce]
        if text.startswith(("--- ", "...")) or text == "---":
            return None
        if text == "-" or text.startswith("- "):
            return self.seq(ind)
        if self._key(cs, ce) is not None:
            return self.mapping(ind)
        self._advance()
        return self.inline(cs, ce, ind - 1)

    def seq(self, ind: int) -> YSeq:
        out = YSeq()
        while True:
            self._skip_blank()
            if self.k >= self.n:
                break
            cs, ce, i2 = self._cur()
            text = self.src[cs:ce]
            if i2 != ind or not (text == "-" or text.startswith("- ")):
                break
            rs = cs + 1
            while rs < ce and self.src[rs] == " ":
                rs += 1
            if rs >= ce:
                self._advance()
                out.items.append(self.block(ind + 1))
            else:
                self.cs = rs
                out.items.append(self.block(ind + 1))
        return out

    def mapping(self, ind: int) -> YMap:
        out = YMap()
        merged: list[tuple[YScalar, YNode]] = []
        while True:
            self._skip_blank()
            if self.k >= self.n:
                break
            cs, ce, i2 = self._cur()
            if i2 != ind:
                break
            found = self._key(cs, ce)
            if found is None:
                break
            key, vs = found
            anchor = self._anchor(vs, ce)
            vs = self._skip_props(vs, ce)
            self._advance()
            value: YNode = None
            if vs >= ce:
                self._skip_blank()
                if self.k < self.n:
                    c2, e2, i3 = self._cur()
                    t2 = self.src[c2:e2]
                    if i3 > ind:
                        value = self.block(ind + 1)
                    elif i3 == ind and (t2 == "-" or t2.startswith("- ")):
                        value = self.seq(ind)
            else:
                value = self.inline(vs, ce, ind)
            if anchor is not None:
                self.anchors[anchor] = value
            if key.text == "<<":
                # `<<: *base` / `<<: [*a, *b]`: the aliased mappings' keys, unless given here.
                for source in value.items if isinstance(value, YSeq) else [value]:
                    if isinstance(source, YMap):
                        merged.extend(source.items)
                continue
            out.items.append((key, value))
        if merged:
            explicit = {k.text for k, _ in out.items}
            seen: set[str] = set()
            for k, v in merged:
                if k.text not in explicit and k.text not in seen:
                    seen.add(k.text)
                    out.items.append((k, v))
        return out

    def _anchor(self, i: int, end: int) -> str | None:
        """The anchor name of ``&name`` properties starting at ``i``, if any."""
        src = self.src
        while i < end and src[i] in "&!":
            j = i
            while j < end and src[j] != " ":
                j += 1
            if src[i] == "&":
                return src[i + 1 : j] or None
            i = _skip_spaces(src, j, end)
        return None

    def _skip_props(self, i: int, end: int) -> int:
        """Skip anchors (``&a``) and tags (``!!str``) before a value."""
        src = self.src
        while i < end and src[i] in "&!":
            while i < end and src[i] != " ":
                i += 1
            while i < end and src[i] == " ":
                i += 1
        return i

    def _key(self, cs: int, ce: int) -> tuple[YScalar, int] | None:
        """``key: value`` at ``[cs, ce)``: the key scalar and where the value starts."""
        src = self.src
        if cs >= ce or src[cs] in "[{#&*!|>%@`":
            return None
        if src[cs] in "\"'":
            key, i = self._quoted(cs, ce)
            if key is None:
                return None
            while i < ce and src[i] == " ":
                i += 1
            if i < ce and src[i] == ":" and (i + 1 == ce or src[i + 1] == " "):
                return key, _skip_spaces(src, i + 1, ce)
            return None
        i = cs
        while i < ce:
            if src[i] == ":" and (i + 1 == ce or src[i + 1] == " "):
                text = src[cs:i].rstrip()
                key = YScalar(text, tuple(range(cs, cs + len(text))), cs, cs + len(text))
                return key, _skip_spaces(src, i + 1, ce)
            i += 1
        return None

    # --- scalars and flow collections ---------------------------------------------------------

    def inline(self, vs: int, ve: int, parent_ind: int) -> YNode:
        """The value starting at ``vs`` on the line already consumed (continuation lines follow)."""
        src = self.src
        vs = self._skip_props(vs, ve)
        if vs >= ve:
            return None
        c = src[vs]
        if c == "*":
            j = vs + 1
            while j < ve and src[j] not in " ,]}":
                j += 1
            return self.anchors.get(src[vs + 1 : j])
        if c in "|>":
            return self._block_scalar(folded=c == ">", parent_ind=parent_ind)
        if c in "[{":
            chars, offs = self._gather_flow(vs, ve)
            node, _ = _Flow(chars, offs).node(0)
            return node
        if c in "\"'":
            return self._quoted_multiline(vs, ve)
        text = src[vs:ve]
        offs = list(range(vs, ve))
        end = ve
        # Plain multi-line scalar: more-indented continuation lines fold into one line.
        while self.k < self.n:
            cs, ce = self._content(self.k)
            if cs >= ce or cs - self.starts[self.k] <= parent_ind:
                break
            if self._key(cs, ce) is not None or src[cs : cs + 2] == "- ":
                break
            text += " " + src[cs:ce]
            offs.append(end)
            offs.extend(range(cs, ce))
            end = ce
            self._advance()
        return YScalar(text, tuple(offs), vs, end)

    def _block_scalar(self, folded: bool, parent_ind: int) -> YScalar:
        src = self.src
        lines: list[tuple[int, int]] = []
        block_ind: int | None = None
        while self.k < self.n:
            start, end = self.starts[self.k], self.ends[self.k]
            raw = src[start:end]
            if raw.strip() == "":
                lines.append((end, end))
                self._advance()
                continue
            ind = len(raw) - len(raw.lstrip(" "))
            if ind <= parent_ind or (block_ind is not None and ind < block_ind):
                break
            if block_ind is None:
                block_ind = ind
            lines.append((start + block_ind, end))
            self._advance()
        while lines and lines[-1][0] == lines[-1][1]:
            lines.pop()
        text: list[str] = []
        offs: list[int] = []
        for n, (s, e) in enumerate(lines):
            if n:
                text.append(" " if folded else "\n")
                offs.append(lines[n - 1][1])
            text.append(src[s:e])
            offs.extend(range(s, e))
        first = lines[0][0] if lines else 0
        last = lines[-1][1] if lines else 0
        return YScalar("".join(text), tuple(offs), first, last)

    def _quoted(self, i: int, end: int) -> tuple[YScalar | None, int]:
        """A quoted scalar on one line starting at ``i``; (None, i) when unterminated."""
        chars, offs, j, closed = _read_quoted(self.src, i, end)
        if not closed:
            return None, i
        return YScalar("".join(chars), tuple(offs), i, j), j

    def _quoted_multiline(self, vs: int, ve: int) -> YScalar:
        src = self.src
        quote = src[vs]
        chars, offs, j, closed = _read_quoted(src, vs, self.ends[self.k - 1])
        end = j
        while not closed and self.k < self.n:
            start = self.starts[self.k]
            s = _skip_spaces(src, start, self.ends[self.k])
            chars.append(" ")
            offs.append(end)
            more, more_offs, j, closed = _read_quoted(src, s - 1, self.ends[self.k], quote=quote)
            chars.extend(more)
            offs.extend(more_offs)
            end = j
            self._advance()
        return YScalar("".join(chars), tuple(offs), vs, end)

    def _gather_flow(self, vs: int, ve: int) -> tuple[str, list[int]]:
        src = self.src
        chars = list(src[vs:ve])
        offs = list(range(vs, ve))
        while _depth(chars) > 0 and self.k < self.n:
            cs, ce = self._content(self.k)
            chars.append(" ")
            offs.append(offs[-1] if offs else cs)
            chars.extend(src[cs:ce])
            offs.extend(range(cs, ce))
            self._advance()
        return "".join(chars), offs


def _skip_spaces(src: str, i: int, end: int) -> int:
    while i < end and src[i] == " ":
        i += 1
    return i


def _read_quoted(
    src: str, i: int, end: int, quote: str | None = None
) -> tuple[list[str], list[int], int, bool]:
    """Read from the opening quote at ``src[i]`` (or, with ``quote``, from just after ``i``)."""
    q = quote or src[i]
    i += 1
    chars: list[str] = []
    offs: list[int] = []
    while i < end:
        c = src[i]
        if q == "'" and c == "'":
            if i + 1 < end and src[i + 1] == "'":
                chars.append("'")
                offs.append(i)
                i += 2
                continue
            return chars, offs, i + 1, True
        if q == '"' and c == '"':
            return chars, offs, i + 1, True
        if q == '"' and c == "\\" and i + 1 < end:
            chars.append(_ESCAPES.get(src[i + 1], src[i + 1]))
            offs.append(i + 1)
            i += 2
            continue
        chars.append(c)
        offs.append(i)
        i += 1
    return chars, offs, i, False


def _depth(chars: list[str]) -> int:
    depth = 0
    quote = ""
    for n, c in enumerate(chars):
        if quote:
            if c == quote and not (quote == '"' and n and chars[n - 1] == "\\"):
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
    return depth


class _Flow:
    """Flow collections: ``[a, "b c", {K: v}]``."""

    def __init__(self, chars: str, offs: list[int]) -> None:
        self.s = chars
        self.offs = offs

    def _ws(self, i: int) -> int:
        while i < len(self.s) and self.s[i] in " \t\n":
            i += 1
        return i

    def node(self, i: int) -> tuple[YNode, int]:
        s = self.s
        i = self._ws(i)
        if i >= len(s):
            return None, i
        c = s[i]
        if c == "[":
            seq = YSeq()
            i += 1
            while True:
                i = self._ws(i)
                if i >= len(s) or s[i] == "]":
                    return seq, i + 1
                if s[i] == ",":
                    i += 1
                    continue
                item, j = self.node(i)
                if j <= i:
                    return seq, len(s)
                seq.items.append(item)
                i = j
        if c == "{":
            mapping = YMap()
            i += 1
            while True:
                i = self._ws(i)
                if i >= len(s) or s[i] == "}":
                    return mapping, i + 1
                if s[i] == ",":
                    i += 1
                    continue
                key, j = self.node(i)
                if j <= i:
                    return mapping, len(s)
                j = self._ws(j)
                value: YNode = None
                if j < len(s) and s[j] == ":":
                    value, j = self.node(j + 1)
                if isinstance(key, YScalar):
                    mapping.items.append((key, value))
                i = j
        if c in "\"'":
            chars, local, j, _ = _read_quoted(s, i, len(s))
            offs = tuple(self.offs[k] for k in local)
            return YScalar("".join(chars), offs, self.offs[i], self.offs[min(j, len(s)) - 1] + 1), j
        j = i
        while (
            j < len(s)
            and s[j] not in ",[]{}"
            and not (s[j] == ":" and (j + 1 == len(s) or s[j + 1] in " ,]}"))
        ):
            j += 1
        text = s[i:j].rstrip()
        end = i + len(text)
        if not text:
            return None, max(j, i + 1)
        return YScalar(text, tuple(self.offs[i:end]), self.offs[i], self.offs[end - 1] + 1), j
