"""The CUPS backend cups/faxd, run the way cupsd runs it."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.config.sidecar import parse_sidecar_bytes
from faxd.notices.owner import file_owner

BACKEND = Path(__file__).resolve().parents[2] / "cups" / "faxd"
PDF = b"%PDF-1.4\n% rendered by the queue\n%%EOF\n"


def run_backend(
    spool: Path | str | None,
    *args: str,
    stdin: bytes = b"",
    python: str = sys.executable,
    backend: Path = BACKEND,
    **kwargs: object,
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DEVICE_URI"}
    if spool is not None:
        env["DEVICE_URI"] = f"faxd://{spool}"
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [python, str(backend), *args],
        input=stdin,
        capture_output=True,
        env=env,
        check=False,
        timeout=30,
        **kwargs,
    )


def visible(spool: Path) -> list[str]:
    return sorted(p.name for p in spool.iterdir())


def test_without_arguments_it_prints_the_device_line_for_lpinfo() -> None:
    done = run_backend(None)
    assert done.returncode == 0
    assert done.stdout.decode() == 'direct faxd "Unknown" "faxd spool folder"\n'


def test_a_job_with_fax_options_becomes_document_and_sidecar(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    job = tmp_path / "d00007-001"
    job.write_bytes(PDF)
    options = "fax-number=+46\\ 8\\ 123\\ 456\\ 78 fax-from=+4612345678 number-up=1"
    done = run_backend(tmp_path / "spool", "7", "anna", "Invoice 4711.docx", "2", options, str(job))
    assert done.returncode == 0, done.stderr
    spool = tmp_path / "spool"
    assert visible(spool) == ["Invoice 4711-job7.pdf", "Invoice 4711-job7.pdf.yaml"]
    assert (spool / "Invoice 4711-job7.pdf").read_bytes() == PDF
    sidecar_path = spool / "Invoice 4711-job7.pdf.yaml"
    sidecar = parse_sidecar_bytes(sidecar_path.read_bytes(), sidecar_path.name)
    assert sidecar.to == ("+46 8 123 456 78",)
    assert sidecar.sender == "+4612345678"
    assert sidecar.reference == "Invoice 4711.docx"
    assert sidecar.owner == "anna"  # the CUPS job's user: notices to {owner} reach her
    assert "handed to faxd" in done.stderr.decode()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


def test_a_job_without_fax_number_is_only_the_document_read_from_stdin(spool: Path) -> None:
    done = run_backend(spool, "8", "bo", "report", "1", "", stdin=PDF)
    assert done.returncode == 0, done.stderr
    assert visible(spool) == ["report-job8.pdf"]
    assert "folder rules" in done.stderr.decode()
    # With no sidecar to carry `owner:`, the document itself names the job's user: the
    # file is the backend's (lp), and notices to {owner} went to lp@….
    assert file_owner(spool / "report-job8.pdf") == "bo"


def test_names_are_made_safe_and_never_taken_twice(spool: Path) -> None:
    for _ in range(2):
        assert run_backend(spool, "9", "u", "../.secret/~x:y*", "1", "", stdin=PDF).returncode == 0
    assert visible(spool) == ["x_y-job9 (2).pdf", "x_y-job9.pdf"]


def test_postscript_from_a_raw_queue_keeps_a_ps_name_for_conversion(spool: Path) -> None:
    done = run_backend(spool, "3", "u", "letter", "1", "", stdin=b"%!PS-Adobe-3.0\nshowpage\n")
    assert done.returncode == 0
    assert visible(spool) == ["letter-job3.ps"]


def test_an_empty_job_fails_and_leaves_nothing_behind(spool: Path) -> None:
    done = run_backend(spool, "4", "u", "t", "1", "fax-number=+46812345678", stdin=b"")
    assert done.returncode == 1
    assert "ERROR: faxd: job 4 from u is empty" in done.stderr.decode()
    assert visible(spool) == []


def test_a_missing_spool_folder_stops_the_queue_with_a_clear_error(tmp_path: Path) -> None:
    done = run_backend(tmp_path / "nope", "5", "u", "t", "1", "", stdin=PDF)
    assert done.returncode == 4  # CUPS_BACKEND_STOP
    line = done.stderr.decode()
    assert line.startswith("ERROR: faxd: the faxd spool folder")
    assert str(tmp_path / "nope") in line


def test_a_device_uri_that_is_not_faxd_stops_the_queue(spool: Path) -> None:
    done = run_backend(None, "5", "u", "t", "1", "", stdin=PDF)
    assert done.returncode == 4
    assert "is not faxd:///PATH" in done.stderr.decode()


def test_wrong_argument_count_fails_the_job(spool: Path) -> None:
    done = run_backend(spool, "5", "u")
    assert done.returncode == 1
    assert "usage:" in done.stderr.decode()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder every user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="faxd-cups-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_a_spool_folder_the_backend_user_cannot_write_stops_the_queue(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "alice")  # CUPS sets the job's submitter here
    backend = shared_dir / "faxd"
    shutil.copy(BACKEND, backend)
    backend.chmod(0o755)
    spool = shared_dir / "spool"
    spool.mkdir()
    extra: dict[str, object] = {}
    if os.getuid() == 0:
        extra["user"] = "nobody"  # cupsd runs a 0755 backend as an unprivileged user
        spool.chmod(0o755)
    else:
        spool.chmod(0o555)
    # The system python the backend's #! names: pyenv's or a venv's may be root's only.
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    done = run_backend(
        spool, "6", "u", "t", "1", "", stdin=PDF, python=python, backend=backend, **extra
    )
    assert done.returncode == 4, done.stderr
    message = done.stderr.decode()
    assert message.startswith(f"ERROR: faxd: the faxd spool folder {spool} is not writable")
    assert "cupsenable" in message
    # The account the backend runs as, which is the one that needs write access.
    account = "nobody" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    assert f"(user {account}, uid" in message and "alice" not in message
    assert visible(spool) == []


def test_setup_script_refuses_a_spool_folder_that_does_not_exist(tmp_path: Path) -> None:
    backends = tmp_path / "backend"
    backends.mkdir()
    setup = Path(__file__).resolve().parents[2] / "scripts" / "setup-cups-queue"
    done = subprocess.run(
        [str(setup), "--backend-dir", str(backends), str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 1
    assert f"the spool folder {tmp_path / 'nope'} does not exist" in done.stderr
    assert not (backends / "faxd").exists()  # nothing installed half-way


def test_a_long_title_in_a_wide_script_still_fits_a_file_name(spool: Path, tmp_path: Path) -> None:
    # 84 Japanese letters are 252 bytes: cut to 80 letters, "-job101.pdf.yaml" made the
    # sidecar's name 256 bytes, the backend failed the job as "could not write to the
    # spool folder", and CUPS retried it for ever.
    job = tmp_path / "d00101-001"
    job.write_bytes(PDF)
    title = "東京本社" * 21
    done = run_backend(spool, "101", "anna", title, "1", "fax-number=+46812345678", str(job))
    assert done.returncode == 0, done.stderr
    names = visible(spool)
    assert len(names) == 2 and all(len(n.encode()) <= 255 for n in names)
    document = next(n for n in names if n.endswith(".pdf"))
    assert document.startswith("東京本社") and document.endswith("-job101.pdf")


UUID = "urn:uuid:5f1c2e8a-0b7d-4c1e-9a3f-2d6e8b1c4a70"
JOB_OPTIONS = f"fax-number=+46812345678 job-uuid={UUID}"


def documents(spool: Path) -> list[str]:
    return [name for name in visible(spool) if not name.startswith(".")]


def test_a_job_cupsd_runs_again_after_a_restart_is_handed_over_once(spool: Path) -> None:
    # cupsd restarted after the backend renamed the files but before it saw the job end:
    # it runs the job again with the same uuid.
    assert run_backend(spool, "35", "u", "small", "1", JOB_OPTIONS, stdin=PDF).returncode == 0
    taken = spool.parent / "taken"
    taken.mkdir()
    for name in documents(spool):  # faxd took them meanwhile
        (spool / name).rename(taken / name)
    again = run_backend(spool, "35", "u", "small", "1", JOB_OPTIONS, stdin=PDF)
    assert again.returncode == 0, again.stderr
    assert "was handed to faxd before; not handed again" in again.stderr.decode()
    assert documents(spool) == []
    other = "fax-number=+46812345678 job-uuid=urn:uuid:0f1c2e8a-0b7d-4c1e-9a3f-2d6e8b1c4a71"
    assert run_backend(spool, "36", "u", "small", "1", other, stdin=PDF).returncode == 0
    assert documents(spool) == ["small-job36.pdf", "small-job36.pdf.yaml"]


def test_a_run_stopped_between_its_renames_is_finished_by_the_next(spool: Path) -> None:
    assert run_backend(spool, "37", "u", "small", "1", JOB_OPTIONS, stdin=PDF).returncode == 0
    [mark] = [p for p in spool.iterdir() if p.name.startswith(".faxd-cups-job-")]
    moves = json.loads(mark.read_text())["moves"]
    Path(moves[-1][1]).rename(moves[-1][0])  # as if killed before the document's rename
    assert documents(spool) == ["small-job37.pdf.yaml"]
    again = run_backend(spool, "37", "u", "small", "1", JOB_OPTIONS, stdin=b"%PDF- other")
    assert again.returncode == 0, again.stderr
    assert documents(spool) == ["small-job37.pdf", "small-job37.pdf.yaml"]
    assert (spool / "small-job37.pdf").read_bytes() == PDF  # the first run's, not a second


def test_a_partial_file_of_a_killed_attempt_is_removed_by_the_next(spool: Path) -> None:
    left = spool / ".faxd-cups-5f1c2e8a-0b7d-4c1e-9a3f-2d6e8b1c4a70-x1y2.partial"
    left.write_bytes(PDF[:10])  # cupsd SIGKILLed the backend mid-copy
    assert run_backend(spool, "38", "u", "big", "1", JOB_OPTIONS, stdin=PDF).returncode == 0
    assert not left.exists()
    assert not [n for n in visible(spool) if n.endswith(".partial")]
    assert documents(spool) == ["big-job38.pdf", "big-job38.pdf.yaml"]
