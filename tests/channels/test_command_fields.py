"""A command channel's `{name}`s, run for real (a subprocess per message): every name
check-config allows is one the message's kind fills or an empty argument — never the
text "None" — and each kind fills exactly the names listed for it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from faxd.channels.command import ARGV_NAMES, EVENT_FIELDS
from faxd.clock import FakeClock
from faxd.core.outbox_payload import AlertPayload, DeliveryPayload, NoticePayload
from faxd.notices.worker import OutboxWorker, build_channel
from faxd.settings import CommandChannel
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox
from tests.sample_jobs import sample_job
from tests.settings_helpers import bare_settings

SCRIPT = """\
import json, sys
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(sys.argv[2:]) + "\\n")
"""


def test_each_kind_fills_its_names_and_the_others_are_empty(tmp_path: Path) -> None:
    script = tmp_path / "record.py"
    script.write_text(SCRIPT)
    out = tmp_path / "argv.jsonl"
    argv = (sys.executable, str(script), str(out), *(f"{{{n}}}" for n in ARGV_NAMES))
    spool = tmp_path / "out"
    spool.mkdir()
    (spool / "a.pdf").write_bytes(b"%PDF-1.4 a")
    received = tmp_path / "inbox" / "fax.pdf"
    received.parent.mkdir()
    received.write_bytes(b"%PDF-1.4 received")
    journal = Journal(tmp_path / "state" / "faxd.sqlite")
    journal.create_job(sample_job(spool))
    delivery = DeliveryPayload(
        path=str(received), number="+4612345679", sender="+4640123", received_id="d-1"
    )
    alert = AlertPayload(title="disk low", text="Only 3 MB.", advice="Free space.")
    Outbox(journal).add(
        [
            NewDelivery("n.1", "notice", "delayed", "run", 1.0, "j1", NoticePayload()),
            NewDelivery("d.1", "delivery", "received", "run", 1.0, "d-1", delivery),
            NewDelivery("a.1", "alert", "disk_low", "run", 1.0, None, alert),
        ]
    )
    settings = bare_settings(
        tmp_path, channels={"run": CommandChannel(name="run", argv=argv, timeout=30.0)}
    )
    worker = OutboxWorker(settings, journal, FakeClock(2.0))
    channel = build_channel(settings.channels["run"])
    while worker.drain("run", channel) == 0.0:
        pass
    journal.close()
    runs = [dict(zip(ARGV_NAMES, json.loads(line), strict=True)) for line in out.open()]
    assert [run["event_id"] for run in runs] == ["n.1", "d.1", "a.1"]
    for run, kind in zip(runs, ("notice", "delivery", "alert"), strict=True):
        given = {"event", "event_id", *EVENT_FIELDS[kind]}
        assert "None" not in run.values(), (kind, run)
        assert all(run[name] == "" for name in ARGV_NAMES if name not in given), (kind, run)
    notice, received_one, disk = runs
    assert (notice["numbers"], notice["document"], notice["error"]) == ("+46812345678", "a.pdf", "")
    assert (received_one["number"], received_one["sender"]) == ("+4612345679", "+4640123")
    assert received_one["path"] == str(received) and disk["title"] == "disk low"
