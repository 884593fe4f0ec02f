"""read_setting_file: a regular file (or a link to one) of modest size, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxd.host.setting_files import read_setting_file


def test_a_link_to_a_regular_file_is_read_and_size_is_capped(tmp_path: Path) -> None:
    target = tmp_path / "managed.yaml"
    target.write_bytes(b"x" * 100)
    link = tmp_path / "faxd.yaml"
    link.symlink_to(target)
    assert read_setting_file(link, cap=100) == b"x" * 100
    with pytest.raises(OSError, match="larger than"):
        read_setting_file(link, cap=99)
    with pytest.raises(IsADirectoryError):
        read_setting_file(tmp_path)
