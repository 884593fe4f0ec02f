"""The whole print path: a real cupsd with the faxd queue, `lp -o fax-number=...`, the
real faxd daemon, and the sandbox receiving the PDF that CUPS rendered."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer
from tests.e2e.harness import Faxd, wait_for
from tests.printing.conftest import needs

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup-cups-queue"
CUPS_LIBEXEC = Path("/usr/lib/cups")

pytestmark = [needs("cupsd", "lp", "lpadmin", "lpstat", "gs"), pytest.mark.slow]


@dataclass
class Cups:
    root: Path
    socket: Path
    backend_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [command[0], "-h", str(self.socket), *command[1:]],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def error_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        """Start cupsd (again: its queues and held jobs are in its state folders)."""
        with (self.root / "log" / "stderr").open("ab") as stderr:
            self.proc = subprocess.Popen(
                [
                    "cupsd",
                    "-f",
                    "-c",
                    str(self.root / "cupsd.conf"),
                    "-s",
                    str(self.root / "cups-files.conf"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        proc = self.proc
        wait_for(
            lambda: proc.poll() is not None or self.answers(),
            30,
            "cupsd to start",
            step=0.1,
        )
        if proc.poll() is not None:
            said = (self.root / "log" / "stderr").read_text(errors="replace")
            pytest.fail(f"cupsd exited with {proc.returncode}: {said}\n{self.error_log()}")

    def answers(self) -> bool:
        # lpstat -r exits 0 also when it says "scheduler is not running": a test that
        # went on then raced cupsd's start (lp failed with "Bad file descriptor").
        return "scheduler is running" in self.run("lpstat", "-r").stdout

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _write_config(root: Path) -> None:
    conf = [
        f"Listen {root / 'cups.sock'}",
        "LogLevel debug",
        "WebInterface No",
        "Browsing Off",
        "DefaultAuthType None",
        "<Location />\n  Order allow,deny\n  Allow all\n</Location>",
        "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>",
    ]
    (root / "cupsd.conf").write_text("\n".join(conf) + "\n")
    files = [
        f"ServerRoot {root / 'etc'}",
        f"RequestRoot {root / 'spool'}",
        f"TempDir {root / 'tmp'}",
        f"CacheDir {root / 'cache'}",
        f"StateDir {root / 'state'}",
        f"ServerBin {root / 'bin'}",
        f"ErrorLog {root / 'log' / 'error_log'}",
        f"AccessLog {root / 'log' / 'access_log'}",
        f"PageLog {root / 'log' / 'page_log'}",
        "FileDevice No",
    ]
    if os.getuid() != 0:
        # Unprivileged cupsd (as in CUPS's own test suite): it runs everything as us.
        files.append(f"User {pwd.getpwuid(os.getuid()).pw_name}")
        files.append(f"Group {grp.getgrgid(os.getgid()).gr_name}")
    (root / "cups-files.conf").write_text("\n".join(files) + "\n")


@pytest.fixture
def cups() -> Iterator[Cups]:
    # cupsd runs filters and backends as user lp: the whole tree must be reachable for it,
    # which pytest's private tmp_path is not.
    root = Path(tempfile.mkdtemp(prefix="faxd-cupsd-"))
    root.chmod(0o755)
    for name in ("etc", "spool", "cache", "state", "log", "bin/backend"):
        (root / name).mkdir(parents=True)
        (root / name).chmod(0o755)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    for name in ("filter", "cgi-bin", "daemon", "driver", "monitor", "notifier"):
        if (CUPS_LIBEXEC / name).exists():
            (root / "bin" / name).symlink_to(CUPS_LIBEXEC / name)
    _write_config(root)
    cups = Cups(root, root / "cups.sock", root / "bin" / "backend", root / "log" / "error_log")
    try:
        cups.start()
        yield cups
    finally:
        cups.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shared_faxd(cups: Cups, sandbox: SandboxServer) -> Iterator[Faxd]:
    instance = Faxd(
        root=cups.root / "faxd",
        docs_url=sandbox.docs_base_url,
        retarus_submit=sandbox.retarus_submit_url,
        retarus_dcs=tuple(sandbox.retarus_datacenter_urls),
    )
    instance.root.mkdir(mode=0o755)
    instance.spool.mkdir()
    if os.getuid() == 0:
        # What an admin does (README): the spool is shared with CUPS's backend user.
        os.chown(instance.spool, -1, grp.getgrnam("lp").gr_gid)
    instance.spool.chmod(0o2775)
    try:
        yield instance
    finally:
        instance.stop()


def test_printing_with_lp_and_a_fax_number_arrives_at_the_provider(
    cups: Cups, shared_faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd = shared_faxd
    setup = subprocess.run(
        [
            str(SETUP),
            "--queue",
            "fax",
            "--host",
            str(cups.socket),
            "--backend-dir",
            str(cups.backend_dir),
            str(faxd.spool),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stderr
    assert (cups.backend_dir / "faxd").stat().st_mode & 0o777 == 0o755
    assert cups.run("lpstat", "-v", "fax").stdout.strip() == f"device for fax: faxd://{faxd.spool}"
    faxd.start()
    letter = cups.root / "letter.txt"
    letter.write_text("Invoice 4711\nTotal: 100 SEK\n")
    printed = cups.run(
        "lp",
        "-d",
        "fax",
        "-t",
        "Invoice 4711",
        "-o",
        # Dashes, not spaces: Debian 12's cupsd 2.4.2-3+deb12u10 crashes on any option
        # value with a space before the backend runs (README, "Printing to fax").
        "fax-number=+46-8-123-456-78",
        "-o",
        "fax-from=+4612345678",
        str(letter),
    )
    assert printed.returncode == 0, printed.stderr
    try:
        report = faxd.report_for("Invoice 4711-job1.pdf", timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ncupsd log:\n{cups.error_log()[-4000:]}") from None
    assert report["result"] == "delivered", report
    assert report["reference"] == "Invoice 4711"
    [recipient] = report["recipients"]
    assert recipient["number"] == "+46812345678"
    record = sandbox.state.docs_records[recipient["id"]]
    assert record.sender == "+4612345678"
    [stored] = record.files
    # Spaces become "_" on the wire, and faxd adds its transmission token.
    assert re.fullmatch(r"Invoice_4711-job1_fx[a-z2-7]{10}\.pdf", stored.name), stored.name
    assert stored.blob is not None
    assert b"".join(stored.blob.chunks()).startswith(b"%PDF-")  # rendered by CUPS
    assert (faxd.sent / "Invoice 4711-job1.pdf.yaml").exists()
    assert not list(faxd.spool.glob("*job1*"))
