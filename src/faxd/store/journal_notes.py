"""What the daemon leaves in the journal's key/value table for its next start and for
`faxd status` (another process): provider pauses, the inbox poller's last word, why the
intake stalls, the folders and sidecars seen, and where new versions of a document were
moved aside. The keys' format stays inside this module: old journals keep them."""

from __future__ import annotations

import json
from contextlib import suppress
from pathlib import Path
from typing import Any

from faxd.core.inbox_status import InboxStatus
from faxd.host.folder_place import KnownPlace
from faxd.store import audit_outbox
from faxd.store.journal_part import JournalPart
from faxd.store.journal_rows import ProviderPause

_PAUSE = "pause:"
_MOVED_ASIDE = "moved-aside:"  # + job id: JSON list of the names new versions went to
_INBOX_STATUS = "inbox:status"
_INTAKE_STALL = "intake:stalled"
_FOLDER_DEVICE = "folder-device:"  # + folder: its st_dev
# + folder: JSON {"device", "mount_root"}, beside the device so that records from before
# it was kept stay as they were.
_FOLDER_MOUNT = "folder-mount:"
_UPSERT = (
    "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


def moved_aside_key(job_id: str) -> str:
    """The key of a job's moved-aside names: filing the job removes it."""
    return f"{_MOVED_ASIDE}{job_id}"


def _pause(provider: str, value: str) -> ProviderPause | None:
    until, _, reason = value.partition(":")
    try:
        return ProviderPause(provider, float(until), reason)
    except ValueError:
        return None


class JournalNotes(JournalPart):
    """The journal's key/value notes (mixed into faxd.store.journal.Journal)."""

    # -- key/value ---------------------------------------------------------------------

    def get_value(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM kv WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_value(self, key: str, value: str, *, event: str | None = None, **data: Any) -> None:
        """`event`: an audit event committed with the value (a provider paused)."""
        with self.transaction() as db:
            db.execute(_UPSERT, (key, value))
            if event is not None:
                audit_outbox.record(db, event, **data)

    def delete_value(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))

    # -- what the daemon leaves for the next start and for `faxd status` ----------------
    # Kept in kv under keys whose format stays inside this module (old journals keep them).

    def pause_provider(self, provider: str, until: float, reason: str) -> None:
        """Remember a provider's pause (audited), so `faxd status` and alerts see it."""
        self.set_value(
            f"{_PAUSE}{provider}",
            f"{until}:{reason}",
            event="provider paused",
            provider=provider,
            until=until,
            reason=reason,
        )

    def clear_pause(self, provider: str) -> None:
        self.delete_value(f"{_PAUSE}{provider}")

    def pause_of(self, provider: str) -> ProviderPause | None:
        value = self.get_value(f"{_PAUSE}{provider}")
        return _pause(provider, value) if value is not None else None

    def pauses(self) -> list[ProviderPause]:
        """Every provider pause recorded (past ones included; the caller compares)."""
        rows = self.query(
            "SELECT key, value FROM kv WHERE key LIKE ? ORDER BY key", (_PAUSE + "%",)
        )
        found = (_pause(str(r["key"])[len(_PAUSE) :], str(r["value"])) for r in rows)
        return [p for p in found if p is not None]

    def set_inbox_status(self, status: InboxStatus) -> None:
        self.set_value(_INBOX_STATUS, status.dumps())

    def set_intake_stall(self, said: str | None) -> None:
        """What the daemon said keeps documents from being taken in, None once they are
        (for `faxd status`, which runs in another process)."""
        self.set_value(_INTAKE_STALL, said or "")

    def intake_stall(self) -> str | None:
        return self.get_value(_INTAKE_STALL) or None

    def inbox_statuses(self) -> list[InboxStatus]:
        """What the daemon's inbox poller last published (none without an inbox)."""
        rows = self.query("SELECT value FROM kv WHERE key LIKE 'inbox:%' ORDER BY key")
        found: list[InboxStatus] = []
        for row in rows:
            with suppress(ValueError, TypeError):
                value = json.loads(str(row["value"]))
                if isinstance(value, dict):
                    found.append(InboxStatus.from_json(value))
        return found

    def sidecars_seen(self, folder: Path) -> bool:
        """A sidecar was seen in this spool folder once: its documents wait for theirs."""
        return self.get_value(f"sidecars_seen:{folder}") is not None

    def note_sidecars_seen(self, folder: Path) -> None:
        self.set_value(f"sidecars_seen:{folder}", "1")

    def note_moved_aside(self, job_id: str, name: str, sha256: str | None = None) -> None:
        """A new version of job_id's document, whose bytes have the digest `sha256`, is
        moved aside to `name` next (noted before the move, so a filing meanwhile still
        says where it went)."""
        entries = [*self._moved_aside_entries(job_id), {"name": name, "sha256": sha256}]
        self.set_value(moved_aside_key(job_id), json.dumps(entries))

    def withdraw_moved_aside(self, job_id: str, name: str) -> None:
        """The move to `name` did not happen after all."""
        entries = self._moved_aside_entries(job_id)
        kept = [e for e in entries if e["name"] != name]
        if len(kept) != len(entries):
            self.set_value(moved_aside_key(job_id), json.dumps(kept))

    def moved_aside(self, job_id: str) -> list[str]:
        """The names new versions of job_id's document were moved to, oldest first."""
        return [str(e["name"]) for e in self._moved_aside_entries(job_id)]

    def moved_aside_digests(self, job_id: str) -> dict[str, str]:
        """The sha256 of each version moved aside from job_id's name -> where it went."""
        found = self._moved_aside_entries(job_id)
        return {str(e["sha256"]): str(e["name"]) for e in found if e.get("sha256")}

    def _moved_aside_entries(self, job_id: str) -> list[dict[str, str | None]]:
        value = self.get_value(moved_aside_key(job_id))
        with suppress(ValueError, TypeError):
            entries = json.loads(value) if value else []
            if isinstance(entries, list):
                # A bare name: noted by a faxd that did not keep the digest.
                return [
                    {"name": str(e.get("name")), "sha256": str(e.get("sha256") or "") or None}
                    if isinstance(e, dict)
                    else {"name": str(e), "sha256": None}
                    for e in entries
                ]
        return []

    def folder_seen(self, path: Path) -> bool:
        """faxd has seen this configured folder exist (so a missing one is an outage)."""
        return self.get_value(f"folder-seen:{path}") is not None

    def note_folder_seen(self, path: Path) -> None:
        self.set_value(f"folder-seen:{path}", "1")

    def folder_device(self, root: Path) -> int | None:
        """The file system (st_dev) a spool or inbox folder was on when last recorded."""
        value = self.get_value(f"{_FOLDER_DEVICE}{root}")
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def folder_place(self, root: Path) -> KnownPlace | None:
        """The file system a spool or inbox folder was on when last recorded, with where
        that file system was mounted when faxd kept that too."""
        device = self.folder_device(root)
        if device is None:
            return None
        return KnownPlace(device, self._folder_mount_root(root, device))

    def _folder_mount_root(self, root: Path, device: int) -> Path | None:
        value = self.get_value(f"{_FOLDER_MOUNT}{root}")
        with suppress(ValueError, TypeError, KeyError):
            found = json.loads(value) if value else None
            # Kept with the device it was seen with: a faxd that knew no mount roots (run
            # after this one, say) changes the device alone, and leaves it stale.
            if isinstance(found, dict) and found["device"] == device:
                return Path(str(found["mount_root"]))
        return None

    def set_folder_device(self, root: Path, device: int, mount_root: Path | None = None) -> None:
        """Remember the file system `root` is on, and the mount point of that file system
        (None: not known)."""
        with self.transaction() as db:
            db.execute(_UPSERT, (f"{_FOLDER_DEVICE}{root}", str(device)))
            if mount_root is None:
                db.execute("DELETE FROM kv WHERE key = ?", (f"{_FOLDER_MOUNT}{root}",))
            else:
                found = {"device": device, "mount_root": str(mount_root)}
                db.execute(_UPSERT, (f"{_FOLDER_MOUNT}{root}", json.dumps(found)))

    def forget_folder_device(self, root: Path) -> None:
        """The next file system the folder is found on is taken as its own, as at first."""
        with self.transaction() as db:
            for key in (_FOLDER_DEVICE, _FOLDER_MOUNT):
                db.execute("DELETE FROM kv WHERE key = ?", (f"{key}{root}",))
