"""What the watcher tells the intake about writers: writes and closes under inotify,
nothing under polling, and never a close for an open or a read."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest
from watchdog.events import (
    FileAttribEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
)

from faxd.outbound import watcher
from faxd.outbound.watcher import Change

ROOT = Path("/spool")
DOC = "/spool/scan.pdf"


def _heard(event: FileSystemEvent, *, closes: bool) -> list[str]:
    out: queue.SimpleQueue[Change] = queue.SimpleQueue()
    watcher._Handler(ROOT, out, closes=closes).on_any_event(event)
    changes = []
    while not out.empty():
        changes.append(out.get_nowait())
    assert all(c.path == Path(DOC) for c in changes)
    return [c.heard for c in changes]


@pytest.mark.parametrize(
    ("event", "heard"),
    [
        (FileCreatedEvent(DOC), ["created"]),
        (FileModifiedEvent(DOC), ["written"]),
        (FileClosedEvent(DOC), ["closed"]),  # IN_CLOSE_WRITE
        (FileMovedEvent("/spool/.scan.pdf.part", DOC), ["closed"]),  # renamed into place
        (FileAttribEvent(DOC), ["touched"]),
        (FileClosedNoWriteEvent(DOC), []),  # a reader's close says nothing of a writer
        (FileOpenedEvent(DOC), []),
    ],
)
def test_inotify_events_tell_writes_from_closes(event: FileSystemEvent, heard: list[str]) -> None:
    assert _heard(event, closes=True) == heard


@pytest.mark.parametrize(
    "event", [FileCreatedEvent(DOC), FileModifiedEvent(DOC), FileMovedEvent("/spool/a", DOC)]
)
def test_polled_events_say_nothing_of_writers(event: FileSystemEvent) -> None:
    assert _heard(event, closes=False) == ["touched"]
