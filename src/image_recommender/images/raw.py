"""Camera RAW files: their embedded preview as the picture, and their JPEG/HEIC siblings.

A RAW file (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2, PEF, ...) carries the camera's own
full-size JPEG rendering; LibRaw (``rawpy``) hands it over without developing the sensor data,
turned by the RAW's orientation. Only where the preview is smaller than asked (or missing) is
the RAW developed, at half size. ``python benchmarks/bench_raw.py`` measures both routes.

A RAW and a JPEG/HEIC of the same name in one folder are one photo (the camera wrote both, or
the JPEG is its development): ``pair_key`` names the photo they share.
"""

from __future__ import annotations

import io
import os
import posixpath
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from image_recommender.errors import ImageDecodeError
from image_recommender.images.media import RAW_SUFFIXES

if TYPE_CHECKING:  # Pillow is imported where a RAW is decoded: pairing names needs none
    from PIL import Image


class _HasPath(Protocol):
    @property
    def path(self) -> str: ...


Row = TypeVar("Row", bound=_HasPath)

# What a RAW's sibling may be: the camera's JPEG or HEIC of the same shot, or its development.
SIBLING_SUFFIXES = frozenset({".jpg", ".jpeg", ".heic", ".heif"})

# LibRaw's ``flip`` (0, 3, 5, 6) as the turn that makes a stored preview upright (Pillow's names).
_UPRIGHT = {3: "ROTATE_180", 5: "ROTATE_90", 6: "ROTATE_270"}
_ORIENTATION_TAG = 0x0112
# Sensors larger than this many photosites are not developed (a 200 MP medium format back is 200M).
MAX_PHOTOSITES = 250_000_000
_SIGNATURES = (b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"MMOR", b"IIU\0", b"FUJIFILMCCD-RAW")


def is_raw(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in RAW_SUFFIXES


def pair_key(path: str) -> str | None:
    """ "a/IMG_1" for "a/IMG_1.CR2" and "a/IMG_1.jpg": the photo a RAW and its sibling share (None
    for other files)."""
    stem, suffix = posixpath.splitext(path)
    return stem if suffix.lower() in RAW_SUFFIXES | SIBLING_SUFFIXES else None


def photo_pairs(files: Sequence[Row]) -> dict[str, tuple[Row, list[Row]]]:
    """Of files sharing stems, the RAW photos with a sibling: stem -> (the sibling shown, its RAWs)."""
    by_stem: dict[str, list[Row]] = {}
    for row in files:
        key = pair_key(row.path)
        if key is not None:
            by_stem.setdefault(key, []).append(row)
    pairs = {}
    for key, rows in by_stem.items():
        raws = sorted((row for row in rows if is_raw(row.path)), key=lambda row: row.path)
        siblings = sorted((row for row in rows if not is_raw(row.path)), key=lambda row: row.path)
        if raws and siblings:
            pairs[key] = (siblings[0], raws)
    return pairs


def may_be_raw(data: bytes) -> bool:
    """Bytes that LibRaw should look at first: TIFF-based RAWs (and plain TIFFs, which it refuses
    in a header read), Fuji, Olympus, Panasonic and Canon CR3 (ISO media, brand "crx ")."""
    return data.startswith(_SIGNATURES) or data[4:12] == b"ftypcrx "


def decode_raw(
    data: bytes, min_side: int | None, decode_jpeg: Callable[[bytes], Image.Image]
) -> tuple[Image.Image, int, int] | None:
    """(upright preview or development, full upright width, height); None when LibRaw does not
    read the bytes (a plain TIFF, or a RAW too damaged for it). The preview is used unless its shorter side is below
    ``min_side`` (the model's input side). ``decode_jpeg`` decodes a JPEG preview as every JPEG is
    decoded (images/decode.py passes its own, so this module does not import it back)."""
    import rawpy
    from PIL import Image

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            flip = sizes.flip
            width, height = (sizes.height, sizes.width) if flip in (5, 6) else (sizes.width, sizes.height)
            preview = _preview(raw, rawpy, decode_jpeg)
            if preview is not None and min(preview.size) >= (min_side or 0):
                return preview, width, height
            if sizes.raw_width * sizes.raw_height > MAX_PHOTOSITES:
                raise ImageDecodeError(f"RAW sensor of {sizes.raw_width}x{sizes.raw_height} is too large to develop")
            developed = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
            return Image.fromarray(np.ascontiguousarray(developed)).convert("RGB"), width, height
    except (rawpy.LibRawError, rawpy.NotSupportedError):
        return None  # not a RAW LibRaw can read: Pillow gets the bytes (and names what is wrong)


def _preview(raw: object, rawpy: object, decode_jpeg: Callable[[bytes], Image.Image]) -> Image.Image | None:
    """The embedded preview, upright; None when the RAW has none (or one LibRaw cannot give)."""
    from PIL import Image

    try:
        thumb = raw.extract_thumb()  # type: ignore[attr-defined]
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):  # type: ignore[attr-defined]
        return None
    turn = _UPRIGHT.get(raw.sizes.flip)  # type: ignore[attr-defined]
    if thumb.format == rawpy.ThumbFormat.JPEG:  # type: ignore[attr-defined]
        picture = decode_jpeg(thumb.data)
        if _says_orientation(thumb.data):  # LibRaw writes the RAW's orientation into the JPEG it hands over
            return picture
    else:
        picture = Image.fromarray(np.ascontiguousarray(thumb.data)).convert("RGB")
    return picture.transpose(Image.Transpose[turn]) if turn is not None else picture


def _says_orientation(jpeg: bytes) -> bool:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            return image.getexif().get(_ORIENTATION_TAG) is not None
    except Exception:  # a damaged EXIF block: the RAW's own orientation applies
        return False
