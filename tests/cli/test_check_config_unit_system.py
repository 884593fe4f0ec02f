"""`faxd check-config` holds the folders and files to what the unit does to the system's
own folders: ProtectSystem=yes and full make /usr, the boot folders and (full) /etc
read-only without ProtectSystem=strict. Real folders there (the tests run as root), real
unit files; the service user is root, as in test_check_config_unit.py."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_check_config_unit import base as base
from .test_check_config_unit import check_config, write_unit


def _made_in(parent: str, prefix: str) -> Iterator[Path]:
    if not os.access(parent, os.W_OK):
        pytest.skip(f"needs a {parent} root may write in")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def etc() -> Iterator[Path]:
    """A folder under /etc, which ProtectSystem=full makes read-only."""
    yield from _made_in("/etc", "faxd-protect-system-")


@pytest.fixture
def usr() -> Iterator[Path]:
    """A folder under /usr, which ProtectSystem=yes makes read-only."""
    yield from _made_in("/usr/local", "faxd-protect-system-")


def _records_in(base: Path, folder: Path) -> None:
    """The records in `folder`, the filed documents in the unit's ReadWritePaths=."""
    config = base / "faxd.yaml"
    text = config.read_text().replace(f"{base}/archive", f"{base}/fax")
    config.write_text(
        re.sub(r"(?m)^records:\n  path: .*$", f"records:\n  path: {folder}/records", text)
    )


def test_protect_system_yes_and_full_make_the_system_read_only_without_strict(
    capsys: pytest.CaptureFixture[str], base: Path, etc: Path, usr: Path
) -> None:
    # The records in /etc/faxd-…/records: OK under ProtectSystem=full, where the service
    # could not write its activity journal or audit log there.
    _records_in(base, etc)
    unit = write_unit(base)
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=full"))
    code, err = check_config(capsys, base, "--unit", str(unit))
    assert code == 1
    assert err[1:] == [
        f"  line 12: records.path: {etc}/records is read-only for the service user root "
        f"whatever its permissions: {unit} (ProtectSystem=full) makes /etc read-only for the "
        f"service; add ReadWritePaths={etc}/records to the unit."
    ]
    # yes leaves /etc alone, and a ReadWritePaths= below /etc makes it writable again.
    unit.write_text(unit.read_text().replace("ProtectSystem=full", "ProtectSystem=yes"))
    assert check_config(capsys, base, "--unit", str(unit))[0] == 0
    unit.write_text(
        unit.read_text().replace("ProtectSystem=yes", f"ProtectSystem=full\nReadWritePaths={etc}")
    )
    assert check_config(capsys, base, "--unit", str(unit))[0] == 0
    # yes makes /usr read-only, as full does.
    _records_in(base, usr)
    for value in ("yes", "full"):
        unit = write_unit(base)
        unit.write_text(unit.read_text().replace("ProtectSystem=strict", f"ProtectSystem={value}"))
        code, err = check_config(capsys, base, "--unit", str(unit))
        assert err[1:] == [
            f"  line 12: records.path: {usr}/records is read-only for the service user root "
            f"whatever its permissions: {unit} (ProtectSystem={value}) makes /usr read-only "
            f"for the service; add ReadWritePaths={usr}/records to the unit."
        ]
