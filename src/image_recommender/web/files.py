"""What the web app serves as a file, and how: the content type a file's first bytes name
(nothing else is served), byte ranges, streamed chunks, and zips spooled to disk within a budget.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import HTTPException
from PIL import Image

from image_recommender.catalog.rows import ImageRow
from image_recommender.export import ranked_name
from image_recommender.images.raw import may_be_raw

# Entries from this size on are written with ZIP64 sizes (plain zip sizes stop at 4 GiB; Python
# asks to be told in advance for entries written as streams).
ZIP64_FROM = 1 << 31


# What a served file's first bytes say it is; nothing else is served.
IMAGE_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "HEIF": "image/heic",
    "AVIF": "image/avif",
}


def ascii_name(name: str) -> str:
    """A folder name fit for a Content-Disposition header: no quotes, no line breaks, ASCII."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "images"


def image_type(handle: Any) -> str | None:
    """The content type of the image format the file's header names, or None if it is no image."""
    try:
        with Image.open(handle) as picture:
            kind = picture.format
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        handle.seek(0)
        return "application/octet-stream" if may_be_raw(handle.read(16)) else None  # a CR3, RAF, ORF, RW2
    finally:
        handle.seek(0)
    return IMAGE_TYPES.get(kind or "")


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """One range of a ``Range`` header as (first, last) byte, inclusive; None when it is malformed,
    asks for several ranges, or lies outside the file."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or not (match[1] or match[2]) or size == 0:
        return None
    if not match[1]:  # the last N bytes
        return max(0, size - int(match[2])), size - 1
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    return (first, last) if first <= last else None


def file_span(handle: Any, first: int, length: int) -> Iterator[bytes]:
    """``length`` bytes from ``first`` of the checked handle, a MiB at a time."""
    with handle:
        descriptor = handle.fileno()
        while length > 0 and (chunk := os.pread(descriptor, min(1 << 20, length), first)):
            yield chunk
            first += len(chunk)
            length -= len(chunk)


def video_type(handle: Any) -> str | None:
    """The content type of the video container the file's header names, or None if it is none."""
    head = handle.read(64)
    handle.seek(0)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "video/quicktime" if brand == b"qt  " else "video/3gpp" if brand.startswith(b"3g") else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None


def chunks(handle: Any, size: int = 1 << 20, done: Callable[[], None] | None = None) -> Iterator[bytes]:
    try:
        with handle:
            while chunk := handle.read(size):
                yield chunk
    finally:
        if done is not None:
            done()


class Budget:
    """Bytes that requests in flight may hold together (the zips being spooled to disk)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def reserve(self, amount: int) -> bool:
        with self._lock:
            if self.held + amount > self.limit:
                return False
            self.held += amount
            return True

    def release(self, amount: int) -> None:
        with self._lock:
            self.held -= amount


def _zip_time(info: os.stat_result) -> tuple[int, int, int, int, int, int]:
    """The file's modification time as a zip entry holds it (local time, 1980 to 2107: zip's range)."""
    try:
        taken = time.localtime(info.st_mtime)[:6]
    except (OverflowError, OSError, ValueError):
        return (1980, 1, 1, 0, 0, 0)
    return max(min(taken, (2107, 12, 31, 23, 59, 58)), (1980, 1, 1, 0, 0, 0))


def zipped(
    checked: list[tuple[ImageRow, Path, os.stat_result]],
    opened_image: Callable[[ImageRow, Path], tuple[BinaryIO, os.stat_result, str]],
) -> Any:
    """A spooled zip of these checked files (ZIP64 where a file needs it), each opened again and
    copied only if it is still the file checked, and only the bytes checked."""
    archive = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115 - the response closes it
    changed = None
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as bundle:
        for rank, (image, path, before) in enumerate(checked, start=1):
            handle, info, _ = opened_image(image, path)
            with handle:
                if (info.st_dev, info.st_ino, info.st_size) != (before.st_dev, before.st_ino, before.st_size):
                    changed = image
                    break
                entry_info = zipfile.ZipInfo(ranked_name(rank, Path(image.path), len(checked)), _zip_time(before))
                with bundle.open(entry_info, "w", force_zip64=before.st_size >= ZIP64_FROM) as entry:
                    left = before.st_size
                    while left and (chunk := handle.read(min(left, 1 << 20))):
                        entry.write(chunk)
                        left -= len(chunk)
    if changed is not None:
        archive.close()
        raise HTTPException(409, f"image {changed.id}: {changed.path} changed while it was being zipped; try again")
    return archive
