"""An inbox folder, Maildir-style: a received file is written into `.tmp/`, fsynced,
and renamed into place without ever replacing a name, then the folder is fsynced, so
nothing half-written is ever visible.

Each document's metadata goes the same way into the folder's `.meta/` subfolder as
`NAME.yaml`, never beside the document: a remote file called `X.yaml` is then just a
document, and can never take the place of document X's metadata. Document names start
with a date, so they are never `.meta` or `.tmp`.

Office staff may write in an inbox folder (they remove and rename what came), so `.tmp/`
and `.meta/` are faxd's own only as long as nobody swaps one for a link. Every step after
the inbox folder itself therefore goes through a descriptor of `.tmp/` or `.meta/` opened
without following a link, never through their paths: a link put there between a check
and a write cannot make faxd write a received document, or move a file, anywhere else.
The same holds for a route's folder inside the inbox (`inbox/support`): only the
configured inbox itself is opened as a path, each folder below it without following a
link, so staff who swap `support` for a link cannot have faxes written (or `.tmp/`
cleared out) wherever it leads."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from faxd.core.names import windows_key
from faxd.core.received_check import HEAD_BYTES
from faxd.host.fsops import rename_noreplace_at

TMP_DIR = ".tmp"
META_DIR = ".meta"
SIDECAR_SUFFIX = ".yaml"
# What a deadline callback answers when the download stops because faxd is stopping.
STOPPING = "faxd is stopping or reloading"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


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
        name: str,
        path: Path,
        max_size: int,
        deadline: Callable[[], str | None] | None = None,
    ) -> None:
        self._fh = fh
        self.name = name  # inside `.tmp/`: every later step goes through its descriptor
        self.path = path
        self.max_size = max_size
        self.size = 0
        self.head = bytearray()  # the first HEAD_BYTES: is it the document at all?
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
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self.size += size
        return written

    def flush(self) -> None:
        self._fh.flush()

    def writable(self) -> bool:
        return True

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class InboxFolder:
    """One inbox folder (the main inbox or a route's)."""

    def __init__(
        self,
        path: Path,
        root: Path | None = None,
        *,
        may_make_root: Callable[[Path], bool] = lambda _root: True,
    ) -> None:
        """`root`: the configured folder `path` lies in (the inbox, for a route's folder
        inside it), trusted as written; every folder below it is opened without following
        a link. `may_make_root`: whether a missing root may be made afresh (not when it
        is a share that is not mounted)."""
        self.path = path
        self.root = root or path
        self._may_make_root = may_make_root
        self._below = _parts_below(self.root, path)
        self.tmp = path / TMP_DIR
        self.meta = path / META_DIR
        self._names: set[str] | None = None
        self._names_lock = threading.Lock()  # the poller's workers share the folder

    def ensure(self) -> None:
        """Make the folder, `.tmp/` and `.meta/`; either one swapped for a link is an
        error (OSError ELOOP, in words), not a place to write."""
        if not self.root.is_dir():
            self._make_root()
        fd = self._open_folder(create=True)
        try:
            for own in (TMP_DIR, META_DIR):
                with suppress(FileExistsError):
                    os.mkdir(own, 0o777, dir_fd=fd)
        finally:
            os.close(fd)
        with self._opened(TMP_DIR, META_DIR):
            pass

    def _make_root(self) -> None:
        if not self._may_make_root(self.root):
            # Made on a bare mount point, it would take received documents that vanish
            # under the share once it is mounted again.
            raise OSError(errno.ENOENT, missing_text(self.root), str(self.root))
        self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _opened(self, *own: str) -> Iterator[list[int]]:
        """Descriptors of the folder and of its `own` subfolders, in that order."""
        fds = [self._open_folder()]
        try:
            for name in own:
                fds.append(self._open_own(fds[0], name))
            yield fds
        finally:
            for fd in fds:
                os.close(fd)

    def _open_folder(self, *, create: bool = False) -> int:
        """The folder itself: the configured root as a path, each folder below it by
        descriptor (a route's folder swapped for a link is an error, not followed)."""
        fd = os.open(self.root, _DIR)
        for depth in range(len(self._below)):
            fd = self._step_into(fd, depth, create=create)
        return fd

    def _step_into(self, parent: int, depth: int, *, create: bool = False) -> int:
        """The folder `depth` steps below the root, inside `parent` (which is closed),
        never through a link."""
        part = self._below[depth]
        try:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=parent)
            return _open_below(parent, part, self.root.joinpath(*self._below[: depth + 1]))
        finally:
            os.close(parent)

    def _open_own(self, root: int, name: str) -> int:
        return _open_below(root, name, self.path / name)

    def clean_tmp(self) -> int:
        """Remove what a crash left in `.tmp/`: never visible, never complete for sure."""
        try:
            with self._opened(TMP_DIR) as (_, tmp):
                return _remove_files(tmp)
        except FileNotFoundError:
            return 0

    @contextmanager
    def tmp_file(
        self, max_size: int, deadline: Callable[[], str | None] | None = None
    ) -> Iterator[TmpSink]:
        """A fresh file in `.tmp/`, fsynced on success and removed on any failure.
        `deadline` returns why to give up (or None) and is asked before every write."""
        name = f"{uuid.uuid4().hex}.part"
        fd = self._create_tmp(name)
        fh = os.fdopen(fd, "wb")
        sink = TmpSink(fh, name, self.tmp / name, max_size, deadline)
        try:
            yield sink
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        except BaseException:
            # On a full disk closing flushes the same bytes again and fails again: the
            # file is removed all the same (it was left in .tmp/ at every poll).
            with suppress(OSError):
                fh.close()
            self.discard(sink)
            raise

    def _create_tmp(self, name: str) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            with self._opened(TMP_DIR) as (_, tmp):
                return os.open(name, flags, 0o640, dir_fd=tmp)
        except FileNotFoundError:
            pass  # the first file, or somebody removed `.tmp/` or the folder
        self.ensure()
        with self._opened(TMP_DIR) as (_, tmp):
            return os.open(name, flags, 0o640, dir_fd=tmp)

    def discard(self, sink: TmpSink) -> None:
        """Remove a file from `.tmp/`; one that cannot be is removed at the next start."""
        with suppress(OSError), self._opened(TMP_DIR) as (_, tmp):
            os.unlink(sink.name, dir_fd=tmp)

    def _known_names(self) -> set[str]:
        if self._names is None:
            names: set[str] = set()
            if self.path.is_dir():
                names.update(windows_key(entry) for entry in os.listdir(self.path))
            if self.meta.is_dir():
                # A document removed by the user may leave its metadata: the name stays
                # taken, so new metadata never meets old metadata of another document.
                names.update(
                    windows_key(entry[: -len(SIDECAR_SUFFIX)])
                    for entry in os.listdir(self.meta)
                    if entry.endswith(SIDECAR_SUFFIX)
                )
            self._names = names
        return self._names

    def is_taken(self, name: str) -> bool:
        """A document name is taken when it exists (or is about to), or its metadata does,
        under this name or one Windows takes for it."""
        with self._names_lock:
            return windows_key(name) in self._known_names()

    def forget_names(self) -> None:
        """Re-read the folder on the next `is_taken` (users add and remove files)."""
        with self._names_lock:
            self._names = None

    def publish(self, sink: TmpSink, name: str) -> bool:
        """Move a complete, fsynced file from `.tmp/` to `name`, never overwriting.
        False when the name was taken meanwhile; the folder is fsynced on success."""
        with self._names_lock:
            # Reserved here, not in `is_taken`: two workers may both have found a name and
            # its case variant free, and renaming never refuses a variant on Linux.
            known = self._known_names()
            if windows_key(name) in known:
                return False
            known.add(windows_key(name))
        with self._opened(TMP_DIR) as (root, tmp):
            try:
                rename_noreplace_at(tmp, sink.name, root, name)
            except FileExistsError:
                return False
            os.fsync(root)
        return True

    def meta_path(self, document: str) -> Path:
        """Where the metadata of document `document` (a name in this folder) lives."""
        return self.meta / _meta_name(document)

    def write_meta(self, document: str, text: str) -> None:
        """Write a document's metadata the same way: `.tmp/`, fsync, rename into `.meta/`.
        One already in place (written before a crash) is kept: its content is the same."""
        with self.tmp_file(max_size=1 << 20) as sink:
            sink.write(text.encode("utf-8"))
        with self._opened(TMP_DIR) as (root, tmp):
            meta = self._meta_dir(root)
            try:
                rename_noreplace_at(tmp, sink.name, meta, _meta_name(document))
            except FileExistsError:
                with suppress(FileNotFoundError):
                    os.unlink(sink.name, dir_fd=tmp)
                return
            else:
                os.fsync(meta)
            finally:
                os.close(meta)

    def _meta_dir(self, root: int) -> int:
        try:
            return self._open_own(root, META_DIR)
        except FileNotFoundError:
            pass
        with suppress(FileExistsError):
            os.mkdir(META_DIR, 0o777, dir_fd=root)
        os.fsync(root)  # the new folder itself survives a crash
        return self._open_own(root, META_DIR)


def missing_text(root: Path) -> str:
    """Why nothing is delivered into `root`, a folder faxd delivered into before."""
    return (
        f"the inbox folder {root} is not there (a share that is not mounted, or a folder "
        "renamed away); faxd does not make a fresh, empty one in its place, and received "
        "documents wait at the provider until it is back"
    )


def _parts_below(root: Path, path: Path) -> tuple[str, ...]:
    if path == root:
        return ()
    parts = path.relative_to(root).parts
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{path} is not a plain path below {root}")
    return parts


def _open_below(parent: int, name: str, where: Path) -> int:
    """The folder `name` inside `parent`, opened without following a link; a link (or
    a file) there is an OSError ELOOP saying what to do, in words."""
    try:
        return os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    raise OSError(
        errno.ELOOP,
        f"its {name} folder is a symbolic link or not a folder, and faxd does not "
        f"follow links out of its folders; remove {where} and faxd makes it anew",
    )


def _meta_name(document: str) -> str:
    return f"{document}{SIDECAR_SUFFIX}"


def _remove_files(folder: int) -> int:
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
    removed = 0
    for name in names:
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder)
            removed += 1
    return removed
