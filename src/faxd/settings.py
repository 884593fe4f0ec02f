"""Typed settings: what `config.load` produces from the YAML file."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar

WatchMode = Literal["auto", "inotify", "poll"]
DftMode = Literal["prefer", "never"]
NewNumbersMode = Literal["send", "hold"]
DeliveryAttach = Literal["document", "none"]  # what a received document's mail carries
NoticeAttach = Literal["report", "document", "none"]
SmtpSecurity = Literal["starttls", "tls", "none"]

# `@@FAX +46 8 123 456 78@@` written in a document addresses it (print-to-fax).
DEFAULT_EMBEDDED_CODE = r"@@FAX\s*(?P<to>[^@]+?)\s*@@"

_T = TypeVar("_T")


class Secret:
    """A credential: never printed, logged or compared by repr."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class DocsProviderSettings:
    name: str
    api_key: Secret
    base_url: str = "https://api.genericmobile.se/Docs/api/v2"
    timezone: str = "Europe/Stockholm"
    ca_bundle: Path | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    lookup_delay: float = 15.0  # first wait before asking whether a lost upload arrived
    status_poll: float = 2.0  # first wait before asking for an accepted fax's status
    type: Literal["generic-docs"] = "generic-docs"
    # Where api_key came from, for check-config and start-up checks (never the key itself).
    credential_file: Path | None = None
    credential_env: str | None = None


@dataclass(frozen=True)
class RetarusProviderSettings:
    name: str
    customer_number: str
    username: str
    password: Secret
    submit_url: str
    datacenter_urls: tuple[str, ...]
    region: str | None = None
    ca_bundle: Path | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    lookup_delay: float = 15.0  # first wait before asking whether a lost upload arrived
    status_poll: float = 2.0  # first wait before asking for an accepted fax's status
    type: Literal["retarus"] = "retarus"
    # Where password came from, for check-config and start-up checks (never the password).
    credential_file: Path | None = None
    credential_env: str | None = None


class ProviderSettings(Protocol):
    """What faxd needs of any provider's settings; each provider type has its own frozen
    dataclass (the table in faxd/providers/registry.py names it and its parser)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def ca_bundle(self) -> Path | None: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...
    # The first waits of the outcome-lookup and status-poll schedules; each later wait
    # doubles (faxd.core.retry).
    @property
    def lookup_delay(self) -> float: ...
    @property
    def status_poll(self) -> float: ...
    @property
    def credential_file(self) -> Path | None: ...
    @property
    def credential_env(self) -> str | None: ...


@dataclass(frozen=True)
class RetarusOptions:
    """Per folder or sidecar: how Retarus renders and transports the fax."""

    coverpage_template: str | None = None
    recipient_properties: dict[str, str] = field(default_factory=dict)
    resolution: Literal["HIGH", "LOW"] | None = None
    paper_format: Literal["A4", "LETTER"] | None = None
    express: bool | None = None
    blacklist: bool | None = None
    header: str | None = None

    def over(self, base: RetarusOptions) -> RetarusOptions:
        """These options written over `base` (a folder's over `defaults:`, a sidecar's
        over its folder's): each key set here wins, an unset one (None) keeps base's, and
        recipient properties are layered name by name."""
        return RetarusOptions(
            coverpage_template=_set_or(self.coverpage_template, base.coverpage_template),
            recipient_properties={**base.recipient_properties, **self.recipient_properties},
            resolution=_set_or(self.resolution, base.resolution),
            paper_format=_set_or(self.paper_format, base.paper_format),
            express=_set_or(self.express, base.express),
            blacklist=_set_or(self.blacklist, base.blacklist),
            header=_set_or(self.header, base.header),
        )


def _set_or(value: _T | None, fallback: _T | None) -> _T | None:
    return fallback if value is None else value


RETARUS_OPTION_KEYS = tuple(f.name for f in fields(RetarusOptions))


@dataclass(frozen=True)
class FolderSettings:
    """One spool folder, with every default already applied."""

    path: Path
    provider: str
    sender: str | None  # E.164 after validation
    region: str  # ISO 3166 region for national numbers, e.g. "SE"
    sent_dir: Path
    failed_dir: Path
    to: tuple[str, ...] = ()  # fixed recipients: numbers or contact names, as written
    dft: DftMode = "prefer"
    settle: float = 1.0
    sidecar_wait: float = 10.0
    # True when sidecar_wait is the built-in default, not configured: then only folders
    # that have had a sidecar wait for one (most never get any).
    sidecar_wait_if_seen: bool = False
    max_attempts: int = 8
    give_up_after: float = 86400.0
    status_timeout: float = 86400.0
    watch: WatchMode = "auto"
    rescan_interval: float = 300.0
    retarus: RetarusOptions = field(default_factory=RetarusOptions)
    # Print-to-fax: regexes with a named group `to`; None turns the rule off.
    name_pattern: str | None = None
    embedded_code: str | None = DEFAULT_EMBEDDED_CODE
    convert_postscript: bool = True  # .ps/.prn print files to PDF with Ghostscript
    # Recipient safety: E.164 prefixes, the misdial guard, and where held documents go.
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    misdial_guard: bool = True
    new_numbers: NewNumbersMode = "send"
    hold_dir: Path | None = None  # None: `hold` beside failed_dir
    notify: tuple[NotifyRule, ...] = ()  # who hears about this folder's jobs (channels)
    delayed_after: float | None = None  # not final after this: one `delayed` notice
    station_name: str | None = None  # printed on the transmission report PDF
    report_pdf: bool = True  # NAME.report.pdf beside NAME.report.yaml
    # sent/failed/hold roots under `defaults:` shared with other spool folders: this one
    # files into its own subfolder of each (config/shared_filing.py), made at start.
    filing_roots: tuple[Path, ...] = ()

    @property
    def hold_folder(self) -> Path:
        return self.hold_dir or self.failed_dir.parent / "hold"


@dataclass(frozen=True)
class InboxSettings:
    provider: str
    path: Path
    poll_interval: float = 60.0
    lookback: float = 86400.0
    routes: dict[str, Path] = field(default_factory=dict)  # E.164 -> folder
    numbers: tuple[str, ...] = ()  # further numbers of ours (E.164)
    delete_after_download: bool = False
    download_timeout: float = 900.0  # seconds one received file may take to download
    deliver: tuple[str, ...] = ()  # targets for documents no route matched
    route_rules: dict[str, RouteRule] = field(default_factory=dict)  # mapping routes
    attach: DeliveryAttach = "document"  # what `deliver` mails carry


@dataclass(frozen=True)
class RetentionSettings:
    """How long filed things are kept, in seconds; None keeps them forever."""

    sent: float | None = None
    failed: float | None = None
    inbox: float | None = None
    records: float | None = None  # the daily activity journals (the audit log is kept)


@dataclass(frozen=True)
class RecordsSettings:
    path: Path | None = None  # None: STATE_DIR/records
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    csv: str = "excel"  # excel | standard: how the activity journal writes numbers


@dataclass(frozen=True)
class Settings:
    source: Path  # the file these came from
    state_dir: Path
    providers: dict[str, ProviderSettings]
    default_provider: str
    region: str
    concurrency: int
    folders: tuple[FolderSettings, ...]
    contacts: dict[str, str] = field(default_factory=dict)  # name -> E.164
    contacts_file: Path | None = None  # more contacts (CSV or vCard); `contacts` holds them
    inbox: InboxSettings | None = None
    dft_cache: float = 86400.0
    log_level: str = "info"
    sender: str | None = None  # defaults.sender (E.164), for jobs from no folder (`faxd send`)
    channels: dict[str, ChannelSettings] = field(default_factory=dict)
    alerts: AlertSettings | None = None
    templates: Path | None = None  # a folder of Jinja2 templates overriding the built-in ones
    warnings: tuple[str, ...] = ()  # accepted, but worth changing (old key names)
    records: RecordsSettings = field(default_factory=RecordsSettings)

    @property
    def work_root(self) -> Path:
        """Where each job's work folder is (`work/JOB`): its copies, conversions."""
        return self.state_dir / "work"

    @property
    def outbox_root(self) -> Path:
        """Where `faxd send` puts each job's files (`outbox/JOB`): its spool folder until
        the job is filed."""
        return self.state_dir / "outbox"

    def our_numbers(self) -> frozenset[str]:
        """Every number that is ours: senders, inbox routes and inbox numbers."""
        numbers = {f.sender for f in self.folders if f.sender}
        if self.inbox is not None:
            numbers.update(self.inbox.routes)
            numbers.update(self.inbox.numbers)
        return frozenset(numbers)


# -- channels: notices, deliveries and alerts --------------------------------------------

NOTIFY_EVENTS = ("failed", "delivered", "delayed", "requeued", "held")
# The events of a filed job: only their notices carry its report or document.
FINAL_NOTICE_EVENTS = ("failed", "delivered")
ALERT_EVENTS = ("auth", "delayed", "inbox_stalled", "delivery_failed", "disk_low")


@dataclass(frozen=True)
class SmtpChannel:
    name: str
    host: str
    sender: str  # the From header, e.g. "Office fax <fax@example.com>"
    port: int = 587
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: Secret | None = None
    ca_bundle: Path | None = None
    password_file: Path | None = None  # where password came from, for check-config
    timeout: float = 30.0
    give_up_after: float = 86400.0
    retry_max: float = 300.0  # the longest pause between two attempts
    type: Literal["smtp"] = "smtp"


@dataclass(frozen=True)
class PrintChannel:
    name: str
    queue: str
    timeout: float = 600.0  # how long a job may sit in the queue before it counts as failed
    give_up_after: float = 86400.0
    retry_max: float = 300.0  # the longest pause between two attempts
    type: Literal["print"] = "print"


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    url: str
    secret: Secret | None = None
    ca_bundle: Path | None = None
    secret_file: Path | None = None  # where secret came from, for check-config
    timeout: float = 30.0
    give_up_after: float = 86400.0
    retry_max: float = 300.0  # the longest pause between two attempts
    type: Literal["webhook"] = "webhook"


@dataclass(frozen=True)
class CommandChannel:
    name: str
    argv: tuple[str, ...]
    timeout: float = 60.0
    give_up_after: float = 86400.0
    retry_max: float = 300.0  # the longest pause between two attempts
    type: Literal["command"] = "command"


ChannelSettings = SmtpChannel | PrintChannel | WebhookChannel | CommandChannel


@dataclass(frozen=True)
class NotifyRule:
    on: tuple[str, ...]  # NOTIFY_EVENTS
    to: tuple[str, ...]  # targets: CHANNEL or CHANNEL:ADDRESS, `{owner}` not yet filled in
    attach: NoticeAttach = "report"


@dataclass(frozen=True)
class RouteRule:
    """An inbox route written as a mapping: only senders starting with `sender_prefix`."""

    path: Path
    sender_prefix: str | None = None
    deliver: tuple[str, ...] = ()
    attach: DeliveryAttach = "document"


@dataclass(frozen=True)
class AlertSettings:
    to: tuple[str, ...]
    on: tuple[str, ...] = ALERT_EVENTS
    inbox_stalled_after: float = 3600.0
    disk_free_min: int = 500 * 1024 * 1024  # bytes free in a spool or state folder
