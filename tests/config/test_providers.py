"""A provider's own schedule keys, read through the provider table's parser."""

from __future__ import annotations

import pytest

from faxd.settings import DocsProviderSettings

from .cfg_helpers import MINIMAL, WriteConfig, load, only_problem

WITH_SCHEDULE = MINIMAL.replace(
    "    api_key_env: DOCS_KEY\n",
    "    api_key_env: DOCS_KEY\n    lookup_delay: {lookup}\n    status_poll: {poll}\n",
)


def test_lookup_delay_and_status_poll_default_to_15_and_2_seconds(
    write_config: WriteConfig,
) -> None:
    docs = load(write_config(MINIMAL)).providers["docs"]
    assert (docs.lookup_delay, docs.status_poll) == (15.0, 2.0)


def test_lookup_delay_and_status_poll_are_read_as_durations(write_config: WriteConfig) -> None:
    docs = load(write_config(WITH_SCHEDULE.format(lookup="1s", poll="1.5"))).providers["docs"]
    assert isinstance(docs, DocsProviderSettings)
    assert (docs.lookup_delay, docs.status_poll) == (1.0, 1.5)


@pytest.mark.parametrize(
    ("lookup", "poll", "key", "line"),
    [
        ("0.5s", "2s", "lookup_delay", 5),
        ("1h", "2s", "lookup_delay", 5),
        ("1s", "2m", "status_poll", 6),
    ],
)
def test_a_schedule_outside_its_bounds_is_refused_with_its_line(
    write_config: WriteConfig, lookup: str, poll: str, key: str, line: int
) -> None:
    problem = only_problem(write_config(WITH_SCHEDULE.format(lookup=lookup, poll=poll)))
    assert (problem.path, problem.line) == (f"providers.docs.{key}", line)
    assert "must be between 1 s and" in problem.message
