"""The `{owner}` of a notice: the Unix user owning the dropped file."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from faxd.notices.owner import file_owner


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_the_owner_is_the_files_user_but_never_the_overflow_user(tmp_path: Path) -> None:
    doc = tmp_path / "invoice.pdf"
    doc.write_bytes(b"%PDF-1.4\n")
    daemon = pwd.getpwnam("daemon")
    os.chown(doc, daemon.pw_uid, daemon.pw_gid)
    assert file_owner(doc) == "daemon"
    # How every office user's file looks from inside systemd's PrivateUsers=: "nobody".
    overflow = int(Path("/proc/sys/kernel/overflowuid").read_text())
    os.chown(doc, overflow, overflow)
    assert file_owner(doc) is None


def test_a_file_gone_has_no_owner(tmp_path: Path) -> None:
    assert file_owner(tmp_path / "gone.pdf") is None
