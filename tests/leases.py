"""A real refusal of a read lease for tests that run as root: the file belongs to another
user, and the calling thread does without CAP_LEASE for a while (capabilities are per
thread, so the rest of the test run keeps its own). No seam: the kernel refuses."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

OTHER_UID = 65534  # nobody
CAP_LEASE = 28
_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _caps() -> tuple[_Header, ctypes.Array[_Data]]:
    libc = ctypes.CDLL(None, use_errno=True)
    header = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    return header, data


def _set(header: _Header, data: ctypes.Array[_Data]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def need_refusal() -> None:
    """Skip unless this test can make the kernel refuse a lease for real: it must be able
    to give a file to another user (run unprivileged, it cannot make one)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to give a file to another user")


def has_cap_lease() -> bool:
    _, data = _caps()
    return bool(data[0].effective & (1 << CAP_LEASE))


@contextmanager
def without_cap_lease() -> Iterator[None]:
    """The calling thread without CAP_LEASE (kept in its permitted set, so it comes back;
    a container may not have given it in the first place)."""
    if not has_cap_lease():
        yield
        return
    header, data = _caps()
    saved = data[0].effective
    data[0].effective = saved & ~(1 << CAP_LEASE)
    _set(header, data)
    try:
        yield
    finally:
        header, data = _caps()
        data[0].effective = saved
        _set(header, data)
