"""The mount point of the mount a folder is on (its mount root), and what a folder's place
says of a share that is away or back. The mounts below need root, and are always undone
(lazily: a test that failed may still hold a file there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.host import folder_place
from faxd.host.folder_place import KnownPlace, mount_root_of, place_of
from tests.real_mounts import RealMounts, real_mounts


def _nearest_ismount(path: Path) -> Path:
    here = Path(os.path.realpath(path))
    while not os.path.ismount(here):
        here = here.parent
    return here


def test_a_plain_folder_is_on_the_file_system_of_the_nearest_mount_point_above_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    expected = _nearest_ismount(folder)
    assert mount_root_of(folder) == expected
    assert mount_root_of(tmp_path / "missing") is None


def test_a_link_says_where_it_leads_only_when_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert mount_root_of(tmp_path / "link") == _nearest_ismount(tmp_path / "real")
    assert mount_root_of(tmp_path / "link", follow=False) is None
    assert place_of(tmp_path / "link", follow=False) is None


def test_what_faxd_knows_of_a_folder_is_kept_when_its_mount_root_cannot_be_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    place = place_of(folder)
    assert place is not None and place.mount_root is not None
    known = KnownPlace(place.device, place.mount_root)
    assert not place.news_to(known)
    assert place.news_to(KnownPlace(place.device))  # a record from before: it gets one
    assert place.news_to(KnownPlace(place.device + 1, place.mount_root))
    assert place.news_to(None)
    monkeypatch.setattr(folder_place, "mount_root_of", lambda *_, **__: None)
    unsure = place_of(folder)
    assert unsure is not None and not unsure.news_to(known)


@pytest.fixture
def mounts() -> Iterator[RealMounts]:
    yield from real_mounts()


def test_a_share_mounted_above_the_folder_is_away_when_unmounted_and_back_under_a_new_number(
    tmp_path: Path, mounts: RealMounts
) -> None:
    share = tmp_path / "share"
    spool = share / "out"
    # Kept mounted elsewhere, so the share back cannot be given its freed device number.
    export = tmp_path / "nas-export"
    mounts.tmpfs(export)
    (export / "out").mkdir()
    share.mkdir()
    mounts.bind(export, share)
    place = place_of(spool)
    assert place is not None and place.mount_root == share
    known = KnownPlace(place.device, place.mount_root)
    mounts.unmount(share)
    spool.mkdir()  # below the bare mount point, made by hand
    bare = place_of(spool)
    assert bare is not None and bare.left_behind(known)
    assert not bare.mounted_over(known)
    mounts.tmpfs(share)  # the share back: a new tmpfs, so another device number
    spool.mkdir()
    back = place_of(spool)
    assert back is not None and back.device != known.device
    assert back.mount_root == share and not back.left_behind(known)
    mounts.unmount(share)
    mounts.tmpfs(spool)  # a new disk mounted on the folder itself, below the bare point
    disk = place_of(spool)
    assert disk is not None and disk.mount_root == spool and not disk.left_behind(known)


def test_a_share_mounted_on_a_plain_folder_lies_over_what_was_saved_there(
    tmp_path: Path, mounts: RealMounts
) -> None:
    share = tmp_path / "share"
    spool = share / "out"
    spool.mkdir(parents=True)
    plain = place_of(spool)
    assert plain is not None
    known = KnownPlace(plain.device, plain.mount_root)
    mounts.tmpfs(share)
    spool.mkdir()
    mounted = place_of(spool)
    assert mounted is not None and mounted.mount_root == share
    assert not mounted.left_behind(known)
    assert mounted.mounted_over(known)
    assert plain.mount_root == known.mount_root  # looked up once, when first asked


def test_a_mount_root_found_on_another_file_system_than_the_folder_s_is_not_told(
    tmp_path: Path, mounts: RealMounts
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    place = place_of(share)
    assert place is not None
    mounts.tmpfs(share)  # between the look at its file system and the one at its mount
    assert place.mount_root is None
    assert mount_root_of(share, device=place.device) is None
    assert mount_root_of(share) == share


def test_a_bare_mount_point_bound_onto_itself_is_no_mount_point(
    tmp_path: Path, mounts: RealMounts
) -> None:
    # As systemd's ReadWritePaths= binds a folder that is not a mount point when the
    # service starts (/srv/fax in faxd's unit): the kernel's mount table lists it, but it
    # is the disk holding it, not the share back under another device number.
    export = tmp_path / "nas-export"
    mounts.tmpfs(export)
    (export / "out").mkdir()
    share = tmp_path / "share"
    share.mkdir()
    mounts.bind(export, share)
    place = place_of(share / "out")
    assert place is not None and place.mount_root == share
    known = KnownPlace(place.device, place.mount_root)
    mounts.unmount(share)
    (share / "out").mkdir()
    mounts.bind(share, share)
    bare = place_of(share / "out")
    assert bare is not None and bare.mount_root != share
    assert bare.left_behind(known)
