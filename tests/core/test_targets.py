"""Targets and mail addresses: nothing that could become a second header or recipient."""

from __future__ import annotations

import pytest

from faxd.config.sidecar import SidecarError, parse_sidecar
from faxd.core.targets import TargetError, check_address, check_target, fill_owner

TYPES = {"mail": "smtp", "desk": "print"}


@pytest.mark.parametrize(
    "address",
    [
        "anna@example.com\r\nBcc: all@example.com",
        "anna@example.com, boss@example.com",
        "Anna <anna@example.com>",
        "anna @example.com",
        "anna",
        "anna@",
    ],
)
def test_addresses_that_could_inject_or_are_not_one_address_are_refused(address: str) -> None:
    with pytest.raises(TargetError):
        check_address(address)


def test_targets() -> None:
    check_target("mail:anna.b+fax@example.co.uk", TYPES, owner_allowed=False)
    check_target("desk", TYPES, owner_allowed=False)
    check_target("mail:{owner}@example.com", TYPES, owner_allowed=True)
    with pytest.raises(TargetError, match="needs an address"):
        check_target("mail", TYPES, owner_allowed=False)
    with pytest.raises(TargetError, match="not configured"):
        check_target("fax:anna@example.com", TYPES, owner_allowed=False)
    # A placeholder faxd does not fill would mail the literal "{user}@example.com".
    with pytest.raises(TargetError, match=r"'\{user\}' is not filled by faxd; only \{owner\}"):
        check_target("mail:{user}@example.com", TYPES, owner_allowed=True)
    with pytest.raises(TargetError, match=r"\{Owner\}"):
        check_target("mail:{Owner}.{owner}@example.com", TYPES, owner_allowed=True)


@pytest.mark.parametrize(
    ("owner", "filled"),
    [
        ("anna", "mail:anna@example.com"),
        ("anna.b", "mail:anna.b@example.com"),
        (None, None),
        ("", None),
        ("evil\r\nBcc: x", None),
        ("a,b", None),
        ("DOMAIN\\anna", None),
    ],
)
def test_owner_fills_in_only_when_it_is_a_plain_user_name(
    owner: str | None, filled: str | None
) -> None:
    assert fill_owner("mail:{owner}@example.com", owner) == filled


def test_sidecar_notify_and_owner() -> None:
    sidecar = parse_sidecar(
        'to: "+46812345678"\nnotify: ["mail:boss@example.com", desk]\nowner: anna\n', "a.pdf.yaml"
    )
    assert sidecar.notify == ("mail:boss@example.com", "desk")
    assert sidecar.owner == "anna"
    with pytest.raises(SidecarError, match="line break"):
        parse_sidecar('to: "+46812345678"\nnotify: "mail:a@example.com\\nBcc: b@x.com"\n', "a.yaml")
