"""Where received documents are kept track of and put: the inbound tables in the shared
journal, and a Maildir-style inbox folder (write into `.tmp/`, fsync, rename into place
without ever replacing a name, fsync the folder), so nothing half-written is ever visible.

One row per (remote id, file id), whatever the provider is called in the configuration
(renaming it must not download the last day again). Its life:
  downloading  the file is complete in `.tmp/` and about to be renamed to `path`;
               committed BEFORE the rename, with the file's sha256, so a crash between the
               rename and the final commit is recognised at start-up instead of downloading
               a second copy;
  delivered    the file and its sidecar are in place; never downloaded again;
  missing      the provider refused the file (404): tried again on the next cycles;
  retry        the download ran past its deadline (or faxd was stopping): tried again;
  unavailable  … and still refused after a few cycles, or larger than faxd accepts.
A delivered row is final: a late writer (a poller stopped by a reload) can never turn it
back into `downloading` or point it at another path.

Each document's metadata goes into the folder's `.meta/` subfolder as `NAME.yaml`, never
beside the document: a remote file called `X.yaml` is then just a document, and can never
take the place of document X's metadata. Document names start with a date, so they are
never `.meta` or `.tmp`.
A document's remote deletion is queued in the same transaction that delivers its last file,
and done only after that commit."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from faxd.core.received_meta import ReceivedMeta
from faxd.host.fsops import fsync_dir, rename_noreplace
from faxd.store import audit_outbox
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery
from faxd.store.outbox import insert as insert_outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound (
    remote_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    path TEXT,
    sha256 TEXT,
    size INTEGER,
    meta TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    delivered_at REAL,
    PRIMARY KEY (remote_id, file_id)
);
CREATE INDEX IF NOT EXISTS inbound_state ON inbound(state, delivered_at);
CREATE TABLE IF NOT EXISTS inbound_deletes (
    remote_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    queued_at REAL NOT NULL,
    done_at REAL
);
"""

TMP_DIR = ".tmp"
META_DIR = ".meta"
SIDECAR_SUFFIX = ".yaml"
_CHUNK = 1 << 16


class InboundState(StrEnum):
    DOWNLOADING = "downloading"
    DELIVERED = "delivered"
    UNAVAILABLE = "unavailable"
    MISSING = "missing"  # the provider would not hand the file out yet: tried again
    RETRY = "retry"  # the download ran out of time or was stopped: tried again


DONE_STATES = (InboundState.DELIVERED, InboundState.UNAVAILABLE)
# What a deadline callback answers when the download stops because faxd is stopping.
STOPPING = "faxd is stopping or reloading"


@dataclass(frozen=True)
class InboundRow:
    remote_id: str
    file_id: str
    state: InboundState
    path: Path | None
    sha256: str | None
    size: int | None
    meta: ReceivedMeta
    error: str | None
    attempts: int


class InboxLedger:
    """The inbound tables of the shared journal, for one provider. Thread-safe (the
    journal serialises access)."""

    def __init__(self, journal: Journal, provider: str) -> None:
        self._journal = journal
        self.provider = provider
        with journal.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    # -- the watermark -----------------------------------------------------------------

    @property
    def _watermark_key(self) -> str:
        return f"inbound.watermark.{self.provider}"

    def watermark(self) -> datetime | None:
        """The end of the last window whose every document is safely delivered."""
        value = self._journal.get_value(self._watermark_key)
        return datetime.fromisoformat(value) if value else None

    def set_watermark(self, moment: datetime) -> None:
        self._journal.set_value(self._watermark_key, moment.isoformat())

    # -- files -------------------------------------------------------------------------

    def row(self, remote_id: str, file_id: str) -> InboundRow | None:
        rows = self._journal.query(
            "SELECT * FROM inbound WHERE remote_id = ? AND file_id = ?",
            (remote_id, file_id),
        )
        return _row(rows[0]) if rows else None

    def interrupted(self) -> list[InboundRow]:
        """Files caught by a crash between their rename into place and their final commit."""
        rows = self._journal.query(
            "SELECT * FROM inbound WHERE provider = ? AND state = ?",
            (self.provider, InboundState.DOWNLOADING.value),
        )
        return [_row(r) for r in rows]

    def plan(
        self,
        remote_id: str,
        file_id: str,
        path: Path,
        sha256: str,
        size: int,
        meta: ReceivedMeta,
        when: float,
    ) -> bool:
        """Commit the name a downloaded file is about to be renamed to. False (nothing
        changed) when the file is already delivered: the caller must drop its copy."""
        with self._journal.transaction() as db:
            cursor = db.execute(
                "INSERT INTO inbound(provider, remote_id, file_id, state, path, sha256, size, "
                "meta, attempts, updated_at) VALUES (?,?,?,?,?,?,?,?,1,?) "
                "ON CONFLICT(remote_id, file_id) DO UPDATE SET state = excluded.state, "
                "provider = excluded.provider, path = excluded.path, "
                "sha256 = excluded.sha256, size = excluded.size, "
                "meta = excluded.meta, attempts = attempts + 1, error = NULL, "
                "updated_at = excluded.updated_at WHERE inbound.state != 'delivered'",
                (
                    self.provider,
                    remote_id,
                    file_id,
                    InboundState.DOWNLOADING.value,
                    str(path),
                    sha256,
                    size,
                    meta.dumps(),
                    when,
                ),
            )
            return cursor.rowcount > 0

    def deliver(
        self,
        remote_id: str,
        file_id: str,
        when: float,
        *,
        files_in_document: int,
        queue_delete: bool,
        outbox: Sequence[NewDelivery] = (),
    ) -> bool:
        """Commit a file as delivered. Returns True when this completed its document and
        the document's remote deletion was queued in the same transaction. `outbox`: the
        deliveries it causes (mail, print...), committed with it.

        Not waited for: the file and its metadata are on disk before it, and a crash that
        loses it leaves the row `downloading` with the file in place, which the next cycle
        delivers again, outbox rows and all (the poller's _finish_in_place). What acts on
        the commit reads it durably first (the outbox and audit readers); the remote
        deletion it queues removes only what is already safe here."""
        with self._journal.transaction(durable=False) as db:
            insert_outbox(db, outbox)
            db.execute(
                "UPDATE inbound SET state = ?, delivered_at = ?, updated_at = ? "
                "WHERE remote_id = ? AND file_id = ? AND state = ?",
                (
                    InboundState.DELIVERED.value,
                    when,
                    when,
                    remote_id,
                    file_id,
                    InboundState.DOWNLOADING.value,
                ),
            )
            got = db.execute(
                "SELECT path, sha256 FROM inbound WHERE remote_id = ? AND file_id = ?",
                (remote_id, file_id),
            ).fetchone()
            audit_outbox.record(
                db, "received", id=remote_id, file=file_id, path=got[0], sha256=got[1]
            )
            if not queue_delete:
                return False
            done = db.execute(
                "SELECT COUNT(*) FROM inbound WHERE remote_id = ? AND state IN (?, ?)",
                (remote_id, *(state.value for state in DONE_STATES)),
            ).fetchone()[0]
            if done < files_in_document:
                return False
            db.execute(
                "INSERT OR IGNORE INTO inbound_deletes(provider, remote_id, queued_at) "
                "VALUES (?,?,?)",
                (self.provider, remote_id, when),
            )
            return True

    def mark_unavailable(
        self, remote_id: str, file_id: str, error: str, meta: ReceivedMeta, when: float
    ) -> None:
        """Give a file up for good; the poller's window may move past it."""
        self._upsert_failure(remote_id, file_id, InboundState.UNAVAILABLE, error, meta, when)

    def _upsert_failure(
        self,
        remote_id: str,
        file_id: str,
        state: InboundState,
        error: str,
        meta: ReceivedMeta,
        when: float,
    ) -> None:
        with self._journal.transaction() as db:
            db.execute(
                "INSERT INTO inbound(provider, remote_id, file_id, state, meta, error, attempts, "
                "updated_at) VALUES (?,?,?,?,?,?,1,?) "
                "ON CONFLICT(remote_id, file_id) DO UPDATE SET state = excluded.state, "
                "error = excluded.error, attempts = attempts + 1, updated_at = excluded.updated_at "
                "WHERE inbound.state != 'delivered'",
                (
                    self.provider,
                    remote_id,
                    file_id,
                    state.value,
                    meta.dumps(),
                    error,
                    when,
                ),
            )

    def note_attempt(
        self, remote_id: str, file_id: str, error: str, meta: ReceivedMeta, when: float
    ) -> None:
        """Count a failed try at a file the provider would not hand out (yet)."""
        self._upsert_failure(remote_id, file_id, InboundState.MISSING, error, meta, when)

    def note_retry(
        self, remote_id: str, file_id: str, error: str, meta: ReceivedMeta, when: float
    ) -> None:
        """Count a download cut off by its deadline (or a stop); it is tried again."""
        self._upsert_failure(remote_id, file_id, InboundState.RETRY, error, meta, when)

    # -- windows that could not be listed completely -----------------------------------

    @property
    def _unresolved_key(self) -> str:
        return f"inbound.unresolved.{self.provider}"

    def unresolved(self) -> list[dict[str, str]]:
        """Windows whose listing stayed cut off at the page limit: listed again each poll."""
        value = self._journal.get_value(self._unresolved_key)
        return list(json.loads(value)) if value else []

    def set_unresolved(self, windows: list[dict[str, str]]) -> None:
        self._journal.set_value(self._unresolved_key, json.dumps(windows))

    def delivered_since(self, when: float) -> int:
        rows = self._journal.query(
            "SELECT COUNT(*) AS n FROM inbound WHERE state = ? AND delivered_at >= ?",
            (InboundState.DELIVERED.value, when),
        )
        return int(rows[0]["n"])

    # -- remote deletions --------------------------------------------------------------

    def pending_deletes(self) -> list[str]:
        rows = self._journal.query(
            "SELECT remote_id FROM inbound_deletes WHERE provider = ? AND done_at IS NULL "
            "ORDER BY queued_at",
            (self.provider,),
        )
        return [str(r["remote_id"]) for r in rows]

    def delete_done(self, remote_id: str, when: float) -> None:
        with self._journal.transaction() as db:
            db.execute(
                "UPDATE inbound_deletes SET done_at = ? WHERE remote_id = ?",
                (when, remote_id),
            )


def _row(row: Any) -> InboundRow:
    return InboundRow(
        remote_id=row["remote_id"],
        file_id=row["file_id"],
        state=InboundState(row["state"]),
        path=Path(row["path"]) if row["path"] else None,
        sha256=row["sha256"],
        size=row["size"],
        meta=ReceivedMeta.loads(row["meta"]),
        error=row["error"],
        attempts=row["attempts"],
    )


# -- the folder ----------------------------------------------------------------------


class FileTooLargeError(OSError):
    """The provider sent more bytes than faxd accepts for one received file."""


class DownloadStoppedError(Exception):
    """A download given up on before it ended: past its deadline, or faxd is stopping."""

    def __init__(self, reason: str, *, too_slow: bool) -> None:
        super().__init__(reason)
        self.too_slow = too_slow


class TmpSink:
    """A write-only file in `.tmp/` that hashes and counts what goes through it and keeps
    the local error a write ran into, so the poller can tell a full disk from a failing
    download even when the provider wraps the exception."""

    def __init__(
        self,
        fh: BinaryIO,
        path: Path,
        max_size: int,
        deadline: Callable[[], str | None] | None = None,
    ) -> None:
        self._fh = fh
        self.path = path
        self.max_size = max_size
        self.size = 0
        self.error: OSError | None = None
        self._hash = hashlib.sha256()
        self._deadline = deadline

    def write(self, data: bytes | bytearray | memoryview) -> int:
        # Checked on every piece the provider hands over, so a trickle cannot outlast it.
        if self._deadline is not None:
            reason = self._deadline()
            if reason is not None:
                raise DownloadStoppedError(reason, too_slow=reason != STOPPING)
        size = len(data)
        if self.size + size > self.max_size:
            self.error = FileTooLargeError(
                errno.EFBIG, f"received file larger than {self.max_size} bytes", str(self.path)
            )
            raise self.error
        try:
            written = self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise
        self._hash.update(data)
        self.size += size
        return written

    def flush(self) -> None:
        self._fh.flush()

    def writable(self) -> bool:
        return True

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class InboxFolder:
    """One inbox folder (the main inbox or a route's), Maildir-style."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path / TMP_DIR
        self.meta = path / META_DIR
        self._names: set[str] | None = None
        self._names_lock = threading.Lock()  # the poller's workers share the folder

    def ensure(self) -> None:
        """Make `.tmp/` and `.meta/`; either one swapped for a link is an error, not a
        place to write: faxd would put received documents, and clear out files, wherever
        it leads."""
        self.path.mkdir(parents=True, exist_ok=True)
        for own in (self.tmp, self.meta):
            with suppress(FileExistsError):
                own.mkdir()
            if not stat.S_ISDIR(os.lstat(own).st_mode):
                raise OSError(
                    errno.ELOOP,
                    f"its {own.name} folder is a symbolic link or not a folder, and faxd does "
                    f"not follow links out of its folders; remove {own} and faxd makes it anew",
                )

    def clean_tmp(self) -> int:
        """Remove what a crash left in `.tmp/`: never visible, never complete for sure.
        Through a descriptor of the folder that follows no link: what is removed is in it."""
        removed = 0
        try:
            fd = os.open(self.tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            with os.scandir(fd) as entries:
                names = [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
            for name in names:
                try:
                    os.unlink(name, dir_fd=fd)
                except FileNotFoundError:
                    continue
                removed += 1
        finally:
            os.close(fd)
        return removed

    @contextmanager
    def tmp_file(
        self, max_size: int, deadline: Callable[[], str | None] | None = None
    ) -> Iterator[TmpSink]:
        """A fresh file in `.tmp/`, fsynced on success and removed on any failure.
        `deadline` returns why to give up (or None) and is asked before every write."""
        self.ensure()
        path = self.tmp / f"{uuid.uuid4().hex}.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        fh = os.fdopen(fd, "wb")
        sink = TmpSink(fh, path, max_size, deadline)
        try:
            yield sink
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        except BaseException:
            fh.close()
            path.unlink(missing_ok=True)
            raise

    def _known_names(self) -> set[str]:
        if self._names is None:
            names: set[str] = set()
            if self.path.is_dir():
                names.update(os.listdir(self.path))
            if self.meta.is_dir():
                # A document removed by the user may leave its metadata: the name stays
                # taken, so new metadata never meets old metadata of another document.
                names.update(
                    entry[: -len(SIDECAR_SUFFIX)]
                    for entry in os.listdir(self.meta)
                    if entry.endswith(SIDECAR_SUFFIX)
                )
            self._names = names
        return self._names

    def is_taken(self, name: str) -> bool:
        """A document name is taken when it exists (or is about to), or its metadata does."""
        with self._names_lock:
            return name in self._known_names()

    def forget_names(self) -> None:
        """Re-read the folder on the next `is_taken` (users add and remove files)."""
        with self._names_lock:
            self._names = None

    def publish(self, tmp: Path, name: str) -> bool:
        """Move a complete, fsynced file from `.tmp/` to `name`, never overwriting.
        False when the name was taken meanwhile; the folder is fsynced on success."""
        with self._names_lock:
            self._known_names().add(name)
        try:
            rename_noreplace(tmp, self.path / name)
        except FileExistsError:
            return False
        fsync_dir(self.path)
        return True

    def meta_path(self, document: str) -> Path:
        """Where the metadata of document `document` (a name in this folder) lives."""
        return self.meta / f"{document}{SIDECAR_SUFFIX}"

    def write_meta(self, document: str, text: str) -> None:
        """Write a document's metadata the same way: `.tmp/`, fsync, rename into `.meta/`.
        One already in place (written before a crash) is kept: its content is the same."""
        with self.tmp_file(max_size=1 << 20) as sink:
            sink.write(text.encode("utf-8"))
        if not self.meta.is_dir():
            self.meta.mkdir(exist_ok=True)
            fsync_dir(self.path)  # the new folder itself survives a crash
        try:
            rename_noreplace(sink.path, self.meta_path(document))
        except FileExistsError:
            sink.path.unlink(missing_ok=True)
            return
        fsync_dir(self.meta)
