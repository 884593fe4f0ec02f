"""A `sent_dir`, `failed_dir` or `hold_dir` set under `defaults:` and taken by several spool
folders would mix their documents in one tree, and the folder a document came from would
be lost. Each of those folders files into a subfolder of it named after its spool folder
(`/srv/fax/sent/scanner/…`), as an office expects of one `sent` folder for the building.
A folder that sets the key itself files where it says, and so does a default taken by one
folder only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from faxd.config.yaml_tree import Node, Problems
from faxd.settings import FolderSettings

KEYS = ("sent_dir", "failed_dir", "hold_dir")

Located = tuple[Node, int, FolderSettings]


def _own(node: Node, key: str) -> bool:
    return node.kind == "map" and key in node.value


def _from_defaults(node: Node, key: str, defaults: Collection[str]) -> bool:
    """The folder takes `key` from `defaults:` (hold_dir: also as `hold` beside a
    failed_dir from there)."""
    if _own(node, key):
        return False
    if key in defaults:
        return True
    return key == "hold_dir" and "failed_dir" in defaults and not _own(node, "failed_dir")


def _root(folder: FolderSettings, key: str) -> Path:
    return folder.hold_folder if key == "hold_dir" else Path(getattr(folder, key))


def split_shared_filing(
    located: list[Located], defaults: Collection[str], problems: Problems
) -> list[Located]:
    """The folders, each shared default filing folder replaced by its per-spool subfolder,
    and the shared roots recorded in `filing_roots` (created at start like the folders)."""
    folders = {index: folder for _, index, folder in located}
    for key in KEYS:
        groups: dict[Path, list[tuple[Node, int]]] = {}
        for node, index, _ in located:
            if _from_defaults(node, key, defaults):
                groups.setdefault(_root(folders[index], key), []).append((node, index))
        for root, members in groups.items():
            if len(members) < 2:
                continue
            # A folder listed twice is one folder (and reported as such elsewhere).
            names = Counter(p.name for p in {folders[index].path for _, index in members})
            for node, index in members:
                folder = folders[index]
                name = folder.path.name
                if not name or names[name] > 1:
                    problems.add(
                        node,
                        f"{key} {root} is shared by several spool folders, "
                        f"which file into subfolders named after them, but another one is "
                        f"also called {name!r}; set {key} on this folder.",
                    )
                    continue
                roots = (*folder.filing_roots, root)
                own = root / name
                if key == "sent_dir":
                    folder = replace(folder, sent_dir=own, filing_roots=roots)
                elif key == "failed_dir":
                    folder = replace(folder, failed_dir=own, filing_roots=roots)
                else:
                    folder = replace(folder, hold_dir=own, filing_roots=roots)
                folders[index] = folder
    return [(node, index, folders[index]) for node, index, _ in located]
