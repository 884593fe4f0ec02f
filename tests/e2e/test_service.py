"""The daemon as a service (SPEC §5; RELIABILITY 9, 18, 19, 23, 31, 35-38), proved on the
real `faxd run` subprocess against the sandbox: sd_notify over a real AF_UNIX datagram
socket, SIGTERM and SIGHUP, the instance lock, logging with and without systemd-python,
journald fields, and an API key that appears nowhere."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, files_under, for_sandbox, pdf, wait_for

pytestmark = pytest.mark.slow

STATUS = re.compile(r"(\d+) queued, (\d+) in flight, (\d+) failed today")
WATCHDOG_USEC = "2000000"
TO = "+46812345678"  # a plain fax number in the sandbox


# ------------------------------------------------------------------------------ helpers


class NotifySocket:
    """The receiving end of sd_notify, bound the way systemd binds it."""

    def __init__(self, directory: Path) -> None:
        path = directory / "notify.sock"
        if len(os.fsencode(path)) > 100:  # sun_path holds 108 bytes; pytest paths get long
            path = Path(tempfile.mkdtemp(prefix="faxd-notify-")) / "n.sock"
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-socket", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._messages.append((time.monotonic(), data.decode()))

    def messages(self) -> list[str]:
        with self._lock:
            return [m for _, m in self._messages]

    def timed(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._messages)

    def wait(
        self, predicate: Callable[[str], bool], what: str, *, after: int = 0, timeout: float = 30
    ) -> int:
        """The index of the first message at or after `after` that matches."""

        def find() -> tuple[int] | None:
            for index, message in enumerate(self.messages()[after:], after):
                if predicate(message):
                    return (index,)
            return None

        found: tuple[int] = wait_for(find, timeout, what)
        return found[0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
        self.path.unlink(missing_ok=True)


def notify_fields(message: str) -> dict[str, str]:
    """KEY=value lines of one sd_notify datagram."""
    return dict(line.partition("=")[::2] for line in message.splitlines())


def has(key: str, value: str = "1") -> Callable[[str], bool]:
    return lambda message: notify_fields(message).get(key) == value


def counts(message: str) -> tuple[int, int, int] | None:
    """(queued, in flight, failed today) from a STATUS= line, if it has them."""
    found = STATUS.search(notify_fields(message).get("STATUS", ""))
    if found is None:
        return None
    queued, in_flight, failed = (int(g) for g in found.groups())
    return queued, in_flight, failed


def status_counts(message: str) -> tuple[int, int, int]:
    found = counts(message)
    assert found is not None, f"no queue counts in {message!r}"
    return found


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    env.update(extra)
    return env


@dataclass
class ServiceFaxd(Faxd):
    """The harness's daemon, plus provider settings and an optional start wrapper."""

    docs_settings: dict[str, Any] = field(default_factory=dict)
    # systemd sets WATCHDOG_PID to the service's pid; a shell that execs faxd knows it.
    watchdog_pid_wrapper: bool = False

    def write_config(self) -> Path:
        path = super().write_config()
        if self.docs_settings:
            document = yaml.safe_load(path.read_text())
            document["providers"]["docs"].update(self.docs_settings)
            path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def start(self, **env: str) -> None:
        if not self.watchdog_pid_wrapper:
            super().start(**env)
            return
        assert self.proc is None or self.proc.poll() is not None
        self.write_config()
        environ = child_env(**self.env_extra, **env)
        argv = [
            "/bin/sh",
            "-c",
            'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" -m faxd run --config "$1"',
            sys.executable,
            str(self.config_path),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=environ)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def put(self, folder: Path, rel: str, data: bytes) -> Path:
        """Drop a file into any folder, written under a hidden name and renamed."""
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(data)
        tmp.rename(path)
        return path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "faxd", *args, "--config", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(**self.env_extra),
            check=False,
        )

    def status_output(self) -> str:
        result = self.cli("status")
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path)
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def svc(tmp_path: Path, sandbox: SandboxServer) -> Iterator[ServiceFaxd]:
    instance = for_sandbox(ServiceFaxd, tmp_path, sandbox)
    try:
        yield instance
    finally:
        instance.stop()


def docs_stats(sandbox: SandboxServer) -> dict[str, Any]:
    return dict(sandbox.stats()["docs"])


def copies(root: Path, name: str) -> list[Path]:
    return [p for p in files_under(root) if p.name == name]


def log_lines(svc: Faxd, *needles: str) -> list[str]:
    return [line for line in svc.log_text().splitlines() if all(n in line for n in needles)]


def log_index(text: str, needle: str) -> int:
    index = text.find(needle)
    assert index >= 0, f"{needle!r} not in the daemon log:\n{text[-3000:]}"
    return index


# ------------------------------------------------------------------------ sd_notify


def test_ready_then_the_startup_backlog_status_watchdog_and_stopping(
    svc: ServiceFaxd, notify: NotifySocket
) -> None:
    svc.write_config()
    hour_ago = time.time() - 3600
    for name in ("early-1.pdf", "early-2.pdf", "early-3.pdf"):
        path = svc.drop(f"{TO}/{name}", pdf(name))
        os.utime(path, (hour_ago, hour_ago))  # arrived while faxd was down
    svc.watchdog_pid_wrapper = True
    svc.start(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC=WATCHDOG_USEC)

    ready = notify.wait(has("READY"), "READY=1")
    # The watches are set up before READY; the start-up scan is read after it, so a
    # backlog never delays READY (tests/e2e/test_backlog_startup.py).
    _, _, failed = status_counts(notify.messages()[ready])
    assert failed == 0
    assert not any(has("WATCHDOG")(m) for m in notify.messages()[:ready])

    for name in ("early-1.pdf", "early-2.pdf", "early-3.pdf"):
        assert svc.report_for(name)["result"] == "delivered"
    # A periodic STATUS (not READY) after the work is done: nothing left.
    notify.wait(
        lambda m: "READY" not in m and (counts(m) or (1,))[:2] == (0, 0),
        "a STATUS= with an empty queue",
        after=ready + 1,
    )

    # WATCHDOG_PID named the faxd process itself (through the exec wrapper): pings come
    # at half of WATCHDOG_USEC, so no gap gets near the 2 s timeout.
    wait_for(
        lambda: sum(has("WATCHDOG")(m) for m in notify.messages()) >= 6, 30, "6 watchdog pings"
    )
    pings = [t for t, m in notify.timed() if has("WATCHDOG")(m)]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) < 2.0, gaps

    before_stop = len(notify.messages())
    svc.signal(signal.SIGTERM)
    assert svc.wait_exit(60) == 0
    notify.wait(has("STOPPING"), "STOPPING=1", after=before_stop, timeout=5)


def test_a_dead_watcher_stops_the_watchdog_pings(svc: ServiceFaxd, notify: NotifySocket) -> None:
    # WATCHDOG_PID unset: notify.py takes the watchdog as meant for this process.
    svc.start(
        NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC=WATCHDOG_USEC, FAXD_FAULT="kill_watcher"
    )
    ready = notify.wait(has("READY"), "READY=1")
    # Healthy first: pings flow until the fault hook stops every folder watcher.
    wait_for(lambda: sum(has("WATCHDOG")(m) for m in notify.messages()[ready:]) >= 2, 30, "pings")
    sick = notify.wait(
        lambda m: "not healthy" in notify_fields(m).get("STATUS", ""), "an unhealthy STATUS"
    )
    assert "watcher" in notify.messages()[sick]
    # Two periodic STATUS= lines later (at least 5 s, ten main-loop ticks) the daemon is
    # still running and has not pinged once since: systemd's watchdog would restart it.
    later = notify.wait(lambda m: m.startswith("STATUS="), "a STATUS= line", after=sick + 1)
    notify.wait(lambda m: m.startswith("STATUS="), "another STATUS= line", after=later + 1)
    assert not any(has("WATCHDOG")(m) for m in notify.messages()[sick:])
    assert svc.alive()
    assert svc.log_text().count("faxd is not healthy") == 1  # said once, not every tick
    assert svc.stop() == 0

    # Without a watchdog nobody would notice: faxd exits non-zero for Restart=on-failure.
    svc.start(FAXD_FAULT="kill_watcher")
    assert svc.wait_exit(30) == 1
    assert svc.log_text().count("faxd is not healthy") == 2


def test_a_take_stuck_on_its_share_is_said_and_the_rest_goes_on(
    svc: ServiceFaxd, notify: NotifySocket
) -> None:
    # FAXD_HANG_AT blocks the take of stuck.pdf for good, as a read from a hard-mounted
    # share whose server went away does; the hook also makes faxd say a stall after 2 s.
    svc.start(
        NOTIFY_SOCKET=str(notify.path),
        WATCHDOG_USEC=WATCHDOG_USEC,
        FAXD_HANG_AT="take:stuck.pdf",
    )
    notify.wait(has("READY"), "READY=1")
    svc.drop(f"{TO}/stuck.pdf", pdf("stuck"))
    stuck = notify.wait(
        lambda m: "not taking documents in" in notify_fields(m).get("STATUS", ""),
        "a STATUS= that says what is stuck",
        timeout=30,
    )
    assert f"taking {svc.spool / TO / 'stuck.pdf'} has not finished" in notify.messages()[stuck]
    (line,) = log_lines(svc, "documents are not being taken in")
    assert "stuck.pdf" in line and "share may hang" in line
    assert re.search(
        r"^not taking documents in since .*: taking .*stuck\.pdf", svc.status_output(), re.M
    )
    # The other takers, uploads and the watchdog go on: a restart would hang the same way.
    svc.drop(f"{TO}/other.pdf", pdf("other"))
    assert svc.report_for("other.pdf")["result"] == "delivered"
    after = len(notify.messages())
    notify.wait(has("WATCHDOG"), "a watchdog ping while the take hangs", after=after, timeout=5)
    assert not any("not healthy" in m for m in notify.messages())
    # No thread can cut the hung read short, and a stop does not wait for it until systemd
    # kills faxd: it ends by itself (the harness would kill it after 30 s, exit -9), says
    # which document it left, and the next start takes it once the share is back (here:
    # without the hook).
    assert svc.stop(timeout=30) == 0
    (left,) = log_lines(svc, "stopping while documents are still being taken in")
    assert "stuck.pdf" in left
    svc.start()
    assert svc.report_for("stuck.pdf")["result"] == "delivered"
    assert "not taking documents in" not in svc.status_output()
    assert (svc.sent / TO / "stuck.pdf").read_bytes() == pdf("stuck")


def test_a_watcher_lost_with_its_vanished_folder_is_an_outage_not_a_crash(
    svc: ServiceFaxd, notify: NotifySocket
) -> None:
    svc.overrides["rescan_interval"] = 300  # only the watcher's restart can find back.pdf
    svc.start(
        NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC=WATCHDOG_USEC, FAXD_FAULT="kill_watcher"
    )
    notify.wait(has("READY"), "READY=1")
    away = svc.root / "spool.off"
    svc.spool.rename(away)  # the share is unmounted, and its watcher dies meanwhile
    wait_for(lambda: log_lines(svc, "vanished", str(svc.spool)), 10, "the outage to be seen")
    svc.put(away, f"{TO}/back.pdf", pdf("back"))
    away.rename(svc.spool)
    assert svc.report_for("back.pdf")["result"] == "delivered"
    assert log_lines(svc, "spool folder is back")
    assert not any("not healthy" in m for m in notify.messages())
    # Still pinging after the folder came back.
    last = len(notify.messages())
    notify.wait(has("WATCHDOG"), "a watchdog ping after the outage", after=last, timeout=5)
    assert svc.stop() == 0


# --------------------------------------------------------------------------- signals


def test_sigterm_during_a_slow_upload_starts_nothing_new_and_a_restart_sends_once(
    svc: ServiceFaxd, sandbox: SandboxServer, notify: NotifySocket
) -> None:
    svc.docs_settings = {"read_timeout": 30}  # the slow answer arrives; nothing times out
    svc.overrides["concurrency"] = 1
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "slow", "delay": 12})
    svc.start(NOTIFY_SOCKET=str(notify.path))
    notify.wait(has("READY"), "READY=1")
    svc.drop(f"{TO}/first.pdf", pdf("first"))
    wait_for(lambda: docs_stats(sandbox)["send_requests"] == 1, 30, "the slow upload to start")
    svc.drop(f"{TO}/second.pdf", pdf("second"))

    # While it hangs: one in flight, the other waits for the single upload slot.
    wait_for(lambda: "1 queued, 1 in flight" in svc.status_output(), 10, "faxd status to show both")
    assert "first.pdf" in svc.status_output()
    notify.wait(
        lambda m: "STATUS=1 queued, 1 in flight" in m, "STATUS= with one in flight", timeout=10
    )

    stop_at = len(notify.messages())
    svc.signal(signal.SIGTERM)
    assert svc.wait_exit(60) == 0  # TimeoutStopSec=60
    notify.wait(has("STOPPING"), "STOPPING=1", after=stop_at, timeout=1)
    log = svc.log_text()
    # The upload under way when the stop came was finished, not abandoned ...
    assert log_index(log, "stopping: no new uploads") < log_index(log, '"event": "accepted"')
    # ... and the queued one was not started.
    stats = docs_stats(sandbox)
    assert stats["send_requests"] == 1
    assert (svc.spool / TO / "second.pdf").exists()

    svc.start()
    for name in ("first.pdf", "second.pdf"):
        assert svc.report_for(name)["result"] == "delivered"
    assert sorted(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1, 1]
    # The report is written before the job's work copy is removed; "document filed" after.
    wait_for(
        lambda: all(log_lines(svc, '"event": "document filed"', n) for n in ("first", "second")),
        10,
        "both jobs filed",
    )
    for name in ("first.pdf", "second.pdf"):
        assert copies(svc.root, name) == [svc.sent / TO / name]


def test_sighup_adds_and_releases_folders_without_losing_a_job(
    svc: ServiceFaxd, sandbox: SandboxServer, notify: NotifySocket
) -> None:
    a, b, c = (svc.root / name for name in ("a", "b", "c"))
    for folder in (a, b, c):
        folder.mkdir()
    svc.folders = [{"path": str(a)}, {"path": str(b)}]
    svc.overrides["rescan_interval"] = 2  # a released folder must stay unread by rescans too
    svc.docs_settings = {"read_timeout": 30}
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "slow", "delay": 4})
    svc.start(NOTIFY_SOCKET=str(notify.path))
    notify.wait(has("READY"), "READY=1")
    svc.put(b, f"{TO}/kept.pdf", pdf("kept"))
    wait_for(lambda: docs_stats(sandbox)["send_requests"] == 1, 30, "kept.pdf's upload")

    # Reload while kept.pdf, from the folder being removed, is still uploading.
    svc.folders = [{"path": str(a)}, {"path": str(c)}]
    svc.write_config()
    reload_at = len(notify.messages())
    svc.signal(signal.SIGHUP)
    reloading = notify.wait(has("RELOADING"), "RELOADING=1", after=reload_at)
    notify.wait(has("READY"), "READY=1 after the reload", after=reloading)
    wait_for(lambda: log_lines(svc, "folder released", f'"{b}"'), 10, "b to be released")
    assert log_lines(svc, "watching folder", f'"{c}"')

    svc.put(b, f"{TO}/ignored.pdf", pdf("ignored"))
    svc.put(c, f"{TO}/added.pdf", pdf("added"))
    assert svc.report_for("added.pdf")["result"] == "delivered"
    assert svc.report_for("kept.pdf")["result"] == "delivered"
    assert (b / TO / "ignored.pdf").exists()
    assert not any(r["document"] == "ignored.pdf" for r in svc.reports())

    # An invalid configuration is refused with the reason; the running one carries on.
    good = svc.config_path.read_text()
    broken = yaml.safe_load(good)
    broken["defaults"]["settle"] = "soon"
    svc.config_path.write_text(yaml.safe_dump(broken, sort_keys=False))
    svc.signal(signal.SIGHUP)
    wait_for(lambda: "new configuration refused" in svc.log_text(), 15, "the refusal")
    assert log_lines(svc, "new configuration refused", "settle")
    assert svc.alive()
    svc.put(c, f"{TO}/after.pdf", pdf("after"))
    assert svc.report_for("after.pdf")["result"] == "delivered"
    assert sorted(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1, 1, 1]
    # Several rescan intervals later, the released folder is still left alone.
    assert (b / TO / "ignored.pdf").exists()
    assert svc.stop() == 0


def levels_logged(svc: Faxd, after: int = 0) -> set[str]:
    return {json.loads(line)["level"] for line in svc.log_text()[after:].splitlines()}


def test_the_configured_log_level_is_taken_at_start_and_at_each_reload(
    svc: ServiceFaxd, notify: NotifySocket
) -> None:
    svc.log_level = "warning"
    svc.start(NOTIFY_SOCKET=str(notify.path))
    notify.wait(has("READY"), "READY=1")
    svc.put(svc.spool, f"{TO}/quiet.pdf", pdf("quiet"))
    assert svc.report_for("quiet.pdf")["result"] == "delivered"
    # Queued, uploaded, accepted, filed: all said at info, none of it at warning.
    assert levels_logged(svc) <= {"warning", "error"}

    svc.log_level = "debug"
    svc.write_config()
    reload_at = len(notify.messages())
    logged = len(svc.log_text())
    svc.signal(signal.SIGHUP)
    reloading = notify.wait(has("RELOADING"), "RELOADING=1", after=reload_at)
    notify.wait(has("READY"), "READY=1 after the reload", after=reloading)
    svc.put(svc.spool, f"{TO}/loud.pdf", pdf("loud"))
    assert svc.report_for("loud.pdf")["result"] == "delivered"
    wait_for(lambda: log_lines(svc, '"event": "document filed"', "loud.pdf"), 10, "the filing")
    assert {"debug", "info"} <= levels_logged(svc, logged)
    assert svc.stop() == 0


def test_sighup_with_a_new_state_dir_is_refused_and_leaves_nothing_there(
    svc: ServiceFaxd, notify: NotifySocket
) -> None:
    """A new state_dir takes a restart: the journal stays open where it was. Reloaded
    half, each document's copy went into the new state_dir's work/ and stayed there after
    the document was filed, while `faxd status` found no journal at all."""
    svc.start(NOTIFY_SOCKET=str(notify.path))
    notify.wait(has("READY"), "READY=1")
    moved = svc.root / "state-new"
    document = yaml.safe_load(svc.config_path.read_text())
    document["state_dir"] = str(moved)
    svc.config_path.write_text(yaml.safe_dump(document, sort_keys=False))
    svc.signal(signal.SIGHUP)
    wait_for(lambda: "new configuration refused" in svc.log_text(), 15, "the refusal")
    assert log_lines(svc, "new configuration refused", "state_dir", "restart")
    svc.put(svc.spool, f"{TO}/after.pdf", pdf("after"))
    assert svc.report_for("after.pdf")["result"] == "delivered"
    assert not moved.exists()
    assert svc.alive()


def test_sighup_watches_a_folder_again_when_its_watch_mode_changed(
    svc: ServiceFaxd, notify: NotifySocket
) -> None:
    # A share found unseen by inotify is set to `watch: poll` and reloaded: polled from
    # then on, not only after the next restart (and back again).
    share = svc.root / "share"
    share.mkdir()
    svc.folders = [{"path": str(share), "watch": "inotify"}]
    svc.start(NOTIFY_SOCKET=str(notify.path))
    notify.wait(has("READY"), "READY=1")
    assert log_lines(svc, '"watching folder"', '"mode": "inotify"', f'"{share}"')
    for mode in ("poll", "inotify"):
        svc.folders = [{"path": str(share), "watch": mode}]
        svc.write_config()
        needles = ('"watching folder"', f'"mode": "{mode}"', f'"{share}"')
        before = len(log_lines(svc, *needles))

        def rewatched(needles: tuple[str, ...] = needles, before: int = before) -> bool:
            return len(log_lines(svc, *needles)) > before

        svc.signal(signal.SIGHUP)
        wait_for(rewatched, 10, f"the folder watched by {mode}")
    svc.put(share, f"{TO}/after.pdf", pdf("after the reloads"))
    assert svc.report_for("after.pdf")["result"] == "delivered"


def test_a_start_while_faxd_send_holds_the_lock_exits_1_so_systemd_starts_it_again(
    svc: ServiceFaxd,
) -> None:
    # `faxd send` with no daemon running holds the daemon's lock while it sends; a
    # `systemctl start` then exited 2, which the unit does not restart: faxd stayed down.
    holder = "import sys; from pathlib import Path; from faxd.host.lock import InstanceLock; "
    holder += "InstanceLock(Path(sys.argv[1]), 'send').acquire(); print('locked', flush=True); "
    holder += "sys.stdin.read()"
    sender = subprocess.Popen(
        [sys.executable, "-c", holder, str(svc.state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sender.stdout is not None and sender.stdout.readline() == "locked\n"
        svc.write_config()
        started = svc.cli("run")
    finally:
        sender.kill()
        sender.wait(timeout=30)
    assert started.returncode == 1, started.stderr
    assert f"faxd send (pid {sender.pid}) is using the state directory" in started.stderr


def test_a_start_while_faxd_journal_draws_reports_exits_1_so_systemd_starts_it_again(
    svc: ServiceFaxd,
) -> None:
    # `faxd journal` with no daemon running takes the daemon's lock while it draws the
    # pending report PDFs; unmarked, a daemon systemd started meanwhile exited 2 and
    # stayed down.
    svc.write_config()
    journal = subprocess.Popen(
        [sys.executable, "-m", "faxd", "journal", "--config", str(svc.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(**svc.env_extra, FAXD_HANG_AT="draw_pending"),
    )
    lock = svc.state / "faxd.lock"
    try:
        wait_for(
            lambda: lock.exists() and lock.read_text().split()[:1] == [str(journal.pid)],
            30,
            "faxd journal to take the lock",
        )
        started = svc.cli("run")
    finally:
        journal.kill()
        journal.wait(timeout=30)
    assert started.returncode == 1, started.stderr
    assert f"faxd journal (pid {journal.pid}) is using the state directory" in started.stderr


def test_a_second_instance_exits_2_naming_the_holder(svc: ServiceFaxd) -> None:
    svc.start()
    wait_for(lambda: "faxd is running" in svc.log_text(), 30, "the first instance")
    second = svc.cli("run")
    assert second.returncode == 2
    assert "already running" in second.stderr
    assert f"pid {svc.pid}" in second.stderr
    assert str(svc.state) in second.stderr
    assert svc.alive()


def test_a_second_faxd_with_its_own_state_dir_leaves_the_spool_folder_alone(
    svc: ServiceFaxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A test instance started with a copied configuration, or a second server on the same
    share: the instance lock is per state_dir, and both copied and sent every document."""
    svc.start()
    wait_for(lambda: "faxd is running" in svc.log_text(), 30, "the first instance")
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = for_sandbox(ServiceFaxd, other_root, sandbox)
    other.folders = [{"path": str(svc.spool)}]
    other.write_config()
    second = other.cli("run")
    assert second.returncode == 2
    assert f"{svc.spool} is worked by another faxd (pid {svc.pid} on " in second.stderr
    assert f"state_dir {svc.state})" in second.stderr
    svc.drop(f"{TO}/once.pdf", pdf("once"))
    assert svc.report_for("once.pdf")["result"] == "delivered"
    assert list(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1]
    # The first one stopped, the folder is free for the other.
    assert svc.stop() == 0
    other.start()
    wait_for(lambda: "faxd is running" in other.log_text(), 30, "the other instance")
    svc.drop(f"{TO}/later.pdf", pdf("later"))
    assert other.report_for("later.pdf")["result"] == "delivered"
    assert sorted(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1, 1]
    assert other.stop() == 0


def test_an_inbox_faxd_created_at_start_is_claimed_against_a_second_faxd(
    svc: ServiceFaxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Made by the poller after the folder claims, the inbox had no claim, and a second
    faxd with its own state_dir delivered every received document into it again."""
    inbox = tmp_path / "inbox"
    svc.inbox = {"path": str(inbox), "poll_interval": 0.5}
    svc.start()
    wait_for(lambda: "faxd is running" in svc.log_text(), 30, "the first instance")
    assert (inbox / ".faxd.lock").is_file()
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = for_sandbox(ServiceFaxd, other_root, sandbox)
    other.inbox = {"path": str(inbox), "poll_interval": 0.5}
    other.write_config()
    second = other.cli("run")
    assert second.returncode == 2
    assert f"{inbox} is worked by another faxd (pid {svc.pid} on " in second.stderr
    assert svc.alive()


def test_a_folder_another_faxd_took_while_it_was_away_is_left_to_that_faxd(
    svc: ServiceFaxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The share went away and came back as another faxd's: the two must not both take
    from it (both would send each document). Whichever claims the folder first keeps it:
    usually the other faxd, which creates it afresh and claims it a moment later; then
    this one stops (without a watchdog it exits 1; under systemd its restart then exits 2
    naming the other faxd). Under load this one may see the folder back between the
    other's mkdir and its claim: then the other leaves the folder alone."""
    svc.start(FAXD_FAULT="kill_watcher")
    wait_for(lambda: "faxd is running" in svc.log_text(), 30, "the first instance")
    first_pid = svc.pid
    svc.spool.rename(tmp_path / "spool.away")
    wait_for(lambda: log_lines(svc, "vanished", str(svc.spool)), 10, "the outage to be seen")
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = for_sandbox(ServiceFaxd, other_root, sandbox)
    other.folders = [{"path": str(svc.spool)}]  # creates it afresh, and claims it
    other.start()
    try:
        wait_for(lambda: "faxd is running" in other.log_text(), 30, "the other instance")
        stepped_back = f"{svc.spool} is worked by another faxd (pid "
        wait_for(
            lambda: stepped_back in svc.log_text() or stepped_back in other.log_text(),
            30,
            "one of the two to leave the folder to the other",
        )
        if stepped_back in svc.log_text():
            assert svc.wait_exit(30) == 1
            assert f"{stepped_back}{other.pid} on " in svc.log_text()
            worker = other
        else:
            assert f"{stepped_back}{first_pid} on " in other.log_text()
            worker = svc
        # The spool was made afresh, so the drop makes its recipient folder too, and may
        # write the document before that folder's watch begins: no close of it is heard,
        # but the kernel says nobody has it open, so it goes once it settles.
        svc.drop(f"{TO}/once.pdf", pdf("once"))
        report = worker.report_for("once.pdf")
        assert report["result"] == "delivered"
        assert list(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1]
    finally:
        assert other.stop() == 0


# ------------------------------------------------------------------------ auth pause


def test_a_401_pauses_the_queue_visibly_in_status_and_faxd_status(
    svc: ServiceFaxd, sandbox: SandboxServer, notify: NotifySocket
) -> None:
    svc.docs_key = "wrong-key"
    svc.start(NOTIFY_SOCKET=str(notify.path))
    ready = notify.wait(has("READY"), "READY=1")
    svc.drop(f"{TO}/paused.pdf", pdf("paused"))
    svc.drop("Nobody Inc/refused.pdf", pdf("refused"))  # no such number or contact
    assert svc.report_for("refused.pdf")["result"] == "failed"

    # One STATUS= line with all four: queued, in flight, failed today, and the pause.
    paused = notify.wait(
        lambda m: "docs paused (auth)" in m and counts(m) == (1, 0, 1),
        "STATUS= naming the pause and the failure",
        after=ready,
    )
    assert "; docs paused (auth)" in notify.messages()[paused]
    shown = svc.status_output()
    assert "1 queued, 0 in flight" in shown
    assert re.search(r"provider docs paused \(auth\) until", shown), shown
    assert "paused.pdf" in shown
    assert (svc.spool / TO / "paused.pdf").exists()
    assert not copies(svc.root / "failed", "paused.pdf")

    (svc.root / "credentials" / "docs-api-key").write_text("sandbox-docs-key\n")
    reload_at = len(notify.messages())
    svc.signal(signal.SIGHUP)
    resumed = notify.wait(has("READY"), "READY=1 after the reload", after=reload_at)
    assert "paused" not in notify.messages()[resumed]
    assert svc.report_for("paused.pdf")["result"] == "delivered"
    assert list(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1]


def test_faxd_status_stops_showing_a_pause_that_sighup_lifted(
    svc: ServiceFaxd, notify: NotifySocket
) -> None:
    svc.docs_key = "wrong-key"
    svc.start(NOTIFY_SOCKET=str(notify.path))
    notify.wait(has("READY"), "READY=1")
    svc.drop(f"{TO}/paused.pdf", pdf("paused"))
    wait_for(lambda: "paused (auth)" in svc.status_output(), 30, "faxd status to show the pause")
    (svc.root / "credentials" / "docs-api-key").write_text("sandbox-docs-key\n")
    svc.signal(signal.SIGHUP)
    assert svc.report_for("paused.pdf")["result"] == "delivered"
    assert "paused (auth)" not in svc.status_output()


# ------------------------------------------------------------------------ logging


def _shim(directory: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def _pythonpath(shim: Path) -> str:
    return os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH", "")]))


def test_runs_without_systemd_python_and_logs_json_lines(
    svc: ServiceFaxd, tmp_path: Path, notify: NotifySocket
) -> None:
    shim = _shim(
        tmp_path / "no-systemd",
        {"systemd/__init__.py": 'raise ImportError("systemd-python is not installed")\n'},
    )
    svc.env_extra["PYTHONPATH"] = _pythonpath(shim)
    probe = subprocess.run(
        [sys.executable, "-c", "import systemd.journal"],
        env=child_env(**svc.env_extra),
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0  # the shim really hides systemd-python

    svc.start()  # NOTIFY_SOCKET and JOURNAL_STREAM unset
    svc.drop(f"{TO}/plain.pdf", pdf("plain"))
    assert svc.report_for("plain.pdf")["result"] == "delivered"
    assert svc.stop() == 0
    lines = [line for line in svc.log_text().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(e, dict) for e in events)
    assert any(e.get("event") == "faxd is running" for e in events)
    assert any(e.get("event") == "accepted" for e in events)

    # sd_notify still works: faxd's own sender speaks the datagram protocol.
    svc.start(NOTIFY_SOCKET=str(notify.path))
    notify.wait(has("READY"), "READY=1 without systemd-python")
    assert svc.stop() == 0
    notify.wait(has("STOPPING"), "STOPPING=1 without systemd-python", timeout=5)


FAKE_JOURNAL = """\
import json
import os


def send(MESSAGE, **fields):
    fields["MESSAGE"] = MESSAGE
    with open(os.environ["FAXD_TEST_JOURNAL"], "a", encoding="utf-8") as out:
        out.write(json.dumps(fields) + "\\n")
"""


def test_under_journal_stream_per_document_events_carry_faxd_fields(
    svc: ServiceFaxd, tmp_path: Path
) -> None:
    # systemd.journal.send replaced by a recorder, in the real daemon process: what is
    # checked is exactly what faxd would hand to journald.
    shim = _shim(
        tmp_path / "fake-systemd", {"systemd/__init__.py": "", "systemd/journal.py": FAKE_JOURNAL}
    )
    captured = tmp_path / "journal.jsonl"
    svc.log_path.touch()
    st = svc.log_path.stat()  # the harness's stdout: what systemd would announce
    svc.env_extra.update(
        PYTHONPATH=_pythonpath(shim),
        FAXD_TEST_JOURNAL=str(captured),
        JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}",
    )
    svc.start()
    svc.drop(f"{TO}/journaled.pdf", pdf("journaled"))
    report = svc.report_for("journaled.pdf")
    assert report["result"] == "delivered"
    assert svc.stop() == 0

    entries = [json.loads(line) for line in captured.read_text().splitlines()]
    assert all(e["SYSLOG_IDENTIFIER"] == "faxd" and e["PRIORITY"].isdigit() for e in entries)
    document = f"{TO}/journaled.pdf"
    mine = [e for e in entries if e.get("FAXD_DOCUMENT") == document]
    job = {e["FAXD_JOB"] for e in mine}
    assert len(job) == 1  # every per-document event names the same job
    by_message = {e["MESSAGE"].split(" ")[0]: e for e in mine}
    uploading = by_message["uploading"]
    assert uploading["FAXD_RECIPIENT"] == TO
    assert uploading["FAXD_PROVIDER"] == "docs"
    assert uploading["FAXD_ATTEMPT"] == "1"
    assert by_message["accepted"]["FAXD_REMOTE_ID"] == report["recipients"][0]["id"]
    assert "CODE_FILE" in uploading and uploading["CODE_FILE"].endswith("engine.py")
    assert '"event"' not in svc.log_text()  # nothing went to stdout as JSON instead


# --------------------------------------------------------------------------- secrets


def test_an_api_key_canary_appears_nowhere(tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    forms = {
        canary,
        urllib.parse.quote(canary, safe=""),
        base64.b64encode(canary.encode()).decode().rstrip("="),
    }
    server = SandboxServer({"status_delay": 0.3, "docs_api_key": canary}).start()
    svc = ServiceFaxd(root=tmp_path, docs_url=server.docs_base_url, docs_key=canary)
    svc.docs_settings = {"api_key_file": "${CREDENTIALS_DIRECTORY}/docs-api-key"}
    svc.env_extra["CREDENTIALS_DIRECTORY"] = str(tmp_path / "credentials")
    bad = "+46812345622"
    for rule in (
        {"action": "status", "status": 400, "match": bad},  # permanent: a failed report
        {"action": "status", "status": 401},  # auth: a loud error, the queue pauses
        {"action": "status", "status": 500},
    ):
        server.add_fault({"api": "docs", "endpoint": "send", **rule})
    # Connections cut inside requests: exceptions raised deep in the HTTP path.
    server.add_fault({"api": "docs", "endpoint": "check_dft", "action": "drop_before"})
    server.add_fault({"api": "docs", "endpoint": "retrieve", "action": "drop_after"})
    try:
        svc.start()
        svc.drop(f"{bad}/refused.pdf", pdf("refused"))
        svc.drop(f"{TO}/secret.pdf", pdf("secret"))
        wait_for(lambda: "its queue is paused" in svc.log_text(), 30, "the 401")
        pid = svc.pid
        for name in ("environ", "cmdline"):
            raw = Path(f"/proc/{pid}/{name}").read_bytes()
            assert not any(f.encode() in raw for f in forms), name
        svc.signal(signal.SIGHUP)  # resumes the paused queue
        assert svc.report_for("refused.pdf", timeout=60)["result"] == "failed"
        assert svc.report_for("secret.pdf", timeout=60)["result"] == "delivered"
        assert svc.stop() == 0
    finally:
        svc.stop()
        server.stop()

    log = svc.log_text()
    assert "401" in log and "500" in log  # the faults really happened
    credentials = tmp_path / "credentials"
    looked_at = 0
    for path in tmp_path.rglob("*"):
        if not path.is_file() or path.is_relative_to(credentials):
            continue
        data = path.read_bytes()
        looked_at += 1
        leaked = [f for f in forms if f.encode() in data]
        assert not leaked, f"the API key leaked into {path}"
    # the log, the config, both reports and the journal with its WAL were all read
    assert looked_at >= 5
