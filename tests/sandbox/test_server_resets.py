"""A client that resets its connection mid-request (a daemon killed while uploading) is
not the emulator's error: no traceback on its console, and it goes on serving."""

from __future__ import annotations

import socket
import struct
import time

import pytest
import requests

from faxd.sandbox.server import SandboxServer


@pytest.mark.parametrize(
    "sent",
    [
        b"POST /docs/v2/Send HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npart",
        b"POST /docs/v2/Se",
    ],
    ids=["in-the-body", "in-the-request-line"],
)
def test_a_reset_mid_request_prints_no_traceback(
    capfd: pytest.CaptureFixture[str], sent: bytes
) -> None:
    server = SandboxServer({}).start()
    try:
        for _ in range(3):
            client = socket.create_connection(("127.0.0.1", server.port))
            client.sendall(sent)
            time.sleep(0.1)  # the handler is reading the body
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # RST
        time.sleep(0.3)
        answer = requests.get(f"{server.url}/_sandbox/stats", timeout=5)
        assert answer.status_code == 200
    finally:
        server.stop()
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "ConnectionResetError" not in err
