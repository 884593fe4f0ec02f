"""Logging: structlog to the journal (with FAXD_* fields), a terminal, or JSON lines.

Every event passes through the same chain: exceptions are formatted without local
variables, every value becomes plain text, and secrets are scrubbed from all of it
before anything is rendered, so no output path can leak an API key.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib
import json
import logging
import os
import re
import sys
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from faxd.core.printable import CONTROLS, safe_text
from faxd.settings import Secret

JournalSender = Callable[..., None]

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# syslog priorities, as journald's PRIORITY= field wants them.
_PRIORITIES = {
    "debug": 7,
    "info": 6,
    "notice": 5,
    "warning": 4,
    "warn": 4,
    "error": 3,
    "exception": 3,
    "critical": 2,
    "fatal": 2,
}

_JOURNAL_FIELDS = {
    "job": "FAXD_JOB",
    "job_id": "FAXD_JOB",
    "document": "FAXD_DOCUMENT",
    "recipient": "FAXD_RECIPIENT",
    "provider": "FAXD_PROVIDER",
    "state": "FAXD_STATE",
    "attempt": "FAXD_ATTEMPT",
    "remote_id": "FAXD_REMOTE_ID",
}

_CODE_FIELDS = {"pathname": "CODE_FILE", "lineno": "CODE_LINE", "func_name": "CODE_FUNC"}

REDACTED = "***"
REDACT_CACHED_LEN = 512  # longer values (tracebacks, bodies) are rare and not kept

# ---------------------------------------------------------------------------- redaction

_secrets_lock = threading.Lock()
_secrets: tuple[str, ...] = ()

_AUTH_HEADER = re.compile(
    r"""(?P<key>authorization['"]?\s*[:=]\s*['"]?)(?P<value>[^'"\r\n,}]+)""", re.IGNORECASE
)
# HTTP scheme names are case-insensitive, but lower-case "basic" is an ordinary English
# word; a token must also be long enough to be one.
_TOKENS = re.compile(r"(?P<key>\b(?:[Bb][Ee][Aa][Rr][Ee][Rr]|Basic)\s+)(?P<value>[\w.~+/=-]{8,})")
_URL_USERINFO = re.compile(r"(?P<key>\b[a-zA-Z][\w+.-]*://)(?P<value>[^/\s:@]+:[^/\s@]+)@")


def register_secret(secret: str | Secret) -> None:
    """Scrub this value (and its URL- and base64-encoded forms) from every later event."""
    value = secret.reveal() if isinstance(secret, Secret) else secret
    if not value:
        return
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        base64.b64encode(value.encode()).decode().rstrip("="),
    }
    global _secrets
    with _secrets_lock:
        # Longest first, so a secret that contains another is removed whole.
        _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))


def forget_secrets() -> None:
    """Drop every registered secret (for tests; a reload just registers the new ones)."""
    global _secrets
    with _secrets_lock:
        _secrets = ()


def redact(value: str) -> str:
    """`value` with registered secrets, Authorization values and auth tokens masked."""
    if len(value) > REDACT_CACHED_LEN:
        return _redact(value, _secrets)
    # Keys, job ids, numbers and document names recur in every line of a job: each line
    # cost a few regular expressions per field. Keyed by the secrets too, so a secret
    # registered later is never missed by a cached answer.
    return _redact_cached(value, _secrets)


@functools.lru_cache(maxsize=4096)
def _redact_cached(value: str, secrets: tuple[str, ...]) -> str:
    return _redact(value, secrets)


def _redact(value: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, REDACTED)
    if not _may_hold_credentials(value):
        return value
    value = _AUTH_HEADER.sub(rf"\g<key>{REDACTED}", value)
    value = _TOKENS.sub(rf"\g<key>{REDACTED}", value)
    return _URL_USERINFO.sub(rf"\g<key>{REDACTED}@", value)


def _may_hold_credentials(value: str) -> bool:
    """Whether one of the three patterns could match: job ids, numbers, file names and
    remote ids (most of every line, and new in every job) skip the regular expressions.
    Exact for ASCII; other text takes the expressions, whose case-insensitive matching
    knows more letters than str.lower() does (a dotless i)."""
    if ("@" in value and "://" in value) or not value.isascii():
        return True
    lowered = value.lower()
    return "authorization" in lowered or "bearer" in lowered or "basic" in lowered


def _redact_any(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redact_any(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_any(v) for v in value]
    return value


# ----------------------------------------------------------------------- plain values


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return safe_text(str(value))
    if isinstance(value, PurePath):
        return safe_text(os.fspath(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {safe_text(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, BaseException):
        return safe_text(f"{type(value).__name__}: {value}")
    # Anything else is rendered here, so redaction sees the very text that is written.
    return safe_text(repr(value))


def clean_values(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor of every sink: each value becomes JSON-native text (valid
    UTF-8), then `redact` is applied to every string, key and nested value, so what is
    redacted is the very text that is written."""
    secrets = _secrets
    cleaned: EventDict = {}
    for key, value in event_dict.items():
        # The keys are the same few names in every line, and most values plain text:
        # those take the short way, half of what a line cost (a burst logs 5 per document).
        name = _clean_key(key, secrets) if type(key) is str else redact(safe_text(str(key)))
        if type(value) is str:
            cleaned[name] = redact(safe_text(value))
        else:
            cleaned[name] = _redact_any(_plain(value))
    return cleaned


@functools.lru_cache(maxsize=512)
def _clean_key(key: str, secrets: tuple[str, ...]) -> str:
    return _redact(safe_text(key), secrets)


# json.dumps escapes every C0 control, but not these, which str.splitlines() and some
# editors still take for line breaks.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _json_dumps(obj: Any, **kwargs: Any) -> str:
    # Inside JSON these characters can only occur in strings, where the escape is valid.
    return json.dumps(obj, **kwargs).translate(_LINE_BREAKS)


def _escape_controls(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """For a terminal: file names cannot move the cursor or split a line."""
    return {
        k: v.translate(CONTROLS) if isinstance(v, str) and k != "exception" else v
        for k, v in event_dict.items()
    }


# --------------------------------------------------------------------------- journal


def journal_field(key: str) -> str:
    """The journald field name for an event key: FAXD_<KEY>, only [A-Z0-9_]."""
    if key in _JOURNAL_FIELDS:
        return _JOURNAL_FIELDS[key]
    name = re.sub(r"[^A-Z0-9_]", "_", key.upper())
    return f"FAXD_{name}"[:64]


def _message_value(value: Any) -> str:
    text = str(value)
    return repr(text) if (not text or any(c.isspace() or c in "\"'=" for c in text)) else text


class JournalRenderer:
    """Last processor under systemd: turns the event into journald fields."""

    def __call__(self, _logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        event = dict(event_dict)
        text = str(event.pop("event", ""))
        level = str(event.pop("level", method))
        exception = event.pop("exception", None)
        fields: dict[str, Any] = {
            "PRIORITY": str(_PRIORITIES.get(level, 6)),
            "SYSLOG_IDENTIFIER": "faxd",
        }
        # journald's own CODE_* fields say where the event was logged (not in logs.py).
        for key, field in _CODE_FIELDS.items():
            if (value := event.pop(key, None)) is not None:
                fields[field] = value
        context = []
        for key, value in event.items():
            if value is None:
                continue
            fields[journal_field(key)] = str(value)
            context.append(f"{key}={_message_value(value)}")
        # `journalctl -u faxd` shows only MESSAGE: carry the context and traceback there too.
        message = " ".join([text, *context])
        if exception:
            message += "\n" + str(exception)
        fields["MESSAGE"] = message
        return fields


class JournalLogger:
    """A structlog logger whose every method hands the rendered fields to journald."""

    def __init__(self, sender: JournalSender, fallback: TextIO) -> None:
        self._sender = sender
        self._fallback = fallback

    def msg(self, **fields: Any) -> None:
        try:
            self._sender(**fields)
        except Exception:
            # journald restarting must not turn a log line into a failed job: the
            # announced stream still ends up in the journal, as plain text.
            with contextlib.suppress(OSError, ValueError):
                print(fields.get("MESSAGE", ""), file=self._fallback, flush=True)

    debug = info = warning = warn = error = err = critical = fatal = exception = msg
    failure = log = msg


class _JournalLoggerFactory:
    def __init__(self, sender: JournalSender, fallback: TextIO) -> None:
        self._logger = JournalLogger(sender, fallback)

    def __call__(self, *_args: Any) -> JournalLogger:
        return self._logger


def _systemd_journal_sender() -> JournalSender | None:
    try:
        journal = importlib.import_module("systemd.journal")
    except ImportError:
        return None
    send: JournalSender = journal.send
    return send


def _stream_is_journal(environ: Mapping[str, str], stream: TextIO) -> bool:
    """Whether `stream` is the journal stream systemd announced in $JOURNAL_STREAM."""
    announced = environ.get("JOURNAL_STREAM")
    if not announced:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        # No descriptor to compare (a test stream): trust the announcement.
        return True
    # The variable is inherited by children whose output went elsewhere: check it is ours.
    return announced == f"{st.st_dev}:{st.st_ino}"


# ---------------------------------------------------------------------- stdlib bridge


class _StructlogHandler(logging.Handler):
    """Routes library log records (urllib3, watchdog) through the same redacting chain."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            logger = structlog.get_logger(record.name)
            logger.log(
                record.levelno,
                record.getMessage(),
                logger=record.name,
                exc_info=record.exc_info or False,
            )
        except Exception:
            self.handleError(record)


_root_level_before: int | None = None
_machine_output = False  # see machine_output()


def _unbridge_stdlib() -> None:
    global _root_level_before
    logging.captureWarnings(False)
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _StructlogHandler):
            root.removeHandler(old)
    if _root_level_before is not None:
        root.setLevel(_root_level_before)
        _root_level_before = None


_QUIET_LIBRARIES = ("pikepdf", "PIL", "img2pdf", "pypdf")


def _bridge_stdlib(level: int) -> None:
    global _root_level_before
    _unbridge_stdlib()
    # Library warnings (Pillow's DecompressionBombWarning) become log records like any
    # other line, instead of raw text on stderr between the JSON lines.
    logging.captureWarnings(True)
    root = logging.getLogger()
    _root_level_before = root.level
    root.addHandler(_StructlogHandler(level))
    root.setLevel(level)
    # Libraries' chatter (a PDF library announcing itself) is not news to an admin.
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


# ------------------------------------------------------------------------ configure


def configure(
    level: str = "info",
    *,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    journal_sender: JournalSender | None = None,
) -> None:
    """Set up structlog (and the stdlib loggers of libraries) for the whole process.

    Journal when $JOURNAL_STREAM says the output goes there and a sender exists (the
    `journal_sender` given, else systemd.journal.send); readable lines on a terminal;
    one JSON object per line otherwise. Safe to call again on reload."""
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"Unknown log level {level!r}; use one of {', '.join(LEVELS)}.")
    env = os.environ if environ is None else environ
    out = sys.stdout if stream is None else stream

    sender = None
    if _stream_is_journal(env, out):
        sender = journal_sender or _systemd_journal_sender()

    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    logger_factory: Callable[..., Any]
    if sender is not None:
        processors += [
            structlog.processors.CallsiteParameterAdder(
                [
                    structlog.processors.CallsiteParameter.PATHNAME,
                    structlog.processors.CallsiteParameter.LINENO,
                    structlog.processors.CallsiteParameter.FUNC_NAME,
                ],
                # The caller, not this module's bridge or the stdlib logging machinery.
                additional_ignores=["faxd.host.logs", "logging"],
            ),
            structlog.processors.format_exc_info,
            clean_values,
            JournalRenderer(),
        ]
        logger_factory = _JournalLoggerFactory(sender, out)
    elif _isatty(out):
        colors = "NO_COLOR" not in env
        processors += [
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            # Formatted here, not by ConsoleRenderer, so the traceback is redacted too.
            structlog.processors.format_exc_info,
            clean_values,
            _escape_controls,
            structlog.dev.ConsoleRenderer(
                colors=colors, exception_formatter=structlog.dev.plain_traceback
            ),
        ]
        logger_factory = structlog.PrintLoggerFactory(out)
    else:
        processors += [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            clean_values,
            structlog.processors.JSONRenderer(_json_dumps, ensure_ascii=not _is_utf8(out)),
        ]
        logger_factory = structlog.PrintLoggerFactory(out)

    global _machine_output
    _machine_output = not _isatty(out)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[name]),
        logger_factory=logger_factory,
        # Not cached: a reload may change the level or the sink of existing loggers.
        cache_logger_on_first_use=False,
    )
    _bridge_stdlib(LEVELS[name])


def set_level(level: str) -> None:
    """Log from `level` up, through the sink and chain `configure` chose: the daemon's
    `log_level` from the configuration, once it is read (at start and at each reload)."""
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"Unknown log level {level!r}; use one of {', '.join(LEVELS)}.")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(LEVELS[name]))
    _bridge_stdlib(LEVELS[name])


def machine_output() -> bool:
    """Whether `configure` chose JSON lines or the journal (not a terminal): a last word
    of the process then goes through the log too, in the same form as every line."""
    return _machine_output


def reset() -> None:
    """Undo `configure` and forget every secret (for tests)."""
    global _machine_output
    _machine_output = False
    structlog.reset_defaults()
    _unbridge_stdlib()
    forget_secrets()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _is_utf8(stream: TextIO) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return encoding.lower().replace("-", "").replace("_", "") == "utf8"
