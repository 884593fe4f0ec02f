"""Intake: from candidate paths to journaled jobs.

Candidates come from the watcher, the start-up scan and the periodic rescan. A path is
tracked until it has been still for `settle` seconds (and a sidecar had its chance to
arrive), then addressed, checked and recorded as a job — or failed at once with a report
when it has no valid recipient or the provider would refuse it."""

from __future__ import annotations

import contextlib
import heapq
import os
import queue
import shutil
import stat
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import structlog

from faxd.clock import Clock
from faxd.core.addressing import parse_number, resolve_address
from faxd.core.io_errors import explain_os_error
from faxd.core.misdial import Verdict
from faxd.core.names import fits_name_max, is_ignored_name, safe_component
from faxd.core.preflight import FileFacts, check_files, mime_for_upload
from faxd.core.readiness import Snapshot, Track, observe, ready_at, touched
from faxd.core.sidecar import Sidecar, effective_retarus, parse_sidecar_bytes, sidecar_names
from faxd.errors import AddressError, FaxdError
from faxd.host import contained, fsops
from faxd.outbound.archive import Archiver
from faxd.notices.owner import notify_plan
from faxd.notices.plan import job_notices
from faxd.outbound.recipient_safety import Book, held_job, screen
from faxd.outbound.watcher import Change
from faxd.printing.print_input import PrintInput, examine
from faxd.providers.base import Sender
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal, NewJob

log = structlog.get_logger("faxd.outbound.intake")

SIDECAR_SUFFIXES = (".yaml", ".yml")
SIDECAR_CAP = 64 * 1024  # a sidecar is a few lines; more is not a sidecar
SNAPSHOT_CAP = 64 * 1024 * 1024  # a print file may be larger than the PDF it becomes


def upload_name(name: str) -> str:
    """The name the provider sees: as on disk, unless it holds bytes that are not UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return safe_component(name)
    return name


def new_job_id(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


@dataclass
class Decision:
    """What addressing and checking made of a ready document."""

    job: NewJob
    problems: list[str]
    held: list[Verdict] = field(default_factory=list)  # the misdial guard's reasons to hold


class Intake:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        senders: Mapping[str, Sender],
        archiver: Archiver,
        clock: Clock,
        on_job: Callable[[], None],
    ) -> None:
        self.changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
        self._journal = journal
        self._senders = senders
        self._archiver = archiver
        self._clock = clock
        self._on_job = on_job
        self._tracks: dict[Path, Track] = {}
        self._heap: list[tuple[float, int, Path]] = []
        self._seq = 0
        self._held: set[str] = journal.active_paths()
        self._lock = threading.Lock()
        self._last_rescan: dict[Path, float] = {}
        self._ignored_logged: set[Path] = set()
        # Sidecars seen per folder, and their `attach:` names per version: an attachment
        # check that lists the folder for every document is O(n²) with 10,000 files.
        self._sidecars: dict[Path, set[Path]] = {}
        self._attach_cache: dict[Path, tuple[tuple[int, int, int], frozenset[str]]] = {}
        self.configure(settings)

    # -- configuration -----------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        """(Re)load the folder list; tracks of removed folders are dropped."""
        with self._lock:
            self._settings = settings
            self._folders: dict[Path, FolderSettings] = {f.path: f for f in settings.folders}
            excluded: set[Path] = set()
            for f in settings.folders:
                excluded.update({f.sent_dir, f.failed_dir, f.hold_folder})
            if settings.inbox is not None:
                excluded.add(settings.inbox.path)
                excluded.update(settings.inbox.routes.values())
            excluded.add(settings.state_dir)
            self._excluded = frozenset(excluded)
            self._book = Book.from_settings(settings)
            for path in [p for p in self._tracks if self._folder_of(p) is None]:
                del self._tracks[path]

    def _folder_of(self, path: Path) -> FolderSettings | None:
        for root, folder in self._folders.items():
            if path.is_relative_to(root):
                return folder
        return None

    def skip_dir(self, path: Path) -> bool:
        return path in self._excluded or path.name.startswith(".")

    def _skipped(self, folder: FolderSettings, path: Path) -> bool:
        """SPEC 1.1: names never picked up, and our own output trees."""
        rel = path.relative_to(folder.path)
        if any(part.startswith((".", "~")) for part in rel.parts[:-1]):
            return True
        if any(path.is_relative_to(x) for x in self._excluded):
            return True
        return is_ignored_name(path.name)

    # -- feeding -----------------------------------------------------------------------

    def scan(self, root: Path) -> int:
        """Queue every file below root (start-up, rescans, new subfolders)."""
        files = fsops.walk_files(root, self.skip_dir)
        # Sidecars first: every document of the scan is then checked against all of them
        # (`_attachment_owner`), however many batches the queue takes.
        for path in sorted(files, key=lambda p: not p.name.endswith(SIDECAR_SUFFIXES)):
            self.changes.put(Change(root, path, "file"))
        self._last_rescan[root] = self._clock.monotonic()
        return len(files)

    def pending(self) -> int:
        return len(self._tracks)

    # -- the loop ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.step(stop)

    def step(self, stop: threading.Event | None = None, max_wait: float = 0.5) -> None:
        timeout = self._until_next_due(max_wait)
        try:
            change: Change | None = self.changes.get(timeout=timeout)
        except queue.Empty:
            change = None
        batch = 0
        while change is not None:
            self._handle(change, scanned=False)
            batch += 1
            if batch >= 500 or (stop is not None and stop.is_set()):
                break
            try:
                change = self.changes.get_nowait()
            except queue.Empty:
                change = None
        self._process_due(stop)
        self._rescan_if_due()

    def _until_next_due(self, max_wait: float) -> float:
        if not self._heap:
            return max_wait
        return max(0.0, min(max_wait, self._heap[0][0] - self._clock.time()))

    def _rescan_if_due(self) -> None:
        now = self._clock.monotonic()
        for root, folder in list(self._folders.items()):
            last = self._last_rescan.get(root)
            if last is None or now - last >= folder.rescan_interval:
                if not root.is_dir():
                    log.warning(
                        "spool folder is missing; jobs are kept and it is rescanned later",
                        folder=str(root),
                    )
                    self._last_rescan[root] = now
                    continue
                self.scan(root)

    def _push(self, path: Path, when: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, path))

    def _handle(self, change: Change, *, scanned: bool) -> None:
        folder = self._folder_of(change.path)
        if folder is None:
            return
        if change.kind == "dir":
            if not self.skip_dir(change.path) and not self._skipped(folder, change.path):
                # A file written right after its folder was created may precede the watch.
                self.scan(change.path)
            return
        path = change.path
        if path.name.endswith(SIDECAR_SUFFIXES):
            self._sidecar_arrived(path)
            return
        if self._skipped(folder, path) or str(path) in self._held:
            return
        try:
            st = path.lstat()
        except OSError:
            self._tracks.pop(path, None)
            return
        if not stat.S_ISREG(st.st_mode):
            if path not in self._ignored_logged:
                self._ignored_logged.add(path)
                log.info("not a regular file; ignored", document=str(path))
            return
        now = self._clock.time()
        snap = Snapshot(st.st_size, st.st_mtime, st.st_ino)
        track = observe(self._tracks.get(path), snap, now)
        if not scanned and path in self._tracks:
            track = touched(track, now)
        self._tracks[path] = track
        self._push(path, self._ready_time(folder, path, track))

    def _sidecar_arrived(self, sidecar: Path) -> None:
        self._sidecars.setdefault(sidecar.parent, set()).add(sidecar)
        self._attach_cache.pop(sidecar, None)  # it may have been rewritten in place
        document = sidecar.with_suffix("")
        track = self._tracks.get(document)
        folder = self._folder_of(document)
        if track is not None and folder is not None:
            self._push(document, self._ready_time(folder, document, track))

    def _sidecar_path(self, path: Path) -> Path | None:
        for name in sidecar_names(path.name):
            if not fits_name_max(name):
                continue  # a document name near NAME_MAX cannot have a sidecar
            candidate = path.with_name(name)
            # lexists: a sidecar that is a link is still the document's sidecar, and refused.
            if os.path.lexists(candidate):
                return candidate
        return None

    def _ready_time(self, folder: FolderSettings, path: Path, track: Track) -> float:
        sidecar = self._sidecar_path(path)
        when = ready_at(track, folder.settle, folder.sidecar_wait, sidecar is not None)
        if sidecar is not None:
            with contextlib.suppress(OSError):
                when = max(when, sidecar.lstat().st_mtime + folder.settle)
        return when

    def _process_due(self, stop: threading.Event | None) -> None:
        now = self._clock.time()
        while self._heap and self._heap[0][0] <= now:
            if stop is not None and stop.is_set():
                return
            _, _, path = heapq.heappop(self._heap)
            track = self._tracks.get(path)
            folder = self._folder_of(path)
            if track is None or folder is None:
                continue
            try:
                st = path.lstat()
            except OSError:
                del self._tracks[path]
                continue
            if not stat.S_ISREG(st.st_mode):
                del self._tracks[path]  # swapped for a link, FIFO or folder: never followed
                log.info("not a regular file; ignored", document=str(path))
                continue
            track = observe(track, Snapshot(st.st_size, st.st_mtime, st.st_ino), now)
            self._tracks[path] = track
            due = self._ready_time(folder, path, track)
            if due > now:
                self._push(path, due)
                continue
            del self._tracks[path]
            try:
                self._take(folder, path, track)
            except contained.ChangedError:
                # Written to while faxd copied it: it had not settled after all.
                self._tracks[path] = Track(track.snap, now, track.first_seen)
                self._push(path, now + folder.settle)
            except Exception:  # a bug must cost one document a retry, never the daemon
                log.exception(
                    "could not take the document; it will be tried again", document=str(path)
                )
                self._tracks[path] = track
                self._push(path, now + 30)
            now = self._clock.time()

    # -- deciding ----------------------------------------------------------------------

    def _attachment_owner(self, path: Path) -> Path | None:
        """A sidecar in the same folder that names this file under `attach:`.

        Only sidecars the scans and the watcher reported are read (scans queue sidecars
        before documents), so the cost follows the sidecars, not the folder's size."""
        known = self._sidecars.get(path.parent)
        if not known:
            return None
        for sidecar in list(known):
            if sidecar.with_suffix("") == path:
                continue
            attach = self._attach_names(sidecar)
            if attach is None:
                known.discard(sidecar)
            elif path.name in attach:
                return sidecar.with_suffix("")
        return None

    def _attach_names(self, sidecar: Path) -> frozenset[str] | None:
        """The names a sidecar attaches (empty when unreadable); None when it is gone."""
        try:
            st = sidecar.lstat()
        except OSError:
            self._attach_cache.pop(sidecar, None)
            return None
        version = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._attach_cache.get(sidecar)
        if cached is not None and cached[0] == version:
            return cached[1]
        folder = self._folder_of(sidecar)
        try:
            if folder is None:
                raise FileNotFoundError(sidecar)
            data, _ = contained.read_beneath(folder.path, sidecar, SIDECAR_CAP, "sidecar")
            names = frozenset(parse_sidecar_bytes(data, sidecar.name).attach)
        except (FaxdError, OSError, UnicodeDecodeError):
            names = frozenset()
        self._attach_cache[sidecar] = (version, names)
        return names

    def _take(self, folder: FolderSettings, path: Path, track: Track) -> None:
        if str(path) in self._held:
            return
        owner = self._attachment_owner(path)
        if owner is not None and owner.exists():
            log.debug("attachment of another document; not sent on its own", document=str(path))
            return
        job_id = new_job_id(self._clock.time())
        try:
            decision = self.decide(folder, path, track.first_seen, job_id=job_id)
        except BaseException:
            # Snapshots of a job that was never recorded belong to nobody.
            shutil.rmtree(self.snapshot_dir(job_id).parent, ignore_errors=True)
            raise
        job = decision.job
        if decision.problems:
            job = NewJob(**{**job.__dict__, "error": " ".join(decision.problems)})
        elif decision.held:
            job = held_job(job, decision.held)
        event = ("held" if job.hold else "failed") if job.error else None
        notices = job_notices(job.id, job.options, event, self._clock.time()) if event else []
        self._journal.create_job(job, outbox=notices)
        self._held.update({job.path, *([job.sidecar] if job.sidecar else []), *job.attachments})
        bound = log.bind(job=job.id, document=job.rel_path, provider=job.provider)
        if job.error:
            what = "document held" if job.hold else "document refused before sending"
            bound.warning(what, error=job.error)
            stored = self._journal.job(job.id)
            if stored is not None and not self._archiver.try_archive(stored):
                return  # kept held, so not taken again; the daemon tries filing it later
            self.release(job.id)
        else:
            bound.info("document queued", recipients=list(job.numbers), rule=job.rule)
            self._on_job()

    def release(self, job_id: str) -> None:
        """Forget the paths of an archived job, so a new file at the same name is new work."""
        job = self._journal.job(job_id)
        if job is not None:
            paths = {job.path, *([job.sidecar] if job.sidecar else []), *job.attachments}
            self._held.difference_update(paths)
            # A file at those names that is not the one faxd took was written after it took
            # the job (filing left it in place): a new document, taken now rather than at
            # the next rescan.
            root = Path(job.folder)
            sources = job.options.get("sources", {})
            for left in paths:
                taken = sources.get(left)
                try:
                    st = os.lstat(left)
                except OSError:
                    continue
                changed = not contained.Identity.from_json(taken).unchanged(st) if taken else False
                if changed and stat.S_ISREG(st.st_mode):
                    self.changes.put(Change(root, Path(left), "file"))

    def snapshot_dir(self, job_id: str) -> Path:
        """Where a job's copies of its spool files live until it is filed."""
        return self._settings.state_dir / "work" / job_id / "snap"

    def decide(
        self, folder: FolderSettings, path: Path, first_seen: float, job_id: str | None = None
    ) -> Decision:
        """Address and check a ready document; every problem is collected, none raised
        (ChangedError: the document is being written to, it has not settled).

        The document, its sidecar and attachments are copied into the job's folder under
        state_dir first, each through one descriptor that follows no link: everything
        after (addressing, checks, conversion, upload, filing) uses those copies, so what
        is sent and filed is exactly what was checked, whatever happens in the spool."""
        settings = self._settings
        now = self._clock.time()
        job_id = job_id or new_job_id(now)
        snap_dir = self.snapshot_dir(job_id)
        # spool path -> what it was when taken, and the copy: filing compares and files it.
        sources: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        rel = PurePosixPath(path.relative_to(folder.path).as_posix())
        sidecar_path = self._sidecar_path(path)
        sidecar: Sidecar | None = None
        if sidecar_path is not None:
            try:
                data, identity = contained.read_beneath(
                    folder.path, sidecar_path, SIDECAR_CAP, "sidecar"
                )
                kept = snap_dir.parent / "sidecar" / sidecar_path.name
                contained.write_new(kept, data)
                sources[str(sidecar_path)] = {**identity.to_json(), "snapshot": str(kept)}
                sidecar = parse_sidecar_bytes(data, sidecar_path.name)
            except fsops.NotRegularFileError as exc:
                problems.append(
                    f"{exc} Replace the sidecar with a regular file of a few lines, then move "
                    "the document back into the spool folder."
                )
            except OSError as exc:
                problems.append(explain_os_error(exc, sidecar_path.name))
            except (AddressError, UnicodeDecodeError) as exc:
                problems.append(str(exc))
        document = self._snapshot(folder, path, snap_dir, sources, problems)
        provider = (sidecar.provider if sidecar and sidecar.provider else None) or folder.provider
        if provider not in self._senders:
            problems.append(
                f"{path.name}: provider '{provider}' is not configured "
                f"(known: {', '.join(sorted(self._senders))})."
            )
        numbers: tuple[str, ...] = ()
        rule: str | None = None
        # Print-to-fax (issue 6): clues from the file name, PJL and embedded codes, and a
        # converted or cleaned file to upload in place of the document.
        printed = (
            examine(
                folder,
                document,
                settings.state_dir / "work",
                addressed=sidecar_path is not None or len(rel.parts) > 1,
            )
            if document is not None
            else PrintInput()
        )
        problems.extend(printed.problems)
        for note in printed.notes:
            log.info("embedded codes not searched", document=str(path), reason=note)
        if not (sidecar_path is not None and sidecar is None):
            try:
                address = resolve_address(
                    rel, sidecar, folder.to, folder.region, settings.contacts, printed.clues
                )
                numbers, rule = address.numbers, address.rule
            except AddressError as exc:
                problems.append(str(exc))
        sender = folder.sender
        if sidecar is not None and sidecar.sender:
            try:
                sender = parse_number(sidecar.sender, folder.region, settings.contacts)
            except AddressError as exc:
                problems.append(str(exc))
        if sender is None:
            problems.append(
                "no sender number: set 'sender' for the folder or under 'defaults', "
                "or 'from' in the sidecar."
            )
        attachments: list[Path] = []
        if sidecar is not None:
            for name in sidecar.attach:
                attachments.append(path.parent / name)
        files: list[dict[str, Any]] = []
        facts: list[FileFacts] = []
        ino: int | None = sources[str(path)]["ino"] if str(path) in sources else None
        for index, file_path in enumerate([path, *attachments]):
            copy: Path | None = document
            if index > 0:
                copy = self._snapshot(
                    folder, file_path, snap_dir, sources, problems, attachment=True
                )
            if copy is None:
                continue
            upload = printed.upload if index == 0 and printed.upload else copy
            if index == 0 and printed.problems:
                continue  # it could not be converted; preflight would only repeat that
            try:
                sample = fsops.sample_regular(upload)
            except OSError as exc:
                problems.append(explain_os_error(exc, file_path.name))
                continue
            except FaxdError as exc:
                problems.append(str(exc))
                continue
            fact = FileFacts(name=upload.name, size=sample.size, head=sample.head, tail=sample.tail)
            facts.append(fact)
            files.append(
                {
                    "path": str(upload),
                    "name": upload_name(upload.name),
                    "mime": mime_for_upload(fact),
                    "size": sample.size,
                }
            )
        if provider in self._senders and facts:
            problems.extend(check_files(facts, self._senders[provider].limits))
        refusals, held = screen(folder, numbers, self._book, self._journal.known_among)
        problems.extend(refusals)
        allow_dft = folder.dft == "prefer"
        if sidecar is not None and sidecar.dft is not None:
            allow_dft = sidecar.dft
        options: dict[str, Any] = {
            "sent_dir": str(folder.sent_dir),
            "failed_dir": str(folder.failed_dir),
            "hold_dir": str(folder.hold_folder),
            "max_attempts": folder.max_attempts,
            "give_up_after": folder.give_up_after,
            "status_timeout": folder.status_timeout,
            "retarus": _retarus_options(folder, sidecar),
            "station_name": folder.station_name,  # for the report PDF, drawn after filing
            "report_pdf": folder.report_pdf,
            "sources": sources,
        }
        options.update(notify_plan(folder, sidecar, path, settings.channels, problems))
        job = NewJob(
            id=job_id,
            folder=str(folder.path),
            rel_path=str(rel),
            path=str(path),
            sidecar=str(sidecar_path) if sidecar_path else None,
            attachments=[str(a) for a in attachments if a.exists()],
            files=files,
            provider=provider,
            sender=sender,
            dft=allow_dft,
            reference=sidecar.reference if sidecar else None,
            rule=rule,
            options=options,
            ino=ino,
            received_at=min(now, first_seen),
            numbers=numbers or (),
        )
        return Decision(job=job, problems=problems, held=held)

    def _snapshot(
        self,
        folder: FolderSettings,
        path: Path,
        snap_dir: Path,
        sources: dict[str, dict[str, Any]],
        problems: list[str],
        *,
        attachment: bool = False,
    ) -> Path | None:
        """Copy a spool file into the job's folder (None, with a problem, when it cannot be)."""
        try:
            snap = contained.snapshot(folder.path, path, snap_dir / path.name, SNAPSHOT_CAP)
        except contained.ChangedError:
            raise
        except FileNotFoundError:
            if not attachment:
                raise contained.ChangedError(f"{path.name} is gone.") from None
            problems.append(f"{path.name}: named in the sidecar but not found beside it.")
            return None
        except fsops.NotRegularFileError as exc:
            problems.append(str(exc))
            return None
        except OSError as exc:
            problems.append(explain_os_error(exc, path.name))
            return None
        sources[str(path)] = {
            **snap.source.to_json(),
            "snapshot": str(snap.path),
            "sha256": snap.sha256,
        }
        return snap.path


def _retarus_options(folder: FolderSettings, sidecar: Sidecar | None) -> dict[str, Any]:
    # Key by key: a sidecar that sets one Retarus option keeps the folder's others.
    chosen = effective_retarus(folder.retarus, sidecar.retarus if sidecar is not None else None)
    return {k: v for k, v in chosen.__dict__.items() if v not in (None, {}, ())}
