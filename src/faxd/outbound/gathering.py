"""A ready document's facts, gathered for deciding (faxd.core.intake_decision).

The document, its sidecar and its attachments are copied into the job's work folder
first, each through one descriptor that follows no link: everything after (addressing,
checks, conversion, upload, filing) uses those copies, so what is sent and filed is
exactly what was checked, whatever happens in the spool. What cannot be read is a
problem in the facts, never an exception, except a document that is still changing
(contained.ChangedError: it is looked at again once it has settled)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import structlog

from faxd.config.sidecar import SidecarError, parse_sidecar_bytes
from faxd.core.intake_decision import GatheredFile, IntakeFacts
from faxd.core.io_errors import explain_os_error
from faxd.core.job_payload import JobFile, Source
from faxd.core.names import fits_name_max, safe_component
from faxd.core.preflight import FileFacts, mime_for_upload
from faxd.core.sidecar import Sidecar, sidecar_names
from faxd.errors import AddressError, FaxdError
from faxd.host import contained, fsops
from faxd.notices.owner import file_owner
from faxd.outbound.claims import Claims
from faxd.printing.print_input import PrintInput, examine
from faxd.settings import FolderSettings

log = structlog.get_logger("faxd.outbound.intake")

SIDECAR_CAP = 64 * 1024  # a sidecar is a few lines; more is not a sidecar
SNAPSHOT_CAP = 64 * 1024 * 1024  # a print file may be larger than the PDF it becomes


def upload_name(name: str) -> str:
    """The name the provider sees: as on disk, unless it holds bytes that are not UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return safe_component(name)
    return name


def sidecar_beside(path: Path) -> Path | None:
    """The sidecar next to `path` (`.yaml` before `.yml`), None when there is none."""
    for name in sidecar_names(path.name):
        if not fits_name_max(name):
            continue  # a document name near NAME_MAX cannot have a sidecar
        candidate = path.with_name(name)
        # lexists: a sidecar that is a link is still the document's sidecar, and refused.
        if os.path.lexists(candidate):
            return candidate
    return None


def gather(
    folder: FolderSettings,
    path: Path,
    *,
    job_id: str,
    work: Path,
    received_at: float,
    claims: Claims,
) -> IntakeFacts:
    """The facts of the ready document `path`, its copies made under `work` (the job's
    work folder). The attachments found free are reserved in `claims` for this take."""
    snap_dir = work / "snap"
    # spool path -> what it was when taken, and the copy: filing compares and files it.
    sources: dict[str, Source] = {}
    sidecar_problems: list[str] = []
    document_problems: list[str] = []
    file_problems: list[str] = []
    rel = PurePosixPath(path.relative_to(folder.path).as_posix())
    sidecar_path = sidecar_beside(path)
    sidecar: Sidecar | None = None
    attach: tuple[str, ...] = ()
    if sidecar_path is not None:
        sidecar, attach = _read_sidecar(folder, path, sidecar_path, work, sources, sidecar_problems)
    document = _snapshot(folder, path, snap_dir, sources, document_problems)
    # Print-to-fax: clues from the file name, PJL and embedded codes, and a converted
    # or cleaned file to upload in place of the document, in the job's work folder.
    printed = (
        examine(folder, document, work, addressed=sidecar_path is not None or len(rel.parts) > 1)
        if document is not None
        else PrintInput()
    )
    for note in printed.notes:
        log.info("embedded codes not searched", document=str(path), reason=note)
    attachments = []
    for name in attach:
        attached = path.parent / name
        if sidecar_beside(attached) is not None:
            file_problems.append(
                f"{name} has a sidecar of its own, so it is a document of its own, not an"
                " attachment; remove it from attach: or remove its sidecar."
            )
        else:
            attachments.append(attached)
    files: list[GatheredFile] = []
    for index, file_path in enumerate([path, *attachments]):
        copy: Path | None = document
        if index > 0:
            copy = _snapshot(folder, file_path, snap_dir, sources, file_problems, attachment=True)
        if copy is None:
            continue
        upload = printed.upload if index == 0 and printed.upload else copy
        if index == 0 and printed.problems:
            continue  # it could not be converted; preflight would only repeat that
        try:
            sample = fsops.sample_regular(upload)
        except OSError as exc:
            file_problems.append(explain_os_error(exc, file_path.name))
            continue
        except FaxdError as exc:
            file_problems.append(str(exc))
            continue
        fact = FileFacts(name=upload.name, size=sample.size, head=sample.head, tail=sample.tail)
        job_file = JobFile(
            str(upload), upload_name(upload.name), mime_for_upload(fact), sample.size
        )
        files.append(GatheredFile(job_file, fact))
    there = tuple(str(a) for a in attachments if a.exists())
    wanted = bool(folder.notify) or (sidecar is not None and bool(sidecar.notify))
    owner = file_owner(path) if wanted else None
    # Last, so nothing after it can fail: the free ones are this take's until it ends.
    claimed = claims.reserve_free(there)
    return IntakeFacts(
        job_id=job_id,
        path=str(path),
        rel=rel,
        received_at=received_at,
        sidecar_path=str(sidecar_path) if sidecar_path else None,
        sidecar=sidecar,
        clues=tuple(printed.clues),
        files=tuple(files),
        attachments=there,
        claimed=claimed,
        sources=sources,
        ino=sources[str(path)].ino if str(path) in sources else None,
        file_owner=owner,
        sidecar_problems=tuple(sidecar_problems),
        document_problems=tuple(document_problems),
        print_problems=tuple(printed.problems),
        file_problems=tuple(file_problems),
    )


def _read_sidecar(
    folder: FolderSettings,
    path: Path,
    sidecar_path: Path,
    work: Path,
    sources: dict[str, Source],
    problems: list[str],
) -> tuple[Sidecar | None, tuple[str, ...]]:
    """The sidecar, kept in the job's folder, and the attachments it names (also those of
    a sidecar that is refused: they are filed with the failed document, never sent alone)."""
    other = path.with_name(sidecar_names(path.name)[1])
    if other != sidecar_path and os.path.lexists(other):
        # Two sidecars that may say different things: neither is guessed at.
        problems.append(
            f"both {sidecar_path.name} and {other.name} are beside the document; keep"
            " the one that is right, remove the other, then move the document back."
        )
    try:
        data, identity = contained.read_beneath(
            folder.path, sidecar_path, SIDECAR_CAP, "sidecar", single_link=True
        )
        kept = work / "sidecar" / sidecar_path.name
        contained.write_new(kept, data)
        sources[str(sidecar_path)] = _source(identity, str(kept), None)
        sidecar = parse_sidecar_bytes(data, sidecar_path.name)
        return sidecar, sidecar.attach
    except fsops.NotRegularFileError as exc:
        problems.append(
            f"{exc} Replace the sidecar with a regular file of a few lines, then move "
            "the document back into the spool folder."
        )
    except OSError as exc:
        problems.append(explain_os_error(exc, sidecar_path.name))
    except (AddressError, UnicodeDecodeError) as exc:
        problems.append(str(exc))
        if isinstance(exc, SidecarError):
            return None, exc.attach
    return None, ()


def _snapshot(
    folder: FolderSettings,
    path: Path,
    snap_dir: Path,
    sources: dict[str, Source],
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
    sources[str(path)] = _source(snap.source, str(snap.path), snap.sha256)
    return snap.path


def _source(identity: contained.Identity, snapshot: str, sha256: str | None) -> Source:
    return Source(identity.dev, identity.ino, identity.size, identity.mtime_ns, snapshot, sha256)
