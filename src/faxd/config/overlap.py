"""Folders that must not overlap: a spool folder is watched recursively, so anything faxd
writes inside one (another folder's archive, the inbox, the journal, the records) would
be faxed.

Paths are compared as written and as they resolve on disk: one folder listed twice under
two names (a link, `/srv/fax` being a link to `/data/fax`, a bind mount) was taken twice,
and every document in it sent twice."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from faxd.config.yaml_tree import Node, Problems
from faxd.settings import FolderSettings, InboxSettings


@dataclass(frozen=True)
class Output:
    """A tree faxd writes into."""

    label: str  # "folders[1].sent_dir", "inbox.path"
    path: Path
    where: Node | str
    owner: int | None  # the index of the folder whose own archive this is


def inside(inner: Path, outer: Path) -> bool:
    """`inner` lies strictly below `outer` (lexically: both are normalised already).
    Compared by parts, not by `outer in inner.parents`, which builds a Path for every
    parent: with fifty folders that took half a second of every start and reload."""
    below, above = inner.parts, outer.parts
    return len(below) > len(above) and below[: len(above)] == above


def overlaps(a: Path, b: Path) -> bool:
    return a == b or inside(a, b) or inside(b, a)


class _OnDisk:
    """Paths as they resolve on disk, each resolved and stat'ed once per check: the
    checks compare every folder with every other and with every archive, thousands of
    pairs with fifty folders, at every start and reload."""

    def __init__(self) -> None:
        self._real: dict[Path, Path] = {}
        self._inode: dict[Path, tuple[int, int] | None] = {}

    def real(self, path: Path) -> Path:
        """`path` with its links resolved, as far as it exists."""
        if path not in self._real:
            self._real[path] = Path(os.path.realpath(path))
        return self._real[path]

    def _inode_of(self, path: Path) -> tuple[int, int] | None:
        if path not in self._inode:
            try:
                st = os.stat(path)
            except OSError:
                self._inode[path] = None
            else:
                self._inode[path] = (st.st_dev, st.st_ino)
        return self._inode[path]

    def same(self, a: Path, b: Path) -> bool:
        """One folder under two names: a link, or a bind mount (the same inode)."""
        if a == b or self.real(a) == self.real(b):
            return True
        inode = self._inode_of(a)
        return inode is not None and inode == self._inode_of(b)

    def nested(self, a: Path, b: Path) -> bool:
        return overlaps(a, b) or overlaps(self.real(a), self.real(b))

    def overlap(self, a: Path, b: Path) -> bool:
        return self.nested(a, b) or self.same(a, b)


def _at(node: Node | None, key: str) -> Node | str:
    if node is not None and node.kind == "map" and key in node.value:
        found: Node = node.value[key]
        return found
    return node if node is not None else key


def check_overlaps(
    folders: list[tuple[Node, int, FolderSettings]],
    inbox_node: Node | None,
    inbox: InboxSettings | None,
    state_dir: Path,
    state_dir_node: Node | None,
    problems: Problems,
    records: tuple[Path | None, Node | None] = (None, None),
) -> None:
    disk = _OnDisk()
    clashing = _check_spools(folders, problems, disk)
    # A repeated or nested folder is reported once, not again for each of its archives.
    folders = [entry for entry in folders if entry[1] not in clashing]
    outputs: list[Output] = []
    for node, index, folder in folders:
        if folder.sent_dir == folder.failed_dir:
            problems.add(
                _at(node, "failed_dir"),
                f"sent_dir and failed_dir are both {folder.sent_dir}; where a document ends "
                "up must say whether it was delivered, so give them different folders.",
            )
        if folder.hold_folder in (folder.sent_dir, folder.failed_dir):
            problems.add(
                _at(node, "hold_dir"),
                f"hold_dir is {folder.hold_folder}, also the folder's sent_dir or failed_dir; "
                "held documents wait for a decision, so give them a folder of their own.",
            )
        for key in ("sent_dir", "failed_dir", "hold_dir"):
            outputs.append(
                Output(f"folders[{index}].{key}", getattr(folder, key), _at(node, key), index)
            )
    if inbox is not None:
        outputs.append(Output("inbox.path", inbox.path, _at(inbox_node, "path"), None))
        routes_where = _at(inbox_node, "routes")
        for number, target in inbox.routes.items():
            outputs.append(Output(f"inbox.routes[{number}]", target, routes_where, None))
    outputs.append(Output("state_dir", state_dir, state_dir_node or "state_dir", None))
    for _, index, folder in folders:
        for out in outputs:
            if out.owner == index and inside(out.path, folder.path):
                continue  # the folder's own archive inside it: excluded from pick-up
            if disk.overlap(out.path, folder.path):
                problems.add(
                    out.where,
                    f"{out.label} ({out.path}) overlaps spool folder folders[{index}] "
                    f"({folder.path}); files written there would be faxed again, or the spool "
                    "would be archived into itself, so move one of them.",
                )
    records_path, records_node = records
    if records_path is not None:
        where = _at(records_node, "path")
        _check_records(folders, Output("records.path", records_path, where, None), problems, disk)


def _check_records(
    folders: list[tuple[Node, int, FolderSettings]],
    records: Output,
    problems: Problems,
    disk: _OnDisk,
) -> None:
    """records.path at or below a spool folder: the daemon took its own audit log and
    activity journals as documents and filed them in failed/, a new month's file every
    few seconds. A spool folder below records.path is no problem: faxd writes only its
    year folders and audit/ there."""
    path = records.path
    for _, index, folder in folders:
        if not (
            disk.same(path, folder.path)
            or inside(path, folder.path)
            or inside(disk.real(path), disk.real(folder.path))
        ):
            continue
        archives = (folder.sent_dir, folder.failed_dir, folder.hold_folder)
        if any(a == path or inside(path, a) for a in archives if inside(a, folder.path)):
            continue  # within the folder's own archive, which is never picked up
        problems.add(
            records.where,
            f"{records.label} ({path}) is, or lies inside, spool folder folders[{index}] "
            f"({folder.path}); the audit log and the activity journals written there would "
            "be taken as documents to fax and filed in failed/, so move it out of the folder.",
        )


def _check_spools(
    folders: list[tuple[Node, int, FolderSettings]], problems: Problems, disk: _OnDisk
) -> set[int]:
    """Report folders listed twice or nested; return their indices."""
    clashing: set[int] = set()
    for position, (node, index, folder) in enumerate(folders):
        for _, other_index, other in folders[:position]:
            if folder.path == other.path:
                message = f"the same folder as folders[{other_index}]; list each folder once."
            elif disk.same(folder.path, other.path):
                message = (
                    f"{folder.path} is the same folder as folders[{other_index}] "
                    f"({other.path}) under another name (a link or a mount); list each "
                    "folder once, or every document in it is sent twice."
                )
            elif disk.nested(folder.path, other.path):
                message = (
                    f"{folder.path} and folders[{other_index}] ({other.path}) are nested; "
                    "folders are watched recursively, so a file would belong to both."
                )
            else:
                continue
            problems.add(_at(node, "path"), message)
            clashing.add(index)
    return clashing
