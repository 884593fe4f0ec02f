"""Text from outside faxd — a spool file's name, a sidecar's or `--reference`'s reference,
the sender the provider reports — is shown escaped in a notice's or delivery's text, so a
line break in it cannot forge a line ("Bcc: …") of the mail body or the webhook's `text`.
Sent through a real SMTP server and a real HTTP receiver on loopback."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from faxd.clock import FakeClock
from faxd.core.outbox_payload import DeliveryPayload, NoticePayload
from faxd.notices.worker import OutboxWorker, build_channel
from faxd.settings import SmtpChannel, WebhookChannel
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox
from tests.channels.servers import WebhookReceiver, smtp_sink
from tests.sample_jobs import sample_job
from tests.settings_helpers import bare_settings

NAME = "nl\nBcc: evil@attacker.com\nX: y.pdf"
REFERENCE = "order 4711\nBcc: evil@x.com"
SENDER = "+46855511114\nBcc: evil@x.com"


def forged(text: str) -> list[str]:
    """Lines of `text` that a value, not the template, started."""
    return [line for line in text.splitlines() if line.startswith(("Bcc:", "X: y"))]


def test_names_references_and_senders_cannot_add_lines_to_mail_or_webhook_text(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "out"
    spool.mkdir()
    (spool / NAME).write_bytes(b"%PDF-1.4 offer")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    received = inbox / "20261123-120000_46855511114_fax.pdf"
    received.write_bytes(b"%PDF-1.4 received")
    journal = Journal(tmp_path / "state" / "faxd.sqlite")
    job = sample_job(spool)
    journal.create_job(
        dataclasses.replace(job, rel_path=NAME, path=str(spool / NAME), reference=REFERENCE)
    )
    delivery = DeliveryPayload(
        path=str(received), number="+4612345679", sender=SENDER, received_id="d-1", attach="none"
    )
    rows = []
    for target in ("mail:anna@example.com", "hook"):
        via = target.partition(":")[0]
        rows += [
            NewDelivery(f"n.{via}", "notice", "delayed", target, 1.0, "j1", NoticePayload()),
            NewDelivery(f"d.{via}", "delivery", "received", target, 1.0, "d-1", delivery),
        ]
    with smtp_sink(None, auth=False) as sink, WebhookReceiver() as hooks:
        settings = bare_settings(
            tmp_path,
            channels={
                "mail": SmtpChannel(
                    name="mail",
                    host="127.0.0.1",
                    port=sink.port,
                    sender="Office fax <fax@example.com>",
                    security="none",
                    timeout=5.0,
                ),
                "hook": WebhookChannel(name="hook", url=hooks.url, timeout=5.0),
            },
        )
        Outbox(journal).add(rows)
        worker = OutboxWorker(settings, journal, FakeClock(2.0))
        for name in ("mail", "hook"):
            channel = build_channel(settings.channels[name])
            try:
                while worker.drain(name, channel) == 0.0:
                    pass
            finally:
                channel.close()
        journal.close()
        mails = {str(m.message["Subject"]).split()[1]: m for m in sink.messages()}
        events = {h.body["kind"]: h.body for h in hooks.hooks}
    assert sorted(mails) == ["not", "received"] and sorted(events) == ["delivery", "notice"]
    notice, received_mail = mails["not"], mails["received"]
    for text in (notice.text, events["notice"]["text"]):
        assert forged(text) == []
        assert 'The fax "nl\\x0aBcc: evil@attacker.com\\x0aX: y.pdf" has not gone out' in text
        assert "(reference order 4711\\x0aBcc: evil@x.com)" in text
    for text in (received_mail.text, events["delivery"]["text"]):
        assert forged(text) == []
        assert "from +46855511114\\x0aBcc: evil@x.com." in text
    # The headers were safe before and stay so; the template's own lines still break.
    assert notice.message["Bcc"] is None and received_mail.message["Bcc"] is None
    assert notice.text.splitlines()[-1].startswith("-- faxd, the office fax")
    # The event fields keep the values as they are (JSON escapes them itself).
    assert events["notice"]["document"] == NAME and events["notice"]["reference"] == REFERENCE
    assert events["delivery"]["sender"] == SENDER
