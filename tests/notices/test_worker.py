"""The outbox worker in-process, with a fake clock and a recording channel: order,
retries with backoff, giving up (and the delivery_failed alert), idempotent planning."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from faxd.channels.base import Channel, ChannelError, Message
from faxd.clock import FakeClock
from faxd.core.inbox_status import InboxStatus
from faxd.core.job_payload import JobOptions
from faxd.core.outbox_payload import AlertPayload, DeliveryPayload
from faxd.notices.monitor import DELAYED_PAGE
from faxd.notices.plan import alert_rows, job_notices, notify_options
from faxd.notices.worker import OutboxWorker
from faxd.settings import (
    AlertSettings,
    ChannelSettings,
    CommandChannel,
    NotifyRule,
    RecordsSettings,
    Settings,
)
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox
from tests.sample_jobs import sample_job
from tests.settings_helpers import bare_settings


class Recorder:
    """A channel that records what it took and fails as told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Message] = []
        self.failures: list[ChannelError] = []

    def send(self, message: Message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite")


def settings(tmp_path: Path, alerts: AlertSettings | None = None) -> Settings:
    return bare_settings(
        tmp_path,
        channels={
            "hook": CommandChannel(
                name="hook", argv=("/bin/true",), give_up_after=600, retry_max=60
            ),
            "admin": CommandChannel(name="admin", argv=("/bin/true",)),
        },
        alerts=alerts,
    )


def alert(event: str, key: str, now: float, target: str = "hook") -> list[NewDelivery]:
    return alert_rows(
        AlertSettings(to=(target,)), event, key, now, title=key, text=f"text {key}", advice="-"
    )


def worker(
    tmp_path: Path, journal: Journal, clock: FakeClock, alerts: AlertSettings | None = None
) -> tuple[OutboxWorker, dict[str, Recorder]]:
    channels: dict[str, Recorder] = {}

    def build(found: ChannelSettings) -> Channel:
        channels[found.name] = Recorder(found.name)
        return channels[found.name]

    made = OutboxWorker(settings(tmp_path, alerts), journal, clock, build=build)
    for name in ("hook", "admin"):
        build(made._settings.channels[name])
    return made, channels


def test_rows_go_out_in_order_and_a_failing_head_holds_the_rest_back(
    tmp_path: Path, journal: Journal
) -> None:
    clock = FakeClock()
    work, channels = worker(tmp_path, journal, clock)
    outbox = Outbox(journal)
    outbox.add([*alert("auth", "one", clock.time()), *alert("auth", "two", clock.time())])
    hook = channels["hook"]
    hook.failures = [ChannelError("down")]
    wait = work.drain("hook", hook)
    assert hook.sent == [] and 4 < wait <= 6  # the first backoff step, with jitter
    clock.advance(wait)
    assert work.drain("hook", hook) == 0.0
    assert [m.subject for m in hook.sent] == [
        "faxd needs attention: one",
        "faxd needs attention: two",
    ]
    assert outbox.counts() == {"done": 2}
    row = outbox.rows()[-1]
    assert row.attempts == 2 and row.error is None


def test_backoff_grows_to_retry_max_then_gives_up_with_an_alert_elsewhere(
    tmp_path: Path, journal: Journal
) -> None:
    clock = FakeClock()
    work, channels = worker(tmp_path, journal, clock, AlertSettings(to=("admin",)))
    outbox = Outbox(journal)
    outbox.add(delivery_rows(tmp_path, clock.time()))
    hook = channels["hook"]
    waits = []
    while (found := outbox.get("d.doc.0")) is not None and found.state == "pending":
        hook.failures = [ChannelError("connection refused")]
        wait = work.drain("hook", hook)
        waits.append(wait)
        clock.advance(max(wait, 0.01))
    assert waits[:3] == pytest.approx([5, 10, 20], rel=0.11)
    assert max(waits) <= 66
    assert outbox.counts() == {"failed": 1, "pending": 1}
    [failed] = outbox.rows("state = 'failed'")
    assert failed.error == "connection refused"
    # The alert about it goes to another channel (the failing one could not carry it).
    [alerted] = outbox.rows("kind = 'alert'")
    assert alerted.event == "delivery_failed" and alerted.channel == "admin"
    work.drain("admin", channels["admin"])
    assert "connection refused" in channels["admin"].sent[0].text


def delivery_rows(tmp_path: Path, now: float) -> list[NewDelivery]:
    received = tmp_path / "fax.pdf"
    received.write_bytes(b"%PDF-1.4 received")
    payload = DeliveryPayload(path=str(received), sender="+4640123", attach="document")
    return [NewDelivery("d.doc.0", "delivery", "received", "hook", now, "doc", payload)]


def test_the_outcome_goes_into_the_metadata_and_never_through_a_link(
    tmp_path: Path, journal: Journal
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / ".meta").mkdir(parents=True)
    received = inbox / "fax.pdf"
    received.write_bytes(b"%PDF-1.4 received")
    meta = inbox / ".meta" / "fax.pdf.yaml"
    meta.write_text("sender: '+4640123'\n")
    clock = FakeClock()
    work, channels = worker(tmp_path, journal, clock)
    outbox = Outbox(journal)

    def deliver(event_id: str) -> None:
        payload = DeliveryPayload(path=str(received), meta_path=str(meta), attach="none")
        outbox.add([NewDelivery(event_id, "delivery", "received", "hook", 1.0, event_id, payload)])
        work.drain("hook", channels["hook"])

    deliver("d.1")
    data = yaml.safe_load(meta.read_text())
    assert data["sender"] == "+4640123" and data["deliveries"]["hook"]["result"] == "delivered"
    # .meta swapped for a link to a folder holding a YAML file of that name: left alone.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "fax.pdf.yaml").write_text("keep: me\n")
    (inbox / ".meta").rename(tmp_path / "aside")
    (inbox / ".meta").symlink_to(elsewhere, target_is_directory=True)
    with capture_logs() as logs:
        deliver("d.2")
    assert (elsewhere / "fax.pdf.yaml").read_text() == "keep: me\n"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["fax.pdf.yaml"]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "could not record the delivery in the metadata"
    ]


def test_a_permanent_failure_gives_up_at_once(tmp_path: Path, journal: Journal) -> None:
    clock = FakeClock()
    work, channels = worker(tmp_path, journal, clock)
    outbox = Outbox(journal)
    outbox.add(alert("auth", "x", clock.time()))
    channels["hook"].failures = [ChannelError("550 no such user", permanent=True)]
    assert work.drain("hook", channels["hook"]) == 0.0
    assert outbox.counts() == {"failed": 1}


def test_a_message_that_breaks_the_channel_is_given_up_and_the_rest_go_out(
    tmp_path: Path, journal: Journal
) -> None:
    """An error no channel foresaw (a file name the mail library refused) used to end the
    channel's worker; restarted on the same row, it died again, twice a second, and no
    notice behind that row ever went out."""
    clock = FakeClock()
    work, channels = worker(tmp_path, journal, clock)
    outbox = Outbox(journal)
    outbox.add([*alert("auth", "one", clock.time()), *alert("auth", "two", clock.time())])
    hook = channels["hook"]
    sent = hook.send

    def send(message: Message) -> None:
        if message.subject.endswith("one"):
            raise ValueError("Header values may not contain linefeed characters")
        sent(message)

    hook.send = send  # type: ignore[method-assign]
    assert work.drain("hook", hook) == 0.0
    assert [m.subject for m in hook.sent] == ["faxd needs attention: two"]
    [failed] = outbox.rows("state = 'failed'")
    assert failed.error == "faxd could not build or send it (ValueError; see the log)"
    assert outbox.counts() == {"done": 1, "failed": 1}


def test_planning_the_same_event_twice_adds_nothing(tmp_path: Path, journal: Journal) -> None:
    options = notify_options(
        (NotifyRule(on=("failed",), to=("hook", "mail:{owner}@example.com")),),
        ("mail:boss@example.com",),
        "anna",
        None,
    )
    rows = job_notices("J1", options, "failed", 1.0)
    assert [r.target for r in rows] == ["hook", "mail:anna@example.com", "mail:boss@example.com"]
    outbox = Outbox(journal)
    assert outbox.add(rows) == 3
    assert outbox.add(job_notices("J1", options, "failed", 2.0)) == 0
    assert job_notices("J1", options, "delivered", 1.0)[0].target == "mail:boss@example.com"


def test_an_unusable_owner_drops_only_that_target() -> None:
    options = notify_options(
        (NotifyRule(on=("failed",), to=("mail:{owner}@example.com", "hook")),),
        (),
        "evil\r\nBcc: x",
        None,
    )
    assert [r.target for r in job_notices("J", options, "failed", 0)] == ["hook"]


def test_a_row_for_a_channel_no_longer_configured_fails_clearly(
    tmp_path: Path, journal: Journal
) -> None:
    clock = FakeClock()
    work, _ = worker(tmp_path, journal, clock)
    Outbox(journal).add(alert("auth", "gone", clock.time(), target="pager"))
    work.drain("pager", None)
    [row] = Outbox(journal).rows()
    assert row.state == "failed" and "not configured" in (row.error or "")


def test_a_low_disk_under_the_records_folder_is_alerted(tmp_path: Path, journal: Journal) -> None:
    """records.path may be a share of its own; full, it stops the audit log."""
    clock = FakeClock()
    alerts = AlertSettings(to=("admin",), disk_free_min=1 << 62)  # every disk is "low"
    work, _ = worker(tmp_path, journal, clock, alerts)
    records = tmp_path / "records-share"
    records.mkdir()
    work.configure(replace(work._settings, records=RecordsSettings(path=records)))
    work.monitor()
    low = [r for r in Outbox(journal).rows() if r.event == "disk_low"]
    assert any(str(records) in r.payload.text for r in low if isinstance(r.payload, AlertPayload))


def test_monitor_raises_delayed_once_and_alerts_once_per_condition(
    tmp_path: Path, journal: Journal
) -> None:
    from dataclasses import replace

    clock = FakeClock()
    alerts = AlertSettings(to=("admin",), disk_free_min=1 << 62)  # every disk is "low"
    work, _ = worker(tmp_path, journal, clock, alerts)
    work.configure(replace(work._settings, providers={"docs": None}))  # type: ignore[dict-item]
    options = notify_options((NotifyRule(on=("delayed",), to=("hook",)),), (), None, 60.0)
    journal.create_job(
        sample_job(
            tmp_path,
            job_id="J1",
            dft=False,
            options=JobOptions(notice=options),
            received_at=clock.time(),
        )
    )
    journal.set_value("pause:docs", f"{clock.time() + 300}:auth")
    outbox = Outbox(journal)
    work.monitor()
    assert {r.event for r in outbox.rows()} == {"auth", "disk_low"}
    clock.advance(61)
    work.monitor()
    work.monitor()
    events = sorted(r.event for r in outbox.rows())
    assert events == ["auth", "delayed", "delayed", "disk_low"]  # the notice and the alert
    assert {r.kind for r in outbox.rows() if r.event == "delayed"} == {"notice", "alert"}
    # Cleared conditions are forgotten, so they alert again when they come back.
    journal.delete_value("pause:docs")
    work.monitor()
    journal.set_value("pause:docs", f"{clock.time() + 300}:auth")
    work.monitor()
    assert sum(r.event == "auth" for r in outbox.rows()) == 2


def _delayed_jobs(tmp_path: Path, journal: Journal, count: int, at: float) -> None:
    options = JobOptions(
        notice=notify_options((NotifyRule(on=("delayed",), to=("hook",)),), (), None, 60.0)
    )
    for i in range(count):
        job = sample_job(tmp_path, job_id=f"J{i:04d}", options=options, received_at=at)
        journal.create_job(replace(job, path=str(tmp_path / f"d{i}.pdf")))


def test_more_delayed_jobs_than_a_page_each_get_one_notice_and_one_alert(
    tmp_path: Path, journal: Journal
) -> None:
    clock = FakeClock()
    work, _ = worker(tmp_path, journal, clock, AlertSettings(to=("admin",), on=("delayed",)))
    _delayed_jobs(tmp_path, journal, DELAYED_PAGE * 2 + 7, clock.time())
    clock.advance(59)
    work.monitor()
    assert Outbox(journal).rows() == []
    clock.advance(1)
    work.monitor()
    work.monitor()
    rows = Outbox(journal).rows(limit=10_000)
    assert len(rows) == 2 * (DELAYED_PAGE * 2 + 7)
    assert len({r.id for r in rows if r.kind == "notice"}) == DELAYED_PAGE * 2 + 7
    assert len({r.id for r in rows if r.kind == "alert"}) == DELAYED_PAGE * 2 + 7


def test_a_job_seen_to_for_its_delay_is_not_read_again(tmp_path: Path, journal: Journal) -> None:
    clock = FakeClock()
    work, _ = worker(tmp_path, journal, clock)
    _delayed_jobs(tmp_path, journal, 1, clock.time())
    clock.advance(61)
    work.monitor()
    assert len(Outbox(journal).rows()) == 1
    with journal.transaction() as db:  # gone, as a purged row would be
        db.execute("DELETE FROM outbox")
    clock.advance(600)
    work.monitor()
    assert Outbox(journal).rows() == []


def test_a_delayed_notice_queued_before_a_crash_is_not_queued_twice(
    tmp_path: Path, journal: Journal
) -> None:
    clock = FakeClock()
    work, _ = worker(tmp_path, journal, clock)
    _delayed_jobs(tmp_path, journal, 1, clock.time())
    clock.advance(61)
    work.monitor()
    with journal.transaction() as db:  # the crash came after the rows, before the note
        db.execute("UPDATE jobs SET delay_noted_at = NULL")
    work.monitor()
    assert len(Outbox(journal).rows()) == 1


def test_an_inbox_failing_past_its_limit_raises_inbox_stalled_once(
    tmp_path: Path, journal: Journal
) -> None:
    clock = FakeClock()
    alerts = AlertSettings(to=("admin",), inbox_stalled_after=600.0)
    last_success = datetime.fromtimestamp(clock.time(), UTC).isoformat()
    status = InboxStatus(provider="docs", inbox="/in", last_success=last_success)
    work = OutboxWorker(
        settings(tmp_path, alerts),
        journal,
        clock,
        inbox_status=lambda: status,
        build=lambda found: Recorder(found.name),
    )
    outbox = Outbox(journal)
    status = replace(status, last_error="connection refused")  # what the lambda hands out
    clock.advance(599)
    work.monitor()
    assert not any(r.event == "inbox_stalled" for r in outbox.rows())
    clock.advance(61)
    work.monitor()
    work.monitor()
    [stalled] = [r for r in outbox.rows() if r.event == "inbox_stalled"]
    work.drain("admin", recorder := Recorder("admin"))
    assert "failed for 11 minutes: connection refused" in recorder.sent[0].text
    assert stalled.channel == "admin"
