"""Read a file once, fingerprint its bytes, and decode it to an upright RGB picture.

Decoding is the CPU's bottleneck for large photos, so JPEGs are decoded with DCT-domain
downscaling (``Image.draft``) to the smallest scale that still covers the model's input.
JPEGs the draft cannot shrink can instead be decoded whole on the model's GPU
(``probe_whole_jpeg`` picks them out from the header alone).
Every failure becomes an ``ImageDecodeError`` carrying a short, human reason.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from image_recommender.errors import ImageDecodeError
from image_recommender.images.fingerprint import fingerprint_bytes
from image_recommender.images.raw import decode_raw, may_be_raw
from image_recommender.paths import handle_is_inside

# Pillow's own limit (~89 MP) would refuse real 100 MP camera files; above this many pixels
# (a warning we turn into an error) a file is treated as a decompression bomb.
MAX_PIXELS = 200_000_000
# JPEGs are DCT-downscaled to no less than this many times the model's input side: at 3x the
# preprocessed tensor stays within 0.33/255 mean absolute difference of a full decode on
# 8-20 MP photos (2x is faster but drifts to 2.4/255 on some); see docs/benchmarks.md.
DRAFT_MARGIN = 3
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Files larger than this are not read into memory (a 200 MP 8-bit RGB TIFF is about 600 MB).
MAX_FILE_BYTES = 1 << 30
# The most pixels a model's resize may produce from one picture (48 MB as 8-bit RGB): bounds
# how long a strip can be, relative to the model's input side (318:1 at 224 px).
MAX_RESIZED_PIXELS = 16_000_000
# JPEGs above this size stay on the CPU route: a 50 MP picture is 150 MB decoded on the GPU.
MAX_DEVICE_PIXELS = 50_000_000


def _register_heif() -> bool:
    """Teach Pillow HEIC/HEIF (and AVIF where Pillow lacks it) when pillow-heif is present."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    if hasattr(pillow_heif, "register_avif_opener"):
        pillow_heif.register_avif_opener()
    return True


HEIF_SUPPORTED = _register_heif()


@dataclass(frozen=True)
class FileBytes:
    """A file's content as read in one go, with what identifies it."""

    data: bytes
    fingerprint: str
    size: int
    mtime_ns: int


# PIL shrinks by an integer box filter first while the rest of the scale stays >= this gap:
# 2x faster for photos, within 0.75/255 mean absolute difference of a plain bicubic resize.
RESIZE_REDUCING_GAP = 2.0


def open_regular_file(path: Path, root: Path | None = None) -> tuple[BinaryIO, os.stat_result]:
    """Open ``path`` without blocking and check it on the open handle, so a swap after the check is caught.

    It must be a regular file (a FIFO would block, ``/dev/zero`` never ends) and, with
    ``root``, resolve inside it (a link swapped in cannot lead out); else ImageDecodeError.
    Failing to open at all raises the OSError, for the caller to name.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    info = os.fstat(descriptor)
    problem = None
    if stat.S_ISDIR(info.st_mode):
        problem = "is a folder, not a file"
    elif not stat.S_ISREG(info.st_mode):
        problem = "not a regular file (a pipe, device or socket)"
    elif root is not None and not handle_is_inside(descriptor, path, root):
        problem = "now a link leading out of the library; not read"
    if problem is not None:
        os.close(descriptor)
        raise ImageDecodeError(problem)
    return open(descriptor, "rb", closefd=True), info


def read_file(path: Path, root: Path | None = None, max_bytes: int = MAX_FILE_BYTES) -> FileBytes:
    """Read the whole file once; the same bytes feed the fingerprint and the decoder.

    Opened by ``open_regular_file`` (regular, inside ``root``), and no larger than ``max_bytes``.
    """
    try:
        handle, info = open_regular_file(path, root)
    except FileNotFoundError:
        raise ImageDecodeError("file disappeared before it could be read") from None
    except IsADirectoryError:
        raise ImageDecodeError("is a folder, not a file") from None
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from None
    with handle:
        if info.st_size > max_bytes:
            raise ImageDecodeError(
                f"file too large ({info.st_size / 2**20:.0f} MB; at most {max_bytes / 2**20:.0f} MB)"
            )
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageDecodeError(f"file too large (over {max_bytes / 2**20:.0f} MB)")
    return FileBytes(data, fingerprint_bytes(data), len(data), info.st_mtime_ns)


def check_resize_work(width: int, height: int, resize_to: int) -> None:
    """Refuse shapes that scaling the short side to ``resize_to`` would blow up past ``MAX_RESIZED_PIXELS``.

    A 1 x 2,000,000 PNG is under 1 KB and passes any pixel-count check, but a model's resize
    would turn it into billions of pixels.
    """
    short, long = sorted((max(width, 1), max(height, 1)))
    resized = resize_to * resize_to * (long / short)
    if resized > MAX_RESIZED_PIXELS:
        raise ImageDecodeError(
            f"extreme shape {width}x{height} (aspect ratio {long / short:.0f}:1): scaling it to the model's"
            f" {resize_to} px input would make {resized / 1e6:.0f} MP; at most {MAX_RESIZED_PIXELS / 1e6:.0f} MP"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB the way a viewer shows it (transparency over white)."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I"):
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass(frozen=True)
class Decoded:
    """An upright RGB picture plus the full-resolution size of the original."""

    image: Image.Image
    width: int
    height: int


_SWAPS_AXES = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112
_JPEG_END = b"\xff\xd9"
# What Pillow raises for damaged or hostile files, besides OSError.
_DAMAGE = (ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, ZeroDivisionError)


# How to turn a picture stored under EXIF orientation 2-8 upright (Pillow's exif_transpose table).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8), 1 when the EXIF block is missing, broken or says nothing valid:
    a damaged EXIF block never fails pixels that decode (Pillow raises anything from
    SyntaxError to struct.error on one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def decode(
    data: bytes,
    min_side: int | None = None,
    resize_to: int | None = None,
    long_side: int | None = None,
    grey: bool = False,
) -> Decoded:
    """Decode bytes to an upright RGB image (first frame of animations).

    With ``min_side`` a JPEG is decoded at the smallest DCT scale whose shorter side is still
    at least ``DRAFT_MARGIN * min_side`` pixels, which is several times faster for large photos;
    with ``long_side``, at the smallest scale whose longer side is still at least that.
    ``grey`` gives luminance only ("L"), a JPEG decoded without its colour (a fifth faster).
    With ``resize_to`` (the side a model scales the short edge to), shapes whose resize would
    explode are refused from the header, before any pixel is decoded. A camera RAW gives its
    embedded preview (images/raw.py).
    """
    if may_be_raw(data):
        found = decode_raw(data, min_side or resize_to, lambda jpeg: decode(jpeg).image)
        if found is not None:
            picture, width, height = found
            if resize_to is not None:
                check_resize_work(width, height, resize_to)
            return Decoded(picture.convert("L") if grey else picture, width, height)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if resize_to is not None:
                check_resize_work(width, height, resize_to)
            orientation = exif_orientation(image)
            if orientation in _SWAPS_AXES:
                width, height = height, width
            if min_side is not None and image.format == "JPEG":
                image.draft("RGB", (DRAFT_MARGIN * min_side, DRAFT_MARGIN * min_side))
            elif long_side is not None and image.format == "JPEG":
                scale = min(1.0, long_side / max(image.size))
                image.draft("L" if grey else "RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
            image.seek(0)
            image.load()
            upright = image.transpose(_UPRIGHT[orientation]) if orientation in _UPRIGHT else image
            if grey:
                return Decoded(upright if upright.mode == "L" else _to_rgb(upright).convert("L"), width, height)
            return Decoded(_to_rgb(upright), width, height)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"possible decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image file, or a format Pillow cannot read") from None
    except OSError as exc:
        if exc.errno == errno.ENOMEM:
            raise ImageDecodeError("not enough memory to decode") from None
        raise ImageDecodeError(f"damaged image: {exc}") from None
    except _DAMAGE as exc:
        raise ImageDecodeError(f"damaged image: {exc.__class__.__name__}: {exc}") from None
    except MemoryError:
        raise ImageDecodeError("not enough memory to decode") from None


def grey_thumbnail(image: Image.Image, long_side: int) -> Image.Image:
    """The picture's luminance at most ``long_side`` px on its long side, scaled by nearest
    neighbour: the strokes of small print stay sharp for a text detector (text 16 px high in a
    1920-px screenshot was found in 6 of 6 pictures, 4 of 6 with a bilinear scale)."""
    small = image if image.mode == "L" else image.convert("L")
    if max(small.size) > long_side:
        small = small.copy() if small is image else small
        small.thumbnail((long_side, long_side), Image.Resampling.NEAREST)
    return small


@dataclass(frozen=True)
class WholeJpeg:
    """A JPEG to decode at full size elsewhere: its upright size and EXIF orientation (1-8)."""

    width: int
    height: int
    orientation: int
    draftable: bool = False


def probe_whole_jpeg(data: bytes, min_side: int) -> WholeJpeg | None:
    """From the header alone: is this a baseline RGB or grey JPEG a GPU can decode whole?

    ``draftable`` says whether the CPU could decode it cheaply at a reduced DCT scale; one it
    cannot shrink costs a CPU core a full decode and always goes to the GPU, the others go
    there while the GPU keeps up. Anything else (another format, CMYK, progressive files,
    whose Huffman stage nvJPEG runs on one CPU thread, more than ``MAX_DEVICE_PIXELS``, data
    after or no end marker, a header Pillow rejects) gives None and takes the CPU path,
    which also reports damage.
    """
    if not data.endswith(_JPEG_END):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != "JPEG" or image.mode not in ("RGB", "L") or image.info.get("progressive"):
                return None
            full_size = image.size
            check_resize_work(*full_size, min_side)
            if full_size[0] * full_size[1] > MAX_DEVICE_PIXELS:
                return None
            image.draft(image.mode, (DRAFT_MARGIN * min_side, DRAFT_MARGIN * min_side))
            draftable = image.size != full_size
            orientation = exif_orientation(image)
    except (
        OSError,
        MemoryError,
        ImageDecodeError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        *_DAMAGE,
    ):
        return None
    if orientation not in range(1, 9):
        orientation = 1
    width, height = full_size
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return WholeJpeg(width, height, orientation, draftable)


def load_image(path: Path, min_side: int | None = None, root: Path | None = None) -> Image.Image:
    """Read and decode a file in one call, for thumbnails and previews (``root``: must stay inside it)."""
    return decode(read_file(path, root).data, min_side).image
