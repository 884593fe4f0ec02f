"""A local program, run without a shell (argv as configured, `{field}` filled in per
argument), with the event's fields as FAXD_* environment variables and a time limit:
past the limit the program and everything it started are killed."""

from __future__ import annotations

import os
import signal
import string
import subprocess
from collections.abc import Mapping
from typing import Any

from faxd.channels.base import ChannelError, Message
from faxd.settings import CommandChannel

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL at the limit
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


class _Fields(string.Formatter):
    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = fields

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str) and key in self._fields:
            return self._fields[key]
        return ""


def fill_argv(argv: tuple[str, ...], fields: Mapping[str, Any]) -> list[str]:
    """Fill `{name}` in each argument; a value is always one argument, never re-split."""
    formatter = _Fields(fields)
    return [formatter.vformat(arg, (), {}) for arg in argv]


def environment(message: Message) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    values = {
        "event_id": message.event_id,
        "kind": message.kind,
        "event": message.event,
        "subject": message.subject,
        **message.fields,
    }
    for key, value in values.items():
        if value is None or isinstance(value, dict | list):
            continue
        text = str(value).replace("\x00", "")
        env["FAXD_" + "".join(c if c.isalnum() else "_" for c in key).upper()] = text
    return env


class CommandRunner:
    def __init__(self, settings: CommandChannel) -> None:
        self.name = settings.name
        self._settings = settings

    def send(self, message: Message) -> None:
        s = self._settings
        fields = {"event_id": message.event_id, "event": message.event, **message.fields}
        argv = fill_argv(s.argv, fields)
        try:
            proc = subprocess.Popen(
                argv,
                env=environment(message),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: the limit kills its children too
            )
        except OSError as exc:
            raise ChannelError(
                f"cannot run {argv[0]} ({exc.strerror})",
                permanent=isinstance(exc, FileNotFoundError),
            ) from None
        try:
            _, err = proc.communicate(timeout=s.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ChannelError(
                f"{argv[0]} was still running after {s.timeout:g} s and was stopped"
            ) from None
        if proc.returncode != 0:
            tail = " ".join(err.decode("utf-8", "replace").split())[-200:]
            said = f": {tail}" if tail else ""
            raise ChannelError(f"{argv[0]} exited with status {proc.returncode}{said}")

    def close(self) -> None:
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.communicate(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
