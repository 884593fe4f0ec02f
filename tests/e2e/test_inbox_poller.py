"""End to end: the real InboxPoller and DocsProvider against the sandbox over HTTP.

300 received documents over one day (three full Retrieve pages and more) with hostile
names, for two numbers (one routed), and 20 of our own transmissions to our own number
mixed in. The poller is killed twice in a child process (SIGKILL from the crash hook after
a file is in place but before its commit; SIGKILL from outside in the middle of a slow
download), stopped by an outage midway in process, and restarted on the same journal.
In the end every received file is in the inbox exactly once with identical bytes, none of
ours is, nothing lies outside the inbox or in `.tmp/`, and the sandbox deleted each
document only after its file was committed on disk."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pypdf
import pytest
import yaml

from faxd.clock import SystemClock
from faxd.errors import TransientError
from faxd.host.fsops import file_sha256
from faxd.inbound.poller import InboxPoller
from faxd.model import OutgoingFile, ReceivedDocument, Submission
from faxd.providers.docs import DocsProvider
from faxd.sandbox.server import SandboxServer
from faxd.settings import DocsProviderSettings, InboxSettings, Secret
from faxd.store.inbox_ledger import InboundState, InboxLedger
from faxd.store.journal import Journal

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OURS = "+4612345678"
SUPPORT = "+4612345679"
KEY = "sandbox-docs-key"
TZ = ZoneInfo("Europe/Stockholm")
RECEIVED = 300
SENT = 20

CHILD = """
import json, os, sys
from pathlib import Path
from zoneinfo import ZoneInfo
from faxd.clock import SystemClock
from faxd.inbound.poller import InboxPoller
from faxd.store.journal import Journal
from faxd.providers.docs import DocsProvider
from faxd.settings import DocsProviderSettings, InboxSettings, Secret

cfg = json.loads(sys.argv[1])
provider = DocsProvider(DocsProviderSettings(
    name="docs", api_key=Secret(os.environ["FAXD_TEST_KEY"]), base_url=cfg["url"]))
settings = InboxSettings(
    provider="docs", path=Path(cfg["inbox"]), delete_after_download=True,
    routes={number: Path(path) for number, path in cfg["routes"].items()})
poller = InboxPoller(
    settings, provider, Journal(Path(cfg["journal"])), frozenset(cfg["numbers"]),
    lambda: frozenset(cfg["outbound"]), SystemClock(), ZoneInfo("Europe/Stockholm"),
    workers=cfg["workers"])
result = poller.poll_once()
print("RESULT", json.dumps({"delivered": result.delivered, "error": result.error}))
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blank_pdf(path: Path, width: int) -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=width, height=200)
    with path.open("wb") as fh:
        writer.write(fh)


class Checked:
    """The real provider, with a check at every delete: the document's files must already
    be committed as delivered and lie on disk with the bytes the sandbox holds."""

    def __init__(
        self,
        inner: DocsProvider,
        ledger: InboxLedger,
        expected: dict[str, dict[str, str]],
        fetch_budget: int | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.page_limit = inner.page_limit
        self.ledger = ledger
        self.expected = expected
        self.fetch_budget = fetch_budget
        self.violations: list[str] = []

    def list_received(
        self, start: datetime, end: datetime, *, fractions: bool = False
    ) -> list[ReceivedDocument]:
        return self.inner.list_received(start, end, fractions=fractions)

    def fetch(self, file_id: str, dest: BinaryIO) -> str | None:
        if self.fetch_budget is not None:
            if self.fetch_budget <= 0:
                raise TransientError("simulated outage: the provider stopped answering")
            self.fetch_budget -= 1
        return self.inner.fetch(file_id, dest)

    def delete(self, remote_id: str) -> None:
        for file_id, digest in self.expected.get(remote_id, {}).items():
            row = self.ledger.row(remote_id, file_id)
            if row is None or row.state is not InboundState.DELIVERED or row.path is None:
                self.violations.append(f"{remote_id}: deleted before its commit")
            elif file_sha256(row.path) != digest:
                self.violations.append(f"{remote_id}: deleted before its file was on disk")
        self.inner.delete(remote_id)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(
        {
            "status_delay": 0.1,
            "generate_received": {
                "count": RECEIVED,
                "span_seconds": 22 * 3600,
                "recipients": [OURS, OURS, SUPPORT],
                "hostile_names": True,
                "size": 6000,
                "seed": 11,
            },
        }
    ).start()
    try:
        yield server
    finally:
        server.stop()


def received_files(server: SandboxServer) -> dict[str, dict[str, str]]:
    """remote id -> file id -> sha256 of every received (not outbound) document."""
    found: dict[str, dict[str, str]] = {}
    with server.state.lock:
        for record in server.state.docs_records.values():
            if record.outbound:
                continue
            files: dict[str, str] = {}
            for stored in record.files:
                assert stored.blob is not None
                files[stored.file_id] = sha(b"".join(stored.blob.chunks()))
            found[record.fax_id] = files
    return found


def inbox_documents(inbox: Path) -> list[Path]:
    return [
        p
        for p in inbox.rglob("*")
        if p.is_file() and ".tmp" not in p.parts and ".meta" not in p.parts
    ]


def run_child(cfg: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(cfg)],
        env={**os.environ, "FAXD_TEST_KEY": KEY, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition: Any, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_received_documents_arrive_exactly_once_through_crashes_and_restarts(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    inbox = tmp_path / "inbox"
    support = inbox / "support"
    journal_path = tmp_path / "state" / "faxd.sqlite"
    settings = DocsProviderSettings(
        name="docs", api_key=Secret(KEY), base_url=sandbox.docs_base_url
    )
    expected = received_files(sandbox)
    assert len(expected) == RECEIVED

    # Our own transmissions to our own number: listed by Retrieve, excluded by id alone.
    out = tmp_path / "out"
    out.mkdir()
    sender = DocsProvider(settings)
    outbound: set[str] = set()
    our_digests: set[str] = set()
    for index in range(SENT):
        path = out / f"letter-{index}.pdf"
        blank_pdf(path, 100 + index)
        our_digests.add(file_sha256(path))
        accepted = sender.submit(
            Submission(
                key=f"job{index}-0",
                job_id=f"job{index}",
                sender="+4612345600",
                recipient=OURS,
                files=(OutgoingFile(path, path.name, "application/pdf", path.stat().st_size),),
                dft=False,
            )
        )
        outbound.add(accepted.remote_id)
    sender.close()
    assert len(outbound) == SENT

    cfg = {
        "url": sandbox.docs_base_url,
        "inbox": str(inbox),
        "routes": {SUPPORT: str(support)},
        "journal": str(journal_path),
        "numbers": [OURS, SUPPORT],
        "outbound": sorted(outbound),
        "workers": 1,
    }

    # 1. Killed by the crash hook: the first file is in place, its commit never happens.
    child = run_child(cfg, {"FAXD_CRASH_AT": "inbound_before_commit"})
    output, _ = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, output
    placed = inbox_documents(inbox)
    assert len(placed) == 1

    # 2. Killed from outside in the middle of a slow download.
    sandbox.add_fault(
        {"api": "docs", "endpoint": "file", "action": "slow_body", "chunk": 500, "delay": 0.5}
    )
    files_before = sandbox.stats()["docs"]["requests"].get("file", 0)
    child = run_child(cfg, {})
    partial: list[Path] = []

    def download_started() -> bool:
        # The slow file request has reached the sandbox and its .part is open (a sidecar's
        # short-lived .part during start-up recovery does not count).
        if sandbox.stats()["docs"]["requests"].get("file", 0) <= files_before:
            return child.poll() is not None
        partial[:] = list(inbox.rglob(".tmp/*.part"))
        return bool(partial) or child.poll() is not None

    wait_for(download_started, "the slow download to start")
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=60)
    assert partial, "the child ended before its download began"
    all_digests = {d for files in expected.values() for d in files.values()}
    for path in inbox_documents(inbox):
        assert file_sha256(path) in all_digests, f"{path.name} is not a complete received file"

    # 3. Restarted in process; an outage stops it after 100 downloads.
    journal = Journal(journal_path)
    ledger = InboxLedger(journal, "docs")
    inbox_settings = InboxSettings(
        provider="docs", path=inbox, routes={SUPPORT: support}, delete_after_download=True
    )
    provider = DocsProvider(settings)
    first = Checked(provider, ledger, expected, fetch_budget=100)
    poller = InboxPoller(
        inbox_settings,
        first,
        journal,
        frozenset({OURS, SUPPORT}),
        lambda: frozenset(outbound),
        SystemClock(),
        TZ,
    )
    midway = poller.poll_once()
    assert midway.error is not None and "simulated outage" in midway.error
    assert midway.tmp_removed >= 1  # the killed download's leftover
    assert midway.recovered + midway.delivered < RECEIVED
    journal.close()

    # 4. Restarted again on the same journal: it finishes, and a further poll adds nothing.
    journal = Journal(journal_path)
    ledger = InboxLedger(journal, "docs")
    second = Checked(provider, ledger, expected)
    poller = InboxPoller(
        inbox_settings,
        second,
        journal,
        frozenset({OURS, SUPPORT}),
        lambda: frozenset(outbound),
        SystemClock(),
        TZ,
    )
    finished = poller.poll_once()
    assert finished.error is None
    assert finished.outbound == SENT
    again = poller.poll_once()
    assert (again.error, again.delivered, again.recovered) == (None, 0, 0)
    assert poller.status().received_today >= 1
    journal.close()
    provider.close()

    # Every received file exactly once, with identical bytes; none of ours.
    documents = inbox_documents(inbox)
    got = collections.Counter(file_sha256(p) for p in documents)
    want = collections.Counter(d for files in expected.values() for d in files.values())
    assert got == want
    assert not our_digests & set(got)
    # Routed documents in their own folder, the rest in the inbox itself.
    with sandbox.state.lock:
        recipient_of = {
            f.file_id: r.recipient
            for r in sandbox.state.docs_records.values()
            for f in r.files
            if not r.outbound
        }
    for path in documents:
        meta = yaml.safe_load((path.parent / ".meta" / f"{path.name}.yaml").read_text())
        assert meta["id"] in expected and meta["file_id"] in expected[meta["id"]]
        assert expected[meta["id"]][meta["file_id"]] == file_sha256(path)
        assert (path.parent == support) == (recipient_of[meta["file_id"]] == SUPPORT)
        moment = datetime.fromisoformat(meta["time"])
        assert moment.utcoffset() == moment.astimezone(TZ).utcoffset()
        assert path.name.startswith(f"{moment:%Y%m%d-%H%M%S}_")
        assert path.name.isprintable() and len(path.name.encode()) <= 255
    assert len(list(inbox.rglob(".meta/*.yaml"))) == RECEIVED
    # Nothing outside the inbox, nothing left in .tmp.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            top = path.relative_to(tmp_path).parts[0]
            assert top in ("inbox", "state", "out"), path
    assert list(inbox.rglob(".tmp/*")) == []
    # Deleted at the sandbox: every received document, none of ours, each after its commit.
    deleted = sandbox.stats()["docs"]["deleted"]
    assert sorted(deleted) == sorted(expected)
    assert first.violations == [] and second.violations == []


def test_first_start_takes_only_the_lookback(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old = (now - timedelta(days=3)).astimezone(TZ).replace(tzinfo=None).isoformat("T", "seconds")
    recent = (now - timedelta(hours=2)).astimezone(TZ).replace(tzinfo=None)
    server = SandboxServer(
        {
            "received": [
                {"faxTime": old, "recipient": OURS, "files": [{"fileName": "old.pdf", "size": 10}]},
                {
                    "faxTime": recent.isoformat("T", "seconds"),
                    "recipient": OURS,
                    "files": [{"fileName": "new.pdf", "size": 10}],
                },
            ]
        }
    ).start()
    try:
        provider = DocsProvider(
            DocsProviderSettings(name="docs", api_key=Secret(KEY), base_url=server.docs_base_url)
        )
        journal = Journal(tmp_path / "state" / "faxd.sqlite")
        poller = InboxPoller(
            InboxSettings(provider="docs", path=tmp_path / "inbox"),
            provider,
            journal,
            frozenset({OURS}),
            frozenset,
            SystemClock(),
            TZ,
        )
        result = poller.poll_once()
        journal.close()
        provider.close()
    finally:
        server.stop()
    assert result.error is None
    names = [p.name for p in inbox_documents(tmp_path / "inbox")]
    assert len(names) == 1 and names[0].endswith("_new.pdf")
    assert names[0].startswith(f"{recent:%Y%m%d-%H%M%S}_")
