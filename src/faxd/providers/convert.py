"""Conversion to PDF for providers that take few formats (Retarus: PDF, TIF, TXT, HTML),
and of PCX to PNG for Generic DOCS, whose MIME table has no type for PCX.

Images become PDF without loss: img2pdf embeds the pixels as they are (JPEG unchanged,
everything else as lossless Flate). Office documents go through LibreOffice when it is
installed; faxd does not render them itself."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import img2pdf
from PIL import Image

from faxd.core.names import shorten_to
from faxd.errors import RejectedError, TransientError
from faxd.host import contained
from faxd.host.bounded import bounded_command
from faxd.host.fsops import NotRegularFileError

IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "bmp", "pcx"})
OFFICE_EXTENSIONS = frozenset(
    {"doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf"}
)
OFFICE_TIMEOUT = 120.0
# Bounds on what one conversion may cost. Pillow decodes a whole image into memory: a
# 300 KB PNG can declare 13000 x 13000 pixels and take gigabytes. An A4 page scanned at
# 600 dpi is 35 million pixels; every frame of a GIF becomes a page.
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_FRAMES = 100
MAX_IMAGE_BYTES = 64 * 1024 * 1024
# LibreOffice runs in its own process: an address-space limit keeps one document from
# taking the machine's memory (it reserves much more than it uses, hence the margin).
OFFICE_MEMORY = 4 * 1024**3
MAX_OFFICE_BYTES = 64 * 1024 * 1024
# faxd checks the size itself before decoding (_bounded_image); Pillow's warning about the
# same images would only repeat that, outside the log's format.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_A4 = (img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))
# A fax page is A4 (or Letter); scale large images down onto it, never blow small ones up,
# and turn the page for landscape images.
_LAYOUT = img2pdf.get_layout_fun(_A4, fit=img2pdf.FitMode.shrink, auto_orient=True)

_INSTALL_HINT = {
    "xls": "libreoffice-calc-nogui",
    "xlsx": "libreoffice-calc-nogui",
    "ods": "libreoffice-calc-nogui",
    "ppt": "libreoffice-impress-nogui",
    "pptx": "libreoffice-impress-nogui",
    "odp": "libreoffice-impress-nogui",
}


def extension(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _bounded_image(source: Path) -> bytes:
    """The image's bytes, read without following a link, once its size in pixels and
    frames is known to be within the bounds (read from the header, before decoding)."""
    try:
        data = contained.read_file(source, MAX_IMAGE_BYTES, "image")
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            frames = int(getattr(image, "n_frames", 1))
    except (NotRegularFileError, OSError, ValueError, Image.DecompressionBombError) as exc:
        detail = str(exc) if isinstance(exc, NotRegularFileError) else "not a readable image"
        raise RejectedError(
            f"{source.name}: the image could not be converted ({detail}).",
            "Check that the file opens in an image viewer, or save it as PDF before sending.",
        ) from None
    if width * height > MAX_IMAGE_PIXELS:
        raise RejectedError(
            f"{source.name}: the image is {width} x {height} pixels, more than the"
            f" {MAX_IMAGE_PIXELS // 1_000_000} million faxd converts (an A4 page at 600 dpi"
            " is 35 million).",
            "Reduce its resolution (300 dpi is plenty for fax) or save it as PDF, and send"
            " it again.",
        )
    if frames > MAX_IMAGE_FRAMES:
        raise RejectedError(
            f"{source.name}: the image has {frames} frames, more than the"
            f" {MAX_IMAGE_FRAMES} pages faxd converts.",
            "Save it as PDF, and send it again.",
        )
    return data


def _flattened_png(source: bytes) -> bytes:
    """The image as a PNG img2pdf can embed: transparency laid onto white paper.

    img2pdf would keep alpha as a soft mask, which fax renderers may show as black."""
    with Image.open(io.BytesIO(source)) as opened:
        opened.load()
        image: Image.Image = opened
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("RGBA", "LA", "PA"):
            background = Image.new("RGB", image.size, "white")
            background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
            image = background
        elif image.mode not in ("1", "L", "RGB", "CMYK"):
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()


def _has_alpha(source: bytes) -> bool:
    with Image.open(io.BytesIO(source)) as image:
        return image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info
        )


def image_to_pdf(source: Path, dest: Path) -> None:
    """Write `source` (PNG, JPEG, GIF, BMP, PCX) as a PDF to `dest` without losing pixels."""
    data = _bounded_image(source)
    try:
        if _has_alpha(data):
            pdf = img2pdf.convert(_flattened_png(data), layout_fun=_LAYOUT)
        else:
            try:
                pdf = img2pdf.convert(data, layout_fun=_LAYOUT)
            except (img2pdf.ImageOpenError, img2pdf.UnsupportedColorspaceError, ValueError):
                # Colour spaces or bit depths img2pdf cannot embed directly: Pillow re-encodes.
                pdf = img2pdf.convert(_flattened_png(data), layout_fun=_LAYOUT)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RejectedError(
            f"{source.name}: the image could not be converted to PDF ({exc}).",
            "Check that the file opens in an image viewer, or save it as PDF before sending.",
        ) from exc
    try:
        _write_atomically(dest, pdf)
    except OSError as exc:
        raise TransientError(
            f"{source.name}: the converted PDF could not be written to {dest.parent}"
            f" ({exc.strerror or exc}).",
            "Check free space and permissions there; faxd tries again later.",
        ) from None


def image_to_png(source: Path, dest: Path) -> None:
    """Write `source` (any image Pillow reads, e.g. PCX) as a PNG to `dest`, losslessly."""
    data = _bounded_image(source)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image: Image.Image = opened
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
                image = image.convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RejectedError(
            f"{source.name}: the image could not be converted to PNG ({exc}).",
            "Check that the file opens in an image viewer, or save it as PNG or PDF before"
            " sending.",
        ) from exc
    try:
        _write_atomically(dest, buffer.getvalue())
    except OSError as exc:
        raise TransientError(
            f"{source.name}: the converted PNG could not be written to {dest.parent}"
            f" ({exc.strerror or exc}).",
            "Check free space and permissions there; faxd tries again later.",
        ) from None


def _write_atomically(dest: Path, data: bytes) -> None:
    # Never a half-written PDF under the final name: a crash leaves only a temp file.
    fd, tmp = tempfile.mkstemp(
        prefix=f".{shorten_to(dest.name, 200)}.", suffix=".tmp", dir=dest.parent
    )
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def find_soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def office_to_pdf(
    source: Path,
    dest: Path,
    *,
    profile_dir: Path | None = None,
    timeout: float = OFFICE_TIMEOUT,
) -> None:
    """Convert an office document to PDF at `dest` with LibreOffice.

    LibreOffice runs with its own profile so it neither collides with a desktop session
    nor needs a writable home directory."""
    ext = extension(source)
    soffice = find_soffice()
    if soffice is None:
        package = _INSTALL_HINT.get(ext, "libreoffice-writer-nogui")
        raise RejectedError(
            f"{source.name}: Retarus does not take .{ext} files and LibreOffice, which faxd"
            " uses to convert them to PDF, is not installed.",
            f"Install it (apt install {package}) or save the document as PDF before sending.",
        )
    # A fresh directory beside dest: LibreOffice names its output after the input's stem,
    # and the rename into place stays on one filesystem.
    target = Path(tempfile.mkdtemp(prefix=".soffice-", dir=dest.parent))
    try:
        # LibreOffice opens files by name and follows links: it gets a private copy, read
        # here without following any.
        inputs = target / "in"
        inputs.mkdir()
        private = inputs / source.name
        try:
            private.write_bytes(contained.read_file(source, MAX_OFFICE_BYTES, "document"))
        except NotRegularFileError as exc:
            raise RejectedError(str(exc), "Drop the document again as a regular file.") from None
        _run_soffice(soffice, private, target, profile_dir or target / "profile", timeout)
        os.replace(target / f"{source.stem}.pdf", dest)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _run_soffice(soffice: str, source: Path, target: Path, profile: Path, timeout: float) -> None:
    command = [
        soffice,
        f"-env:UserInstallation={profile.resolve().as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        "pdf",
        "--outdir",
        str(target),
        str(source.resolve()),
    ]
    env = {**os.environ, "HOME": str(profile)}
    try:
        completed = subprocess.run(
            bounded_command(command, memory=OFFICE_MEMORY, cpu_seconds=timeout),
            capture_output=True,
            timeout=timeout,
            check=False,
            env=env,
            text=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise RejectedError(
            f"{source.name}: LibreOffice did not finish converting it to PDF within"
            f" {timeout:.0f} seconds.",
            "Save the document as PDF before sending.",
        ) from exc
    except OSError as exc:
        raise RejectedError(
            f"{source.name}: LibreOffice could not be started to convert it to PDF ({exc}).",
            "Check the LibreOffice installation, or save the document as PDF before sending.",
        ) from exc
    produced = target / f"{source.stem}.pdf"
    if completed.returncode != 0 or not produced.is_file() or produced.stat().st_size == 0:
        detail = (completed.stderr or completed.stdout or "").strip().splitlines()
        said = f" ({detail[-1]})" if detail else ""
        raise RejectedError(
            f"{source.name}: LibreOffice could not convert it to PDF{said}.",
            "Open it in an office program to check it, or save it as PDF before sending.",
        )
