from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from faxd.core.deadline import GIVE_UP_MARGIN, transmit_by


def test_a_day_leaves_the_margin_before_faxd_gives_up() -> None:
    assert transmit_by(1000.0, 86400.0) == 1000.0 + 86400.0 - GIVE_UP_MARGIN


@given(
    start=st.floats(min_value=0, max_value=4e9),
    timeout=st.floats(min_value=1, max_value=90 * 86400.0),
)
def test_the_provider_stops_before_faxd_and_after_the_start(start: float, timeout: float) -> None:
    end = transmit_by(start, timeout)
    assert start < end <= start + timeout
    assert end - start >= timeout * 0.75 - 1e-6 * max(1.0, start)
