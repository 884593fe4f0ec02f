"""RetarusProvider against the sandbox over HTTP: a report DELETE refused with 400, a job
that says when it expires, a submit URL where there is no API."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from faxd.clock import FakeClock
from faxd.errors import EndpointError, TransientError
from faxd.providers.retarus import RetarusProvider
from faxd.sandbox.server import SandboxServer

from .test_retarus_contract import DELAY, make_settings, retarus_stats, submission
from .test_retarus_contract import clock as clock
from .test_retarus_contract import provider as provider
from .test_retarus_contract import sandbox as sandbox


def test_a_delete_refused_with_400_is_raised_then_retried(
    provider: RetarusProvider, sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    job_id = provider.submit(submission(tmp_path)).remote_id
    clock.advance(DELAY)
    sandbox.add_fault(
        {"api": "retarus", "endpoint": "report", "action": "status", "status": 400, "times": 2}
    )
    with pytest.raises(TransientError, match="refused it with HTTP 400"):
        provider.cleanup(job_id)
    assert retarus_stats(sandbox)["deleted_reports"] == []
    provider.cleanup(job_id)  # the retry, as the report sweep makes it
    assert retarus_stats(sandbox)["deleted_reports"] == [job_id]


def test_a_job_that_says_when_it_expires_is_accepted(
    provider: RetarusProvider, sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    valid_until = clock.now() + timedelta(hours=23, minutes=45)
    accepted = provider.submit(submission(tmp_path, valid_until=valid_until))
    assert accepted.remote_id in retarus_stats(sandbox)["jobs"]


def test_a_submit_url_without_the_api_is_a_configuration_problem(
    sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    settings = make_settings(sandbox)
    wrong = replace(settings, submit_url=settings.submit_url + "/rest/v1")
    sender = RetarusProvider(wrong, clock=clock)
    try:
        with pytest.raises(EndpointError, match="customer_number"):
            sender.submit(submission(tmp_path))
    finally:
        sender.close()
    assert retarus_stats(sandbox)["accepted"] == 0
