"""`faxd test-channel NAME [TARGET]` and the deliveries part of `faxd status`."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

from faxd.channels.base import Attachment, ChannelError, Message
from faxd.channels.templates import TemplateProblem, Templates
from faxd.core.targets import TargetError, check_address, split_target
from faxd.errors import FaxdError, UsageError
from faxd.notices.worker import build_channel
from faxd.settings import Settings, SmtpChannel
from faxd.store.journal import Journal
from faxd.store.outbox import Outbox, OutboxState

SHOWN_FAILED = 10


def test_channel(settings: Settings, name: str, target: str | None) -> int:
    channel = settings.channels.get(name)
    if channel is None:
        known = ", ".join(sorted(settings.channels)) or "none configured"
        raise UsageError(f"test-channel: no channel '{name}' in the configuration ({known}).")
    address = None
    if target:
        written_channel, written = split_target(target)
        address = written if written is not None and written_channel == name else target
    if isinstance(channel, SmtpChannel):
        if not address:
            raise UsageError(
                "test-channel: name the address to mail: "
                f"faxd test-channel {name} anna@example.com."
            )
        try:
            check_address(address)
        except TargetError as exc:
            raise UsageError(f"test-channel: {exc}.") from None
    templates = Templates(settings.templates)
    context = {"host": socket.gethostname(), "channel": name}
    try:
        subject = templates.render("test.subject", context)
        text = templates.render("test.txt", context)
    except TemplateProblem as exc:
        raise FaxdError(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="faxd-test-") as folder:
        page = Path(folder) / "faxd-test.txt"
        page.write_text(text)
        message = Message(
            event_id=f"t.{name}.{int(time.time() * 1000)}",
            kind="test",
            event="test",
            subject=" ".join(subject.split()),
            text=text,
            address=address,
            fields={"test": True, "channel": name, "path": str(page)},
            print_file=Attachment(page.name, page, "text/plain"),
            created_at=time.time(),
        )
        sender = build_channel(channel)
        try:
            sender.send(message)
        except ChannelError as exc:
            raise FaxdError(f"the channel '{name}' did not take the test message: {exc}") from None
        finally:
            sender.close()
    print(
        f"the channel '{name}' took the test message" + (f" for {address}" if address else "") + "."
    )
    return 0


def delivery_lines(journal: Journal) -> list[str]:
    """Pending and given-up notices and deliveries, for `faxd status`."""
    try:
        outbox = Outbox(journal)
        counts = outbox.counts()
        failed = outbox.rows("state = ?", (OutboxState.FAILED.value,), limit=SHOWN_FAILED)
        waiting = outbox.rows(
            "state = ? AND attempts > 0", (OutboxState.PENDING.value,), limit=SHOWN_FAILED
        )
    except Exception:  # a journal from before the outbox existed
        return []
    pending, gave_up = counts.get("pending", 0), counts.get("failed", 0)
    if not pending and not gave_up:
        return []
    lines = [f"notices and deliveries: {pending} pending, {gave_up} failed"]
    for row in waiting:
        lines.append(
            f"  retrying  {row.kind} {row.event} to {row.target} "
            f"({row.attempts} attempt(s)): {row.error or '-'}"
        )
    for row in failed:
        lines.append(f"  FAILED    {row.kind} {row.event} to {row.target}: {row.error or '-'}")
    return lines
