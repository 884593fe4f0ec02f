"""File system effects: open without following links, move without clobbering,
write atomically. Each step that must survive a crash is fsynced in order: the file,
then the rename, then the directory."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from faxd.core.names import first_free, temp_name
from faxd.errors import FaxdError

HEAD_BYTES = 8192
TAIL_BYTES = 1024
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


class NotRegularFileError(FaxdError):
    """The path is a symlink, FIFO, socket, device, directory or a hard-linked file."""


@dataclass(frozen=True)
class FileSample:
    size: int
    ino: int
    dev: int
    mtime: float
    head: bytes
    tail: bytes


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


_LIBC = _libc()


def sample_regular(path: Path) -> FileSample:
    """Read a document's size and first and last bytes, refusing anything but a regular,
    single-link file. O_NONBLOCK keeps a FIFO from blocking the daemon; O_NOFOLLOW keeps
    a symlink from leaking a file outside the spool."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFileError(f"{path.name} is a symbolic link.") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"{path.name} is not a regular file.")
        if st.st_nlink > 1:
            raise NotRegularFileError(
                f"{path.name} has {st.st_nlink} hard links; faxd only sends files with one.",
            )
        head = os.pread(fd, HEAD_BYTES, 0)
        tail_at = max(0, st.st_size - TAIL_BYTES)
        tail = os.pread(fd, TAIL_BYTES, tail_at) if st.st_size > len(head) else head
        return FileSample(st.st_size, st.st_ino, st.st_dev, st.st_mtime, head, tail)
    finally:
        os.close(fd)


def no_room(folder: Path, minimum: int) -> str | None:
    """Why nothing can be written in `folder` (its file system read-only, full or out of
    inodes), or None. Measured as an unprivileged user: the daemon is one."""
    try:
        fs = os.statvfs(folder)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return "is on a read-only file system"
    free = fs.f_bavail * fs.f_frsize
    if free < minimum:
        return f"has {free // 1024} KiB free"
    if fs.f_files and fs.f_favail == 0:
        return "has no free inodes"
    return None


def is_regular_file(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode)


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename src to dst, failing with FileExistsError if dst exists (never clobbers)."""
    rename_noreplace_at(None, src, None, dst)


def rename_noreplace_at(
    src_dir: int | None, src: str | Path, dst_dir: int | None, dst: str | Path
) -> None:
    """rename_noreplace with each name taken inside a folder descriptor (None: as a path),
    so a folder swapped for a link after it was opened cannot redirect the move."""
    if _LIBC is not None and hasattr(_LIBC, "renameat2"):
        result = _LIBC.renameat2(
            _at(src_dir), os.fsencode(src), _at(dst_dir), os.fsencode(dst), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(dst))
    # Filesystems without renameat2: link() refuses an existing name atomically.
    os.link(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)
    os.unlink(src, dir_fd=src_dir)


def _at(folder: int | None) -> int:
    return _AT_FDCWD if folder is None else folder


def move_unique(src: Path, dst_dir: Path, name: str) -> Path:
    """Move src into dst_dir under `name`, or `name (2)` … if taken. Never copies
    (same file system), never overwrites; the directory is fsynced afterwards."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = dst_dir / first_free(name, lambda n: (dst_dir / n).exists())
        try:
            rename_noreplace(src, candidate)
        except FileExistsError:
            continue
        fsync_dir(dst_dir)
        if src.parent != dst_dir:
            fsync_dir(src.parent)
        return candidate


def write_atomic(path: Path, data: bytes, *, unique: bool = True) -> Path:
    """Write data to path (or `path (2)` … when unique and taken) via a temp file that is
    fsynced before it is renamed into place, so no reader ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / temp_name(path.name, str(os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o660)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if unique:
            return move_unique(tmp, path.parent, path.name)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        return path
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def walk_files(root: Path, skip_dir: Callable[[Path], bool]) -> list[Path]:
    """Every regular file below root (not following symlinks), skipping excluded trees."""
    found: list[Path] = []
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not skip_dir(path):
                        stack.append(path)
                else:
                    found.append(path)
            except OSError:
                continue
    return found


def iter_files(
    root: Path,
    skip_dir: Callable[[Path], bool],
    first: Callable[[str], bool],
    unreadable: Callable[[Path, OSError], None] | None = None,
) -> Iterator[Path]:
    """walk_files one folder at a time, lazily: a backlog of 100,000 files is read as it
    is worked off, never held whole. In each folder the names `first` picks come first.
    A folder that cannot be listed is passed to `unreadable` (its files wait unseen)."""
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            if unreadable is not None and not isinstance(exc, FileNotFoundError):
                unreadable(current, exc)
            continue
        entries.sort(key=lambda e: not first(e.name))
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    path = Path(entry.path)
                    if not skip_dir(path):
                        stack.append(path)
                    continue
            except OSError:
                continue
            yield Path(entry.path)
