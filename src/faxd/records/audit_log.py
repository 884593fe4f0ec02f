"""The audit log: `audit/YYYY-MM.jsonl`, one JSON object per line, append-only.

Each line ends with `"hash"`, the sha256 of the line up to that field, and carries in
`"prev"` the sha256 of the whole line before it (the first line ever: 64 zeros); the chain
runs on across the month files. A changed byte breaks the line's own hash, a removed or
reordered line breaks the next line's `prev`, and lines cut off at the end are found by
comparing the last line with the head the journal remembers.

Lines are appended with `seq`, the journal outbox's sequence number, so a drain
interrupted between writing and acknowledging never writes an event twice."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from faxd.host import contained
from faxd.host.fsops import NotRegularFileError

GENESIS = "0" * 64
_FILE = re.compile(r"^\d{4}-\d{2}\.jsonl$")
_HASH_FIELD = ',"hash":"'
_RESERVED = ("seq", "time", "event", "prev", "hash")
_TAIL_CHUNK = 64 * 1024


class Event(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> float: ...
    @property
    def event(self) -> str: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Verdict:
    ok: bool
    lines: int
    problem: str | None = None
    note: str | None = None  # an intact log's last line cut short by a crash


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Not escaped by json.dumps, and line breaks to str.splitlines() and some editors (a file
# name may hold them): escaped, so that a line is a line to every reader.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def render_line(seq: int, ts: float, event: str, data: Mapping[str, Any], prev: str) -> str:
    """One line without its newline: the fields, then the hash of everything before it."""
    body: dict[str, Any] = {
        "seq": seq,
        "time": datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds"),
        "event": event,
    }
    body.update({k: v for k, v in data.items() if k not in _RESERVED})
    body["prev"] = prev
    # A file name that is not valid UTF-8 arrives with lone surrogates, which UTF-8 cannot
    # write: they become JSON's own \udcXX escapes, so the line reads back to the same name.
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    text = text.encode("utf-8", "backslashreplace").decode("utf-8").translate(_LINE_BREAKS)
    return f'{text[:-1]}{_HASH_FIELD}{sha256_text(text)}"}}'


def _own_hash_ok(line: str) -> bool:
    cut = line.rfind(_HASH_FIELD)
    if cut < 0 or not line.endswith('"}'):
        return False
    claimed = line[cut + len(_HASH_FIELD) : -2]
    return claimed == sha256_text(line[:cut] + "}")


def _last_line(dir_fd: int, name: str) -> str | None:
    """The last complete line of file `name`, read from the end (a month's file grows
    large); an unterminated tail, left by a crash in the middle of a write, is cut off
    first."""
    with os.fdopen(contained.open_regular_at(dir_fd, name, access=os.O_RDWR), "r+b") as handle:
        pos = handle.seek(0, os.SEEK_END)
        buf = b""
        while pos > 0:
            start = max(0, pos - _TAIL_CHUNK)
            handle.seek(start)
            buf = handle.read(pos - start) + buf
            pos = start
            last = buf.rfind(b"\n")
            if last >= 0 and (pos == 0 or buf.rfind(b"\n", 0, last) >= 0):
                break
        if not buf.endswith(b"\n"):
            keep = buf.rfind(b"\n") + 1
            handle.truncate(pos + keep)
            os.fsync(handle.fileno())
            buf = buf[:keep]
        if not buf:
            return None
        line = buf[buf.rfind(b"\n", 0, len(buf) - 1) + 1 : -1]
        return line.decode("utf-8") or None


def _append_whole(fd: int, data: bytes) -> None:
    """Append `data` and sync it, or raise with the file as it was.

    A nearly full disk takes only the part of a write that fits and says nothing: the
    rest must be written (and meet ENOSPC) before the events are acknowledged, or they
    were gone from the journal while their lines were cut off here. What did fit is taken
    back, so the failure does not look like a crash's torn line."""
    size = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
            os.fsync(fd)
        raise


class AuditLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if _FILE.match(p.name))

    def _open_dir(self, *, create: bool) -> int:
        # records.path may be on a share others can write: the audit folder and every file
        # in it are opened without following a link (the log is appended to and, after a
        # crash, cut back to its last whole line), below records.path, which is configured.
        return contained.open_dir(self.directory.parent, (self.directory.name,), create=create)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """One writer at a time: the daemon and a one-shot command may drain together.
        Yields the audit folder's descriptor, opened without following a link."""
        dir_fd = self._open_dir(create=True)
        try:
            fd = contained.open_regular_at(dir_fd, ".lock", access=os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield dir_fd
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)

    def _tail(self, dir_fd: int) -> tuple[Path | None, int, str]:
        """The newest file, the seq of its last line and that line's sha256. A line cut
        short by a crash is removed first: its event is still in the outbox."""
        files = self.files()
        for index in range(len(files) - 1, -1, -1):
            last = _last_line(dir_fd, files[index].name)
            if last is not None:
                return files[-1], int(json.loads(last)["seq"]), sha256_text(last)
        return (files[-1] if files else None), 0, GENESIS

    def append(self, events: Sequence[Event]) -> tuple[int, str] | None:
        """Append the events not yet in the file, fsynced. Returns (last seq, sha256 of the
        last line), the head to acknowledge, or None when there was nothing to append."""
        if not events:
            return None
        with self._locked() as dir_fd:
            current, last_seq, prev = self._tail(dir_fd)
            out: dict[Path, list[str]] = {}
            for event in events:
                if event.seq <= last_seq:
                    continue  # written before a crash, not yet acknowledged
                month = datetime.fromtimestamp(event.ts).astimezone().strftime("%Y-%m")
                target = self.directory / f"{month}.jsonl"
                if current is not None and target.name < current.name:
                    target = current  # the clock went back: the chain stays in one order
                current = target
                line = render_line(event.seq, event.ts, event.event, event.data, prev)
                out.setdefault(target, []).append(line)
                prev, last_seq = sha256_text(line), event.seq
            for path, lines in out.items():
                fd = contained.open_regular_at(
                    dir_fd, path.name, access=os.O_WRONLY | os.O_APPEND | os.O_CREAT
                )
                try:
                    _append_whole(fd, "".join(f"{line}\n" for line in lines).encode("utf-8"))
                finally:
                    os.close(fd)
            return last_seq, prev

    def _read(self, name: str) -> str:
        dir_fd = self._open_dir(create=False)
        try:
            with os.fdopen(contained.open_regular_at(dir_fd, name), "rb") as handle:
                return handle.read().decode("utf-8")
        finally:
            os.close(dir_fd)

    def verify(self, head: str | None = None) -> Verdict:
        """Walk every file in order. `head` ("seq:sha256", kept by the journal) also
        catches lines removed from the end."""
        prev, count, last_seq = GENESIS, 0, 0
        head_seq, _, head_hash = (head or "").partition(":")
        at_head = int(head_seq) if head_seq.isdigit() else None
        head_seen = False
        torn: str | None = None
        files = self.files()
        for path in files:
            try:
                text = self._read(path.name)
            except (OSError, UnicodeDecodeError, NotRegularFileError) as exc:
                return Verdict(False, count, f"{path.name}: cannot be read ({exc}).")
            # Lines end at "\n" only: a line written before U+2028 and its kind were
            # escaped holds them raw, and is still one line.
            lines = text.removesuffix("\n").split("\n") if text else []
            if path == files[-1] and text and not text.endswith("\n"):
                # A crash while faxd appended: the line was never acknowledged (the
                # journal's head below still checks that none that was is missing), and
                # faxd writes it again, whole, at its next write.
                torn = f"{path.name} line {len(lines)}"
                lines.pop()
            for number, line in enumerate(lines, start=1):
                where = f"{path.name} line {number}"
                try:
                    fields = json.loads(line)
                    seq = int(fields["seq"])
                except (ValueError, KeyError, TypeError):
                    return Verdict(False, count, f"{where}: not a valid audit line.")
                if not _own_hash_ok(line):
                    return Verdict(False, count, f"{where}: changed after it was written.")
                if fields.get("prev") != prev:
                    return Verdict(
                        False,
                        count,
                        f"{where}: does not follow the line before it "
                        "(a line was removed, inserted or moved).",
                    )
                if seq <= last_seq:
                    return Verdict(False, count, f"{where}: out of order (seq {seq}).")
                prev, last_seq, count = sha256_text(line), seq, count + 1
                if seq == at_head:
                    # Lines after it may be newer than the journal's note, but this one
                    # is as written: a chain rewritten from an earlier line and carried
                    # past the head by a line more would pass every other check.
                    if prev != head_hash:
                        return Verdict(
                            False,
                            count - 1,
                            f"{where}: is not the line the journal recorded as written "
                            f"(seq {seq}): the log was rewritten.",
                        )
                    head_seen = True
        if at_head is not None and not head_seen:
            return Verdict(
                False,
                count,
                f"the log ends at seq {last_seq}, but the journal recorded seq {at_head} "
                "as written: lines were removed from the end."
                if at_head > last_seq
                else f"the line the journal recorded as written (seq {at_head}) is missing.",
            )
        note = (
            f"{torn} was cut short by a crash while faxd wrote it; faxd writes it again"
            " at its next write."
            if torn
            else None
        )
        return Verdict(True, count, note=note)
