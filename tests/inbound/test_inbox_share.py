"""The inbox poller against the sandbox over HTTP, with an inbox folder that is a share's
mount point: while the share is not mounted the folder is still there, empty, on the
disk that holds it, and nothing may be delivered into it. A mount needs root, so the
file system a folder is on is simulated here (tests.fake_mounts, as the spool folders'
tests do); tests/e2e/test_inbox_share.py mounts real ones."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from faxd import cli
from faxd.clock import SystemClock
from faxd.inbound.poller import InboxPoller
from faxd.providers.docs import DocsProvider
from faxd.sandbox.server import SandboxServer
from faxd.settings import DocsProviderSettings, InboxSettings, Secret
from faxd.store.journal import Journal
from tests.fake_mounts import Mounts

from ..e2e.harness import Faxd, for_sandbox

OURS = "+4612345678"
SUPPORT = "+4612345679"
SENDER = "+46927654321"
KEY = "sandbox-docs-key"
TZ = ZoneInfo("Europe/Stockholm")
HELD = "is not on the file system faxd delivered into"


class Rig:
    def __init__(self, tmp: Path, server: SandboxServer, provider: DocsProvider) -> None:
        self.tmp = tmp
        self.inbox = tmp / "inbox"
        self.inbox.mkdir()
        self.server = server
        self.provider = provider
        self.state = tmp / "state"
        self.journal = Journal(self.state / "journal.sqlite")

    def poller(self, **settings: Any) -> InboxPoller:
        tuning = settings.pop("tuning", {})
        inbox = InboxSettings(provider="docs", path=self.inbox, **settings)
        return InboxPoller(
            inbox,
            self.provider,
            self.journal,
            frozenset({OURS, SUPPORT}),
            frozenset,
            SystemClock(),
            TZ,
            **tuning,
        )

    def fax(self, name: str, recipient: str = OURS) -> bytes:
        content = f"%PDF-1.4 {name}".encode() + b"x" * 200
        self.server.add_received(
            {
                "sender": SENDER,
                "recipient": recipient,
                "files": [{"fileName": name, "content_base64": base64.b64encode(content).decode()}],
            }
        )
        return content

    def deleted(self) -> list[str]:
        return list(self.server.stats()["docs"]["deleted"])


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with SandboxServer({"status_delay": 0.1}) as server:
        provider = DocsProvider(
            DocsProviderSettings(name="docs", api_key=Secret(KEY), base_url=server.docs_base_url)
        )
        made = Rig(tmp_path, server, provider)
        try:
            yield made
        finally:
            made.journal.close()
            provider.close()


@pytest.fixture
def mounts(monkeypatch: pytest.MonkeyPatch) -> Mounts:
    return Mounts(monkeypatch)


def documents(folder: Path) -> list[bytes]:
    if not folder.is_dir():
        return []
    return sorted(p.read_bytes() for p in folder.iterdir() if p.is_file())


def test_faxes_wait_at_the_provider_while_the_share_is_away_and_arrive_once_it_is_back(
    rig: Rig, mounts: Mounts
) -> None:
    mounts.mount(rig.inbox)
    poller = rig.poller(delete_after_download=True)
    before = rig.fax("before.pdf")
    assert poller.poll_once().delivered == 1
    mounts.umount(rig.inbox)
    meanwhile = rig.fax("meanwhile.pdf")
    with capture_logs() as logs:
        results = [poller.poll_once() for _ in range(3)]
    assert all(r.delivered == 0 and r.error and HELD in r.error for r in results)
    assert documents(rig.inbox) == [before]
    assert not (rig.inbox / ".tmp").exists() or not any((rig.inbox / ".tmp").iterdir())
    assert len(rig.deleted()) == 1  # the first; the one waiting stays at the provider
    said = [e for e in logs if HELD in str(e.get("error")) and e["log_level"] != "debug"]
    assert len(said) == 1, said  # once per outage, not once per poll
    assert "faxd accept-inbox" in said[0]["error"]
    assert HELD in str(poller.status().last_error)  # what `faxd status` shows
    mounts.mount(rig.inbox)
    with capture_logs() as logs:
        back = poller.poll_once()
    assert back.error is None and back.delivered == 1
    assert documents(rig.inbox) == sorted([before, meanwhile])
    assert any(e["event"] == "inbox poll works again" for e in logs)
    assert len(rig.deleted()) == 2


def test_a_restart_while_the_share_is_away_still_holds_the_faxes(rig: Rig, mounts: Mounts) -> None:
    mounts.mount(rig.inbox)
    rig.fax("before.pdf")
    assert rig.poller().poll_once().delivered == 1
    mounts.umount(rig.inbox)
    rig.fax("meanwhile.pdf")
    rig.journal.close()
    rig.journal = Journal(rig.state / "journal.sqlite")  # a new process remembers it
    result = rig.poller().poll_once()
    assert result.delivered == 0 and result.error and HELD in result.error
    assert len(documents(rig.inbox)) == 1


def test_the_share_mounted_again_under_another_device_number_is_delivered_into(
    rig: Rig, mounts: Mounts
) -> None:
    """A network share gets its device number when it is mounted, so the same share may
    come back under another one: a file system mounted on the folder is never held."""
    mounts.mount(rig.inbox, 0x7E57)
    poller = rig.poller()
    rig.fax("before.pdf")
    assert poller.poll_once().delivered == 1
    mounts.umount(rig.inbox)
    rig.fax("meanwhile.pdf")
    assert poller.poll_once().error is not None
    mounts.mount(rig.inbox, 0x7E58)
    with capture_logs() as logs:
        result = poller.poll_once()
    assert result.error is None and result.delivered == 1
    assert any("another mounted file system" in e["event"] for e in logs)


def test_a_first_start_before_the_share_was_mounted_says_what_is_under_the_mount(
    rig: Rig, mounts: Mounts
) -> None:
    """Nothing remembered yet: the folder is taken where it is. The share mounted later is
    delivered into, and the documents left under it are said."""
    poller = rig.poller()
    rig.fax("early.pdf")
    assert poller.poll_once().delivered == 1
    mounts.mount(rig.inbox)
    rig.fax("later.pdf")
    with capture_logs() as logs:
        result = poller.poll_once()
    assert result.error is None and result.delivered == 1
    warned = [e for e in logs if e["log_level"] == "warning" and "under the mount" in e["event"]]
    assert len(warned) == 1 and warned[0]["folder"] == str(rig.inbox)


def test_a_share_that_goes_away_during_a_poll_gets_none_of_the_rest(
    rig: Rig, mounts: Mounts
) -> None:
    mounts.mount(rig.inbox)
    poller = rig.poller(tuning={"workers": 1})
    assert poller.poll_once().error is None  # the folder's file system is remembered
    rig.fax("first.pdf")
    rig.fax("second.pdf")
    fetch = rig.provider.fetch

    def fetch_then_unmount(file_id: str, dest: BinaryIO) -> str | None:
        try:
            return fetch(file_id, dest)
        finally:
            if rig.inbox in mounts.shares:
                mounts.umount(rig.inbox)

    rig.provider.fetch = fetch_then_unmount  # type: ignore[method-assign]
    result = poller.poll_once()
    assert result.delivered == 1 and result.error and HELD in result.error
    assert len(documents(rig.inbox)) == 1


def test_a_route_folder_that_is_a_mount_point_is_held_on_its_own(rig: Rig, mounts: Mounts) -> None:
    support = rig.tmp / "support"
    support.mkdir()
    mounts.mount(support)
    poller = rig.poller(routes={SUPPORT: support})
    rig.fax("routed.pdf", SUPPORT)
    assert poller.poll_once().delivered == 1
    mounts.umount(support)
    rig.fax("routed-meanwhile.pdf", SUPPORT)
    rig.fax("plain.pdf")
    result = poller.poll_once()
    assert result.error and f"inbox folder {support} is not on" in result.error
    assert len(documents(support)) == 1
    mounts.mount(support)
    assert poller.poll_once().delivered == 2
    assert len(documents(support)) == 2 and len(documents(rig.inbox)) == 1


def test_accept_inbox_takes_a_folder_moved_onto_its_parent_disk_on_purpose(
    rig: Rig, mounts: Mounts, capsys: pytest.CaptureFixture[str]
) -> None:
    mounts.mount(rig.inbox)
    poller = rig.poller()
    rig.fax("before.pdf")
    assert poller.poll_once().delivered == 1
    mounts.umount(rig.inbox)  # the share is given up: the inbox is a local folder now
    rig.fax("after.pdf")
    assert poller.poll_once().error is not None
    faxd = for_sandbox(Faxd, rig.tmp, rig.server)  # its configuration, for the command
    faxd.inbox = {"path": str(rig.inbox)}
    assert faxd.state == rig.state
    config = faxd.write_config()
    assert cli.main(["accept-inbox", "--config", str(config)], environ={}) == 0
    assert f"faxd delivers into {rig.inbox} on the file system it is on now" in (
        capsys.readouterr().out
    )
    result = poller.poll_once()
    assert result.error is None and result.delivered == 1
    mounts.mount(rig.inbox)  # it is not held: a share mounted there is delivered into
    assert poller.poll_once().error is None
    elsewhere = rig.tmp / "elsewhere"
    assert cli.main(["accept-inbox", str(elsewhere), "--config", str(config)], environ={}) == 2
    assert f"{elsewhere} is not an inbox folder of the configuration" in capsys.readouterr().err


def test_an_inbox_below_a_share_mounted_higher_up_is_held_while_away_and_delivered_into_once_back(
    rig: Rig, mounts: Mounts
) -> None:
    """The NAS at /srv/fax, the inbox /srv/fax/in: the folder is on its parent's file
    system whether the share is mounted or not, and the share comes back under another
    device number."""
    share = rig.tmp / "share"
    rig.inbox = share / "in"
    rig.inbox.mkdir(parents=True)
    mounts.mount(share, 0x7E57)
    poller = rig.poller()
    before = rig.fax("before.pdf")
    assert poller.poll_once().delivered == 1
    mounts.umount(share)  # `in` below the bare mount point: made there by hand, say
    meanwhile = rig.fax("meanwhile.pdf")
    result = poller.poll_once()
    assert result.delivered == 0 and result.error and HELD in result.error
    assert f"is {share} the bare mount point of a share" in result.error
    rig.journal.close()
    rig.journal = Journal(rig.state / "journal.sqlite")  # a restart still holds it
    poller = rig.poller()
    assert poller.poll_once().error is not None
    assert documents(rig.inbox) == [before]
    mounts.mount(share, 0x7E58)
    with capture_logs() as logs:
        result = poller.poll_once()
    assert result.error is None and result.delivered == 1
    assert documents(rig.inbox) == sorted([before, meanwhile])
    assert any("another mounted file system" in e["event"] for e in logs)
