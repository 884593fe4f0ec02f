"""The hash-chained audit log: every kind of tampering is found and named by line."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faxd.host.fsops import NotRegularFileError
from faxd.records.audit_log import AuditLog, sha256_text

T0 = 1_795_000_000.0


@dataclass(frozen=True)
class Ev:
    seq: int
    ts: float
    event: str
    data: dict[str, Any] = field(default_factory=dict)


def _log(tmp_path: Path, count: int = 6) -> tuple[AuditLog, Path, str]:
    log = AuditLog(tmp_path / "audit")
    events = [
        Ev(n, T0 + n, "filed", {"job": f"j{n}", "path": f"/srv/fax/sent/ä{n}.pdf"})
        for n in range(1, count + 1)
    ]
    head = log.append(events)
    assert head is not None
    (path,) = log.files()
    return log, path, f"{head[0]}:{head[1]}"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_intact_log_verifies_and_chains_each_line_to_the_one_before(tmp_path: Path) -> None:
    log, path, head = _log(tmp_path)
    verdict = log.verify(head)
    assert verdict.ok and verdict.lines == 6
    lines = [line.rstrip("\n") for line in _lines(path)]
    assert json.loads(lines[0])["prev"] == "0" * 64
    for before, line in itertools.pairwise(lines):
        assert json.loads(line)["prev"] == sha256_text(before)


@pytest.mark.parametrize("index", [0, 2, 5])
def test_a_changed_byte_is_found(tmp_path: Path, index: int) -> None:
    log, path, head = _log(tmp_path)
    lines = _lines(path)
    lines[index] = lines[index].replace('"job":"j', '"job":"k', 1)
    path.write_text("".join(lines), encoding="utf-8")
    verdict = log.verify(head)
    assert not verdict.ok
    assert f"line {index + 1}:" in (verdict.problem or "")


def test_a_removed_line_is_found(tmp_path: Path) -> None:
    log, path, head = _log(tmp_path)
    lines = _lines(path)
    del lines[2]
    path.write_text("".join(lines), encoding="utf-8")
    verdict = log.verify(head)
    assert not verdict.ok and "line 3:" in (verdict.problem or "")


def test_a_removed_last_line_is_found_through_the_journal_head(tmp_path: Path) -> None:
    log, path, head = _log(tmp_path)
    path.write_text("".join(_lines(path)[:-1]), encoding="utf-8")
    assert log.verify(None).ok  # the file alone cannot tell …
    verdict = log.verify(head)  # … the journal's record of the last line can
    assert not verdict.ok and "removed from the end" in (verdict.problem or "")


def test_a_reordered_line_is_found(tmp_path: Path) -> None:
    log, path, head = _log(tmp_path)
    lines = _lines(path)
    lines[3], lines[4] = lines[4], lines[3]
    path.write_text("".join(lines), encoding="utf-8")
    verdict = log.verify(head)
    assert not verdict.ok and "line 4:" in (verdict.problem or "")


def test_a_line_cut_short_by_a_crash_is_rewritten_not_duplicated(tmp_path: Path) -> None:
    log, path, _ = _log(tmp_path, 3)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"seq":4,"time":"2026')  # the write a power cut interrupted
    head = log.append([Ev(4, T0 + 4, "picked up"), Ev(5, T0 + 5, "accepted")])
    assert head is not None and head[0] == 5
    assert log.verify(f"{head[0]}:{head[1]}").ok
    assert [json.loads(x)["seq"] for x in _lines(path)] == [1, 2, 3, 4, 5]
    # Events already in the file (a crash before the outbox was emptied) are skipped.
    assert log.append([Ev(5, T0 + 5, "accepted")]) == (5, head[1])
    assert len(_lines(path)) == 5


def test_a_line_cut_short_before_the_daemon_writes_again_is_named_not_called_tampering(
    tmp_path: Path,
) -> None:
    log, path, head = _log(tmp_path, 3)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"seq":4,"time":"2026')  # the write a crash interrupted
    verdict = log.verify(head)
    assert verdict.ok and verdict.lines == 3
    assert verdict.note == (
        f"{path.name} line 4 was cut short by a crash while faxd wrote it; faxd writes it"
        " again at its next write."
    )
    # Cutting a line that was acknowledged is still found: the journal's head names it.
    path.write_text("".join(_lines(path)[:2]) + _lines(path)[2][:20], encoding="utf-8")
    verdict = log.verify(head)
    assert not verdict.ok and "removed from the end" in (verdict.problem or "")


def test_the_chain_runs_across_month_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit")
    head = log.append([Ev(1, T0, "picked up"), Ev(2, T0 + 40 * 86400, "filed")])
    assert head is not None and len(log.files()) == 2
    assert log.verify(f"{head[0]}:{head[1]}").ok
    log.files()[0].unlink()
    assert not log.verify(None).ok


def test_the_tail_is_found_in_a_long_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("faxd.records.audit_log._TAIL_CHUNK", 7)  # lines span many chunks
    log = AuditLog(tmp_path / "audit")
    first = log.append([Ev(n, T0 + n, "filed", {"path": "å" * 30}) for n in range(1, 40)])
    with log.files()[0].open("a", encoding="utf-8") as handle:
        handle.write('{"seq":40,"path":"ååå')  # cut short
    head = log.append([Ev(40, T0 + 40, "filed")])
    assert first is not None and head is not None and head[0] == 40
    assert log.verify(f"{head[0]}:{head[1]}").ok


def test_a_file_name_that_is_not_utf8_is_logged_and_reads_back_the_same(tmp_path: Path) -> None:
    # A spool file named with the bytes b"bad-\xff\xfe.pdf" reaches faxd as lone surrogates.
    name = "/srv/fax/sent/" + b"bad-\xff\xfe.pdf".decode("utf-8", "surrogateescape")
    log = AuditLog(tmp_path / "audit")
    head = log.append([Ev(1, T0, "filed", {"path": name}), Ev(2, T0 + 1, "filed", {"path": "ok"})])
    assert head is not None
    assert log.verify(f"{head[0]}:{head[1]}").ok
    (path,) = log.files()
    first = _lines(path)[0]
    assert json.loads(first)["path"] == name


@pytest.mark.parametrize("what", ["month file", "lock file", "audit folder"])
def test_the_log_is_never_written_or_cut_back_through_a_link(tmp_path: Path, what: str) -> None:
    # records.path on a share others can write: the newest month file (or the lock, or the
    # folder) becomes a link to a file faxd can write. Its tail has no newline, which a
    # crash would leave in a real log: cutting it back there would truncate the victim.
    log, path, _head = _log(tmp_path)
    victim = tmp_path / "victim.db"
    victim.write_bytes(b"SQLite format 3\x00 no newline at the end")
    before = victim.read_bytes()
    if what == "month file":
        path.unlink()
        path.symlink_to(victim)
    elif what == "lock file":
        (path.parent / ".lock").unlink()
        (path.parent / ".lock").symlink_to(victim)
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / path.name).symlink_to(victim)
        path.parent.rename(tmp_path / "audit-moved")
        path.parent.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(NotRegularFileError, match="link"):
        log.append([Ev(7, T0 + 7, "filed")])
    assert victim.read_bytes() == before
    verdict = log.verify(None)
    if what == "lock file":
        assert verdict.ok  # the log itself is as it was
    else:
        assert not verdict.ok and verdict.problem and "cannot be read" in verdict.problem


def test_a_name_holding_unicode_line_breaks_stays_one_line(tmp_path: Path) -> None:
    # U+2028, U+2029 and NEL are line breaks to str.splitlines() and some editors: a
    # file name holding one split its line, and verify called an intact log broken.
    log = AuditLog(tmp_path / "audit")
    name = "memo\u2028v2\x85final\u2029.pdf"
    head = log.append([Ev(1, T0, "picked up", {"document": name}), Ev(2, T0 + 1, "filed")])
    assert head is not None
    (path,) = log.files()
    raw = path.read_text(encoding="utf-8")
    assert not any(c in raw for c in "\u2028\u2029\x85")
    assert json.loads(raw.split("\n")[0])["document"] == name
    assert log.verify(f"{head[0]}:{head[1]}").ok


def test_a_line_written_with_raw_unicode_line_breaks_still_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Logs written before those characters were escaped hold them raw.
    import faxd.records.audit_log as audit_log

    log = AuditLog(tmp_path / "audit")
    monkeypatch.setattr(audit_log, "_LINE_BREAKS", {})
    log.append([Ev(1, T0, "picked up", {"document": "memo\u2028v2.pdf"})])
    monkeypatch.undo()
    head = log.append([Ev(2, T0 + 1, "filed")])
    assert head is not None
    (path,) = log.files()
    assert "\u2028" in path.read_text(encoding="utf-8")
    verdict = log.verify(f"{head[0]}:{head[1]}")
    assert verdict.ok and verdict.lines == 2


def test_a_chain_rewritten_and_carried_past_the_head_is_found(tmp_path: Path) -> None:
    # sha256 has no key: whoever can write the file can rewrite every hash after a
    # changed line, and one line more took the forged chain past the journal's head.
    log, path, head = _log(tmp_path)
    forged = AuditLog(tmp_path / "forged")
    events = [
        Ev(
            n,
            T0 + n,
            "filed",
            {"job": "j0" if n == 2 else f"j{n}", "path": f"/srv/fax/sent/ä{n}.pdf"},
        )
        for n in range(1, 8)
    ]
    forged.append(events)
    (forged_path,) = forged.files()
    path.write_bytes(forged_path.read_bytes())
    assert log.verify(None).ok  # the file alone cannot tell …
    verdict = log.verify(head)  # … the journal's record of its last line can
    assert not verdict.ok
    assert "line 6:" in (verdict.problem or "") and "rewritten" in (verdict.problem or "")


def test_a_log_that_runs_on_past_the_journals_head_is_intact(tmp_path: Path) -> None:
    # A crash after a line was written and before the journal noted it as the head.
    log, _, head = _log(tmp_path)
    assert log.append([Ev(7, T0 + 7, "filed", {"job": "j7"})]) is not None
    verdict = log.verify(head)
    assert verdict.ok and verdict.lines == 7
