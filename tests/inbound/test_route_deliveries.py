"""Which received documents are mailed, end to end from the configuration file: the real
loader, the poller filing into the inbox and its routes, and the outbox worker mailing
through a real SMTP server on loopback. A document a route took gets that route's
`deliver` only — none for a route written as a plain folder — and `inbox.deliver` gets
only the documents no route took (SPEC §7)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from faxd import config
from faxd.clock import FakeClock
from faxd.inbound.poller import InboxPoller
from faxd.notices.worker import OutboxWorker, build_channel
from faxd.store.journal import Journal
from tests.channels.servers import smtp_sink

from .inbound_fakes import OURS, SUPPORT, FakeSource, at

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
ORDERS = "+4612345671"

CONFIG = """\
providers:
  docs:
    type: generic-docs
    api_key_env: DOCS_KEY
folders:
  - path: out
inbox:
  path: inbox
  numbers: ["{ours}"]
  routes:
    "{support}": inbox/support
    "{orders}":
      path: inbox/orders
      from: "+4640"
      deliver: ["mail:orders@example.com"]
  deliver: ["mail:reception@example.com"]
channels:
  mail:
    type: smtp
    host: 127.0.0.1
    port: {port}
    security: none
    from: "Office fax <fax@example.com>"
    timeout: 5
"""


def test_a_routed_document_is_mailed_only_as_its_route_says(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with smtp_sink(None, auth=False) as sink:
        path = tmp_path / "faxd.yaml"
        path.write_text(CONFIG.format(ours=OURS, support=SUPPORT, orders=ORDERS, port=sink.port))
        settings = config.load(path, {"DOCS_KEY": "docs-key-for-the-test"})
        assert settings.inbox is not None
        source = FakeSource()
        source.add(at(NOW, -400), recipient=OURS, sender="+46811111111")
        source.add(at(NOW, -300), recipient=SUPPORT, sender="+46822222222")
        source.add(at(NOW, -200), recipient=ORDERS, sender="+46401234567")
        source.add(at(NOW, -100), recipient=ORDERS, sender="+46927654321")
        clock = FakeClock(NOW.timestamp())
        journal = Journal(tmp_path / "state" / "faxd.sqlite")
        try:
            poller = InboxPoller(
                settings.inbox,
                source,
                journal,
                settings.our_numbers(),
                frozenset,
                clock,
                ZoneInfo("Europe/Stockholm"),
            )
            assert poller.poll_once().delivered == 4
            worker = OutboxWorker(settings, journal, clock)
            channel = build_channel(settings.channels["mail"])
            try:
                while worker.drain("mail", channel) == 0.0:
                    pass
            finally:
                channel.close()
        finally:
            journal.close()
        # Who got which document: the attached file's name holds its sender's digits.
        mailed = sorted(
            (m.envelope_to[0], name.split("_")[1])
            for m in sink.messages()
            for name in m.attachments()
        )
    # Each document is in the folder its route (or the inbox) gives it.
    support_folder = tmp_path / "inbox" / "support"
    assert [p.name.split("_")[1] for p in support_folder.iterdir() if p.is_file()] == [
        "46822222222"
    ]
    assert mailed == [
        ("orders@example.com", "46401234567"),  # the orders route's own deliver
        ("reception@example.com", "46811111111"),  # no route: inbox.deliver
        # For the orders number but not from +4640: not the route's, so the inbox's.
        ("reception@example.com", "46927654321"),
    ]  # and the support line's (a route that is a plain folder) went to nobody
