"""Same-named documents with lost answers, against a server in another time zone (and one
that renames uploaded files): every `delivered` report names the transmission that carried
exactly the bytes filed beside it, and nothing is uploaded twice."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from faxd.sandbox.server import SandboxServer

from .harness import FAST_SCHEDULE, Faxd, files_under, for_sandbox, pdf, wait_for

pytestmark = pytest.mark.slow

NUMBER = "+46812345678"
OTHER = "+46855512340"
# (folder, recipient subfolder): two folders send letter.pdf to one number, one to another
PLACES = (("spool", NUMBER), ("spool2", NUMBER), ("spool", OTHER))


@pytest.fixture(
    params=[
        {"timezone": "Pacific/Kiritimati"},  # UTC+14; faxd assumes Europe/Stockholm
        {"timezone": "Pacific/Pago_Pago", "rename_files": True},  # UTC-11, its own names
    ],
    ids=["utc+14-names-kept", "utc-11-renamed"],
)
def server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    srv = SandboxServer({"status_delay": 0.3, **request.param}).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def daemon(tmp_path: Path, server: SandboxServer) -> Iterator[Faxd]:
    instance = for_sandbox(Faxd, tmp_path, server)
    instance.provider_overrides.update(FAST_SCHEDULE)  # lookups from 1 s, not 15
    try:
        yield instance
    finally:
        instance.stop()


def reports(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, yaml.safe_load(path.read_text()))
        for path in sorted(files_under(root))
        if path.name.endswith(".report.yaml") and "state" not in path.parts
    ]


def test_each_report_names_the_transmission_that_carried_its_bytes(
    daemon: Faxd, server: SandboxServer
) -> None:
    root = daemon.root
    daemon.folders = [
        {"path": str(root / "spool"), "sent_dir": str(root / "sent1")},
        {"path": str(root / "spool2"), "sent_dir": str(root / "sent2")},
    ]
    (root / "spool2").mkdir()
    for _ in PLACES:  # every upload is accepted, and its answer lost
        server.add_fault({"api": "docs", "endpoint": "send", "action": "drop_after"})
    daemon.start()
    contents = {}
    for n, (folder, number) in enumerate(PLACES):
        data = pdf(f"letter {n}")
        target = root / folder / number / "letter.pdf"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(".letter.pdf.partial")
        tmp.write_bytes(data)
        tmp.rename(target)
        contents[hashlib.sha256(data).hexdigest()] = n

    def all_filed() -> list[tuple[Path, dict[str, Any]]] | None:
        found = reports(root)
        return found if len(found) == len(PLACES) else None

    found = wait_for(all_filed, 150, "three reports", step=0.5)
    log = daemon.log_text()
    assert log.count("upload outcome unknown") == len(PLACES), log[-4000:]
    stats = server.stats()["docs"]
    transmissions = stats["transmissions"]
    assert stats["send_requests"] == len(PLACES)  # nothing uploaded twice
    assert sorted(stats["uploads_by_sha256"].values()) == [1] * len(PLACES)
    ids = []
    for report_path, report in found:
        assert report["result"] == "delivered", report
        document = report_path.with_name(report_path.name.removesuffix(".report.yaml"))
        digest = hashlib.sha256(document.read_bytes()).hexdigest()
        (recipient,) = report["recipients"]
        remote = transmissions[recipient["id"]]
        assert remote["sha256"] == [digest], (report_path, recipient["id"])
        assert remote["recipient"] == recipient["number"]
        ids.append(recipient["id"])
    assert len(set(ids)) == len(PLACES)
    assert sorted(contents) == sorted(
        hashlib.sha256(p.with_name(p.name.removesuffix(".report.yaml")).read_bytes()).hexdigest()
        for p, _ in found
    )


def test_same_named_scans_with_sigkills_after_accept_each_track_their_own_fax(
    daemon: Faxd, server: SandboxServer
) -> None:
    # Every start dies at the first accepted upload, before the answer is committed (or,
    # once every document has reached the provider, is killed during its lookups); the
    # uploads in flight with it are lost answers too. Then lookups run side by side.
    bodies = {}
    for n in range(10):
        rel = f"u{n:02d}/scan.pdf"
        daemon.drop(f"{rel}.yaml", f'to: "{NUMBER}"\n'.encode())
        bodies[rel] = pdf(f"scan {n}")
        daemon.drop(rel, bodies[rel])
    contents = {hashlib.sha256(body).hexdigest() for body in bodies.values()}

    def crashed_or_all_uploaded(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
        def ended() -> bool:
            uploaded = set(server.stats()["docs"]["uploads_by_sha256"])
            return proc.poll() is not None or contents <= uploaded

        return ended

    for _ in range(4):
        daemon.start(FAXD_CRASH_AT="after_accept_before_commit")
        proc = daemon.proc
        assert proc is not None
        wait_for(crashed_or_all_uploaded(proc), 60, "the crash after an accept")
        if proc.poll() is None:
            # Every document reached the provider in the starts before (four takers send
            # many at once): nothing is left to upload, so nothing crashes at an accept.
            # This start is killed all the same, in the middle of its lookups.
            daemon.kill()
            break
        daemon.proc = None
    daemon.start()

    def all_filed() -> list[tuple[Path, dict[str, Any]]] | None:
        found = reports(daemon.root)
        return found if len(found) == len(bodies) else None

    found = wait_for(all_filed, 240, "every report", step=0.5)
    stats = server.stats()["docs"]
    assert sorted(stats["uploads_by_sha256"].values()) == [1] * len(bodies)
    ids = []
    for report_path, report in found:
        assert report["result"] == "delivered", report
        document = report_path.with_name(report_path.name.removesuffix(".report.yaml"))
        (recipient,) = report["recipients"]
        digest = hashlib.sha256(document.read_bytes()).hexdigest()
        assert stats["transmissions"][recipient["id"]]["sha256"] == [digest], report_path
        ids.append(recipient["id"])
    assert len(set(ids)) == len(bodies)
