"""A reload while a channel is sending: the round ends at the message under way, the
channel is built from the new configuration, and the messages of a channel the reload
removed give up with that reason — no worker dies with a KeyError."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from structlog.testing import capture_logs

from faxd.channels.base import Channel, Message
from faxd.clock import FakeClock
from faxd.notices.plan import alert_rows
from faxd.notices.worker import OutboxWorker
from faxd.settings import AlertSettings, ChannelSettings, CommandChannel, Settings
from faxd.store.journal import Journal
from faxd.store.outbox import Outbox
from tests.settings_helpers import bare_settings


class Reloading:
    """A channel whose message is under way while the configuration is reloaded."""

    def __init__(self, name: str, reload: Callable[[], None]) -> None:
        self.name = name
        self.sent: list[Message] = []
        self._reload = reload

    def send(self, message: Message) -> None:
        self.sent.append(message)
        self._reload()

    def close(self) -> None:
        pass


def setup(tmp_path: Path) -> tuple[Journal, Settings, Outbox]:
    journal = Journal(tmp_path / "journal.sqlite")
    settings = bare_settings(
        tmp_path,
        channels={
            "hook": CommandChannel(name="hook", argv=("/bin/true",)),
            "admin": CommandChannel(name="admin", argv=("/bin/true",)),
        },
    )
    outbox = Outbox(journal)
    for key in ("one", "two"):
        outbox.add(
            alert_rows(
                AlertSettings(to=("hook",)), "auth", key, 0.0, title=key, text="x", advice="-"
            )
        )
    return journal, settings, outbox


def test_a_reload_that_removes_a_channel_while_it_sends(tmp_path: Path) -> None:
    journal, settings, outbox = setup(tmp_path)
    work = OutboxWorker(settings, journal, FakeClock())
    without = replace(settings, channels={"admin": settings.channels["admin"]})
    channel = Reloading("hook", lambda: work.configure(without))
    assert work.drain("hook", channel) == 0.0
    assert len(channel.sent) == 1
    # The next round has no channel: what is left gives up, saying why.
    work.drain("hook", None)
    done, failed = sorted(outbox.rows(), key=lambda r: r.seq)
    assert done.state == "done"
    assert failed.state == "failed" and "'hook' is not configured (any more)" in str(failed.error)
    journal.close()


def test_the_channel_threads_live_through_a_reload(tmp_path: Path) -> None:
    journal, settings, outbox = setup(tmp_path)
    without = replace(settings, channels={"admin": settings.channels["admin"]})
    work: OutboxWorker

    def build(found: ChannelSettings) -> Channel:
        return Reloading(found.name, lambda: work.configure(without))

    work = OutboxWorker(settings, journal, FakeClock(), build=build)
    stop = threading.Event()
    with capture_logs() as logs:
        thread = threading.Thread(target=work.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while outbox.counts().get("pending") and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(5)
        work.shutdown(1)
    assert not [e for e in logs if e["event"] == "channel worker died"]
    assert outbox.counts() == {"done": 1, "failed": 1}
    journal.close()
