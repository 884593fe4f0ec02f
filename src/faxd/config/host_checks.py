"""Start-up checks on the machine itself: can faxd create, write and rename where the
configuration says? Done by the daemon before it starts and by `faxd check-config`.
Nothing here creates or changes anything."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from faxd.config import configured_folders as configured
from faxd.config.yaml_tree import Node, Problems, read_tree
from faxd.errors import ConfigProblem
from faxd.host.folders import nearest_existing
from faxd.providers.registry import PROVIDERS
from faxd.settings import Settings, SmtpChannel, WebhookChannel


def device_of(path: Path) -> int:
    """The filesystem a path is (or, once created, will be) on."""
    return os.stat(nearest_existing(path)).st_dev


class _Passing(str):
    """A problem of the machine that may pass by itself: a disk the kernel remounted
    read-only after an error, or one being repaired. Exit 2 would keep systemd from ever
    trying again (RestartPreventExitStatus=2)."""


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False  # a folder faxd cannot look into: said by directory_problem


def unsearchable(path: Path) -> Path | None:
    """The folder above `path` that faxd's user may not look into, or None. Path.exists()
    raises on EACCES, which ended check-config and `faxd run` in an internal error."""
    try:
        path.stat()
    except PermissionError:
        for folder in reversed(path.parents):
            if not os.access(folder, os.X_OK):
                return folder
        return path.parent
    except OSError:
        return None
    return None


def directory_problem(path: Path) -> str | None:
    """Why faxd could not use `path` as a folder it writes into, or None."""
    if (closed := unsearchable(path)) is not None:
        return (
            f"faxd's user (uid {os.getuid()}) cannot look into {closed}, so it cannot use "
            f"{path}; give that user access to {closed} (chown, or chmod g+x for its group)."
        )
    if path.exists():
        if not path.is_dir():
            return f"{path} is not a directory; point the key at a folder."
        if not os.access(path, os.W_OK | os.X_OK):
            if _read_only(path):
                return _Passing(f"{path} is on a read-only file system; remount it read-write.")
            return f"{path} is not writable by faxd's user (uid {os.getuid()}); fix its owner."
        return None
    ancestor = nearest_existing(path)
    if not ancestor.is_dir():
        return f"{path} cannot be created because {ancestor} is not a directory."
    if not os.access(ancestor, os.W_OK | os.X_OK):
        if _read_only(ancestor):
            return _Passing(
                f"{path} cannot be created: {ancestor} is on a read-only file system; "
                "remount it read-write."
            )
        return (
            f"{path} does not exist and cannot be created: {ancestor} is not writable by "
            f"faxd's user (uid {os.getuid()}); create it or fix the permissions."
        )
    return None


def creatable_problem(path: Path, will_exist: frozenset[Path] = frozenset()) -> str | None:
    """Why faxd would not create the missing folder `path` at start, or None.

    faxd creates a missing folder only inside a folder that is there (or that it creates
    first, in `will_exist`): a whole missing tree more likely means an unmounted share,
    and building it under the bare mount point would hide the outage."""
    if path.exists() or path.parent.is_dir() or path.parent in will_exist:
        return None
    return (
        f"{path} does not exist, nor does the folder {path.parent} that would hold it; "
        "create it (mkdir -p), mount the share it lives on, or correct the path."
    )


def _created_at_start(folders: set[Path]) -> frozenset[Path]:
    """The configured folders faxd creates at start: those whose parent is there, or is
    another such folder (a nested configuration is refused on its own)."""
    made: set[Path] = set()
    grew = True
    while grew:
        grew = False
        for path in folders - made:
            if _is_dir(path) or _is_dir(path.parent) or path.parent in made:
                made.add(path)
                grew = True
    return frozenset(made)


def _readable_file_problem(path: Path, what: str) -> str | None:
    if (closed := unsearchable(path)) is not None:
        return (
            f"faxd's user (uid {os.getuid()}) cannot look into {closed}, so it cannot read "
            f"{what} {path}; give that user access to {closed} (chown, or chmod g+x)."
        )
    if not path.is_file():
        return f"{what} {path} does not exist or is not a file; correct the path."
    try:
        with path.open("rb") as handle:
            handle.read(1)  # proves readability; the content is never kept or shown
    except OSError as exc:
        return f"{what} {path} cannot be read ({exc.strerror}); fix its permissions."
    return None


class _Lines:
    """Key paths to lines, from the file the settings came from (when it still parses)."""

    def __init__(self, source: Path) -> None:
        tree = read_tree(source, Problems())
        self._lines = dict(_walk(tree)) if tree is not None else {}

    def problem(self, paths: Sequence[str], message: str) -> ConfigProblem:
        for path in paths:
            if path in self._lines:
                return ConfigProblem(path, message, self._lines[path])
        return ConfigProblem(paths[0], message, None)


def problems_at(
    settings: Settings, found: Sequence[tuple[Sequence[str], str]]
) -> list[ConfigProblem]:
    """Each (key paths, message) as a problem at the line of the first key the file has."""
    if not found:
        return []
    lines = _Lines(settings.source)
    return [lines.problem(paths, message) for paths, message in found]


def _walk(node: Node) -> Iterator[tuple[str, int | None]]:
    yield node.path, node.line
    if node.kind == "map":
        for child in node.value.values():
            yield from _walk(child)
    elif node.kind == "seq":
        for child in node.value:
            yield from _walk(child)


def check_environment(settings: Settings) -> list[ConfigProblem]:
    """Every reason the configured folders, files and state directory would fail at run time."""
    lines = _Lines(settings.source)
    found: list[ConfigProblem] = []

    def check(paths: Sequence[str], message: str | None) -> None:
        if message is not None:
            problem = lines.problem(paths, message)
            if isinstance(message, _Passing):
                problem = dataclasses.replace(problem, passing=True)
            found.append(problem)

    state_problem = directory_problem(settings.state_dir)
    check(["state_dir"], state_problem)
    spools = _created_at_start(
        {f.path for f in settings.folders} | {r for f in settings.folders for r in f.filing_roots}
    )
    missing_roots: list[Path] = []
    for root in configured.filing_roots(settings):
        # A sent/failed/hold root under `defaults:`, made at start for every folder's own.
        message = directory_problem(root.path) or creatable_problem(root.path, spools)
        if message is not None:
            missing_roots.append(root.path)
        check(root.keys, message)
    for spool in configured.spools(settings):
        home = spool.folder.path
        check(spool.folder.keys, directory_problem(home) or creatable_problem(home, spools))
        before = len(found)
        for filed in spool.filed:
            # Where held documents are filed, beside failed/ unless set: what is wrong with
            # it is mostly what is wrong with sent/ and failed/, said already.
            if filed.key == "hold_dir" and len(found) > before:
                continue
            if any(filed.path.is_relative_to(root) for root in missing_roots):
                continue  # its root's problem is said once, not once per spool folder
            target = filed.path
            check(filed.keys, directory_problem(target) or creatable_problem(target, spools))
            check(
                filed.keys, _same_device(target, home, f"{filed.key} {target}", "the spool folder")
            )
    if (inbox := configured.inbox(settings)) is not None:
        check(inbox.folder.keys, directory_problem(inbox.folder.path))
        for route in inbox.routes:
            check(route.keys, directory_problem(route.path))
            check(
                route.keys,
                _same_device(
                    route.path, inbox.folder.path, f"inbox route {route.path}", "the inbox"
                ),
            )
    records = configured.records(settings)
    # The default one, inside state_dir, is made with it: a problem of state_dir's is its.
    if settings.records.path is not None or state_problem is None:
        will_exist = spools | {settings.state_dir}
        check(
            records.keys,
            directory_problem(records.path) or creatable_problem(records.path, will_exist),
        )
    for name, provider in settings.providers.items():
        at = f"providers.{name}"
        if provider.credential_file is not None:
            key = f"{PROVIDERS[provider.type].credential_key}_file"
            check(
                [f"{at}.{key}", at],
                _readable_file_problem(provider.credential_file, "credential file"),
            )
        if provider.ca_bundle is not None:
            check([f"{at}.ca_bundle", at], _readable_file_problem(provider.ca_bundle, "CA bundle"))
    for name, channel in settings.channels.items():
        at = f"channels.{name}"
        if isinstance(channel, SmtpChannel | WebhookChannel) and channel.ca_bundle is not None:
            check([f"{at}.ca_bundle", at], _readable_file_problem(channel.ca_bundle, "CA bundle"))
    return found


def _same_device(target: Path, home: Path, what: str, home_name: str) -> str | None:
    try:
        if device_of(target) == device_of(home):
            return None
    except OSError:
        return None  # the directory checks already say why this path is unusable
    return (
        f"{what} is on another filesystem than {home_name} {home}; faxd moves files by "
        "rename, which cannot cross filesystems (EXDEV), so put both on the same one."
    )
