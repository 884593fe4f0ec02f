"""`faxd check-config` holds the folders and files to what the unit does to the system's
own folders: ProtectSystem=yes and full make /usr, the boot folders and (full) /etc
read-only without ProtectSystem=strict, and PrivateTmp= gives the service a /tmp and
/var/tmp of its own. Real folders there (the tests run as root), real unit files; the
service user is root, as in test_check_config_unit.py."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_check_config_unit import base as base
from .test_check_config_unit import check_config, make_base, write_unit


def _made_in(parent: str, prefix: str) -> Iterator[Path]:
    if not os.access(parent, os.W_OK):
        pytest.skip(f"needs a {parent} root may write in")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def in_tmp() -> Iterator[Path]:
    """test_check_config_unit.py's folders in /tmp itself, wherever pytest keeps its own."""
    folder = Path(tempfile.mkdtemp(prefix="faxd-private-tmp-", dir="/tmp"))
    try:
        yield make_base(folder)
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


def test_private_tmp_gives_the_service_a_tmp_no_office_user_sees(
    capsys: pytest.CaptureFixture[str], in_tmp: Path
) -> None:
    # Office users saved into /tmp/…/fax/out, and the service watched an empty one of its
    # own: every folder was writable, and check-config said OK.
    base = in_tmp
    extra = f"ReadWritePaths={base}/archive {base}/records\nPrivateTmp=yes\n"
    unit = write_unit(base, extra=extra)
    code, err = check_config(capsys, base, "--unit", str(unit))
    assert code == 1
    config, out = base / "faxd.yaml", base / "fax" / "out"
    assert err[1] == (
        f"  {config} is hidden from the service user root whatever its permissions: {unit} "
        "(PrivateTmp=yes) gives the service a /tmp of its own, empty at each start; move it "
        f"out of /tmp, or bind it in (BindReadOnlyPaths={config}) in the unit."
    )
    assert err[3] == (
        f"  line 10: folders[0].path: {out} is not the folder the service user root sees: "
        f"{unit} (PrivateTmp=yes) gives the service a /tmp of its own, empty at each start "
        f"and unseen by anyone else, so nothing saved into {out} reaches faxd; move it out "
        f"of /tmp, or bind it in (BindPaths={out}) in the unit."
    )
    assert [line.split(": ")[1] for line in err[2:]] == [
        "state_dir",
        "folders[0].path",
        "defaults.sent_dir",
        "defaults.failed_dir",
        "defaults.failed_dir",  # hold/, beside failed/
        "records.path",
    ]
    # A bind brings the folders in: what lies below it is left unjudged.
    write_unit(base, extra=f"{extra}BindPaths={base}\n")
    assert check_config(capsys, base, "--unit", str(unit))[0] == 0
    # DynamicUser= implies it.
    text = write_unit(base, extra=extra.replace("PrivateTmp=yes", "DynamicUser=yes")).read_text()
    unit.write_text(text.replace("User=root\n", ""))
    code, err = check_config(capsys, base, "--unit", str(unit))
    assert "(DynamicUser=yes) gives the service a /tmp of its own" in err[1]
    assert len(err) == 8
    write_unit(base, extra=extra.replace("PrivateTmp=yes", "PrivateTmp=no"))
    assert check_config(capsys, base, "--unit", str(unit))[0] == 0
