"""The inbox poller against the sandbox over HTTP, with the daemon's folder claims: an inbox
another faxd holds (it took the folder while the share was away, and this faxd's start
could not claim it then) is not delivered into; the faxes wait at the provider and are
delivered once the other faxd has let the folder go. The share itself, going and coming
back, is mounted for real in tests/e2e/test_inbox_share_claim.py."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from faxd.clock import SystemClock
from faxd.host.folder_claims import CLAIM_NAME, FolderClaims
from faxd.inbound.poller import InboxPoller
from faxd.providers.docs import DocsProvider
from faxd.sandbox.server import SandboxServer
from faxd.settings import DocsProviderSettings, InboxSettings, Secret
from faxd.store.journal import Journal
from tests.folder_claim_holder import OTHER, held_elsewhere

OURS = "+4612345678"
SENDER = "+46927654321"
KEY = "sandbox-docs-key"
HELD = f"is worked by another faxd ({OTHER})"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer({"status_delay": 0.1}) as running:
        yield running


@pytest.fixture
def provider(server: SandboxServer) -> Iterator[DocsProvider]:
    made = DocsProvider(
        DocsProviderSettings(name="docs", api_key=Secret(KEY), base_url=server.docs_base_url)
    )
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "state" / "journal.sqlite")
    try:
        yield opened
    finally:
        opened.close()


def fax(server: SandboxServer, name: str) -> bytes:
    content = f"%PDF-1.4 {name}".encode() + b"x" * 200
    server.add_received(
        {
            "sender": SENDER,
            "recipient": OURS,
            "files": [{"fileName": name, "content_base64": base64.b64encode(content).decode()}],
        }
    )
    return content


def documents(folder: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != CLAIM_NAME)


def test_an_inbox_another_faxd_holds_is_not_delivered_into_until_it_lets_it_go(
    tmp_path: Path, server: SandboxServer, provider: DocsProvider, journal: Journal
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    claims = FolderClaims("pid 1 on fax2, state_dir /var/lib/faxd")
    poller = InboxPoller(
        InboxSettings(provider="docs", path=inbox, delete_after_download=True),
        provider,
        journal,
        frozenset({OURS}),
        frozenset,
        SystemClock(),
        ZoneInfo("Europe/Stockholm"),
        claims=claims,
    )
    content = fax(server, "waiting.pdf")
    with held_elsewhere(inbox), capture_logs() as logs:
        results = [poller.poll_once() for _ in range(3)]
        assert all(r.delivered == 0 and r.error and HELD in r.error for r in results)
        assert "not delivered, and wait at the provider" in str(results[0].error)
        assert documents(inbox) == [] and not (inbox / ".tmp").exists()
        assert server.stats()["docs"]["deleted"] == []
        assert HELD in str(poller.status().last_error)  # what `faxd status` shows
        assert claims.held() == set()
    said = [e for e in logs if HELD in str(e.get("error")) and e["log_level"] != "debug"]
    assert len(said) == 1, said  # once, not once per poll
    # The other faxd stopped: the folder is this one's, and the fax that waited comes.
    result = poller.poll_once()
    assert result.error is None and result.delivered == 1
    assert documents(inbox) == [content]
    assert claims.held() == {inbox}
    assert claims.device_of(inbox) == os.stat(inbox).st_dev
    assert (inbox / CLAIM_NAME).read_text() == "pid 1 on fax2, state_dir /var/lib/faxd\n"
    assert len(server.stats()["docs"]["deleted"]) == 1
    claims.release_all()
