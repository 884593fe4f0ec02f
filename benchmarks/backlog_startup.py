"""Benchmark: start-up with a large backlog waiting in many folders.

    python benchmarks/backlog_startup.py [--files 100000] [--folders 50] [--follow 60]

The real daemon (`python -m faxd run`) starts against the sandbox on loopback with
NOTIFY_SOCKET bound here, the way systemd binds it, while --files documents (old mtimes:
they arrived while faxd was down) wait across --folders spool folders. Prints, from one
run: READY after the start, the first upload after READY, the pickup of a document
dropped just after READY (the watcher's, while the backlog is read), uploads per second
while the backlog is worked off, peak RSS (VmHWM), and how VmRSS moved from 10 s after
READY to the end (follow long enough to tell a level from a climb). Figures only, no pass
or fail."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from outbound import NUMBER, Daemon, Uploads, pdf, proc_status_kib, rig, sha, wait_for

RSS_GOAL = 100.0  # MB


class NotifySocket:
    """sd_notify's receiving end: the wall time of each datagram."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.time(), data.decode()))

    def ready_at(self) -> float | None:
        return next((t for t, m in self.messages if "READY=1" in m.splitlines()), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


def start_notified(daemon: Daemon, notify_socket: Path) -> float:
    """Daemon.start, with NOTIFY_SOCKET set as systemd sets it."""
    config = daemon.write_config()
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env["NOTIFY_SOCKET"] = str(notify_socket)
    with daemon.log_path.open("ab") as log:
        started = time.time()
        daemon.proc = subprocess.Popen(
            [sys.executable, "-m", "faxd", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return started


def fill(paths: list[Path], files: int) -> None:
    old = time.time() - 3600
    for i in range(files):
        folder = paths[i % len(paths)]
        path = folder / f"waiting-{i:06d}.pdf"
        path.write_bytes(pdf(f"backlog {i}"))
        os.utime(path, (old, old))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=50)
    parser.add_argument("--keep-log", type=Path, help="copy the daemon's log here")
    parser.add_argument("--follow", type=float, default=60, help="seconds to follow after READY")
    args = parser.parse_args()
    print(
        f"faxd start-up backlog benchmark; {os.cpu_count()} cores; Python {sys.version.split()[0]}"
    )
    slow = {"api": "docs", "endpoint": "send", "action": "slow", "delay": 0.05, "times": "always"}
    scenario = {"status_delay": 1.0, "faults": [slow]}  # 50 ms per upload
    with rig(scenario) as (daemon, sandbox), tempfile.TemporaryDirectory(prefix="faxd-n-") as short:
        uploads = Uploads(sandbox)
        paths = [daemon.root / f"folder-{i:02d}" for i in range(args.folders)]
        for path in paths:
            (path / NUMBER).mkdir(parents=True)
        daemon.folders = [{"path": str(p)} for p in paths]
        t0 = time.time()
        fill([p / NUMBER for p in paths], args.files)
        print(
            f"\n{args.files} files written into {args.folders} folders in {time.time() - t0:.0f} s"
        )
        notify = NotifySocket(Path(short))
        try:
            started = start_notified(daemon, notify.path)
            ready = wait_for(notify.ready_at, 120, "READY=1", daemon)
            fresh = pdf("fresh after READY")
            dropped = Path(paths[-1] / NUMBER / "fresh.pdf")
            dropped.write_bytes(fresh)
            closed_at = time.time()
            wait_for(lambda: uploads.accepted() > 0, 60, "the first upload", daemon)
            first = min(uploads.times().values())
            wait_for(lambda: sha(fresh) in uploads.times(), 120, "the fresh upload", daemon, 0.05)
            fresh_up = uploads.times()[sha(fresh)]
            # Throughput once the pipeline runs: from 10 s after READY to the end.
            warm = ready + 10
            while time.time() < warm:
                daemon.sample_rss()
                time.sleep(0.2)
            base = uploads.accepted()
            # VmRSS once the pipeline runs and at the end: a peak that grows with the time
            # followed is a leak or a periodic task that grows with the queue, not a level.
            rss_warm = proc_status_kib(daemon.pid, "VmRSS") / 1024
            end = ready + max(args.follow, 20)
            while time.time() < end:
                daemon.sample_rss()
                time.sleep(0.2)
            rss_end = proc_status_kib(daemon.pid, "VmRSS") / 1024
            rate = (uploads.accepted() - base) / (time.time() - warm)
            done = uploads.accepted()
            hwm = proc_status_kib(daemon.pid, "VmHWM") / 1024
            threads = len(os.listdir(f"/proc/{daemon.pid}/task"))
        finally:
            daemon.stop()
            notify.close()
            if args.keep_log is not None:
                shutil.copyfile(daemon.log_path, args.keep_log)
    rows = [
        (
            f"{args.files} waiting in {args.folders} folders: READY after start",
            "≤ 5 s",
            ready - started,
        ),
        ("first upload after READY", "≤ 1 s", first - ready),
        (
            "a document dropped just after READY: closed → uploaded",
            "≤ settle + 1 s",
            fresh_up - closed_at,
        ),
    ]
    for what, goal, seconds in rows:
        print(f"    {what}: {seconds:.2f} s (goal {goal})")
    print(f"    uploads per second while the backlog is worked off: {rate:.0f} ({done} uploaded)")
    print(f"    peak RSS (VmHWM): {hwm:.1f} MB (goal ≤ {RSS_GOAL:.0f} MB); {threads} threads")
    minutes = (end - warm) / 60
    print(
        f"    VmRSS 10 s after READY {rss_warm:.1f} MB, at the end {rss_end:.1f} MB: "
        f"{(rss_end - rss_warm) / minutes:+.1f} MB a minute over {minutes:.1f} minutes "
        f"(--follow {args.follow:.0f})"
    )
    print("\n| What | Goal | Measured |\n|---|---|---|")
    for what, goal, seconds in rows:
        print(f"| {what} | {goal} | {seconds:.2f} s |")
    print(f"| {args.files} waiting: uploads per second, 50 ms API | — | {rate:.0f}/s |")
    print(f"| {args.files} waiting: peak RSS | ≤ 100 MB | {hwm:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
