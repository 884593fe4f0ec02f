"""The inbox's claim (its `.faxd.lock`, host/folder_claims.py), kept by the poller.

The daemon claims the inbox at start only when it is there: an inbox away then (a share
not mounted yet) went unclaimed for the whole run, and one claimed before its share went
away kept a claim on the file system that went with it, or on a folder renamed away. A
second faxd could claim the inbox meanwhile, and both delivered every received document
into it. So the poller claims the inbox again before it delivers into it once more: when
it first finds it there, when it is back after it was away, and when it is on another
file system than the claim (the share mounted again, perhaps under another device number,
as a network share is at each mount). Refused, nothing is delivered into the folder: the
documents wait at the provider, and the claim is tried again at every later check, so
they are delivered once the other faxd has let the folder go."""

from __future__ import annotations

import threading
from pathlib import Path

from faxd.host.folder_claims import DELIVERED_TWICE, FolderClaims


class InboxClaim:
    def __init__(self, claims: FolderClaims | None, inbox: Path) -> None:
        """`claims`: the daemon's (None: a poller of its own, which claims nothing)."""
        self._claims = claims
        self._inbox = inbox
        # The file system the claim was settled on (taken, or found impossible there: a
        # share without lock support is not asked again at every download).
        self._settled: int | None = None
        self._away = False  # the folder was found away since the claim was settled
        self._lock = threading.Lock()  # the poller's workers check before each download

    def away(self) -> None:
        """The inbox is missing, or the bare mount point of its share: once it is back, the
        claim on it is taken again, whatever file system it is on."""
        with self._lock:
            self._settled = None
            self._away = True

    def check(self, device: int) -> str | None:
        """None when faxd may deliver into the inbox, found on the file system `device`;
        otherwise the sentence naming the faxd that holds it."""
        if self._claims is None or self._settled == device:
            return None
        with self._lock:
            if self._settled == device:
                return None
            if self._away or self._claims.device_of(self._inbox) != device:
                # Held on what was the inbox (a file system unmounted lazily, a folder
                # renamed away), or not at all: the folder there now is claimed afresh.
                self._claims.release(self._inbox)
            refused = self._claims.claim(self._inbox, DELIVERED_TWICE)
            if refused is None:
                self._settled = device
                self._away = False
            return refused
