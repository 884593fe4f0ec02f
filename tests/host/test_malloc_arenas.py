"""The daemon's cap on glibc malloc arenas, counted by glibc itself (malloc_info)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

# Eight threads that allocate; glibc's own report of its heaps (one per arena) is counted.
COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, os, re, sys, threading
    from faxd.host.malloc_arenas import limit_arenas
    print(limit_arenas(os.environ), flush=True)
    libc = ctypes.CDLL(None)
    done = threading.Event()
    kept = []
    def work():
        kept.append([bytearray(4096) for _ in range(50)])  # past pymalloc: malloc's
        done.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    buf, size = ctypes.c_char_p(), ctypes.c_size_t()
    libc.open_memstream.restype = ctypes.c_void_p
    stream = ctypes.c_void_p(libc.open_memstream(ctypes.byref(buf), ctypes.byref(size)))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(len(re.findall(r'<heap nr="[0-9]+">', buf.value.decode())))
    done.set()
    """
)

glibc = pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "malloc_info"), reason="not glibc: no malloc_info"
)


def _arenas(**env: str) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run(
        [sys.executable, "-c", COUNT_ARENAS], env=environ, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    took, count = out.stdout.split()
    return took, int(count)


@glibc
def test_threads_share_two_arenas_once_limited() -> None:
    assert _arenas() == ("True", 2)


@glibc
def test_an_admins_own_setting_is_left_alone() -> None:
    # 5 by the environment (glibc reads it at start), not 2 by faxd.
    assert _arenas(MALLOC_ARENA_MAX="5") == ("False", 5)
