from __future__ import annotations

import errno

import pytest

from faxd.core.io_errors import explain_os_error


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EACCES, "(permission denied); give the faxd group access"),
        (errno.EISDIR, "is a folder, not a file"),
        (errno.ENAMETOOLONG, "too long"),
        (errno.ENOSPC, "disk is full"),
    ],
)
def test_one_sentence_that_says_what_to_do(code: int, words: str) -> None:
    exc = OSError(code, "raw text", "/srv/fax/out/terms.pdf")
    text = explain_os_error(exc)
    assert text.startswith("terms.pdf: ")
    assert words in text
    assert "Errno" not in text and "/srv/fax" not in text and "raw text" not in text
    assert text.endswith(".") and text.count(". ") == 0


def test_unknown_errors_keep_the_system_words_without_the_number() -> None:
    text = explain_os_error(OSError(errno.ENXIO, "No such device or address", "/dev/x"), "x")
    assert text == "x: no such device or address; check the file and its folder."


def test_without_a_file_name() -> None:
    assert explain_os_error(OSError(errno.EROFS, "Read-only file system")).startswith(
        "The file system is read-only"
    )
