"""A large backlog at start-up does not delay READY: the watches are set up and READY is
sent first, the start-up scan is read afterwards, and a document dropped meanwhile is not
stuck behind the backlog. Counted in files and ordered by events, not timed."""

from __future__ import annotations

import os
import time

import pytest

from .harness import pdf, wait_for
from .test_service import TO, NotifySocket, ServiceFaxd, has, log_index, notify, svc

__all__ = ["notify", "svc"]  # the fixtures, used by name

pytestmark = pytest.mark.slow

BACKLOG = 3000


def queued_lines(svc: ServiceFaxd) -> list[str]:
    return [line for line in svc.log_text().splitlines() if '"document queued"' in line]


def test_a_large_backlog_does_not_delay_ready(svc: ServiceFaxd, notify: NotifySocket) -> None:
    svc.write_config()
    folder = svc.spool / TO
    folder.mkdir(parents=True, exist_ok=True)
    hour_ago = time.time() - 3600
    for i in range(BACKLOG):
        path = folder / f"waiting-{i:04d}.pdf"
        path.write_bytes(pdf(f"waiting {i}"))
        os.utime(path, (hour_ago, hour_ago))  # arrived while faxd was down
    svc.start(NOTIFY_SOCKET=str(notify.path))

    notify.wait(has("READY"), "READY=1", timeout=60)
    svc.drop(f"{TO}/fresh.pdf", pdf("fresh"))  # the watcher's, while the backlog is read
    wait_for(
        lambda: any("fresh.pdf" in line for line in queued_lines(svc)), 120, "fresh.pdf queued"
    )
    log = svc.log_text()
    # READY (and its log line) came before the scan had queued any of the backlog …
    assert log_index(log, '"faxd is running"') < log_index(log, '"document queued"')
    # … and the new document did not wait until all of it was queued.
    fresh_at = next(i for i, line in enumerate(queued_lines(svc)) if "fresh.pdf" in line)
    assert fresh_at < BACKLOG, f"fresh.pdf came after {fresh_at} backlog files"
    assert svc.alive()
