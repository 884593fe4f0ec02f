"""Helpers for the records tests: documents to file, jobs filed in a real journal, and a
look at a drawn PDF through poppler (pdftoppm, pdftotext), as a reader would see it."""

from __future__ import annotations

import contextlib
import html
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from faxd.clock import FakeClock
from faxd.core.job_payload import JobOptions
from faxd.core.outbox_payload import DeliveryPayload, received_subject
from faxd.core.received_meta import ReceivedMeta
from faxd.core.transitions import TxUpdate
from faxd.host.fsops import file_sha256
from faxd.model import JobState, Method, TxState
from faxd.notices.plan import row_id
from faxd.outbound.archive import REPORT_KEY
from faxd.records.report_pdf import THUMB_BOX
from faxd.settings import RecordsSettings, RetentionSettings, Settings
from faxd.store.inbox_ledger import InboxLedger
from faxd.store.journal import Journal, NewJob
from faxd.store.outbox import NewDelivery
from tests.settings_helpers import bare_settings, folder_settings

SENDER = "+4612345678"
DPI = 60


def page_image(size: tuple[int, int] = (595, 842)) -> Image.Image:
    """A white page with a black block at the top: easy to find in a thumbnail."""
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).rectangle((40, 40, size[0] - 40, size[1] // 3), fill=0)
    return image


def write_pdf(path: Path, pages: int = 2) -> Path:
    images = [page_image() for _ in range(pages)]
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return path


def write_tiff(path: Path, pages: int = 3) -> Path:
    images = [page_image((800, 1100)) for _ in range(pages)]
    images[0].save(path, "TIFF", save_all=True, append_images=images[1:])
    return path


def settings_for(
    root: Path,
    retention: RetentionSettings | None = None,
    *,
    station: str | None = "Reception",
    report_pdf: bool = True,
) -> Settings:
    folder = folder_settings(
        root / "out", root, sender=SENDER, station_name=station, report_pdf=report_pdf
    )
    return bare_settings(
        root / "state",
        source=root / "faxd.yaml",
        folders=(folder,),
        records=RecordsSettings(path=root / "records", retention=retention or RetentionSettings()),
    )


def file_job(
    journal: Journal,
    settings: Settings,
    clock: FakeClock,
    source: Path,
    results: Sequence[bool],
    *,
    job_id: str,
    reference: str | None = "Invoice 4711",
    under: str | None = None,
    filed: bool = True,
) -> Path:
    """Record a job for `source` (already in the spool folder) as the engine would, move
    it to sent/ or failed/ (into its subfolder `under`) with a YAML report, and commit it
    as filed. Not `filed`: finished, and left for `archive_job` (filing was held up)."""
    folder = settings.folders[0]
    numbers = [f"+4681234567{i}" for i in range(len(results))]
    now = clock.time()
    journal.create_job(
        NewJob(
            id=job_id,
            folder=str(folder.path),
            rel_path=source.name,
            path=str(source),
            sidecar=None,
            attachments=(),
            files=(),
            provider="docs",
            sender=folder.sender,
            dft=True,
            reference=reference,
            rule="subfolder",
            options=JobOptions(
                sent_dir=str(folder.sent_dir),
                failed_dir=str(folder.failed_dir),
                station_name=folder.station_name,
                report_pdf=folder.report_pdf,
            ),
            ino=None,
            received_at=now,
            numbers=numbers,
        )
    )
    for idx, ok in enumerate(results):
        journal.apply(job_id, idx, TxUpdate(state=TxState.SUBMITTING, updated_at=now))
        journal.apply(
            job_id,
            idx,
            TxUpdate(
                state=TxState.SUBMITTED,
                remote_id=f"remote-{job_id}-{idx}",
                method=Method.DFT if idx % 2 == 0 else Method.FAX,
                submitted_at=now,
                attempts=1,
                updated_at=now,
            ),
        )
        journal.apply(
            job_id,
            idx,
            TxUpdate(
                state=TxState.DELIVERED if ok else TxState.FAILED,
                status="Received" if ok else "Busy",
                error=None if ok else "the line was busy eight times",
                updated_at=now + 30,
            ),
        )
    delivered = all(results)
    journal.set_job_state(
        job_id, JobState.DELIVERED if delivered else JobState.FAILED, finished_at=now + 30
    )
    if not filed:
        return source
    return archive_job(journal, settings, source, job_id=job_id, under=under, when=now + 31)


def archive_job(
    journal: Journal,
    settings: Settings,
    source: Path,
    *,
    job_id: str,
    under: str | None = None,
    when: float,
) -> Path:
    """File a finished job as the archiver would: its document and a YAML report moved to
    sent/ or failed/ (into `under`), committed as filed at `when`."""
    folder = settings.folders[0]
    job = journal.job(job_id)
    assert job is not None
    delivered = job.state == JobState.DELIVERED
    dest = folder.sent_dir if delivered else folder.failed_dir
    if under is not None:
        dest = dest / under
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / source.name
    report = dest / f"{source.name}.report.yaml"
    journal.set_archive_plan(job_id, {str(source): str(target), REPORT_KEY: str(report)})
    source.rename(target)
    report.write_text("result: x\n", encoding="utf-8")
    journal.mark_archived(job_id, str(target), when)
    return target


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_text_page(pdf: Path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@dataclass(frozen=True)
class Word:
    """A word as poppler places it: its box in mm from the page's top left corner."""

    text: str
    left: float
    top: float
    right: float
    bottom: float


_PAGE_OR_WORD = re.compile(
    r'<page |<word xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" yMax="([0-9.]+)">'
    r"([^<]*)</word>"
)


def pdf_words(pdf: Path) -> list[list[Word]]:
    """Each page's words with their boxes (`pdftotext -bbox`). poppler leaves out a word
    drawn off the page, so a row drawn below the edge is missing here too."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    mm = 25.4 / 72
    pages: list[list[Word]] = []
    for match in _PAGE_OR_WORD.finditer(out):
        if match.group(0) == "<page ":
            pages.append([])
            continue
        left, top, right, bottom = (float(v) * mm for v in match.groups()[:4])
        pages[-1].append(Word(html.unescape(match.group(5)), left, top, right, bottom))
    return pages


def render(pdf: Path, tmp: Path) -> list[Image.Image]:
    prefix = tmp / f"render-{pdf.stem}"
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", str(pdf), str(prefix)], check=True)
    return [Image.open(p).convert("L") for p in sorted(tmp.glob(f"{prefix.name}*.png"))]


def thumbnail_region(page: Image.Image) -> Image.Image:
    """The inside of the report's first-page box (its border left out)."""
    x, y, w, h = THUMB_BOX
    px = DPI / 25.4
    inset = 2.0
    box = (x + inset, y + inset, x + w - inset, y + h - inset)
    return page.crop(tuple(round(v * px) for v in box))  # type: ignore[arg-type]


def dark_share(image: Image.Image) -> float:
    histogram = image.histogram()
    dark = sum(histogram[:128])
    return dark / max(1, image.width * image.height)


def record_received(
    journal: Journal,
    inbox: Path,
    sender: str,
    delivered_at: float,
    *,
    pages: int = 1,
    deliver: Sequence[str] = (),
) -> Path:
    """A received document as the poller leaves one: a PDF of `pages` pages in `inbox`,
    its metadata file, and its journal rows, delivered at `delivered_at`, with a delivery
    to each target of `deliver` queued in the outbox."""
    inbox.mkdir(parents=True, exist_ok=True)
    path = write_pdf(inbox / f"20261119-100000_{sender[1:]}_scan.pdf", pages=pages)
    (inbox / ".meta").mkdir(exist_ok=True)
    meta_path = inbox / ".meta" / f"{path.name}.yaml"
    meta_path.write_text("id: r1\n", encoding="utf-8")
    meta = ReceivedMeta(
        remote_id="r1",
        file_id="f1",
        original_name="scan.pdf",
        sender=sender,
        recipient=SENDER,
        time="2026-11-19T10:00:00+01:00",
        type="fax",
        status="Received",
        provider="docs",
    )
    ledger = InboxLedger(journal, "docs")
    ledger.plan("r1", "f1", path, file_sha256(path), path.stat().st_size, meta, delivered_at)
    document = DeliveryPayload(
        path=str(path), number=SENDER, sender=sender, received_id="r1", meta_path=str(meta_path)
    )
    rows = [
        NewDelivery(
            id=row_id("d", received_subject("r1", "f1"), index),
            kind="delivery",
            event="received",
            target=target,
            created_at=delivered_at,
            subject=received_subject("r1", "f1"),
            payload=document,
        )
        for index, target in enumerate(deliver)
    ]
    ledger.deliver("r1", "f1", delivered_at, files_in_document=1, queue_delete=False, outbox=rows)
    return path


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` as a share mounted read-only: a bind mount for root (who writes whatever
    the mode says), the mode 0555 for anyone else."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], check=False).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
