"""`faxd run` refuses to start when the records folder cannot be made or written, or a
channel's CA bundle cannot be read, as it refuses for a spool folder and a provider's
bundle: it started, and the audit log stopped later, or every mail failed, said only in
the log. Run as root, so the folders are made unusable in ways root meets as well."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFIG = """\
state_dir: {root}/state
providers:
  docs:
    type: generic-docs
    api_key_env: DOCS_KEY
folders:
  - path: {root}/out
"""


def run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faxd", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCS_KEY": "docs-key-for-the-test"},
        timeout=60,
        check=False,
    )


def test_a_records_folder_under_a_missing_folder_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "faxd.yaml"
    records = tmp_path / "nas" / "fax" / "records"
    config.write_text(CONFIG.format(root=tmp_path) + f"records:\n  path: {records}\n")
    done = run(config)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[1:] == [
        f"  line 9: records.path: {records} does not exist, nor does the folder "
        f"{records.parent} that would hold it; create it (mkdir -p), mount the share it "
        "lives on, or correct the path."
    ]
    assert not (tmp_path / "nas").exists()


def test_a_channels_ca_bundle_that_is_not_there_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "faxd.yaml"
    config.write_text(
        CONFIG.format(root=tmp_path) + "channels:\n"
        "  mail:\n"
        "    type: smtp\n"
        "    host: mail.example.com\n"
        "    from: fax@example.com\n"
        f"    ca_bundle: {tmp_path}/mail-ca.pem\n"
    )
    done = run(config)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[1:] == [
        f"  line 13: channels.mail.ca_bundle: CA bundle {tmp_path}/mail-ca.pem does not "
        "exist or is not a file; correct the path."
    ]
