"""Benchmark: the inbox poller downloading received documents from the sandbox on loopback.

    python benchmarks/inbound_download.py [--count 1000] [--size 102400] [--workers 4]
                                          [--tracemalloc] [--no-loop] [--rounds 6]

The sandbox runs in a child process, so the figures are the poller's own: wall time for
one poll cycle that delivers every document (split windows, download, fsync, link,
sidecar, two journal commits per file), and peak RSS before and after. Streaming keeps
the peak flat: compare a run with --size 102400 to one with --size 4194304.

Then, against the same sandbox and the same documents, the floor an admin would compare
with: a bare shell loop that lists half-hour windows with curl, reads the file ids with
jq and downloads each window's files with one curl (one connection, one file after the
other) - no journal, no fsync, no metadata, no retries.

--rounds N runs the poll and the loop N times in turn, each poll into a fresh inbox and
journal, and prints the median of faxd / loop: a single pair varies a lot on a shared
machine."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from faxd.clock import SystemClock
from faxd.inbound.poller import InboxPoller
from faxd.inbound.poller_result import PollResult
from faxd.providers.docs import DocsProvider
from faxd.settings import DocsProviderSettings, InboxSettings, Secret
from faxd.store.journal import Journal

OURS = "+4612345678"
SPAN = 20 * 3600  # the received documents are spread over the last 20 hours

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


@dataclass
class Round:
    result: PollResult
    seconds: float
    on_disk: int
    rss_before: int
    rss_after: int
    traced_peak: int | None
    loop: tuple[float, int] | None


def one_round(base_url: str, args: argparse.Namespace) -> Round:
    """One poll cycle into a fresh inbox and journal, then the bare loop."""
    with tempfile.TemporaryDirectory(prefix="faxd-bench-") as tmp:
        root = Path(tmp)
        provider = DocsProvider(
            DocsProviderSettings(name="docs", api_key=Secret("sandbox-docs-key"), base_url=base_url)
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
        seconds = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        files = [p for p in (root / "inbox").iterdir() if p.is_file()]
        on_disk = sum(p.stat().st_size for p in files if p.suffix != ".yaml")
        journal.close()
        provider.close()
        loop = None if args.no_loop else bare_loop(base_url, root / "loop", SPAN)
    return Round(result, seconds, on_disk, rss_before, rss_after, traced_peak, loop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=100 * 1024)
    parser.add_argument("--workers", type=int, default=4, help="downloads in flight at once")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations")
    parser.add_argument("--no-loop", action="store_true", help="skip the bare curl loop")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="poll and loop this many times in turn, and print the median of faxd / loop",
    )
    args = parser.parse_args()

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(30)  # warnings and up
    )
    scenario = {
        "generate_received": {
            "count": args.count,
            "span_seconds": SPAN,
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
        rounds = [one_round(base_url, args) for _ in range(max(1, args.rounds))]
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)

    first = rounds[0]
    print(f"documents: {args.count} x {args.size} bytes, {args.workers} workers")
    for number, done in enumerate(rounds, start=1):
        result = done.result
        print(
            f"round {number}: delivered {result.delivered}, windows listed {result.windows},"
            f" error: {result.error}"
        )
        print(f"seconds: {done.seconds:.2f} ({args.count / done.seconds:.0f} documents/s)")
        if done.loop is not None:
            loop_seconds, loop_files = done.loop
            print(
                f"bare curl loop: {loop_files} files in {loop_seconds:.2f} s; "
                f"faxd / loop = {done.seconds / loop_seconds:.2f}"
            )
    print(f"bytes in inbox: {first.on_disk}")
    # The process's peak only grows: the first round's figures are the poll's own.
    print(
        f"peak RSS before poll: {first.rss_before / 1024:.1f} MiB,"
        f" after: {first.rss_after / 1024:.1f} MiB"
    )
    print(f"RSS now: {rss_now_kib() / 1024:.1f} MiB")
    if first.traced_peak is not None:
        print(f"tracemalloc peak during poll: {first.traced_peak / 1024 / 1024:.1f} MiB")
    ratios = sorted(r.seconds / r.loop[0] for r in rounds if r.loop is not None)
    if len(ratios) > 1:
        within = sum(1 for ratio in ratios if ratio <= 1.5)
        print(
            f"faxd / loop over {len(ratios)} rounds: median {statistics.median(ratios):.2f},"
            f" {ratios[0]:.2f}-{ratios[-1]:.2f}, {within} of them <= 1.5"
        )
    complete = all(r.result.delivered == args.count and r.result.error is None for r in rounds)
    return 0 if complete else 1


BARE_LOOP = r"""
set -eu
base=$1 out=$2 auth="Authorization: Bearer sandbox-docs-key"
while read -r from to; do
    ids=$(curl -sf -X POST "$base/Retrieve" -H "$auth" -H "Content-Type: application/json" \
        -d "{\"dateFrom\": \"$from\", \"dateTo\": \"$to\"}" | jq -r '.[].files[].fileId')
    args=()
    for id in $ids; do args+=(-o "$out/$id" "$base/File/$id"); done
    if [ "${#args[@]}" -gt 0 ]; then curl -sf -H "$auth" "${args[@]}"; fi
done
"""


def bare_loop(base_url: str, out: Path, span: float) -> tuple[float, int] | None:
    """List and download everything with curl, in half-hour windows of the sandbox's wall
    clock (Stockholm) over the span the documents were generated in, an hour either side."""
    if shutil.which("curl") is None or shutil.which("jq") is None:
        print("bare curl loop skipped: curl and jq are needed")
        return None
    out.mkdir()
    zone = ZoneInfo("Europe/Stockholm")
    now = time.time()
    windows = []
    moment = now - span - 3600
    while moment < now + 3600:
        low = datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%dT%H:%M:%S")
        high = datetime.fromtimestamp(moment + 1799, zone).strftime("%Y-%m-%dT%H:%M:%S")
        windows.append(f"{low} {high}\n")
        moment += 1800
    started = time.perf_counter()
    subprocess.run(
        ["bash", "-c", BARE_LOOP, "loop", base_url, str(out)],
        input="".join(windows),
        text=True,
        check=True,
    )
    return time.perf_counter() - started, sum(1 for _ in out.iterdir())


if __name__ == "__main__":
    raise SystemExit(main())
