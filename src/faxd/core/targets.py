"""Targets (`CHANNEL` or `CHANNEL:ADDRESS`) and mail addresses.

An address ends up in a mail header, so anything that could start a new header or a
second recipient — a newline, a comma, angle brackets, spaces — is refused outright."""

from __future__ import annotations

import re
from collections.abc import Mapping

OWNER = "{owner}"
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_OWNER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
MAIL_TYPES = frozenset({"smtp"})


class TargetError(ValueError):
    pass


def split_target(target: str) -> tuple[str, str | None]:
    channel, sep, address = target.partition(":")
    return channel.strip(), (address.strip() if sep else None)


def check_address(address: str) -> str:
    """The address if it is one plain mail address; TargetError naming the problem."""
    if any(c in address for c in "\r\n\t\x00"):
        raise TargetError("a mail address must not contain a line break or control character")
    if not _ADDRESS.match(address) or len(address) > 254:
        raise TargetError(f"'{address}' is not a mail address like anna@example.com")
    return address


def check_target(target: str, channel_types: Mapping[str, str], *, owner_allowed: bool) -> None:
    """Raise TargetError if `target` names no configured channel or a bad address."""
    if any(c in target for c in "\r\n\x00"):
        raise TargetError("a target must not contain a line break")
    channel, address = split_target(target)
    if channel not in channel_types:
        known = ", ".join(sorted(channel_types)) or "none configured"
        raise TargetError(f"channel '{channel}' is not configured under channels ({known})")
    kind = channel_types[channel]
    if kind in MAIL_TYPES:
        if not address:
            raise TargetError(
                f"'{target}': a mail target needs an address ({channel}:name@example.com)"
            )
        probe = address.replace(OWNER, "owner") if owner_allowed else address
        if OWNER in address and not owner_allowed:
            raise TargetError("{owner} is only known for documents handed in to a folder")
        # Braces are legal in a mail address, but {user} here is a placeholder written
        # by mistake: the mail would go to the literal "{user}@…".
        other = _PLACEHOLDER.search(address.replace(OWNER, ""))
        if other:
            raise TargetError(f"'{other.group(0)}' is not filled by faxd; only {OWNER} is")
        check_address(probe)
    elif address:
        raise TargetError(f"'{target}': a {kind} channel takes no address; write just '{channel}'")


def fill_owner(target: str, owner: str | None) -> str | None:
    """The target with `{owner}` filled in; None when the owner is unknown or unusable."""
    if OWNER not in target:
        return target
    if not owner or not _OWNER_NAME.match(owner):
        return None
    filled = target.replace(OWNER, owner)
    _, address = split_target(filled)
    if address is not None:
        try:
            check_address(address)
        except TargetError:
            return None
    return filled
