"""`faxd test-channel` and the deliveries in `faxd status`, through the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from faxd.cli import main
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox

from ..channels.servers import WEBHOOK_SECRET, WebhookReceiver


def write_config(tmp_path: Path, channels: dict[str, object]) -> Path:
    (tmp_path / "key").write_text("docs-key-123456\n")
    (tmp_path / "hook-secret").write_text(WEBHOOK_SECRET + "\n")
    (tmp_path / "out").mkdir(exist_ok=True)
    path = tmp_path / "faxd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "providers": {"docs": {"type": "generic-docs", "api_key_file": "key"}},
                "defaults": {"sender": "+4612345678"},
                "folders": [{"path": "out"}],
                "channels": channels,
            }
        )
    )
    return path


def test_test_channel_through_a_webhook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with WebhookReceiver() as hooks:
        config = write_config(
            tmp_path,
            {"hook": {"type": "webhook", "url": hooks.url, "secret_file": "hook-secret"}},
        )
        assert main(["test-channel", "hook", "--config", str(config)]) == 0
    [hook] = hooks.hooks
    assert hook.signature_ok and hook.body["event"] == "test"
    out = capsys.readouterr()
    assert "took the test message" in out.out
    assert WEBHOOK_SECRET not in out.out + out.err


URL_TOKEN = "hook-token-5f1c0e7d9b2a"


def test_a_token_in_a_webhooks_url_is_not_shown_by_test_channel_or_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with WebhookReceiver() as hooks:
        hooks.statuses = [500]
        hooks.said = f"unknown token {URL_TOKEN}".encode()
        url = f"{hooks.url}?token={URL_TOKEN}"
        config = write_config(tmp_path, {"hook": {"type": "webhook", "url": url}})
        assert main(["test-channel", "hook", "--config", str(config)]) == 1
        assert main(["check-config", "--config", str(config)]) == 0
    assert hooks.paths == [f"/hook?token={URL_TOKEN}"]
    shown = hooks.url.removesuffix("/hook") + "/…"
    out = capsys.readouterr()
    assert f"did not take the test message: {shown} answered HTTP 500: unknown token ***" in (
        out.err
    )
    assert f"url: {shown}" in out.out
    # A URL that check-config refuses is named the same way.
    http = f"http://hooks.example.com/services/T0000000/{URL_TOKEN}"
    config = write_config(tmp_path, {"hook": {"type": "webhook", "url": http}})
    assert main(["check-config", "--config", str(config)]) == 1
    refused = capsys.readouterr()
    assert "'http://hooks.example.com/…' must use https" in refused.out + refused.err
    assert URL_TOKEN not in out.out + out.err + refused.out + refused.err


def test_test_channel_reports_a_failing_command_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        {"run": {"type": "command", "argv": [sys.executable, "-c", "raise SystemExit(2)"]}},
    )
    assert main(["test-channel", "run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "did not take the test message" in err and "exited with status 2" in err
    assert "Traceback" not in err


def test_test_channel_refuses_an_injected_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        {
            "mail": {
                "type": "smtp",
                "host": "127.0.0.1",
                "security": "none",
                "from": "f@example.com",
            }
        },
    )
    assert (
        main(["test-channel", "mail", "a@example.com\nBcc: b@example.com", "--config", str(config)])
        == 2
    )
    assert main(["test-channel", "nochannel", "--config", str(config)]) == 2
    assert "line break" in capsys.readouterr().err


def test_status_shows_pending_and_failed_deliveries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        {
            "mail": {
                "type": "smtp",
                "host": "127.0.0.1",
                "security": "none",
                "from": "f@example.com",
            }
        },
    )
    journal = Journal(tmp_path / "state" / "journal.sqlite")
    outbox = Outbox(journal)
    outbox.add(
        [
            NewDelivery("n.J1.failed.0", "notice", "failed", "mail:anna@example.com", 1.0, "J1"),
            NewDelivery("n.J2.failed.0", "notice", "failed", "mail:bob@example.com", 2.0, "J2"),
        ]
    )
    outbox.mark_retry("n.J1.failed.0", "cannot reach the SMTP server 127.0.0.1:25", 1e12)
    outbox.mark_failed(
        "n.J2.failed.0", "the SMTP server refused the address: 550 no such user", 3.0
    )
    journal.close()
    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "notices and deliveries: 1 pending, 1 failed" in out
    assert "retrying  notice failed to mail:anna@example.com" in out
    assert "FAILED    notice failed to mail:bob@example.com: the SMTP server refused" in out
