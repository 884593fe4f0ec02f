"""Benchmark: an idle daemon watching many folders full of finished documents.

    python benchmarks/idle_folders.py [--folders 50] [--finished 5000] [--seconds 600]
                                      [--rescan 5]

The real daemon (`python -m faxd run`) watches --folders spool folders whose sent/ (inside
the folder, the default) holds --finished filed documents and reports in all, and has
nothing to do. `rescan_interval` is scaled down (--rescan seconds instead of 300) so a
short run does as many periodic rescans as hours of the default: 600 s at 5 s are 120
rescans per folder, 10 hours of the default. Prints the CPU share of one core and VmRSS
at the start and end of the window (sampled every 10 s): figures only, no pass or fail."""

from __future__ import annotations

import argparse
import os
import sys
import time

from outbound import NUMBER, Uploads, cpu_seconds, proc_status_kib, rig, wait_for, warm_up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--folders", type=int, default=50)
    parser.add_argument("--finished", type=int, default=5000, help="files in the sent/ trees")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rescan", type=float, default=5.0, help="rescan_interval, seconds")
    args = parser.parse_args()
    print(f"faxd idle benchmark; {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    with rig() as (daemon, sandbox):
        uploads = Uploads(sandbox)
        paths = [daemon.root / f"folder-{i:02d}" for i in range(args.folders)]
        for i in range(args.finished):
            sent = paths[i % len(paths)] / "sent" / "2026" / "11"
            sent.mkdir(parents=True, exist_ok=True)
            (sent / f"done-{i:05d}.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
            (sent / f"done-{i:05d}.pdf.report.yaml").write_text("result: delivered\n")
        daemon.defaults = {"rescan_interval": args.rescan}
        daemon.folders = [
            {"path": str(p), "to": [NUMBER], "sent_dir": str(p / "sent")} for p in paths
        ]
        daemon.start()
        daemon.wait_running()
        warm_up(daemon, uploads, paths[0])
        wait_for(lambda: not (paths[0] / "warm-up.pdf").exists(), 60, "the warm-up filed", daemon)
        time.sleep(5)
        rss: list[float] = []
        cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
        end = t0 + args.seconds
        while time.monotonic() < end:
            rss.append(proc_status_kib(daemon.pid, "VmRSS") / 1024)
            time.sleep(min(10.0, max(0.0, end - time.monotonic())))
        cpu1, t1 = cpu_seconds(daemon.pid), time.monotonic()
        rss.append(proc_status_kib(daemon.pid, "VmRSS") / 1024)
        threads = len(os.listdir(f"/proc/{daemon.pid}/task"))
    share = (cpu1 - cpu0) / (t1 - t0) * 100
    rescans = int((t1 - t0) / args.rescan)
    print(
        f"\n{args.folders} folders, {args.finished} filed documents (+ reports) in their sent/,"
        f" rescan every {args.rescan:g} s ({rescans} rescans per folder in {t1 - t0:.0f} s)"
    )
    print(
        f"    CPU: {share:.2f} % of one core ({cpu1 - cpu0:.2f} s; goal < 0.5 %); {threads} threads"
    )
    print(
        f"    VmRSS: {rss[0]:.1f} MB at the start, {rss[-1]:.1f} MB at the end, max {max(rss):.1f}"
    )
    print("\n| What | Goal | Measured |\n|---|---|---|")
    what = f"idle, {args.folders} folders, {args.finished} filed documents, {rescans} rescans each"
    print(f"| {what}: CPU | < 0.5 % of a core | {share:.2f} % |")
    print(f"| the same: VmRSS start → end | flat | {rss[0]:.0f} → {rss[-1]:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
