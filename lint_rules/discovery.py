"""Which files to lint: path arguments, ``.gitignore``, default and configured excludes.

Inside a git work tree the listing comes from ``git ls-files -co --exclude-standard`` (git's own
ignore semantics, nested ``.gitignore`` files, ``info/exclude``); elsewhere a small matcher applies
the ``.gitignore`` files met while walking. Explicitly named files are always linted. Symbolic links
to directories are never followed while walking, so symlink loops cannot recurse.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "DEFAULT_EXCLUDES",
    "Candidate",
    "Discovery",
    "discover",
    "glob_match",
    "to_display",
    "watched_paths",
]

#: Directory (or file) names skipped wherever they occur, unless named explicitly.
DEFAULT_EXCLUDES = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "__pycache__",
    ".telethon_guard_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".tox",
    ".nox",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
)
PYTHON_SUFFIXES = (".py", ".pyi")
_DEFAULT_NAMES = frozenset(n for n in DEFAULT_EXCLUDES if "*" not in n)


def _default_excluded(relpath: str) -> bool:
    """Whether a path has a default-excluded component (a fast path of :func:`glob_match`)."""
    return any(part in _DEFAULT_NAMES or part.endswith(".egg-info") for part in relpath.split("/"))


@dataclass(frozen=True)
class Candidate:
    """A file to consider: absolute path, display path (relative to cwd, '/'-separated)."""

    abspath: str
    display: str
    explicit: bool


@dataclass
class Discovery:
    files: list[Candidate] = field(default_factory=list)
    #: Path arguments that could not be used, each with a clear message.
    errors: list[str] = field(default_factory=list)


def to_display(abspath: str, cwd: str) -> str:
    """``abspath`` relative to ``cwd`` with '/' separators (absolute when on another drive)."""
    try:
        rel = os.path.relpath(abspath, cwd)
    except ValueError:
        rel = abspath
    return rel.replace(os.sep, "/")


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob with ``**`` (any number of directories), ``*`` and ``?`` (within one component)."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def glob_match(pattern: str, relpath: str) -> bool:
    """Whether a '/'-separated relative path matches ``pattern``.

    A pattern without '/' matches any single path component (a file or directory name anywhere);
    one with '/' matches the path from its start, or a directory prefix of it.
    """
    pattern = pattern.strip()
    if pattern.startswith("./"):
        pattern = pattern[2:]
    pattern = pattern.rstrip("/")
    if not pattern:
        return False
    regex = _glob_regex(pattern)
    parts = relpath.split("/")
    if "/" not in pattern:
        return any(regex.fullmatch(p) for p in parts)
    pattern = pattern.lstrip("/")
    regex = _glob_regex(pattern)
    return any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def _excluded(relpaths: Iterable[str], patterns: Sequence[str]) -> bool:
    return any(glob_match(p, r) for r in relpaths for p in patterns)


class _GitIgnore:
    """The subset of gitignore used outside git work trees: last match wins, ``!`` re-includes."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, re.Pattern[str], bool, bool]] = []

    def add_file(self, directory: str, path: str) -> None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            line = line.lstrip("/")
            body = _glob_regex(line).pattern
            regex = re.compile(body if anchored else f"(?:.*/)?{body}")
            self.rules.append((directory, regex, negate, dir_only))

    def ignored(self, abspath: str, is_dir: bool) -> bool:
        result = False
        for directory, regex, negate, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            rel = os.path.relpath(abspath, directory).replace(os.sep, "/")
            if rel.startswith("../"):
                continue
            if regex.fullmatch(rel):
                result = not negate
        return result


def _maybe_git(directory: str) -> bool:
    """Whether ``directory`` may be in a git work tree (a ``.git`` above it): saves a git process."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return True
    here = directory
    while True:
        if os.path.lexists(os.path.join(here, ".git")):
            return True
        parent = os.path.dirname(here)
        if parent == here:
            return False
        here = parent


def _git_listing(directory: str) -> list[str] | None:
    """Files under ``directory`` per git (tracked and untracked-not-ignored), or None outside git."""
    if not _maybe_git(directory):
        return None
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=directory,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    names = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    # Tracked files deleted from the work tree are still listed: they are not there to lint.
    paths = (os.path.join(directory, n) for n in names if n)
    return [p for p in paths if os.path.lexists(p)]


def _walk(directory: str) -> list[str]:
    ignore = _GitIgnore()
    # .gitignore files above the starting directory still apply (up to the filesystem root).
    parents = []
    here = os.path.dirname(directory)
    while True:
        parents.append(here)
        up = os.path.dirname(here)
        if up == here:
            break
        here = up
    for parent in reversed(parents):
        ignore.add_file(parent, os.path.join(parent, ".gitignore"))
    out = []
    for root, dirs, files in os.walk(directory):
        if ".gitignore" in files:
            ignore.add_file(root, os.path.join(root, ".gitignore"))
        dirs[:] = sorted(
            d
            for d in dirs
            if not _default_excluded(d) and not ignore.ignored(os.path.join(root, d), True)
        )
        for name in files:
            full = os.path.join(root, name)
            if not ignore.ignored(full, False):
                out.append(full)
    return out


def discover(
    paths: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    root: str | None = None,
    cwd: str | None = None,
) -> Discovery:
    """Every file under ``paths`` (default ``.``) that is not ignored or excluded, sorted by display path.

    ``exclude`` globs are matched against paths relative to ``root`` (the project root) and to
    ``cwd``. Missing or unreadable path arguments are reported in ``errors``; the rest is listed.
    """
    cwd = cwd or os.getcwd()
    root = root or cwd
    result = Discovery()
    seen: dict[str, Candidate] = {}
    for arg in paths or (".",):
        full = os.path.normpath(os.path.join(cwd, arg))
        try:
            st_is_dir = os.path.isdir(full)
            exists = os.path.exists(full)
        except OSError:  # pragma: no cover - defensive
            st_is_dir, exists = False, False
        if not exists:
            if os.path.lexists(full):
                try:
                    os.stat(full)
                    reason = "cannot access"
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                result.errors.append(f"{arg}: cannot open: {reason} (broken symbolic link?)")
            else:
                result.errors.append(f"{arg}: no such file or directory")
            continue
        if not st_is_dir:
            # Named files skip the default excludes and .gitignore, but not the user's own
            # excludes: pre-commit passes file names, and `exclude` must still hold there.
            rels = [to_display(full, root), to_display(full, cwd)]
            if exclude and _excluded([r for r in rels if not r.startswith("../")], exclude):
                continue
            if full not in seen:
                seen[full] = Candidate(full, to_display(full, cwd), True)
            continue
        listing = _git_listing(full)
        if listing is None:
            listing = _walk(full)
        # Listings are below `full`: derive the display paths by string joins (relpath is slow).
        base_cwd = to_display(full, cwd)
        base_root = to_display(full, root)
        prefix = full.rstrip(os.sep) + os.sep
        for file in listing:
            file = os.path.normpath(file)
            if file in seen or not file.startswith(prefix):
                continue
            rel_arg = file[len(prefix) :].replace(os.sep, "/")
            if _default_excluded(rel_arg):
                continue
            display = rel_arg if base_cwd == "." else f"{base_cwd}/{rel_arg}"
            if exclude:
                in_root = rel_arg if base_root == "." else f"{base_root}/{rel_arg}"
                rels = [r for r in (in_root, display) if not r.startswith("../")]
                if _excluded(rels, exclude):
                    continue
            seen[file] = Candidate(file, display, False)
    result.files = sorted(seen.values(), key=lambda c: c.display)
    return result


#: Beyond this many directories, checking them all on every run costs more than it saves.
_WATCH_LIMIT = 20_000


def _git_config_files() -> list[str]:
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return [
        os.path.join(home, ".gitconfig"),
        os.path.join(xdg, "git", "config"),
        os.path.join(xdg, "git", "ignore"),  # the default core.excludesFile
        "/etc/gitconfig",
    ]


def watched_paths(paths: Sequence[str], cwd: str) -> list[str] | None:
    """Paths whose unchanged stat signatures prove that :func:`discover` lists the same files.

    Besides the listed files themselves (the caller adds them): every directory under each
    directory argument that the listing could reach (a directory's mtime changes when an entry is
    added, removed or renamed), the ``.gitignore`` files in them and above them, whether a ``.git``
    appears above them, and git's index, ``info/exclude`` and configuration files. Directories that
    git ignores are watched too: that only costs a needless re-listing when they change.

    None when the listing depends on something this cannot see (``GIT_DIR`` and friends, a
    ``.git`` file of a worktree or submodule, a configured ``core.excludesFile`` or ``[include]``,
    a very large tree): the caller then records nothing.
    """
    if any(k in os.environ for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")):
        return None
    out: list[str] = []
    for arg in paths or (".",):
        full = os.path.normpath(os.path.join(cwd, arg))
        if not os.path.isdir(full):
            out.append(full)
            continue
        here = full
        git_dir = None
        while True:
            out.append(os.path.join(here, ".gitignore"))
            dot_git = os.path.join(here, ".git")
            if git_dir is None and os.path.lexists(dot_git):
                git_dir = dot_git
            elif git_dir is None:
                out.append(dot_git)  # absent now; appearing would switch to git's listing
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
        if git_dir is not None:
            if os.path.islink(git_dir) or not os.path.isdir(git_dir):
                return None
            config = os.path.join(git_dir, "config")
            settings = _git_config_files()
            for name in (config, *settings):
                try:
                    with open(name, "rb") as f:
                        text = f.read().lower()
                except OSError:
                    continue
                if b"excludesfile" in text or b"[include" in text:
                    return None
            out += [os.path.join(git_dir, "index"), os.path.join(git_dir, "info", "exclude")]
            out += [config, *settings]
        for root, dirs, files in os.walk(full):
            dirs[:] = [d for d in dirs if not _default_excluded(d)]
            out.append(root)
            if ".gitignore" in files:
                out.append(os.path.join(root, ".gitignore"))
            if len(out) > _WATCH_LIMIT:
                return None
    return out
