"""What a job carries besides its columns: the files it uploads and its options, as frozen
values with their own JSON form (the journal's `files` and `options` columns).

`from_json` reads every form faxd has written: keys added later are optional, keys it does
not know are ignored, so a journal written by an older faxd still loads."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from faxd.settings import RETARUS_OPTION_KEYS, RetarusOptions

# The default when an old job recorded no status timeout (a day, as faxd always had).
DEFAULT_STATUS_TIMEOUT = 86400.0


@dataclass(frozen=True)
class JobFile:
    """One file a job uploads: a copy under state_dir (or its conversion), as sent."""

    path: str
    name: str  # the name the provider sees
    mime: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "mime": self.mime, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobFile:
        return cls(str(data["path"]), str(data["name"]), str(data["mime"]), int(data["size"]))


def files_to_json(files: Sequence[JobFile]) -> str:
    return json.dumps([f.to_json() for f in files])


def files_from_json(text: str) -> tuple[JobFile, ...]:
    return tuple(JobFile.from_json(item) for item in json.loads(text))


@dataclass(frozen=True)
class Source:
    """A spool file as it was when faxd took it, and where its copy is: filing compares
    the spool file with it and files the copy when the file changed or went away."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    snapshot: str | None = None  # None: journaled before faxd kept copies
    sha256: str | None = None  # None for a sidecar

    def identity_json(self) -> dict[str, int]:
        return {"dev": self.dev, "ino": self.ino, "size": self.size, "mtime_ns": self.mtime_ns}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.identity_json()
        if self.snapshot is not None:
            data["snapshot"] = self.snapshot
        if self.sha256 is not None:
            data["sha256"] = self.sha256
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Source:
        snapshot, sha256 = data.get("snapshot"), data.get("sha256")
        return cls(
            int(data["dev"]),
            int(data["ino"]),
            int(data["size"]),
            int(data["mtime_ns"]),
            str(snapshot) if snapshot else None,
            str(sha256) if sha256 else None,
        )


@dataclass(frozen=True)
class NotifyRoute:
    """Who hears of which events of a job, and what is attached."""

    on: tuple[str, ...]
    to: tuple[str, ...]
    attach: str = "report"

    def to_json(self) -> dict[str, Any]:
        return {"on": list(self.on), "to": list(self.to), "attach": self.attach}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NotifyRoute:
        return cls(
            tuple(str(e) for e in data.get("on", ())),
            tuple(str(t) for t in data.get("to", ())),
            str(data.get("attach", "report")),
        )


@dataclass(frozen=True)
class NoticePlan:
    """What a job remembers about who hears of it."""

    notify: tuple[NotifyRoute, ...] = ()
    owner: str | None = None
    delayed_after: float | None = None


@dataclass(frozen=True)
class Hold:
    """Why the misdial guard held a job: its numbers, each with the guard's reason."""

    numbers: tuple[str, ...] = ()
    reasons: Mapping[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"numbers": list(self.numbers), "reasons": dict(self.reasons)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hold:
        reasons = data.get("reasons") or {}
        return cls(
            tuple(str(n) for n in data.get("numbers", ())),
            {str(k): (None if v is None else str(v)) for k, v in reasons.items()},
        )


def _retarus_json(options: RetarusOptions | None) -> dict[str, Any]:
    if options is None:
        return {}
    return {
        k: (dict(v) if isinstance(v, Mapping) else v)
        for k, v in ((f.name, getattr(options, f.name)) for f in fields(RetarusOptions))
        if v not in (None, {}, ())
    }


def _retarus_from(data: object) -> RetarusOptions | None:
    if not isinstance(data, Mapping):
        return None
    chosen = {k: v for k, v in data.items() if k in RETARUS_OPTION_KEYS}
    if not any(v not in (None, {}, ()) for v in chosen.values()):
        return None
    return RetarusOptions(**chosen)


@dataclass(frozen=True)
class JobOptions:
    """Settings a job took from its folder and sidecar when it was taken, kept so that a
    later configuration change does not alter a job already under way."""

    sent_dir: str | None = None
    failed_dir: str | None = None
    hold_dir: str | None = None
    max_attempts: int | None = None  # None: the daemon's retry policy
    give_up_after: float | None = None  # None: the daemon's retry policy
    status_timeout: float = DEFAULT_STATUS_TIMEOUT
    retarus: RetarusOptions | None = None  # None: no Retarus option set
    station_name: str | None = None
    # None (a job from before the setting): the records keeper draws it, notices do not wait
    report_pdf: bool | None = None
    sources: Mapping[str, Source] = field(default_factory=dict)  # by spool path
    notice: NoticePlan = NoticePlan()
    hold: Hold | None = None

    def filing_dir(self, kind: Literal["sent", "failed", "hold"]) -> str:
        chosen = {"sent": self.sent_dir, "failed": self.failed_dir, "hold": self.hold_dir}[kind]
        if chosen is None:
            raise KeyError(f"{kind}_dir")  # as before: a job without it cannot be filed
        return chosen

    def filing_root(self, path: Path) -> Path:
        """The sent, failed or hold folder a filed file lies below, or its own folder (a
        job from before faxd kept them): faxd follows no link below it."""
        for folder in (self.sent_dir, self.failed_dir, self.hold_dir):
            if folder is not None and path.is_relative_to(folder):
                return Path(folder)
        return path.parent

    def held_numbers(self) -> tuple[str, ...]:
        return self.hold.numbers if self.hold is not None else ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in ("sent_dir", "failed_dir", "hold_dir", "max_attempts", "give_up_after"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        data["status_timeout"] = self.status_timeout
        data["retarus"] = _retarus_json(self.retarus)
        data["station_name"] = self.station_name
        if self.report_pdf is not None:
            data["report_pdf"] = self.report_pdf
        data["sources"] = {path: s.to_json() for path, s in self.sources.items()}
        if self.notice.notify:
            data["notify"] = [r.to_json() for r in self.notice.notify]
        if self.notice.owner:
            data["owner"] = self.notice.owner
        if self.notice.delayed_after is not None:
            data["delayed_after"] = self.notice.delayed_after
        if self.hold is not None:
            data["hold"] = self.hold.to_json()
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobOptions:
        def num(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        attempts = data.get("max_attempts")
        timeout = num("status_timeout")
        report_pdf = data.get("report_pdf")
        delayed = data.get("delayed_after")
        hold = data.get("hold")
        station = data.get("station_name")
        return cls(
            sent_dir=_opt_str(data.get("sent_dir")),
            failed_dir=_opt_str(data.get("failed_dir")),
            hold_dir=_opt_str(data.get("hold_dir")),
            max_attempts=None if attempts is None else int(attempts),
            give_up_after=num("give_up_after"),
            status_timeout=DEFAULT_STATUS_TIMEOUT if timeout is None else timeout,
            retarus=_retarus_from(data.get("retarus")),
            station_name=None if station is None else str(station),
            report_pdf=None if report_pdf is None else bool(report_pdf),
            sources={
                str(path): Source.from_json(s) for path, s in (data.get("sources") or {}).items()
            },
            notice=NoticePlan(
                notify=tuple(NotifyRoute.from_json(r) for r in data.get("notify") or ()),
                owner=_opt_str(data.get("owner")),
                delayed_after=None if delayed is None else float(delayed),
            ),
            hold=Hold.from_json(hold) if isinstance(hold, Mapping) else None,
        )

    @classmethod
    def loads(cls, text: str) -> JobOptions:
        return cls.from_json(json.loads(text))


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True)
class NewJob:
    """A job as intake decided it, before the journal records it."""

    id: str
    folder: str
    rel_path: str
    path: str
    sidecar: str | None
    attachments: Sequence[str]
    files: Sequence[JobFile]
    provider: str
    sender: str | None
    dft: bool
    reference: str | None
    rule: str | None
    options: JobOptions
    ino: int | None
    received_at: float
    numbers: Sequence[str]
    error: str | None = None  # set: the job failed before any transmission (addressing, preflight)
    hold: bool = False  # with error: held by the misdial guard instead of failed
