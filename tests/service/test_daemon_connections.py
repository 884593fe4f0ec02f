"""How many connections the daemon asks each provider's pool to keep."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from faxd.inbound.poller import DEFAULT_WORKERS
from faxd.outbound.engine import QUERY_WORKERS
from faxd.providers.provider_type import DEFAULT_CONNECTIONS
from faxd.providers.registry import build_senders
from faxd.service.daemon_supervision import requests_at_once
from faxd.settings import DocsProviderSettings, InboxSettings, Secret, Settings
from tests.settings_helpers import bare_settings


def _settings(tmp_path: Path, concurrency: int) -> Settings:
    docs = DocsProviderSettings(
        name="docs", api_key=Secret("k"), base_url="http://127.0.0.1:9/docs", timezone="UTC"
    )
    return bare_settings(tmp_path, providers={"docs": docs}, concurrency=concurrency)


def test_the_pool_holds_uploads_status_queries_and_the_inbox_poller(tmp_path: Path) -> None:
    plain = _settings(tmp_path, concurrency=8)
    with_inbox = replace(plain, inbox=InboxSettings(provider="docs", path=tmp_path / "in"))
    assert requests_at_once(plain) == 8 + QUERY_WORKERS
    # The default configuration with an inbox needs more than a session kept before.
    assert requests_at_once(with_inbox) == 8 + QUERY_WORKERS + DEFAULT_WORKERS
    assert requests_at_once(with_inbox) > DEFAULT_CONNECTIONS


def test_built_providers_keep_that_many_connections(tmp_path: Path) -> None:
    senders = build_senders(_settings(tmp_path, concurrency=30), connections=32)
    try:
        session = senders["docs"]._session  # type: ignore[attr-defined]
        assert session.connections == 32
        assert session.manager(None).connection_pool_kw["maxsize"] == 32
    finally:
        for sender in senders.values():
            sender.close()
