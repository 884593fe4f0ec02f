"""Folders named in the configuration that faxd creates when they are missing: a spool
folder, its sent/ and failed/, a shared filing root — the daemon at start and on reload,
and `faxd send` before it files a document of its own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from faxd.host.folders import create_if_missing
from faxd.store.journal import Journal


def make_missing(journal: Journal, paths: Iterable[Path]) -> list[Path]:
    """Create each folder of `paths` that is missing but whose parent is there, unless
    faxd has seen it before: then it is a share that is not mounted or a folder renamed
    away, an outage that must not get a fresh, empty folder. Returns the folders made;
    OSError (its filename the folder) when one cannot be."""
    made: list[Path] = []
    for path in paths:
        if path.is_dir():
            if not journal.folder_seen(path):
                journal.note_folder_seen(path)
            continue
        if journal.folder_seen(path):
            continue
        if create_if_missing(path):
            journal.note_folder_seen(path)
            made.append(path)
    return made
