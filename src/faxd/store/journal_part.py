"""What the parts of the journal split into modules of their own (journal_jobs,
journal_transmissions, journal_queries, journal_startup, journal_notes, journal_retries)
use of faxd.store.journal.Journal, which they are mixed into."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any


class JournalPart:
    if TYPE_CHECKING:  # Journal's own, see faxd.store.journal.Journal

        def query(
            self, sql: str, params: Sequence[Any] = (), *, durable: bool = True
        ) -> list[sqlite3.Row]: ...

        def query_many(
            self, *statements: tuple[str, Sequence[Any]], durable: bool = True
        ) -> list[list[sqlite3.Row]]: ...

        def transaction(
            self, *, durable: bool = True, first: bool = False
        ) -> AbstractContextManager[sqlite3.Connection]: ...

        def has_table(self, name: str) -> bool: ...
