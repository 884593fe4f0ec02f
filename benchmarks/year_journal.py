"""A journal after a year of traffic: does faxd stay as fast as on day one?

Builds three state folders: one empty, one with a day's 50 finished jobs (as many lines
in `faxd status` as after a year) and one holding N finished jobs (one transmission
each) and M received documents, then times the journal work that runs on every pickup,
dispatch, start-up, `faxd status` and inbox poll, in the same process, median of several
runs each. Prints the three columns, the year's ratio to the empty journal and to the
day's, and the database size.

    .venv/bin/python benchmarks/year_journal.py                  # 1,000,000 jobs, 200,000 received
    .venv/bin/python benchmarks/year_journal.py --jobs 100000 --received 20000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from faxd.core.job_payload import JobOptions
from faxd.model import JobState, TxState
from faxd.service import status_view
from faxd.service.daemon import JOURNAL_NAME
from faxd.settings import DocsProviderSettings, FolderSettings, Secret, Settings
from faxd.store.inbox_ledger import InboxLedger
from faxd.store.journal import Journal, NewJob

YEAR = 365 * 86400.0
BATCH = 50_000


def fill(journal: Journal, jobs: int, received: int, now: float) -> None:
    """Rows as a year of finished work leaves them: every job filed, every document in."""
    # A benchmark fills the tables directly, in bulk.
    db = journal._db
    InboxLedger(journal, "docs")  # creates the inbound tables
    db.execute("PRAGMA synchronous = OFF")
    for start in range(0, jobs, BATCH):
        rows, txs = [], []
        for i in range(start, min(jobs, start + BATCH)):
            at = now - YEAR + i * (YEAR / max(jobs, 1))
            job_id = f"{time.strftime('%Y%m%d%H%M%S', time.gmtime(at))}-{i:08x}"
            path = f"/srv/fax/out/+4681234{i % 10000:04d}/doc-{i}.pdf"
            rows.append(
                (
                    job_id,
                    "/srv/fax/out",
                    path[14:],
                    path,
                    "docs",
                    JobState.DELIVERED.value,
                    at,
                    at + 60,
                    at + 61,
                    path.replace("/out/", "/sent/"),
                )
            )
            number = f"+4681234{i % 10000:04d}"
            txs.append((job_id, 0, number, TxState.DELIVERED.value, uuid.uuid4().hex, at + 60))
        with journal.transaction() as tx:
            tx.executemany(
                "INSERT INTO jobs (id, folder, rel_path, path, provider, state, received_at, "
                "finished_at, archived_at, archived_path) VALUES (?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            tx.executemany(
                "INSERT INTO transmissions (job_id, idx, number, state, remote_id, updated_at) "
                "VALUES (?,?,?,?,?,?)",
                txs,
            )
    for start in range(0, received, BATCH):
        inbound = [
            (
                uuid.uuid4().hex,
                "f1",
                "docs",
                "delivered",
                f"/srv/fax/inbox/r-{i}.pdf",
                now - YEAR + i * (YEAR / max(received, 1)),
                now - YEAR + i * (YEAR / max(received, 1)),
            )
            for i in range(start, min(received, start + BATCH))
        ]
        with journal.transaction() as tx:
            tx.executemany(
                "INSERT INTO inbound (remote_id, file_id, provider, state, path, updated_at, "
                "delivered_at) VALUES (?,?,?,?,?,?,?)",
                inbound,
            )
    db.execute("PRAGMA synchronous = FULL")


def settings_for(state_dir: Path) -> Settings:
    docs = DocsProviderSettings(
        name="docs", base_url="http://127.0.0.1:9/Docs/api/v2", api_key=Secret("benchmark-key")
    )
    folder = FolderSettings(
        path=state_dir / "out",
        provider="docs",
        sender=None,
        region="SE",
        sent_dir=state_dir / "sent",
        failed_dir=state_dir / "failed",
    )
    return Settings(
        source=state_dir / "faxd.yaml",
        state_dir=state_dir,
        providers={"docs": docs},
        default_provider="docs",
        region="SE",
        concurrency=8,
        folders=(folder,),
    )


def median_ms(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(state_dir: Path, runs: int, now: float) -> dict[str, float]:
    journal = Journal(state_dir / JOURNAL_NAME)
    ledger = InboxLedger(journal, "docs")
    settings = settings_for(state_dir)
    # One fresh job a run, as a pickup does: create it, find it due, claim it.
    counter = iter(range(10**9))

    def pickup() -> None:
        n = next(counter)
        job_id = f"bench-{n:08d}"
        path = f"/srv/fax/out/+46812345678/new-{n}.pdf"
        journal.create_job(
            NewJob(
                id=job_id,
                folder="/srv/fax/out",
                rel_path=path[14:],
                path=path,
                sidecar=None,
                attachments=(),
                files=(),
                provider="docs",
                sender=None,
                dft=False,
                reference=None,
                rule="subfolder",
                options=JobOptions(),
                numbers=("+46812345678",),
                received_at=now,
                ino=None,
                error=None,
            )
        )
        journal.due_transmissions((TxState.READY, TxState.WAITING), now + 1, limit=8)

    def status() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            status_view.status(settings)

    figures = {
        "start-up (open the journal)": median_ms(
            lambda: Journal(state_dir / JOURNAL_NAME).close(), runs
        ),
        "pickup (create job + due query)": median_ms(pickup, runs),
        "dispatch (due query)": median_ms(
            lambda: journal.due_transmissions((TxState.READY, TxState.WAITING), now, limit=64),
            runs,
        ),
        "start-up (reconcile queries)": median_ms(
            lambda: (
                journal.reset_interrupted(now),
                journal.unarchived_final_jobs(),
                journal.active_paths(),
            ),
            runs,
        ),
        "faxd status": median_ms(status, runs),
        "inbox poll (ledger look-ups)": median_ms(
            lambda: (
                ledger.row("not-there", "f1"),
                ledger.interrupted(),
                ledger.delivered_since(now - 86400),
            ),
            runs,
        ),
    }
    journal.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--received", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="faxd-bench-") as tmp:
        empty, day, full = Path(tmp) / "empty", Path(tmp) / "day", Path(tmp) / "year"
        for d in (empty, day, full):
            d.mkdir()
            Journal(d / JOURNAL_NAME).close()
        # A day: more finished jobs than `faxd status` lists, so it shows as much as after
        # a year; against it the ratio is the journal's size alone, not what is printed.
        journal = Journal(day / JOURNAL_NAME)
        fill(journal, 50, 10, now)
        journal.close()
        started = time.perf_counter()
        journal = Journal(full / JOURNAL_NAME)
        fill(journal, args.jobs, args.received, now)
        journal.close()
        built = time.perf_counter() - started
        size = sum(p.stat().st_size for p in full.iterdir() if p.name.startswith(JOURNAL_NAME))
        print(
            f"journal with {args.jobs:,} jobs and {args.received:,} received documents: "
            f"{size / 2**20:.0f} MiB, built in {built:.0f} s"
        )
        base = measure(empty, args.runs, now)
        first = measure(day, args.runs, now)
        year = measure(full, args.runs, now)
        head = f"{'figure (median ms)':36} {'empty':>7} {'a day':>7} {'a year':>7}"
        print(f"{head} {'yr/empty':>8} {'yr/day':>7}")
        for name, value in base.items():
            ratio = year[name] / value if value > 0 else float("inf")
            daily = year[name] / first[name] if first[name] > 0 else float("inf")
            print(
                f"{name:36} {value:7.2f} {first[name]:7.2f} {year[name]:7.2f} "
                f"{ratio:8.2f} {daily:7.2f}"
            )


if __name__ == "__main__":
    main()
