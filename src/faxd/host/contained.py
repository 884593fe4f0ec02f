"""Reading and moving files without leaving the folders faxd was given.

A path checked once and reopened later can lead somewhere else by then: a document or a
folder on the way swapped for a symbolic link, a FIFO, a device. Everything here opens
each folder below a configured root with O_NOFOLLOW | O_DIRECTORY relative to the one
before, the file itself with O_NOFOLLOW | O_NONBLOCK (a FIFO must not block the daemon),
checks that it is a regular file, and reads or moves only through what it opened. No
message quotes a byte of a file it refused."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from faxd.core.names import first_free
from faxd.errors import FaxdError
from faxd.host.fsops import _LIBC, NotRegularFileError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FICLONE = 0x40049409  # ioctl: share the extents of another file (copy-on-write)
_RENAME_NOREPLACE = 1
_CHUNK = 1024 * 1024


class TooLargeError(NotRegularFileError):
    """The file is larger than faxd reads of its kind."""


class ChangedError(NotRegularFileError):
    """The file was being written while faxd took it: it has not settled after all."""


@dataclass(frozen=True)
class Identity:
    """What a file was when faxd checked it; a file with another identity is another file."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def to_json(self) -> dict[str, int]:
        return {"dev": self.dev, "ino": self.ino, "size": self.size, "mtime_ns": self.mtime_ns}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Identity:
        return cls(int(data["dev"]), int(data["ino"]), int(data["size"]), int(data["mtime_ns"]))

    def same_file(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.dev, self.ino)

    def unchanged(self, st: os.stat_result) -> bool:
        return self.same_file(st) and (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


@dataclass(frozen=True)
class Snapshot:
    """A private copy of a spool file, taken through one descriptor."""

    source: Identity
    path: Path
    sha256: str


def _parts(root: Path, path: Path) -> tuple[str, ...]:
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise NotRegularFileError(f"{path} is not below {root}.") from None
    if not rel.parts or any(part in ("", ".", "..") for part in rel.parts):
        raise NotRegularFileError(f"{path.name} is not a plain path below {root}.")
    return rel.parts


def open_dir(root: Path, parts: Sequence[str], *, create: bool = False) -> int:
    """A descriptor of root/parts…, each folder below root opened without following a link
    (with `create`, missing folders are made). The root itself is configured, so trusted."""
    if create:
        root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o770, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise NotRegularFileError(
                        f"the folder '{part}' on the way to it is a symbolic link or not a "
                        "folder; faxd does not follow links out of its folders."
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular_at(
    dir_fd: int | None, name: str, *, single_link: bool = True, access: int = os.O_RDONLY
) -> int:
    """A blocking descriptor of the regular file `name`, never through a link. `access`:
    O_RDONLY, or O_RDWR / O_WRONLY with O_APPEND and O_CREAT (mode 0640) as wanted."""
    uses = "reads" if access == os.O_RDONLY else "writes"
    try:
        fd = os.open(name, _FILE_FLAGS | access, 0o640, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFileError(
                f"{os.path.basename(name)} is a symbolic link; faxd {uses} only regular files."
            ) from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise NotRegularFileError(
                f"{os.path.basename(name)} is not a regular file (a folder, FIFO, socket or "
                f"device); faxd {uses} only regular files."
            ) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(
                f"{os.path.basename(name)} is not a regular file (a folder, FIFO, socket or "
                f"device); faxd {uses} only regular files."
            )
        if single_link and st.st_nlink > 1:
            raise NotRegularFileError(
                f"{os.path.basename(name)} has {st.st_nlink} hard links; faxd only takes "
                "files with one (another could be a window onto a file elsewhere)."
            )
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_beneath(root: Path, path: Path, *, single_link: bool = True) -> int:
    """A read descriptor of the regular file `path` below `root`, no link followed."""
    parts = _parts(root, path)
    dir_fd = open_dir(root, parts[:-1])
    try:
        return open_regular_at(dir_fd, parts[-1], single_link=single_link)
    finally:
        os.close(dir_fd)


def open_file(path: Path, *, expect: Identity | None = None) -> int:
    """A read descriptor of a file faxd made itself (a snapshot, a converted PDF): the last
    component must not be a link, and with `expect` it must be that very file."""
    fd = open_regular_at(None, str(path), single_link=False)
    if expect is not None and not expect.unchanged(os.fstat(fd)):
        os.close(fd)
        raise NotRegularFileError(f"{path.name} is not the file faxd checked.")
    return fd


def read_all(fd: int, cap: int, name: str, what: str = "file") -> bytes:
    """The whole file behind fd, refusing more than `cap` bytes (a /dev/zero must not fill
    memory, a file growing while read must not either)."""
    size = os.fstat(fd).st_size
    if size > cap:
        raise TooLargeError(_too_large(name, size, cap, what))
    parts: list[bytes] = []
    got = 0
    while True:
        piece = os.read(fd, min(_CHUNK, cap + 1 - got))
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
        if got > cap:
            raise TooLargeError(_too_large(name, got, cap, what))
    return b"".join(parts)


def _too_large(name: str, size: int, cap: int, what: str) -> str:
    return f"{name} is larger than faxd reads for a {what} ({_human(size)}; at most {_human(cap)})."


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


def read_beneath(
    root: Path, path: Path, cap: int, what: str = "file", *, single_link: bool = False
) -> tuple[bytes, Identity]:
    """A small file below root (a sidecar, a report), read without following links, at
    most `cap`. `single_link` for what a user hands in (a sidecar) rather than what faxd
    filed itself, which a backup may have hard-linked since."""
    fd = open_beneath(root, path, single_link=single_link)
    try:
        identity = Identity.of(os.fstat(fd))
        return read_all(fd, cap, path.name, what), identity
    finally:
        os.close(fd)


def same_content_beneath(root: Path, path: Path, sha256: str) -> Identity | None:
    """What the spool file `path` below root is now, if it holds exactly the bytes whose
    digest is `sha256` (saved again unchanged: a touch, a client writing it twice); None
    when it holds others, changes while read, or cannot be read."""
    found = digest_beneath(root, path)
    return found[1] if found is not None and found[0] == sha256 else None


def digest_beneath(root: Path, path: Path) -> tuple[str, Identity] | None:
    """The sha256 of the spool file `path` below root and what the file was while read;
    None when it changes while read or cannot be read."""
    try:
        fd = open_beneath(root, path)
    except (OSError, NotRegularFileError):
        return None
    try:
        before = os.fstat(fd)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if not Identity.of(before).unchanged(os.fstat(fd)):
            return None  # written to while read
        return digest, Identity.of(before)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_file(path: Path, cap: int, what: str = "file") -> bytes:
    fd = open_file(path)
    try:
        return read_all(fd, cap, path.name, what)
    finally:
        os.close(fd)


@contextlib.contextmanager
def opened(path: Path, mode: Literal["rb"] = "rb") -> Iterator[Any]:
    """`open(path, "rb")` for files faxd made, never through a link at the last component."""
    fd = open_file(path)
    with os.fdopen(fd, mode) as handle:
        yield handle


def snapshot(root: Path, path: Path, dest: Path, cap: int, *, single_link: bool = True) -> Snapshot:
    """Copy the spool file `path` to `dest` (a new name faxd owns) through one descriptor:
    a copy-on-write clone where the file system shares extents, a real copy otherwise. The
    copy is what faxd checks, uploads and files, so a later write to the spool file cannot
    change what is sent. Raises NotRegularFileError (with TooLargeError) in plain words,
    ChangedError when the file was written to meanwhile, WorkFolderError when the copy
    cannot be written. `single_link=False` for a file faxd filed itself (a backup may
    have hard-linked it since)."""
    fd = open_beneath(root, path, single_link=single_link)
    try:
        before = os.fstat(fd)
        if before.st_size > cap:
            raise TooLargeError(_too_large(path.name, before.st_size, cap, "document"))
        out = _create(dest, path.name)
        try:
            digest = _copy(fd, out, cap, path.name, dest.parent)
            _sync(out, path.name, dest.parent)
        except BaseException:
            os.close(out)
            dest.unlink(missing_ok=True)
            raise
        os.close(out)
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            dest.unlink(missing_ok=True)
            raise ChangedError(f"{path.name} changed while faxd was copying it.")
        return Snapshot(Identity.of(before), dest, digest)
    finally:
        os.close(fd)


class WorkFolderError(FaxdError):
    """faxd's own work folder cannot take a copy (full, or not writable): not the
    document's fault, so it is tried again rather than failed."""


def _work_error(name: str, folder: Path, exc: OSError) -> WorkFolderError:
    return WorkFolderError(
        f"faxd could not copy {name} into its work folder {folder} "
        f"({exc.strerror or exc}); check free space and permissions of its state_dir."
    )


def _create(dest: Path, name: str) -> int:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Read and write: a clone is hashed through the same descriptor.
        return os.open(
            dest, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except OSError as exc:
        raise _work_error(name, dest.parent, exc) from None


def _sync(out: int, name: str, folder: Path) -> None:
    try:
        os.fsync(out)
    except OSError as exc:
        raise _work_error(name, folder, exc) from None


def _copy(src: int, out: int, cap: int, name: str, folder: Path | None) -> str:
    """Clone or copy src into out; the sha256 of what out holds. A write error is a
    WorkFolderError when `folder` is faxd's work folder, else the OSError itself."""
    digest = hashlib.sha256()
    try:
        fcntl.ioctl(out, _FICLONE, src)
        cloned = True
    except OSError:
        cloned = False
    reader = out if cloned else src
    # One buffer, sized to the file (a byte more, to see it grow): a fresh 1 MB bytes per
    # read, even for a one-page PDF, left the memory of four takers fragmented.
    buffer = bytearray(min(_CHUNK, os.fstat(src).st_size + 1))
    offset = 0
    while count := os.preadv(reader, [buffer], offset):
        offset += count
        if offset > cap:
            raise TooLargeError(_too_large(name, offset, cap, "document"))
        piece = memoryview(buffer)[:count]
        digest.update(piece)
        if not cloned:
            view = piece
            try:
                while view:
                    view = view[os.write(out, view) :]
            except OSError as exc:
                if folder is None:
                    raise
                raise _work_error(name, folder, exc) from None
    return digest.hexdigest()


# -- moving --------------------------------------------------------------------------


def _renameat_noreplace(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    if _LIBC is not None and hasattr(_LIBC, "renameat2"):
        result = _LIBC.renameat2(
            src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), dst)
    os.link(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)
    os.unlink(src, dir_fd=src_dir)


MoveResult = Literal["moved", "missing", "changed"]


def move_checked(
    src_root: Path, src: Path, dst_root: Path, dst: Path, expect: Identity | None
) -> MoveResult:
    """Move the file `src` (below src_root) to `dst` (below dst_root), through folder
    descriptors opened here, only if it is still the regular file `expect` describes (or
    any regular file without `expect`). Never overwrites; "missing"/"changed" leave the
    spool untouched. A file swapped in between the check and the rename is put back."""
    try:
        src_parts = _parts(src_root, src)
        src_dir = open_dir(src_root, src_parts[:-1])
    except (FileNotFoundError, NotADirectoryError, NotRegularFileError):
        return "missing"
    try:
        name = src_parts[-1]
        try:
            st = os.stat(name, dir_fd=src_dir, follow_symlinks=False)
        except FileNotFoundError:
            return "missing"
        if not stat.S_ISREG(st.st_mode):
            return "missing"
        if expect is not None and not expect.unchanged(st):
            return "changed"
        dst_parts = _parts(dst_root, dst)
        dst_dir = open_dir(dst_root, dst_parts[:-1], create=True)
        try:
            _renameat_noreplace(src_dir, name, dst_dir, dst_parts[-1])
            moved = os.stat(dst_parts[-1], dir_fd=dst_dir, follow_symlinks=False)
            if (moved.st_dev, moved.st_ino) != (st.st_dev, st.st_ino):
                # Replaced between the look and the rename: that file is not ours to file.
                _renameat_noreplace(dst_dir, dst_parts[-1], src_dir, name)
                return "changed"
            os.fsync(dst_dir)
            os.fsync(src_dir)
        finally:
            os.close(dst_dir)
        return "moved"
    finally:
        os.close(src_dir)


def check_beneath(root: Path, path: Path) -> None:
    """Raise NotRegularFileError unless every folder from root down to `path` is a folder,
    not a link: checked before a command moves several files, so none moves unless all can."""
    os.close(open_dir(root, _parts(root, path)[:-1]))


def move_unique_beneath(src_root: Path, src: Path, dst_root: Path, dst: Path) -> Path | None:
    """Move the regular file `src` (below src_root) to `dst`, or `dst (2)`… when that name
    is taken, below dst_root: through folder descriptors, never through a link, never over
    a file. Returns where it went; None when it is not there any more."""
    while True:
        candidate = dst.with_name(first_free(dst.name, lambda n: os.path.lexists(dst.with_name(n))))
        try:
            moved = move_checked(src_root, src, dst_root, candidate, None)
        except FileExistsError:
            continue  # taken between the look and the move: the next free name
        return candidate if moved == "moved" else None


def copy_in(source: Path, dst_root: Path, dst: Path) -> None:
    """Write a copy of `source` (a snapshot faxd owns) to `dst` below dst_root, through a
    temp name and a no-clobber rename, so `dst` is either absent or complete."""

    def fill(out: int) -> None:
        src = open_file(source)
        try:
            _copy(src, out, 1 << 62, source.name, None)
        finally:
            os.close(src)

    _write_via_temp(dst_root, dst, fill, replace=False)


def write_new(dest: Path, data: bytes) -> None:
    """Write bytes faxd already read (a sidecar) to a new private file, for filing later."""
    out = _create(dest, dest.name)
    try:
        _write_all(out, data)
        os.fsync(out)
    except OSError as exc:
        raise _work_error(dest.name, dest.parent, exc) from None
    finally:
        os.close(out)


def write_beneath(root: Path, path: Path, data: bytes) -> None:
    """Write `data` to `path` below root (a report) through folder descriptors opened here,
    via a temp name renamed over any earlier version: a folder on the way that was swapped
    for a link is refused, not written through."""
    _write_via_temp(root, path, lambda out: _write_all(out, data), replace=True)


def link_on_the_way(root: Path, path: Path) -> str | None:
    """Why unlink_beneath would refuse `path` (a folder on the way is a link), or None:
    what a dry run of retention says it would leave in place."""
    try:
        os.close(open_dir(root, _parts(root, path)[:-1]))
    except NotRegularFileError as exc:
        return str(exc).rstrip(".")
    except OSError:
        return None  # not there, or unreadable: the purge itself says what it finds
    return None


def unlink_beneath(root: Path, path: Path) -> bool:
    """Remove `path` below root (retention) through folder descriptors opened here, and
    sync its folder; False when it is not there. A folder on the way swapped for a link
    is refused (NotRegularFileError): unlinking by the path would remove a file of the
    same name wherever the link leads, faxd's journal included."""
    parts = _parts(root, path)
    try:
        dir_fd = open_dir(root, parts[:-1])
    except FileNotFoundError:
        return False
    try:
        os.unlink(parts[-1], dir_fd=dir_fd)
        os.fsync(dir_fd)
    except FileNotFoundError:
        return False
    finally:
        os.close(dir_fd)
    return True


def _write_all(out: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(out, view) :]


def _write_via_temp(root: Path, path: Path, fill: Callable[[int], None], *, replace: bool) -> None:
    """Have `fill` write a new temp file in path's folder (opened below root, no link
    followed), sync it, and rename it to path: over an earlier version with `replace`,
    never over anything without. A failure leaves no temp file behind."""
    parts = _parts(root, path)
    dir_fd = open_dir(root, parts[:-1], create=True)
    tmp = f".faxd-{os.getpid()}-{os.urandom(4).hex()}.tmp"
    try:
        # Read and write: a clone is hashed through the same descriptor.
        out = os.open(
            tmp,
            os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o660,
            dir_fd=dir_fd,
        )
        try:
            fill(out)
            os.fsync(out)
        finally:
            os.close(out)
        if replace:
            os.rename(tmp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            _renameat_noreplace(dir_fd, tmp, dir_fd, parts[-1])
        os.fsync(dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    finally:
        os.close(dir_fd)
