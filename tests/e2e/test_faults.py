"""Faults on every endpoint: everything is delivered, nothing twice, Retry-After honoured."""

from __future__ import annotations

import time
from typing import Any

import pytest

from faxd.sandbox.server import SandboxServer

from .harness import FAST_SCHEDULE, Faxd, pdf, wait_for

pytestmark = pytest.mark.slow


def docs_stats(sandbox: SandboxServer) -> dict[str, Any]:
    return dict(sandbox.stats()["docs"])


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "status", "status": 429, "retry_after": "2"},
        {"action": "status", "status": 408},
        {"action": "status", "status": 500},
    ],
    ids=["429-retry-after", "408", "500"],
)
def test_transient_send_faults_are_retried_once_accepted_once(
    faxd: Faxd, sandbox: SandboxServer, fault: dict[str, Any]
) -> None:
    sandbox.add_fault({"api": "docs", "endpoint": "send", **fault})
    faxd.start()
    faxd.drop("+46812345678/retry.pdf", pdf("retry"))
    report = faxd.report_for("retry.pdf", timeout=60)
    assert report["result"] == "delivered"
    assert report["recipients"][0]["attempts"] == 2
    stats = docs_stats(sandbox)
    assert stats["send_requests"] == 2
    assert list(stats["uploads_by_sha256"].values()) == [1]


@pytest.mark.parametrize(
    ("action", "uploads"), [("status_after", 1), ("status", 2)], ids=["processed", "not-processed"]
)
def test_a_503_to_the_upload_is_looked_up_after_its_retry_after_and_sent_once(
    faxd: Faxd, sandbox: SandboxServer, action: str, uploads: int
) -> None:
    # A load balancer answers 503 whether or not the service behind it took the upload:
    # faxd asks before it uploads again, and not before the Retry-After.
    sandbox.add_fault(
        {"api": "docs", "endpoint": "send", "action": action, "status": 503, "retry_after": "3"}
    )
    faxd.overrides["dft"] = "never"
    faxd.start()
    faxd.drop("+46812345678/unavailable.pdf", pdf(f"unavailable {action}"))
    wait_for(lambda: docs_stats(sandbox)["send_requests"] == 1, 30, "the upload", step=0.02)
    answered = time.monotonic()
    wait_for(lambda: docs_stats(sandbox)["requests"].get("retrieve"), 30, "the first lookup")
    assert time.monotonic() - answered >= 2.8  # Retry-After: 3, not lookup_delay's 1 s
    report = faxd.report_for("unavailable.pdf", timeout=90)
    assert report["result"] == "delivered"
    stats = docs_stats(sandbox)
    assert stats["accepted"] == 1
    assert list(stats["uploads_by_sha256"].values()) == [1]
    assert stats["send_requests"] == uploads  # again only when three lookups found nothing
    assert "outcome unknown" in faxd.log_text()
    assert faxd.stop() == 0


def test_connection_dropped_before_processing_is_looked_up_then_sent_again(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # From the client's side a connection closed after the body went out may or may not
    # have been processed: faxd asks (and finds nothing) before it uploads again.
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_before"})
    faxd.provider_overrides.update(FAST_SCHEDULE)  # three empty lookups in 7 s, not 105
    faxd.start()
    faxd.drop("+46812345678/dropped.pdf", pdf("dropped"))
    report = faxd.report_for("dropped.pdf", timeout=240)
    assert report["result"] == "delivered"
    stats = docs_stats(sandbox)
    assert stats["send_requests"] == 2
    assert list(stats["uploads_by_sha256"].values()) == [1]
    assert stats["requests"]["retrieve"] >= 3  # the lookups that came first


def test_upload_accepted_then_connection_dropped_is_not_uploaded_again(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_after"})
    faxd.provider_overrides.update(FAST_SCHEDULE)
    faxd.start()
    faxd.drop("+46812345678/lost-answer.pdf", pdf("lost-answer"))
    report = faxd.report_for("lost-answer.pdf", timeout=90)
    assert report["result"] == "delivered"
    stats = docs_stats(sandbox)
    assert stats["send_requests"] == 1
    assert list(stats["uploads_by_sha256"].values()) == [1]
    assert "outcome unknown" in faxd.log_text()


def test_answer_slower_than_the_read_timeout_is_looked_up_not_resent(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "slow", "delay": 7})
    faxd.start()
    faxd.drop("+46812345678/slow.pdf", pdf("slow"))
    report = faxd.report_for("slow.pdf", timeout=90)
    assert report["result"] == "delivered"
    stats = docs_stats(sandbox)
    assert list(stats["uploads_by_sha256"].values()) == [1]
    assert stats["send_requests"] == 1


@pytest.mark.parametrize("endpoint", ["retrieve", "check_dft"])
def test_faults_on_status_and_dft_checks_are_retried(
    faxd: Faxd, sandbox: SandboxServer, endpoint: str
) -> None:
    sandbox.add_fault(
        {"api": "docs", "endpoint": endpoint, "action": "status", "status": 503, "times": 2}
    )
    faxd.start()
    faxd.drop("+46812345611/checked.pdf", pdf(f"checked-{endpoint}"))
    report = faxd.report_for("checked.pdf", timeout=90)
    assert report["result"] == "delivered"
    assert list(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1]


def test_wrong_api_key_pauses_the_queue_and_sighup_resumes_it(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    import signal

    faxd.docs_key = "wrong-key"
    faxd.start()
    faxd.drop("+46812345678/paused.pdf", pdf("paused"))
    wait_for(lambda: "paused" in faxd.log_text(), 30, "the pause to be logged")
    assert (faxd.spool / "+46812345678" / "paused.pdf").exists()
    assert not faxd.failed.exists() or not any(faxd.failed.rglob("paused.pdf"))
    assert "wrong-key" not in faxd.log_text()
    (faxd.root / "credentials" / "docs-api-key").write_text("sandbox-docs-key\n")
    assert faxd.proc is not None
    faxd.proc.send_signal(signal.SIGHUP)
    report = faxd.report_for("paused.pdf", timeout=60)
    assert report["result"] == "delivered"
    assert list(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1]


def test_sighup_resumes_status_queries_and_lookups_paused_by_a_401(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    import signal

    # One upload accepted, one whose answer is lost; then the key stops working for the
    # status queries and lookups, so the provider pauses for 300 s.
    sandbox.add_fault(
        {"api": "docs", "endpoint": "send", "action": "drop_after", "match": "401234588"}
    )
    sandbox.add_fault(
        {
            "api": "docs",
            "endpoint": "retrieve",
            "action": "status",
            "status": 401,
            "times": "always",
        }
    )
    faxd.overrides["dft"] = "never"
    faxd.start()
    faxd.drop("+46401234567/tracked.pdf", pdf("tracked"))
    faxd.drop("+46401234588/lost.pdf", pdf("lost"))
    wait_for(lambda: "its queue is paused" in faxd.log_text(), 60, "the pause")
    time.sleep(2)
    sandbox.clear_faults()
    assert faxd.proc is not None
    faxd.proc.send_signal(signal.SIGHUP)
    # "At once": well before the 300 s pause would have run out.
    assert faxd.report_for("tracked.pdf", timeout=30)["result"] == "delivered"
    # Found by its lookup, not uploaded again.
    lost = faxd.report_for("lost.pdf", timeout=30)
    assert lost["result"] == "delivered"
    assert docs_stats(sandbox)["send_requests"] == 2
    assert faxd.stop() == 0


def test_a_lost_upload_whose_lookups_are_refused_fails_at_its_deadline(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # The upload's answer is lost, then every lookup is refused: faxd cannot learn whether
    # the fax went, so it must fail (never "delivered", never sent twice), not wait forever.
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_after"})
    sandbox.add_fault(
        {
            "api": "docs",
            "endpoint": "retrieve",
            "action": "status",
            "status": 400,
            "times": "always",
        }
    )
    faxd.overrides.update({"dft": "never", "give_up_after": "20s", "max_attempts": 2})
    faxd.start()
    faxd.drop("+46401234567/lost.pdf", pdf("lost and unaskable"))
    report = faxd.report_for("lost.pdf", timeout=90)
    assert report["result"] == "failed"
    error = report["recipients"][0]["error"]
    assert "could not ask whether it arrived" in error
    assert "with this transmission's reference fx" in error
    assert "before you run faxd retry" in error
    assert docs_stats(sandbox)["send_requests"] == 1
    refusals = [line for line in faxd.log_text().splitlines() if "refused the status query" in line]
    assert len(refusals) == 1 and "warning" in refusals[0]
    assert faxd.stop() == 0


def test_https_against_a_plain_http_server_fails_as_never_sent(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.docs_url = faxd.docs_url.replace("http://", "https://")
    faxd.overrides.update({"dft": "never", "give_up_after": "10s"})
    faxd.start()
    faxd.drop("+46401234567/tls.pdf", pdf("tls"))
    report = faxd.report_for("tls.pdf", timeout=60)
    assert report["result"] == "failed"
    error = report["recipients"][0]["error"]
    assert "TLS handshake failed" in error and "scheme" in error
    assert "may have" not in error  # not an upload whose outcome is unknown
    assert docs_stats(sandbox)["send_requests"] == 0
    assert faxd.stop() == 0
