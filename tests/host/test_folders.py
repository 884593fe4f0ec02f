from __future__ import annotations

from pathlib import Path

from faxd.host.folders import create_if_missing


def test_a_missing_folder_is_created_only_inside_one_that_is_there(tmp_path: Path) -> None:
    assert create_if_missing(tmp_path / "abroad")
    assert (tmp_path / "abroad").is_dir()
    assert not create_if_missing(tmp_path / "abroad")  # there already
    deep = tmp_path / "nas" / "fax" / "out"
    assert not create_if_missing(deep)  # never a whole tree: it may be a share's mount point
    assert not (tmp_path / "nas").exists()
