"""Log output: journald fields, JSON lines that always parse, terminals, and redaction."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from faxd.host import logs
from faxd.settings import Secret

CANARY = "canary-5f1c0e7d-api-key-9b2a"
OTHER_TOKEN = "tok_4242424242424242"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    logs.reset()


class Journal:
    """Stands in for systemd.journal.send and keeps every entry's fields."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def __call__(self, **fields: Any) -> None:
        self.entries.append(fields)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    return [json.loads(line) for line in lines]


# ------------------------------------------------------------------------- journal


def test_journal_gets_upper_case_faxd_fields() -> None:
    journal = Journal()
    out = io.StringIO()
    logs.configure(environ={"JOURNAL_STREAM": "8:1234"}, stream=out, journal_sender=journal)
    log = structlog.get_logger().bind(
        job="j-17", document="out/invoice 4711.pdf", recipient="+46812345678"
    )
    log.info(
        "transmission accepted",
        provider="docs",
        state="submitted",
        attempt=2,
        remote_id="a3d92fa1",
        method="dft",
    )
    log.warning("status slow")
    log.error("upload refused")

    assert out.getvalue() == ""
    first, warning, error = journal.entries
    assert {k: v for k, v in first.items() if k.startswith("FAXD_")} == {
        "FAXD_JOB": "j-17",
        "FAXD_DOCUMENT": "out/invoice 4711.pdf",
        "FAXD_RECIPIENT": "+46812345678",
        "FAXD_PROVIDER": "docs",
        "FAXD_STATE": "submitted",
        "FAXD_ATTEMPT": "2",
        "FAXD_REMOTE_ID": "a3d92fa1",
        "FAXD_METHOD": "dft",
    }
    assert first["PRIORITY"] == "6"
    assert first["CODE_FILE"] == __file__
    assert first["CODE_FUNC"] == "test_journal_gets_upper_case_faxd_fields"
    assert isinstance(first["CODE_LINE"], int)
    assert first["SYSLOG_IDENTIFIER"] == "faxd"
    # journalctl shows only MESSAGE, so the context is readable there as well.
    assert first["MESSAGE"].startswith("transmission accepted ")
    assert "document='out/invoice 4711.pdf'" in first["MESSAGE"]
    assert "attempt=2" in first["MESSAGE"]
    assert (warning["PRIORITY"], error["PRIORITY"]) == ("4", "3")


def test_a_failing_journal_never_raises_into_the_caller() -> None:
    def broken(**fields: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    out = io.StringIO()
    logs.configure(environ={"JOURNAL_STREAM": "8:1234"}, stream=out, journal_sender=broken)
    structlog.get_logger().warning("still logged", job="j-3")
    assert out.getvalue() == "still logged job=j-3\n"


def test_journal_field_names_are_valid() -> None:
    assert logs.journal_field("job_id") == "FAXD_JOB"
    assert logs.journal_field("poll-window") == "FAXD_POLL_WINDOW"
    assert logs.journal_field("x" * 100) == "FAXD_" + "X" * 59


def test_journal_stream_of_another_process_is_not_trusted(tmp_path: Path) -> None:
    # JOURNAL_STREAM inherited by a process whose output goes to a file: write JSON there.
    journal = Journal()
    with (tmp_path / "out.log").open("w", encoding="utf-8") as out:
        logs.configure(environ={"JOURNAL_STREAM": "1:2"}, stream=out, journal_sender=journal)
        structlog.get_logger().info("hello")
    assert journal.entries == []
    assert _json_lines((tmp_path / "out.log").read_text())[0]["event"] == "hello"


def test_journal_stream_that_is_ours_is_used(tmp_path: Path) -> None:
    journal = Journal()
    with (tmp_path / "out.log").open("w", encoding="utf-8") as out:
        st = os.fstat(out.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        logs.configure(environ=env, stream=out, journal_sender=journal)
        structlog.get_logger().info("hello")
    assert [e["MESSAGE"] for e in journal.entries] == ["hello"]
    assert (tmp_path / "out.log").read_text() == ""


def test_without_systemd_python_the_journal_falls_back_to_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "systemd", None)
    monkeypatch.setitem(sys.modules, "systemd.journal", None)
    out = io.StringIO()
    logs.configure(environ={"JOURNAL_STREAM": "8:1234"}, stream=out)
    structlog.get_logger().info("started", job="j-1")
    assert _json_lines(out.getvalue())[0]["job"] == "j-1"


# ------------------------------------------------------------------------ JSON lines

HOSTILE = [
    "two\nlines.pdf",
    "carriage\rreturn.pdf",
    'quote" and \\ backslash.pdf',
    "nul\x00byte.pdf",
    "escape\x1b[31mred.pdf",
    "line\u2028separator\u2029.pdf",
    "next\x85line\x0bvt\x1cfs.pdf",
    "åäö Ünïcödé 传真.pdf",
    "bad-\udcff\udcfe-utf8.pdf",  # undecodable bytes from os.listdir (surrogateescape)
    "-leading-dash.pdf",
    '{"event": "forged"}',
]


def test_every_json_line_parses_for_hostile_names(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    # A strict UTF-8 stream: an unescaped surrogate would raise instead of being written.
    with path.open("w", encoding="utf-8", errors="strict") as out:
        logs.configure(environ={}, stream=out)
        log = structlog.get_logger()
        for name in HOSTILE:
            log.info("picked up", document=name, path=Path("/srv/fax/out") / name)
        log.info("bytes too", raw=b"\xff\xfe name")

    # Strict UTF-8, and one event per line even for a reader that also splits on
    # U+2028, NEL and friends (str.splitlines).
    events = _json_lines(path.read_bytes().decode("utf-8"))
    assert len(events) == len(HOSTILE) + 1
    for name, event in zip(HOSTILE, events, strict=False):
        assert event["event"] == "picked up"
        assert event["level"] == "info"
        assert "timestamp" in event
        if "\udcff" in name:
            assert event["document"] == "bad-\\xff\\xfe-utf8.pdf"
        else:
            assert event["document"] == name
            assert event["path"] == f"/srv/fax/out/{name}"
    assert events[-1]["raw"] == "\\xff\\xfe name"


def test_level_filter_drops_quieter_events() -> None:
    out = io.StringIO()
    logs.configure("warning", environ={}, stream=out)
    log = structlog.get_logger()
    log.info("chatty")
    log.warning("loud")
    assert [e["event"] for e in _json_lines(out.getvalue())] == ["loud"]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown log level 'verbose'"):
        logs.configure("verbose", environ={}, stream=io.StringIO())


def test_library_log_records_join_the_same_stream() -> None:
    root_level = logging.getLogger().level
    out = io.StringIO()
    logs.register_secret(CANARY)
    logs.configure("debug", environ={}, stream=out)
    logs.configure("info", environ={}, stream=out)  # a reload: still one bridge
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTPS connection")
    logging.getLogger("urllib3.connectionpool").warning("Retrying %s", f"key={CANARY}")
    (event,) = _json_lines(out.getvalue())
    assert event["event"] == "Retrying key=***"
    assert event["logger"] == "urllib3.connectionpool"
    assert event["level"] == "warning"
    logs.reset()
    assert logging.getLogger().level == root_level


def test_terminal_gets_readable_lines() -> None:
    out = Terminal()
    logs.configure(environ={"NO_COLOR": "1"}, stream=out)
    log = structlog.get_logger()
    log.info("sent", document="invoice.pdf", attempt=1)
    log.info("picked up", document="evil\x1b[2J\rname\n.pdf")
    first, second = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert "sent" in first
    assert "document=invoice.pdf" in first
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    assert "document=evil\\x1b[2J\\x0dname\\x0a.pdf" in second


# ------------------------------------------------------------------------ redaction


def test_redact_masks_secrets_headers_tokens_and_url_credentials() -> None:
    logs.register_secret(Secret(CANARY))
    assert logs.redact(f"key is {CANARY}!") == "key is ***!"
    logs.register_secret("pass/word+1")
    assert logs.redact("url?password=pass%2Fword%2B1") == "url?password=***"
    assert logs.redact("Authorization: Bearer abc.def") == "Authorization: ***"
    assert logs.redact("{'Authorization': 'Basic Zm9vOmJhcg=='}") == "{'Authorization': '***'}"
    assert logs.redact(f"sent with bearer {OTHER_TOKEN} to x") == "sent with bearer *** to x"
    assert logs.redact("Basic Zm9vOmJhcjpiYXo=") == "Basic ***"
    assert logs.redact("GET https://faxd:hunter22@faxws.de1.retarus.com/rest") == (
        "GET https://***@faxws.de1.retarus.com/rest"
    )
    # Ordinary words stay readable.
    assert logs.redact("basic checks passed; Bearer token missing") == (
        "basic checks passed; Bearer token missing"
    )


def _redact_every_pattern(value: str) -> str:
    """The three expressions applied to every value, as before the cheap pre-check."""
    value = logs._AUTH_HEADER.sub(rf"\g<key>{logs.REDACTED}", value)
    value = logs._TOKENS.sub(rf"\g<key>{logs.REDACTED}", value)
    return logs._URL_USERINFO.sub(rf"\g<key>{logs.REDACTED}@", value)


@pytest.mark.parametrize(
    "value",
    [
        "AUTHORIZATION=abcdef",
        "x-authorization: 'k1'",
        "BeArEr abcdefgh12",
        "token Basic Zm9vOmJhcjpiYXo= here",
        "ftp://user:pw@host/x and http://a@b",
        "Authorızation: dotless-i-value",  # case-insensitive matching knows this i
        "ſcheme BEARER ſecret-token-123",
        "Ünïcode Basic Zm9vOmJhcjpiYXo=",
        "+46812345678 20261130120105-a0d349b5 burst-0007.pdf",
        "mailto:someone@example.org",
    ],
)
def test_the_pre_check_never_skips_a_value_an_expression_would_change(value: str) -> None:
    assert logs.redact(value) == _redact_every_pattern(value)


class ProviderFailure(Exception):
    pass


def _call_provider(api_key: str) -> None:
    headers = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    raise ProviderFailure(f"POST https://api.example/Send failed with {api_key} and {headers}")


def _log_a_failing_call() -> None:
    log = structlog.get_logger().bind(job="j-9")
    try:
        _call_provider(CANARY)
    except ProviderFailure:
        log.exception("upload failed", detail=f"api key {CANARY}")


@pytest.mark.parametrize("sink", ["json", "terminal", "journal"])
def test_canary_secret_never_reaches_any_output(sink: str) -> None:
    logs.register_secret(CANARY)
    journal = Journal()
    out: io.StringIO = Terminal() if sink == "terminal" else io.StringIO()
    env = {"JOURNAL_STREAM": "8:1"} if sink == "journal" else {}
    logs.configure(environ=env, stream=out, journal_sender=journal)

    _log_a_failing_call()

    written = out.getvalue() + json.dumps(journal.entries)
    # The traceback is there (so the test looked at it), the secrets are not.
    assert "_call_provider" in written
    assert "ProviderFailure" in written
    assert CANARY not in written
    assert OTHER_TOKEN not in written
    if sink == "json":
        (event,) = _json_lines(out.getvalue())
        frames = event["exception"][0]["frames"]
        assert frames and all("locals" not in frame for frame in frames)
        assert event["detail"] == "api key ***"


def test_library_warnings_are_json_lines_too() -> None:
    import warnings

    from PIL import Image

    out = io.StringIO()
    logs.configure("info", environ={}, stream=out)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(
            "Image size (200000000 pixels) exceeds limit",
            Image.DecompressionBombWarning,
            stacklevel=1,
        )
    lines = _json_lines(out.getvalue())
    assert len(lines) == 1
    assert "DecompressionBombWarning" in lines[0]["event"]
    assert lines[0]["level"] == "warning"


def test_a_secret_registered_later_is_masked_in_keys_and_values_already_seen() -> None:
    """Keys and short values are cleaned once and remembered; a secret registered after
    they were first logged (a reload's new key) must still never be written."""
    out = io.StringIO()
    logs.configure(environ={}, stream=out)
    log = structlog.get_logger("faxd.test")
    secret_key = f"x{CANARY}"
    log.info("first", **{secret_key: "v"}, value=CANARY, nested={CANARY: [CANARY]})
    logs.register_secret(CANARY)
    log.info("second", **{secret_key: "v"}, value=CANARY, nested={CANARY: [CANARY]})
    first, second = _json_lines(out.getvalue())
    assert CANARY in json.dumps(first)  # not yet a secret: written as it is
    assert CANARY not in json.dumps(second)
    assert second["x***"] == "v" and second["value"] == "***"
    assert second["nested"] == {"***": ["***"]}
