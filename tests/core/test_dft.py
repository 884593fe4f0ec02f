from __future__ import annotations

import pytest

from faxd.core.dft import check_refused_for_every_number


@pytest.mark.parametrize(
    ("status", "for_all"),
    [(401, True), (403, True), (404, True), (405, True), (400, False), (None, False), (422, False)],
)
def test_which_refused_checks_stop_asking(status: int | None, for_all: bool) -> None:
    assert check_refused_for_every_number(status) is for_all
