"""Notices end to end: the real daemon against the sandbox, mailing through a real SMTP
server (STARTTLS + AUTH LOGIN, a test certificate) and posting to a real HTTP receiver."""

from __future__ import annotations

import getpass
import hashlib
import random
import re
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from faxd.cli import main
from faxd.sandbox.server import SandboxServer
from tests.e2e.test_cups_queue import Cups, cups

from ..channels.servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    SmtpSink,
    WebhookReceiver,
    make_cert,
    smtp_sink,
)
from ..printing.conftest import needs
from .harness import Faxd, for_sandbox, pdf, wait_for

__all__ = ["cups"]

pytestmark = pytest.mark.slow
OWNER = getpass.getuser()


@dataclass
class NoticeFaxd(Faxd):
    top: dict[str, Any] = field(default_factory=dict)

    def write_config(self) -> Path:
        path = super().write_config()
        document = yaml.safe_load(path.read_text())
        document.update(self.top)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "tls"
    folder.mkdir()
    return make_cert(folder)


@pytest.fixture
def smtp(cert: tuple[Path, Path]) -> Any:
    with smtp_sink(cert) as sink:
        yield sink


def configure(
    tmp_path: Path, sandbox: SandboxServer, sink: SmtpSink, cert: Path, hook_url: str | None
) -> NoticeFaxd:
    faxd = for_sandbox(NoticeFaxd, tmp_path, sandbox)
    creds = tmp_path / "credentials"
    creds.mkdir(exist_ok=True)
    (creds / "smtp-password").write_text(SMTP_PASSWORD + "\n")
    (creds / "webhook-secret").write_text(WEBHOOK_SECRET + "\n")
    channels: dict[str, Any] = {
        "mail": {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "starttls",
            "username": SMTP_USER,
            "password_file": str(creds / "smtp-password"),
            "from": "Office fax <fax@example.com>",
            "ca_bundle": str(cert),
            "timeout": 5,
            "retry_max": "1s",
        }
    }
    notify: list[dict[str, Any]] = [
        {"on": ["failed"], "to": ["mail:{owner}@example.com", "mail:fax-admin@example.com"]}
    ]
    if hook_url:
        channels["tickets"] = {
            "type": "webhook",
            "url": hook_url,
            "secret_file": str(creds / "webhook-secret"),
            "retry_max": "1s",
        }
        notify.append({"on": ["failed", "delivered"], "to": ["tickets"]})
    faxd.top = {"channels": channels}
    faxd.overrides = {"notify": notify}
    return faxd


def no_secrets(*texts: str) -> None:
    for text in texts:
        assert SMTP_PASSWORD not in text
        assert WEBHOOK_SECRET not in text


def test_a_wrong_number_mails_the_person_who_handed_it_in(
    tmp_path: Path, sandbox: SandboxServer, smtp: SmtpSink, cert: tuple[Path, Path]
) -> None:
    with WebhookReceiver() as hooks:
        faxd = configure(tmp_path, sandbox, smtp, cert[0], hooks.url)
        faxd.drop("+46812345699/offer.pdf", pdf("offer"))
        faxd.drop(
            "+46812345678/ok.pdf.yaml", b'to: "+46812345678"\nnotify: "mail:boss@example.com"\n'
        )
        faxd.drop("+46812345678/ok.pdf", pdf("ok"))
        faxd.start()
        try:
            wait_for(lambda: len(smtp.messages()) >= 3, 60, "three mails")
            wait_for(lambda: len(hooks.hooks) >= 2, 30, "two webhook events")
            time.sleep(1.0)  # nothing more may arrive
        finally:
            faxd.stop()
        mails = {m.envelope_to[0]: m for m in smtp.messages()}
        assert sorted(mails) == sorted(
            [f"{OWNER}@example.com", "fax-admin@example.com", "boss@example.com"]
        )
        failed = mails[f"{OWNER}@example.com"]
        assert failed.message["Subject"] == "Fax NOT sent: offer.pdf to +46812345699"
        assert "could NOT be sent" in failed.text
        assert "+46812345699" in failed.text
        assert "What to do:" in failed.text
        [report] = [
            p for p in faxd.failed.rglob("offer.pdf.report.*") if p.suffix in (".pdf", ".yaml")
        ][:1]
        pdf_report = report.with_suffix(".pdf")
        attached = pdf_report if pdf_report.exists() else report.with_suffix(".yaml")
        assert failed.attachments() == {
            attached.name: hashlib.sha256(attached.read_bytes()).hexdigest()
        }
        assert mails["boss@example.com"].message["Subject"] == "Fax sent: ok.pdf to +46812345678"
        events = sorted((h.body["event"], h.body["document"]) for h in hooks.hooks)
        assert events == [("delivered", "ok.pdf"), ("failed", "offer.pdf")]
        assert all(h.signature_ok for h in hooks.hooks)
        assert len({h.event_id for h in hooks.hooks}) == 2
        no_secrets(faxd.log_text(), *(m.raw.decode() for m in smtp.messages()))


def test_auth_refused_alerts_the_admin_and_loses_nothing(
    tmp_path: Path, sandbox: SandboxServer, smtp: SmtpSink, cert: tuple[Path, Path]
) -> None:
    with WebhookReceiver() as hooks:
        faxd = configure(tmp_path, sandbox, smtp, cert[0], hooks.url)
        faxd.top["alerts"] = {"to": ["tickets"], "on": ["auth", "delivery_failed"]}
        smtp.password = "the-server-wants-another"
        faxd.drop("+46812345699/a.pdf", pdf("a"))
        faxd.start()
        try:
            faxd.report_for("a.pdf")
            wait_for(
                lambda: any(h.body["kind"] == "alert" for h in hooks.hooks), 30, "the auth alert"
            )
            assert smtp.messages() == []
            smtp.password = SMTP_PASSWORD
            wait_for(lambda: len(smtp.messages()) == 2, 30, "both mails after the fix")
        finally:
            faxd.stop()
    [alert] = [h for h in hooks.hooks if h.body["kind"] == "alert"]
    assert alert.body["event"] == "auth" and alert.signature_ok
    assert "refused faxd's login" in alert.body["text"]
    no_secrets(faxd.log_text(), str(alert.body), *(m.raw.decode() for m in smtp.messages()))


@pytest.mark.parametrize("point", ["outbox_before_send", "outbox_after_send", "outbox_after_done"])
def test_sigkill_around_the_outbox_then_restart(
    tmp_path: Path,
    sandbox: SandboxServer,
    smtp: SmtpSink,
    cert: tuple[Path, Path],
    point: str,
) -> None:
    faxd = configure(tmp_path, sandbox, smtp, cert[0], None)
    faxd.overrides = {"notify": [{"on": ["failed"], "to": ["mail:fax-admin@example.com"]}]}
    faxd.drop("+46812345699/c.pdf", pdf("c"))
    faxd.start(FAXD_CRASH_AT=point)
    assert faxd.proc is not None
    proc = faxd.proc
    wait_for(lambda: proc.poll() is not None, 60, f"the crash at {point}")
    assert proc.returncode == -9
    faxd.proc = None
    faxd.start()
    try:
        wait_for(lambda: outbox_states(faxd) == {"done": 1}, 60, "the notice done")
        time.sleep(0.5)
    finally:
        faxd.stop()
    ids = Counter(m.message_id for m in smtp.messages())
    assert len(ids) == 1
    if point == "outbox_after_send":
        # The one window no protocol closes: accepted, then killed before `done` was
        # committed. The repeat is the same mail, byte for byte, with the same Message-ID.
        assert list(ids.values()) == [2]
        first, second = smtp.messages()
        assert first.raw == second.raw
    else:
        assert list(ids.values()) == [1]


def outbox_states(faxd: Faxd) -> dict[str, int]:
    if not (faxd.state / "journal.sqlite").exists():
        return {}
    db = sqlite3.connect(faxd.state / "journal.sqlite")
    try:
        return dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()


def test_random_sigkills_smtp_down_and_451_every_notice_once(
    tmp_path: Path, sandbox: SandboxServer, cert: tuple[Path, Path]
) -> None:
    rng = random.Random(20261130)
    with smtp_sink(cert) as sink:
        port = sink.port
    # The server is down at first (nothing listens on its port).
    faxd = configure(tmp_path, sandbox, sink, cert[0], None)
    faxd.overrides = {
        "notify": [{"on": ["failed", "delivered"], "to": ["mail:fax-admin@example.com"]}]
    }
    expected = set()
    for i in range(100):
        number = "+46812345699" if i % 4 == 0 else "+46812345678"
        faxd.drop(f"{number}/doc-{i:03d}.pdf", pdf(f"notice-{i}"))
        expected.add(f"doc-{i:03d}.pdf")
    faxd.start()
    kills = 0
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 2.0))
        faxd.kill()
        kills += 1
        faxd.start()
    with smtp_sink(cert, port=port) as live:
        live.behaviour.temp_failures = 20
        for _ in range(3):
            time.sleep(rng.uniform(0.5, 2.0))
            faxd.kill()
            kills += 1
            faxd.start()

        def subjects() -> set[str]:
            return {
                str(m.message["Subject"]).split(": ", 1)[1].split(" to ")[0]
                for m in live.messages()
            }

        try:
            wait_for(lambda: subjects() >= expected, 300, "a notice for every document", step=0.5)
            wait_for(lambda: outbox_states(faxd) == {"done": 100}, 60, "every row done")
        except AssertionError:
            raise AssertionError(
                f"{len(subjects())} of 100; outbox {outbox_states(faxd)}; "
                f"log:\n{faxd.log_text()[-3000:]}"
            ) from None
        finally:
            faxd.stop()
        mails = live.messages()
        assert live.refused == 20
    by_id = Counter(m.message_id for m in mails)
    assert len(by_id) == 100
    repeats = {mid: n for mid, n in by_id.items() if n > 1}
    # A repeat is possible only where a kill fell between the server's 250 and the commit of
    # `done`; it is then the same mail with the same Message-ID, which mail systems drop.
    assert sum(n - 1 for n in repeats.values()) <= kills
    for mid in repeats:
        raws = {m.raw for m in mails if m.message_id == mid}
        assert len(raws) == 1
    by_content = Counter(hashlib.sha256(m.raw).hexdigest() for m in mails)
    assert len(by_content) == 100


def test_received_documents_are_mailed_by_route_and_recorded_in_their_metadata(
    tmp_path: Path, sandbox: SandboxServer, smtp: SmtpSink, cert: tuple[Path, Path]
) -> None:
    with WebhookReceiver() as hooks:
        faxd = configure(tmp_path, sandbox, smtp, cert[0], hooks.url)
        faxd.overrides = {}
        inbox = tmp_path / "inbox"
        faxd.inbox = {
            "path": str(inbox),
            "poll_interval": 1,
            "deliver": ["mail:frontdesk@example.com"],
            "routes": {
                "+4612345679": {
                    "path": str(inbox / "support"),
                    "from": "+4640",
                    "deliver": ["mail:support@example.com", "tickets"],
                },
            },
        }
        routed = b"%PDF-1.4 routed fax from Malmo"
        other = b"%PDF-1.4 a fax from elsewhere"
        for sender, body in (("+4640123456", routed), ("+4650123456", other)):
            sandbox.add_received(
                {
                    "sender": sender,
                    "recipient": "+4612345679",
                    "files": [{"fileName": "fax.pdf", "content": body.decode()}],
                }
            )
        faxd.start()
        try:
            wait_for(lambda: len(smtp.messages()) >= 2 and hooks.hooks, 60, "the deliveries")
            wait_for(lambda: outbox_states(faxd) == {"done": 3}, 30, "every delivery done")
        finally:
            faxd.stop()
    mails = {m.envelope_to[0]: m for m in smtp.messages()}
    assert sorted(mails) == ["frontdesk@example.com", "support@example.com"]
    support = mails["support@example.com"]
    assert support.message["Subject"] == "Fax received from +4640123456 for +4612345679"
    [(name, digest)] = support.attachments().items()
    assert digest == hashlib.sha256(routed).hexdigest()
    [frontdesk_digest] = mails["frontdesk@example.com"].attachments().values()
    assert frontdesk_digest == hashlib.sha256(other).hexdigest()
    [saved] = [p for p in (inbox / "support").iterdir() if p.is_file()]
    assert saved.read_bytes() == routed and saved.name == name
    [hook] = hooks.hooks
    assert hook.signature_ok and hook.body["path"] == str(saved)
    meta = yaml.safe_load((inbox / "support" / ".meta" / f"{saved.name}.yaml").read_text())
    assert {t: d["result"] for t, d in meta["deliveries"].items()} == {
        "mail:support@example.com": "delivered",
        "tickets": "delivered",
    }


HOOK_TOKEN = "hook-token-5f1c0e7d9b2a"


def test_a_token_in_a_failing_webhooks_url_is_in_no_log_line_status_alert_or_metadata(
    tmp_path: Path,
    sandbox: SandboxServer,
    smtp: SmtpSink,
    cert: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Only user:password in a URL counted as a secret: the token of a hook that failed
    # was in the daemon's log, `faxd status`, the delivery_failed alert and the metadata.
    with WebhookReceiver() as hooks:
        hooks.statuses = [500] * 100
        hooks.said = f"no hook for token {HOOK_TOKEN}".encode()
        faxd = configure(tmp_path, sandbox, smtp, cert[0], f"{hooks.url}?token={HOOK_TOKEN}")
        faxd.overrides = {}
        faxd.top["channels"]["tickets"]["give_up_after"] = "2s"
        faxd.top["alerts"] = {"to": ["mail:fax-admin@example.com"], "on": ["delivery_failed"]}
        inbox = tmp_path / "inbox"
        faxd.inbox = {"path": str(inbox), "poll_interval": 1, "deliver": ["tickets"]}
        sandbox.add_received(
            {
                "sender": "+4640123456",
                "recipient": "+4612345678",
                "files": [{"fileName": "fax.pdf", "content": "%PDF-1.4 a fax"}],
            }
        )
        faxd.start()
        try:
            wait_for(lambda: smtp.messages(), 60, "the delivery_failed alert")
        finally:
            faxd.stop()
        assert main(["status", "--config", str(faxd.config_path)]) == 0
    assert len(hooks.paths) >= 2 and all(HOOK_TOKEN in p for p in hooks.paths)
    status = capsys.readouterr().out
    shown = hooks.url.removesuffix("/hook") + "/…"
    assert f"FAILED    delivery received to tickets: {shown} answered HTTP 500" in status
    [alert] = smtp.messages()
    assert f"{shown} answered HTTP 500: no hook for token ***" in alert.text
    [meta] = (inbox / ".meta").iterdir()
    log = faxd.log_text()
    assert f"{shown} answered HTTP 500" in log
    for text in (log, status, alert.raw.decode(), meta.read_text()):
        assert HOOK_TOKEN not in text


@needs("cupsd", "lp", "lpadmin", "lpstat", "ipptool")
def test_received_documents_are_printed_on_a_real_cups_queue(
    tmp_path: Path, sandbox: SandboxServer, smtp: SmtpSink, cert: tuple[Path, Path], cups: Cups
) -> None:
    out = cups.root / "printed"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    backend = cups.backend_dir / "capture"
    backend.write_text(
        '#!/bin/sh\nif [ -n "$6" ]; then cat "$6"; else cat; fi > "' + str(out) + '/job-$1"\n'
    )
    backend.chmod(0o755)
    for _ in range(20):
        added = cups.run("lpadmin", "-p", "FrontDesk", "-E", "-v", "capture:/", "-m", "raw")
        if added.returncode == 0:
            break
        time.sleep(0.2)
    assert added.returncode == 0, added.stderr
    faxd = configure(tmp_path, sandbox, smtp, cert[0], None)
    faxd.overrides = {}
    faxd.top["channels"]["desk"] = {"type": "print", "queue": "FrontDesk", "timeout": 30}
    faxd.inbox = {"path": str(tmp_path / "inbox"), "poll_interval": 1, "deliver": ["desk"]}
    body = b"%PDF-1.4 printed like the fax machine did"
    sandbox.add_received(
        {
            "sender": "+4640123456",
            "recipient": "+4612345678",
            "files": [{"fileName": "fax.pdf", "content": body.decode()}],
        }
    )
    faxd.start(CUPS_SERVER=str(cups.socket))
    try:
        wait_for(lambda: outbox_states(faxd) == {"done": 1}, 60, "the print delivery done")
    finally:
        faxd.stop()
    assert [p.read_bytes() for p in out.iterdir()] == [body]


def test_a_fax_not_final_after_delayed_after_is_noticed_and_alerted_once(
    tmp_path: Path, smtp: SmtpSink, cert: tuple[Path, Path]
) -> None:
    # Transmissions stay "Sending" for 15 s, past the monitor's first looks at 1 s delay.
    slow = SandboxServer({"status_delay": 15}).start()
    try:
        with WebhookReceiver() as hooks:
            faxd = configure(tmp_path, slow, smtp, cert[0], hooks.url)
            faxd.overrides = {
                "notify": [{"on": ["delayed", "delivered"], "to": ["tickets"]}],
                "delayed_after": "1s",
            }
            faxd.top["alerts"] = {"to": ["tickets"], "on": ["delayed"]}
            faxd.drop("+46812345678/slow.pdf", pdf("slow"))
            faxd.start()
            try:
                report = faxd.report_for("slow.pdf", timeout=60)
                time.sleep(1.0)  # nothing more may arrive
            finally:
                faxd.stop()
    finally:
        slow.stop()
    assert report["result"] == "delivered"
    seen = sorted((h.body["kind"], h.body["event"]) for h in hooks.hooks)
    assert seen == [("alert", "delayed"), ("notice", "delayed"), ("notice", "delivered")]
    [notice] = [
        h for h in hooks.hooks if h.body["event"] == "delayed" and h.body["kind"] == "notice"
    ]
    assert notice.body["document"] == "slow.pdf"
    # how long it has waited, as an office reads it ("0 min" before, for a few seconds)
    assert re.search(r"\(\d+ s since it was handed in\)", notice.body["text"])
    db = sqlite3.connect(faxd.state / "journal.sqlite")
    try:
        [(noted,)] = db.execute("SELECT delay_noted_at FROM jobs").fetchall()
    finally:
        db.close()
    assert noted is not None


# Appends its pid to `runs`, then works until `hang` is gone (no braces: argv is filled in).
STOPPABLE = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'a').write(str(os.getpid()) + chr(10))\n"
    "while os.path.exists(sys.argv[2]):\n"
    "    time.sleep(0.05)\n"
)


def test_a_command_running_at_sigterm_is_stopped_and_runs_once_at_the_next_start(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    runs, hang = tmp_path / "runs", tmp_path / "hang"
    hang.touch()
    faxd = for_sandbox(NoticeFaxd, tmp_path, sandbox)
    argv = [sys.executable, "-c", STOPPABLE, str(runs), str(hang)]
    faxd.top = {"channels": {"archive": {"type": "command", "argv": argv}}}
    faxd.overrides = {"notify": [{"on": ["failed"], "to": ["archive"]}]}
    faxd.drop("+46812345699/c.pdf", pdf("c"))
    try:
        faxd.start()
        try:
            wait_for(lambda: runs.exists() and runs.read_text().endswith("\n"), 60, "the program")
        finally:
            assert faxd.stop() == 0
        [first] = [int(pid) for pid in runs.read_text().split()]
        # Stopped with faxd: it could not run on beside the next start's run.
        assert not Path(f"/proc/{first}").exists() or (
            Path(f"/proc/{first}/stat").read_text().split()[2] == "Z"
        )
        assert outbox_states(faxd) == {"pending": 1}
        hang.unlink()
        faxd.start()
        try:
            wait_for(lambda: outbox_states(faxd) == {"done": 1}, 60, "the notice done")
            time.sleep(0.5)
        finally:
            faxd.stop()
        assert len(runs.read_text().split()) == 2
    finally:
        hang.unlink(missing_ok=True)  # a program left running ends
