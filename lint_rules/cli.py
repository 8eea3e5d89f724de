"""``telethon-guard lint``: the command line.

Exit codes: 0 clean, 1 findings (or, with ``--diff``, changes to make), 2 usage, configuration or
internal error.

Imports stay lazy, and a re-run of the same command over an unchanged tree is a replay: a plain
``lint`` run (no ``--fix``/``--diff``/stdin/``--no-cache``) that ends without errors records its
output with the stat signatures of every file, directory and ignore file it depended on
(:func:`lint_rules.cache.store_replay`); the next identical command line checks those signatures
and prints the output again, before argparse, the config parser, the file listing (no ``git``
process) or the engine are even imported. Any difference falls back to the full path, whose own
caches (per run and per file) are exact.
"""

from __future__ import annotations

import os
import sys

from . import __version__
from .cache import find_pyproject, load_replay, replay_key

TYPE_CHECKING = False  # not typing's: see above
if TYPE_CHECKING:
    import argparse
    import io
    from collections.abc import Sequence
    from typing import Any

    from .config import Config
    from .engine import LintResult
    from .model import Finding

__all__ = ["main"]

_REPORT_HINT = (
    "this is a bug in telethon-guard; please report it with the input that triggers it "
    "(run with --verbose for the traceback)"
)


class _Usage(Exception):
    """A usage error: printed as one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    import argparse

    from .output import FORMATS

    parser = argparse.ArgumentParser(
        prog="telethon-guard",
        description="Never run concurrent Telethon actions: lint sources and deployment files.",
    )
    parser.add_argument("--version", action="version", version=f"telethon-guard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    lint = sub.add_parser(
        "lint",
        help="lint Python sources and deployment files",
        description="Lint Python sources and deployment files for the TG rules.",
    )
    lint.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories (default: .); - reads stdin"
    )
    lint.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default: text)"
    )
    lint.add_argument(
        "--select",
        action="append",
        default=None,
        metavar="CODES",
        help="only these codes or prefixes (comma-separated; replaces the config)",
    )
    lint.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODES",
        help="skip these codes or prefixes (comma-separated; added to the config)",
    )
    lint.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths matching GLOB (repeatable)",
    )
    lint.add_argument(
        "--statistics", action="store_true", help="show the number of findings per code"
    )
    lint.add_argument("--explain", metavar="CODE", help="explain a rule and exit")
    lint.add_argument("--stdin-filename", metavar="PATH", help="the file name to lint stdin as")
    lint.add_argument("--fix", action="store_true", help="apply automatic fixes")
    lint.add_argument(
        "--diff",
        action="store_true",
        help="print the fixes as a unified diff instead of writing them",
    )
    lint.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: all cores)",
    )
    lint.add_argument(
        "--no-cache", action="store_true", help="neither read nor write .telethon_guard_cache/"
    )
    lint.add_argument(
        "--config", metavar="PYPROJECT", help="use this pyproject.toml instead of the nearest one"
    )
    lint.add_argument(
        "--no-show-source", action="store_true", help="do not print the source line of each finding"
    )
    lint.add_argument("--verbose", "-v", action="store_true", help="tracebacks for internal errors")
    return parser


#: Options of ``lint`` that take a value, and flags, that a replayable command line may use.
_VALUE_OPTIONS = frozenset(
    ("--format", "--select", "--ignore", "--exclude", "--jobs", "-j", "--config")
)
_FLAGS = frozenset(("--statistics", "--no-show-source"))


def _replay_plan(argv: Sequence[str]) -> tuple[list[str], str | None] | None:
    """(paths, ``--config``) of a plain ``lint`` command line, or None for anything else.

    Deliberately narrow (exact option spellings only): whatever it does not understand takes
    the full path, and a recording is only made when argparse read the same paths and config.
    """
    if not argv or argv[0] != "lint":
        return None
    paths: list[str] = []
    config = None
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in _FLAGS:
            continue
        name, eq, value = arg.partition("=")
        if name in _VALUE_OPTIONS:
            if not eq:
                if i >= len(argv):
                    return None
                value = argv[i]
                i += 1
            if name == "--config":
                config = value
            continue
        if arg.startswith("-"):
            return None
        paths.append(arg)
    return paths, config


def _config_start(paths: Sequence[str], stdin_filename: str | None, cwd: str) -> str:
    """Where the search for the nearest ``pyproject.toml`` starts (the first path argument)."""
    first = paths[0] if paths and paths[0] != "-" else None
    if first is None and stdin_filename:
        first = stdin_filename
    start = os.path.join(cwd, first) if first else cwd
    return start if os.path.exists(start) else os.path.dirname(start) or cwd


def _replay_slot(plan: tuple[list[str], str | None], argv: Sequence[str], cwd: str) -> Any:
    """(cache root, replay key) of a replayable command line, or None."""
    paths, config_path = plan
    if config_path is not None:
        path = os.path.abspath(os.path.join(cwd, config_path))
        try:
            with open(path, "rb") as f:
                found: tuple[str, bytes] | None = (path, f.read())
        except OSError:
            return None
        root = os.path.dirname(path)
    else:
        found = find_pyproject(_config_start(paths, None, cwd))
        root = os.path.dirname(found[0]) if found else cwd
    from .output import use_color

    return root, replay_key(argv, cwd, use_color(sys.stdout), found)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``telethon-guard`` console script; returns the exit code."""
    import time

    raw = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in raw or "-v" in raw
    try:
        cwd = os.getcwd()
        plan = _replay_plan(raw)
        slot = _replay_slot(plan, raw, cwd) if plan is not None else None
        if slot is not None:
            hit = load_replay(*slot)
            if hit is not None:
                sys.stdout.write(hit[0])
                sys.stdout.flush()
                return hit[1]
        parser = _parser()
        args = parser.parse_args(raw)
        if args.command is None:
            parser.print_help()
            return 2
        if slot is not None and (args.paths, args.config) != plan and not args.no_cache:
            slot = None  # argparse read the line differently: record nothing
        if slot is not None and not args.no_cache:
            from .cache import Cache

            try:  # before the clock starts: creating the cache directory touches the root
                Cache(slot[0]).prepare()
            except OSError:
                slot = None
        return _lint(args, (*slot, time.time_ns()) if slot is not None else None)
    except SystemExit:
        raise
    except BaseException as exc:
        from .config import ConfigError

        if isinstance(exc, (ConfigError, _Usage)):
            print(f"telethon-guard: error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, KeyboardInterrupt):
            return 130
        if isinstance(exc, BrokenPipeError):
            # The reader went away (`| head`): stop quietly, and keep Python's exit-time flush quiet.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        if not isinstance(exc, Exception):
            raise
        if verbose:  # one line and a hint, not a traceback
            import traceback

            traceback.print_exc()
        print(
            f"telethon-guard: internal error: {type(exc).__name__}: {exc}\n  {_REPORT_HINT}",
            file=sys.stderr,
        )
        return 2


def _codes(values: list[str] | None, option: str) -> tuple[str, ...] | None:
    from .config import parse_codes

    if values is None:
        return None
    return parse_codes(",".join(values), option)


def _load(args: argparse.Namespace, cwd: str) -> Config:
    from .config import config_from_file, load_config, with_overrides

    if args.config:
        config = config_from_file(args.config)
    else:
        config = load_config(_config_start(args.paths, args.stdin_filename, cwd))
    return with_overrides(
        config,
        select=_codes(args.select, "--select"),
        ignore=_codes(args.ignore, "--ignore") or (),
        exclude=tuple(args.exclude),
    )


def _explain(code: str) -> int:
    from .rules import all_rules

    rules = all_rules()
    rule = rules.get(code.strip().upper())
    if rule is None:
        print(
            f"telethon-guard: error: unknown rule code {code!r} (known: {', '.join(rules)})",
            file=sys.stderr,
        )
        return 2
    fix = "Yes: `telethon-guard lint --fix` applies it." if rule.fixable else "No."
    print(
        f"# {rule.code} {rule.name}\n\n## What it does\n{rule.what}\n\n## Why is this bad?\n"
        f"{rule.why}\n\n## Example\n```\n{rule.example.rstrip()}\n```\n\n## Use instead\n"
        f"{rule.instead.rstrip()}\n\n## Fixable\n{fix}"
    )
    return 0


def _lint(args: argparse.Namespace, replay: tuple[str, str, int] | None = None) -> int:
    """The ``lint`` command; ``replay`` is (cache root, key, start time) to record the run under."""
    if args.explain:
        return _explain(args.explain)
    if args.jobs is not None and args.jobs < 1:
        raise _Usage("--jobs must be at least 1")
    cwd = os.getcwd()
    config = _load(args, cwd)
    if args.paths == ["-"] or (args.stdin_filename and not args.paths):
        return _lint_stdin(args, config)
    if "-" in args.paths:
        raise _Usage("- (stdin) cannot be combined with other paths")
    paths = args.paths or ["."]
    from . import engine

    use_cache = not args.no_cache

    def lint(overlay: Any) -> LintResult:
        return engine.run(
            paths, config, jobs=args.jobs, cache=use_cache and not overlay, overlay=overlay, cwd=cwd
        )

    fixed = 0
    if args.fix or args.diff:
        from .fix import fix_loop, unified_diff

        outcome = fix_loop(lint)
        assert outcome.result is not None
        result = outcome.result
        if args.diff:
            for abspath in sorted(outcome.changed):
                display = next((d for d, a in result.files.items() if a == abspath), abspath)
                sys.stdout.write(
                    unified_diff(display, outcome.originals[abspath], outcome.changed[abspath])
                )
            n = len(outcome.changed)
            print(
                f"Would fix {outcome.applied} finding{'s' if outcome.applied != 1 else ''} in "
                f"{n} file{'s' if n != 1 else ''}."
                if n
                else "No fixes available.",
                file=sys.stderr,
            )
            _report_errors(args, result)
            if result.errors or result.internal:
                return 2
            return 1 if outcome.changed else 0
        for abspath, data in outcome.changed.items():
            with open(abspath, "wb") as f:
                f.write(data)
        fixed = outcome.applied
    else:
        result = lint(None)

    text = _emit(args, result.findings, result.files, fixed=fixed)
    _report_errors(args, result)
    if result.errors or result.internal:
        return 2
    code = 1 if result.findings else 0
    if replay is not None and use_cache and not (args.fix or args.diff):
        from .cache import store_replay
        from .discovery import watched_paths

        watched = watched_paths(paths, cwd)
        if watched is not None:
            root, key, started = replay
            store_replay(root, key, [*watched, *result.files.values()], started, text, code)
    return code


def _report_errors(args: argparse.Namespace, result: LintResult) -> None:
    for message in result.errors:
        print(f"telethon-guard: error: {message}", file=sys.stderr)
    for error in result.internal:
        if args.verbose:
            print(error.detail, file=sys.stderr)
        print(f"telethon-guard: internal error: {error.message}\n  {_REPORT_HINT}", file=sys.stderr)


def _lines_loader(files: dict[str, str], overrides: dict[str, str] | None = None) -> Any:
    from .output import split_lines

    memo: dict[str, list[str] | None] = {}

    def lines_of(display: str) -> list[str] | None:
        if display not in memo:
            text = (overrides or {}).get(display)
            if text is None:
                try:
                    with open(files.get(display, display), "rb") as f:
                        data = f.read()
                except OSError:
                    memo[display] = None
                    return None
                from .engine import decode_python

                decoded, _, _ = decode_python(data, display)
                text = decoded if decoded is not None else data.decode("utf-8", "replace")
            memo[display] = split_lines(text.removeprefix("\ufeff"))
        return memo[display]

    return lines_of


def _rules() -> dict[str, Any]:
    from .rules import all_rules

    return dict(all_rules())


def _emit(
    args: argparse.Namespace,
    findings: list[Finding],
    files: dict[str, str],
    *,
    fixed: int = 0,
    overrides: dict[str, str] | None = None,
) -> str:
    """Write the report of ``findings`` to stdout; return what was written."""
    import io

    out = io.StringIO()
    _render(args, findings, files, out, fixed=fixed, overrides=overrides)
    text = out.getvalue()
    sys.stdout.write(text)
    sys.stdout.flush()
    return text


def _render(
    args: argparse.Namespace,
    findings: list[Finding],
    files: dict[str, str],
    out: io.StringIO,
    *,
    fixed: int,
    overrides: dict[str, str] | None,
) -> None:
    from . import output

    if args.statistics:
        text = output.render_statistics(findings, _rules(), as_json=args.format == "json")
        if text:
            print(text, file=out)
        if args.format == "text":
            print(output.summary(findings, fixed=fixed), file=out)
        return
    if args.format == "json":
        print(output.render_json(findings), file=out)
    elif args.format == "github":
        text = output.render_github(findings)
        if text:
            print(text, file=out)
    elif args.format == "sarif":
        print(output.render_sarif(findings, _rules(), __version__), file=out)
    else:
        color = output.use_color(sys.stdout)
        text = output.render_text(
            findings,
            _lines_loader(files, overrides),
            color=color,
            show_source=not args.no_show_source,
        )
        if text:
            print(text, file=out)
        print(output.summary(findings, fixed=fixed), file=out)


def _lint_stdin(args: argparse.Namespace, config: Config) -> int:
    from .engine import decode_python, lint_source_result, validate_codes

    validate_codes(config)
    data = sys.stdin.buffer.read()
    name = args.stdin_filename or "<stdin>"
    display = name.replace(os.sep, "/")
    result = lint_source_result(data, name, config)
    fixed = 0
    text = None
    if args.fix or args.diff:
        from .fix import apply_fixes, unified_diff

        current = data
        for _ in range(5):
            decoded, encoding, _ = decode_python(current, display)
            if decoded is None or not any(f.fix for f in result.findings):
                break
            new, applied = apply_fixes(decoded, result.findings)
            if new == decoded:
                break
            fixed += applied
            current = new.encode(encoding)
            result = lint_source_result(current, name, config)
        if args.diff:
            sys.stdout.write(unified_diff(display, data, current))
            return 1 if current != data else 0
        sys.stdout.buffer.write(current)  # --fix on stdin: the fixed source goes to stdout
        sys.stdout.flush()
        _report_errors(args, result)
        if result.internal:
            return 2
        return 1 if result.findings else 0
    decoded, _, _ = decode_python(data, display)
    text = decoded if decoded is not None else data.decode("utf-8", "replace")
    _emit(args, result.findings, {}, fixed=fixed, overrides={display: text})
    _report_errors(args, result)
    if result.internal:
        return 2
    return 1 if result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
