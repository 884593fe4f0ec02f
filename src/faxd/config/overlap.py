"""Folders that must not overlap: a spool folder is watched recursively, so anything faxd
writes inside one (another folder's archive, the inbox, the journal) would be faxed.

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
    """`inner` lies strictly below `outer` (lexically: both are normalised already)."""
    return outer in inner.parents


def overlaps(a: Path, b: Path) -> bool:
    return a == b or inside(a, b) or inside(b, a)


def real(path: Path) -> Path:
    """`path` with its links resolved, as far as it exists."""
    return Path(os.path.realpath(path))


def same_folder(a: Path, b: Path) -> bool:
    """One folder under two names: a link, or a bind mount (the same inode)."""
    if a == b or real(a) == real(b):
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _overlap_on_disk(a: Path, b: Path) -> bool:
    return overlaps(a, b) or same_folder(a, b) or overlaps(real(a), real(b))


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
) -> None:
    clashing = _check_spools(folders, problems)
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
            if _overlap_on_disk(out.path, folder.path):
                problems.add(
                    out.where,
                    f"{out.label} ({out.path}) overlaps spool folder folders[{index}] "
                    f"({folder.path}); files written there would be faxed again, or the spool "
                    "would be archived into itself, so move one of them.",
                )


def _check_spools(folders: list[tuple[Node, int, FolderSettings]], problems: Problems) -> set[int]:
    """Report folders listed twice or nested; return their indices."""
    clashing: set[int] = set()
    for position, (node, index, folder) in enumerate(folders):
        for _, other_index, other in folders[:position]:
            if folder.path == other.path:
                message = f"the same folder as folders[{other_index}]; list each folder once."
            elif same_folder(folder.path, other.path):
                message = (
                    f"{folder.path} is the same folder as folders[{other_index}] "
                    f"({other.path}) under another name (a link or a mount); list each "
                    "folder once, or every document in it is sent twice."
                )
            elif overlaps(folder.path, other.path) or overlaps(real(folder.path), real(other.path)):
                message = (
                    f"{folder.path} and folders[{other_index}] ({other.path}) are nested; "
                    "folders are watched recursively, so a file would belong to both."
                )
            else:
                continue
            problems.add(_at(node, "path"), message)
            clashing.add(index)
    return clashing
