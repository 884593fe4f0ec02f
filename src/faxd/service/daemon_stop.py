"""A stop (SIGTERM, SIGINT, or the main loop ending): uploads in flight, the outbox's
programs and the takes under way given their time, the threads joined, the journal
closed last."""

from __future__ import annotations

import structlog

from faxd.crash_points import hanging
from faxd.service.daemon_part import DaemonPart
from faxd.service.daemon_supervision import HANG_TEST_STALL

log = structlog.get_logger("faxd.service.daemon")

STOP_TIMEOUT = 30.0
# A stop waits this long from its start for the takes under way: a take blocked on a hung
# share would otherwise hold the stop until systemd kills faxd (TimeoutStopSec=60).
TAKES_STOP_WAIT = 40.0
# A command channel's program under way has this long from the start of a stop to end;
# then it is killed and runs once at the next start (SIGKILL 2 s after SIGTERM).
OUTBOX_STOP_WAIT = 10.0


class DaemonStop(DaemonPart):
    def _shutdown(self) -> None:
        began = self._clock.monotonic()
        self._flags.stop.set()  # also when the main loop ended by an exception
        self._notifier.stopping()
        log.info("stopping: no new uploads; waiting for those in flight")
        for watcher in self._watchers.values():
            watcher.stop()
        self._poller_stop.set()
        self._engine.shutdown(STOP_TIMEOUT)
        self._outbox.shutdown(max(0.0, began + OUTBOX_STOP_WAIT - self._clock.monotonic()))
        # Before the joins: the records thread may be waiting on a drawing at the lowest CPU
        # priority, which on a loaded machine outlasts any join timeout; the journal would
        # then close under its last audit-log write. An unfinished report is drawn at the
        # next start.
        self._draw_pool.close(kill=True)
        for name, thread in self._threads.items():
            thread.join(timeout=30 if name == "records" else 5)
            if thread.is_alive():
                log.warning(
                    "a thread did not stop in time; its work is finished at the next start",
                    thread=name,
                )
        for sender in self._senders.values():
            sender.close()
        # Takes under way end in a job or in nothing before the journal closes (a large
        # print file's conversion outlasts the join above). One that still has not ended
        # is blocked in a read no thread can cut short; the process ends without it, as a
        # crash would, and the next start takes its document.
        budget = HANG_TEST_STALL if hanging() else TAKES_STOP_WAIT
        left = self._intake.close(wait=max(0.0, began + budget - self._clock.monotonic()))
        if left:
            log.error(
                "stopping while documents are still being taken in (a share that hangs, "
                "or a long conversion); the next start takes them",
                documents=[str(p) for p in left],
            )
        self._journal.close()
        log.info("stopped")
