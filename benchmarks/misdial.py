"""Benchmark: the misdial guard's check per recipient against 10,000 contacts and 100,000
numbers delivered to before.

    python benchmarks/misdial.py [--contacts 10000] [--past 100000] [--checks 2000]

Two figures: the pure rule with an in-memory index (a set), and the
rule as the daemon runs it, asking the journal (SQLite, an index on the transmitted
numbers) which of a recipient's ~200 neighbours it has delivered to. Recipients are a
mix of contacts, numbers delivered to, one-slip typos of both, and new numbers."""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Collection
from pathlib import Path

from faxd.core.misdial import check, contact_index, neighbours
from faxd.model import JobState, TxState
from faxd.store.journal import Journal


def numbers(rng: random.Random, count: int) -> list[str]:
    found: set[str] = set()
    while len(found) < count:
        found.add("+46" + rng.choice("123456789") + "".join(rng.choices("0123456789", k=8)))
    return sorted(found)


def fill_journal(path: Path, past: list[str]) -> Journal:
    journal = Journal(path)
    with journal.transaction() as db:
        db.execute(
            "INSERT INTO jobs(id, folder, rel_path, path, provider, state, received_at) "
            "VALUES ('bench', '/spool', 'x.pdf', '/spool/x.pdf', 'docs', ?, 0)",
            (JobState.DELIVERED.value,),
        )
        db.executemany(
            "INSERT INTO transmissions(job_id, idx, number, state) VALUES ('bench', ?, ?, ?)",
            [(i, n, TxState.DELIVERED.value) for i, n in enumerate(past)],
        )
    return journal


def measure(
    recipients: list[str],
    by_number: dict[str, str],
    known: Callable[[Collection[str]], Collection[str]],
) -> tuple[list[float], int]:
    times: list[float] = []
    held = 0
    for number in recipients:
        start = time.perf_counter()
        verdict = check(number, by_number, known)
        times.append(time.perf_counter() - start)
        held += verdict.hold is not None
    return times, held


def show(label: str, times: list[float], held: int) -> None:
    ms = sorted(t * 1000 for t in times)
    print(
        f"{label:<28} mean {statistics.fmean(ms):6.3f} ms   p50 {ms[len(ms) // 2]:6.3f} ms   "
        f"p99 {ms[int(len(ms) * 0.99)]:6.3f} ms   max {ms[-1]:6.3f} ms   held {held}/{len(ms)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--past", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(14)
    pool = numbers(rng, args.contacts + args.past)
    rng.shuffle(pool)
    contacts = {f"Contact {i}": n for i, n in enumerate(pool[: args.contacts])}
    past = pool[args.contacts :]
    by_number = contact_index(contacts)
    recipients: list[str] = []
    for _ in range(args.checks):
        kind = rng.randrange(4)
        base = rng.choice(pool)
        if kind == 0:
            recipients.append(base)
        elif kind == 1:
            recipients.append(rng.choice(sorted(neighbours(base))))
        else:
            recipients.append(numbers(rng, 1)[0])
    print(
        f"{args.contacts} contacts, {args.past} numbers delivered to, "
        f"{args.checks} recipients checked"
    )
    past_set = set(past)
    show(
        "in-memory index",
        *measure(recipients, by_number, lambda asked: {n for n in asked if n in past_set}),
    )
    with tempfile.TemporaryDirectory() as scratch:
        journal = fill_journal(Path(scratch) / "journal.sqlite", past)
        try:
            show("journal (SQLite) index", *measure(recipients, by_number, journal.known_among))
        finally:
            journal.close()


if __name__ == "__main__":
    main()
