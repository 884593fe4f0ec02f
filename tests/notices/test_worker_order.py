"""Order holds per target: a recipient whose server defers it (a full mailbox,
greylisting) holds up only later mail to that address, not the channel's other mail.
Against a real SMTP server on loopback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from faxd.clock import FakeClock
from faxd.notices.plan import alert_rows
from faxd.notices.worker import OutboxWorker
from faxd.settings import AlertSettings, SmtpChannel
from faxd.store.journal import Journal
from faxd.store.outbox import Outbox
from tests.channels.servers import smtp_sink
from tests.settings_helpers import bare_settings

FULL, OTHER = "full@example.com", "anna@example.com"


@dataclass
class Rig:
    journal: Journal
    clock: FakeClock
    outbox: Outbox
    work: OutboxWorker
    mail: SmtpChannel


def _queued(tmp_path: Path, port: int, addresses: tuple[str, ...]) -> Rig:
    """A mail channel to the sink on `port`, one alert queued to each address in turn."""
    journal = Journal(tmp_path / "journal.sqlite")
    clock = FakeClock()
    outbox = Outbox(journal)
    mail = SmtpChannel(
        name="mail",
        host="127.0.0.1",
        port=port,
        sender="fax@example.com",
        security="none",
        timeout=5.0,
    )
    work = OutboxWorker(bare_settings(tmp_path, channels={"mail": mail}), journal, clock)
    for n, address in enumerate(addresses):
        outbox.add(
            alert_rows(
                AlertSettings(to=(f"mail:{address}",)),
                "auth",
                f"k{n}",
                clock.time(),
                title=f"m{n}",
                text="x",
                advice="-",
            )
        )
    return Rig(journal, clock, outbox, work, mail)


def test_a_deferred_recipient_holds_up_only_its_own_mail(tmp_path: Path) -> None:
    with smtp_sink(None, auth=False) as sink:
        rig = _queued(tmp_path, sink.port, (FULL, OTHER, FULL, OTHER))
        work, clock, outbox = rig.work, rig.clock, rig.outbox
        sink.behaviour.defer = {FULL}
        channel = work._build(rig.mail)
        try:
            while (wait := work.drain("mail", channel)) == 0.0:
                pass
            # Both of Anna's went out; the full mailbox's wait, its second behind its first.
            assert [m.envelope_to for m in sink.messages()] == [[OTHER], [OTHER]]
            assert 4 < wait <= 6
            waiting = outbox.rows("state = 'pending'")
            assert {r.target for r in waiting} == {f"mail:{FULL}"}
            assert [r.attempts for r in sorted(waiting, key=lambda r: r.seq)] == [1, 0]
            assert "452" in str(waiting[-1].error)

            sink.behaviour.defer = set()
            clock.advance(wait)
            while work.drain("mail", channel) == 0.0:
                pass
        finally:
            channel.close()
        subjects = [str(m.message["Subject"]) for m in sink.messages()]
        assert subjects[2:] == ["faxd needs attention: m0", "faxd needs attention: m2"]
    assert outbox.counts() == {"done": 4}
    rig.journal.close()


def test_a_server_that_fails_as_a_whole_holds_the_whole_channel(tmp_path: Path) -> None:
    # A refusal of the mail itself (451 after DATA) is the server's, not one address's:
    # every other address would fail the same way, one attempt each.
    with smtp_sink(None, auth=False) as sink:
        rig = _queued(tmp_path, sink.port, (FULL, OTHER))
        work = rig.work
        sink.behaviour.temp_failures = 5
        channel = work._build(rig.mail)
        try:
            wait = work.drain("mail", channel)
            assert 4 < wait <= 6
            assert work.drain("mail", channel) == pytest.approx(wait)  # a wake sends nothing
        finally:
            channel.close()
        assert sink.refused == 1
    assert [r.attempts for r in rig.outbox.rows()] == [0, 1]
    rig.journal.close()
