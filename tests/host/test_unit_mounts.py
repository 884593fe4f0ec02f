"""What a unit's mounts make of a path, as systemd.exec(5) sets them up: the deepest
decides, the stricter of two at one path, and an inaccessible or empty one ends what is
listed below it but for a bind."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxd.host import unit_mounts
from faxd.host.unit_mounts import Mount, Seen

RW = Mount(Path("/srv/fax"), "writable", "ReadWritePaths=/srv/fax")
RO = Mount(Path("/srv/fax/archive"), "read-only", "ReadOnlyPaths=/srv/fax/archive")


def access(path: str, *mounts: Mount, strict: bool = True) -> str | None:
    seen = unit_mounts.seen(mounts, strict, Path(path))
    return None if seen is None else seen.access


def test_the_deepest_mount_decides_and_the_stricter_of_two_at_one_path() -> None:
    assert access("/srv/fax/out", RW, RO) == "writable"
    assert access("/srv/fax/archive/2026", RW, RO) == "read-only"
    deeper = Mount(Path("/srv/fax/archive/sent"), "writable", "ReadWritePaths=…")
    assert access("/srv/fax/archive/sent", RW, RO, deeper) == "writable"
    same = Mount(Path("/srv/fax/archive"), "writable", "ReadWritePaths=/srv/fax/archive")
    assert access("/srv/fax/archive", same, RO) == "read-only"
    assert access("/var/spool/fax", RW) == "read-only"  # ProtectSystem=strict
    assert access("/var/spool/fax", RW, strict=False) == "writable"


def test_inaccessible_or_empty_ends_what_is_listed_below_it_but_a_bind() -> None:
    home = unit_mounts.protect_home("yes")
    rw = Mount(Path("/home/fax"), "writable", "ReadWritePaths=/home/fax")
    assert unit_mounts.seen([*home, rw], False, Path("/home/fax/out")) == Seen(
        "inaccessible", home[0]
    )
    bind = Mount(Path("/home/fax"), "bound", "BindPaths=/home/fax")
    assert access("/home/fax/out", *home, bind) == "inaccessible"  # systemd drops the bind
    tmpfs = unit_mounts.protect_home("tmpfs")
    assert access("/home/fax/out", *tmpfs, rw) == "empty"
    assert access("/home/fax/out", *tmpfs, bind) is None  # the bind's source decides
    assert access("/home/other", *tmpfs, bind) == "empty"
    assert access("/home/fax/out", *unit_mounts.protect_home("read-only"), rw) == "writable"
    assert unit_mounts.protect_home("no") == []


def test_protect_system_yes_and_full_are_read_only_mounts_read_write_paths_reach_below() -> None:
    yes, full = unit_mounts.protect_system("yes"), unit_mounts.protect_system("full")
    assert access("/usr/local/fax", *yes, strict=False) == "read-only"
    assert access("/boot/fax", *yes, strict=False) == "read-only"
    assert access("/etc/faxd/records", *yes, strict=False) == "writable"
    assert access("/etc/faxd/records", *full, strict=False) == "read-only"
    rw = Mount(Path("/etc/faxd"), "writable", "ReadWritePaths=/etc/faxd")
    assert access("/etc/faxd/records", *full, rw, strict=False) == "writable"
    # strict makes all of it read-only (seen()'s `strict`), not these folders alone.
    assert unit_mounts.protect_system("strict") == unit_mounts.protect_system("no") == []
    with pytest.raises(ValueError, match="ProtectSystem=fully"):
        unit_mounts.protect_system("fully")


def test_private_tmp_is_an_empty_file_system_of_the_services_own() -> None:
    tmp = unit_mounts.private_tmp("PrivateTmp=yes")
    assert unit_mounts.seen(tmp, True, Path("/var/tmp/fax")) == Seen("empty", tmp[1])
    assert access("/tmp/fax/out", *tmp, strict=False) == "empty"
    # A ReadWritePaths= below finds nothing there to mount; a bind brings a folder in.
    rw = Mount(Path("/tmp/fax"), "writable", "ReadWritePaths=/tmp/fax")
    assert access("/tmp/fax/out", *tmp, rw) == "empty"
    assert access("/tmp/fax/out", *tmp, Mount(Path("/tmp/fax"), "bound", "BindPaths=…")) is None
    assert access("/srv/fax/out", *tmp, strict=False) == "writable"
