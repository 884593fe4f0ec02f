"""Benchmark: the inbox poller downloading received documents from the sandbox on loopback.

    python benchmarks/inbound_download.py [--count 1000] [--size 102400] [--workers 4]
                                          [--tracemalloc]

The sandbox runs in a child process, so the figures are the poller's own: wall time for
one poll cycle that delivers every document (split windows, download, fsync, link,
sidecar, two journal commits per file), and peak RSS before and after. Streaming keeps
the peak flat: compare a run with --size 102400 to one with --size 4194304."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from faxd.clock import SystemClock
from faxd.inbound.poller import InboxPoller
from faxd.providers.docs import DocsProvider
from faxd.settings import DocsProviderSettings, InboxSettings, Secret
from faxd.store.journal import Journal

OURS = "+4612345678"

SANDBOX = """
import json, sys
from faxd.sandbox.server import SandboxServer
srv = SandboxServer(json.loads(sys.argv[1])).start()
print(srv.docs_base_url, flush=True)
sys.stdin.read()
srv.stop()
"""


def rss_now_kib() -> int:
    with Path("/proc/self/statm").open() as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=100 * 1024)
    parser.add_argument("--workers", type=int, default=4, help="downloads in flight at once")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations")
    args = parser.parse_args()

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(30)  # warnings and up
    )
    scenario = {
        "generate_received": {
            "count": args.count,
            "span_seconds": 20 * 3600,
            "recipients": [OURS],
            "size": args.size,
            "seed": 1,
        }
    }
    child = subprocess.Popen(
        [sys.executable, "-c", SANDBOX, json.dumps(scenario)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        base_url = child.stdout.readline().strip()
        with tempfile.TemporaryDirectory(prefix="faxd-bench-") as tmp:
            root = Path(tmp)
            provider = DocsProvider(
                DocsProviderSettings(
                    name="docs", api_key=Secret("sandbox-docs-key"), base_url=base_url
                )
            )
            journal = Journal(root / "state" / "faxd.sqlite")
            poller = InboxPoller(
                InboxSettings(provider="docs", path=root / "inbox"),
                provider,
                journal,
                frozenset({OURS}),
                frozenset,
                SystemClock(),
                ZoneInfo("Europe/Stockholm"),
                workers=args.workers,
            )
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if args.tracemalloc:
                tracemalloc.start()
            started = time.perf_counter()
            result = poller.poll_once()
            elapsed = time.perf_counter() - started
            traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            files = [p for p in (root / "inbox").iterdir() if p.is_file()]
            on_disk = sum(p.stat().st_size for p in files if p.suffix != ".yaml")
            journal.close()
            provider.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)

    print(f"documents: {args.count} x {args.size} bytes, {args.workers} workers")
    print(f"delivered: {result.delivered}, windows listed: {result.windows}, error: {result.error}")
    print(f"bytes in inbox: {on_disk}")
    print(f"seconds: {elapsed:.2f} ({args.count / elapsed:.0f} documents/s)")
    print(f"peak RSS before poll: {rss_before / 1024:.1f} MiB, after: {rss_after / 1024:.1f} MiB")
    print(f"RSS now: {rss_now_kib() / 1024:.1f} MiB")
    if traced_peak is not None:
        print(f"tracemalloc peak during poll: {traced_peak / 1024 / 1024:.1f} MiB")
    return 0 if result.delivered == args.count and result.error is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
