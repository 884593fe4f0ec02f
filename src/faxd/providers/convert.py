"""Conversion to PDF for providers that take few formats (Retarus: PDF, TIF, TXT, HTML).

Images become PDF without loss: img2pdf embeds the pixels as they are (JPEG unchanged,
everything else as lossless Flate). Office documents go through LibreOffice when it is
installed; faxd does not render them itself."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import img2pdf
from PIL import Image

from faxd.errors import RejectedError, TransientError

IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "bmp"})
OFFICE_EXTENSIONS = frozenset(
    {"doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf"}
)
OFFICE_TIMEOUT = 120.0

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


def _flattened_png(source: Path) -> bytes:
    """The image as a PNG img2pdf can embed: transparency laid onto white paper.

    img2pdf would keep alpha as a soft mask, which fax renderers may show as black."""
    with Image.open(source) as opened:
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


def _has_alpha(source: Path) -> bool:
    with Image.open(source) as image:
        return image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info
        )


def image_to_pdf(source: Path, dest: Path) -> None:
    """Write `source` (PNG, JPEG, GIF, BMP) as a PDF to `dest` without losing pixels."""
    try:
        if _has_alpha(source):
            pdf = img2pdf.convert(_flattened_png(source), layout_fun=_LAYOUT)
        else:
            try:
                pdf = img2pdf.convert(str(source), layout_fun=_LAYOUT)
            except (img2pdf.ImageOpenError, img2pdf.UnsupportedColorspaceError, ValueError):
                # Colour spaces or bit depths img2pdf cannot embed directly: Pillow re-encodes.
                pdf = img2pdf.convert(_flattened_png(source), layout_fun=_LAYOUT)
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


def _write_atomically(dest: Path, data: bytes) -> None:
    # Never a half-written PDF under the final name: a crash leaves only a temp file.
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
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
        _run_soffice(soffice, source, target, profile_dir or target / "profile", timeout)
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
            command, capture_output=True, timeout=timeout, check=False, env=env, text=True
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
