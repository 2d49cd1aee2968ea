"""RAW files LibRaw really reads, made in the tests: a DNG (TIFF/EP) with a Bayer CFA image of
16-bit samples and an embedded full-size JPEG preview, written field by field (TIFF 6.0 and
DNG 1.4 tags), so the embedded-preview route and the develop route both run on real data."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

_SHORT, _LONG, _RATIONAL, _SRATIONAL, _ASCII, _BYTE = 3, 4, 5, 10, 2, 1


def _entry(tag: int, kind: int, values: list[int] | bytes) -> tuple[int, int, int, bytes]:
    if kind == _ASCII:
        data = bytes(values) + b"\0" if isinstance(values, bytes) else b""
        return tag, kind, len(data), data
    if kind == _BYTE:
        data = bytes(values)
        return tag, kind, len(data), data
    if kind in (_RATIONAL, _SRATIONAL):
        fmt = "<" + ("ii" if kind == _SRATIONAL else "II") * (len(values) // 2)
        return tag, kind, len(values) // 2, struct.pack(fmt, *values)
    fmt = "<" + ("H" if kind == _SHORT else "I") * len(values)
    return tag, kind, len(values), struct.pack(fmt, *values)


def _ifd(entries: list[tuple[int, int, int, bytes]], at: int, next_ifd: int) -> tuple[bytes, bytes]:
    """An IFD placed at ``at`` with its out-of-line values right after it: (ifd, values)."""
    entries = sorted(entries)
    size = 2 + 12 * len(entries) + 4
    values = b""
    table = struct.pack("<H", len(entries))
    for tag, kind, count, data in entries:
        if len(data) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + data.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, kind, count, at + size + len(values))
            values += data + (b"\0" if len(data) % 2 else b"")
    return table + struct.pack("<I", next_ifd), values


def write_dng(
    path: Path,
    picture: Image.Image,
    preview_size: tuple[int, int] | None = None,
    orientation: int = 1,
    make: str = "Imrec",
    model: str = "Test DNG",
    taken: str = "2021:08:15 10:30:00",
) -> Path:
    """``picture`` as a DNG: its Bayer mosaic (RGGB, 16-bit) and, unless ``preview_size`` is
    (0, 0), a JPEG preview of that size (default: full size) in IFD0."""
    rgb = np.asarray(picture.convert("RGB"), dtype=np.uint16)
    height, width = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    mosaic = np.zeros((height, width), dtype=np.uint16)
    scale = 16  # 8-bit values as 12-bit sensor data
    mosaic[0::2, 0::2] = rgb[0:height:2, 0:width:2, 0] * scale
    mosaic[0::2, 1::2] = rgb[0:height:2, 1:width:2, 1] * scale
    mosaic[1::2, 0::2] = rgb[1:height:2, 0:width:2, 1] * scale
    mosaic[1::2, 1::2] = rgb[1:height:2, 1:width:2, 2] * scale
    raw_bytes = mosaic.astype("<u2").tobytes()
    size = preview_size or picture.size
    jpeg = b""
    if size != (0, 0):
        buffer = io.BytesIO()
        picture.convert("RGB").resize(size).save(buffer, "JPEG", quality=92)
        jpeg = buffer.getvalue()

    header = 8

    # Layout: header, IFD0 (+values), raw IFD (+values), JPEG bytes, raw bytes.
    def ifd0(raw_ifd_at: int, jpeg_at: int, exif_at: int) -> list[tuple[int, int, int, bytes]]:
        common = [
            _entry(271, _ASCII, make.encode()),
            _entry(272, _ASCII, model.encode()),
            _entry(274, _SHORT, [orientation]),
            _entry(330, _LONG, [raw_ifd_at]),  # SubIFDs: the raw image
            _entry(50706, _BYTE, [1, 4, 0, 0]),  # DNGVersion
            _entry(50707, _BYTE, [1, 1, 0, 0]),
            _entry(50708, _ASCII, f"{make} {model}".encode()),
            _entry(
                50721,
                _SRATIONAL,
                [10000, 10000, 0, 10000, 0, 10000, 0, 10000, 10000, 10000, 0, 10000, 0, 10000, 0, 10000, 10000, 10000],
            ),
            _entry(50728, _RATIONAL, [1, 1, 1, 1, 1, 1]),  # AsShotNeutral
            _entry(50778, _SHORT, [21]),  # CalibrationIlluminant1: D65
            _entry(34665, _LONG, [exif_at]),  # the Exif IFD: when it was taken
        ]
        if not jpeg:
            return [*common, _entry(254, _LONG, [1]), _entry(256, _LONG, [1]), _entry(257, _LONG, [1])]
        return [
            *common,
            _entry(254, _LONG, [1]),  # NewSubfileType: a reduced-resolution preview
            _entry(256, _LONG, [size[0]]),
            _entry(257, _LONG, [size[1]]),
            _entry(258, _SHORT, [8, 8, 8]),
            _entry(259, _SHORT, [7]),  # JPEG
            _entry(262, _SHORT, [6]),  # YCbCr
            _entry(273, _LONG, [jpeg_at]),
            _entry(277, _SHORT, [3]),
            _entry(278, _LONG, [size[1]]),
            _entry(279, _LONG, [len(jpeg)]),
            _entry(284, _SHORT, [1]),
        ]

    def raw_ifd(raw_at: int) -> list[tuple[int, int, int, bytes]]:
        return [
            _entry(254, _LONG, [0]),
            _entry(256, _LONG, [width]),
            _entry(257, _LONG, [height]),
            _entry(258, _SHORT, [16]),
            _entry(259, _SHORT, [1]),
            _entry(262, _SHORT, [32803]),  # CFA
            _entry(273, _LONG, [raw_at]),
            _entry(277, _SHORT, [1]),
            _entry(278, _LONG, [height]),
            _entry(279, _LONG, [len(raw_bytes)]),
            _entry(284, _SHORT, [1]),
            _entry(33421, _SHORT, [2, 2]),  # CFARepeatPatternDim
            _entry(33422, _BYTE, [0, 1, 1, 2]),  # CFAPattern: RGGB
            _entry(50714, _LONG, [0]),  # BlackLevel
            _entry(50717, _LONG, [4095]),  # WhiteLevel
        ]

    # Two passes: sizes first (offsets do not change an IFD's size), then the real offsets.
    first, first_values = _ifd(ifd0(0, 0, 0), header, 0)
    raw_at_ifd = header + len(first) + len(first_values)
    second, second_values = _ifd(raw_ifd(0), raw_at_ifd, 0)
    exif_at = raw_at_ifd + len(second) + len(second_values)
    exif, exif_values = _ifd([_entry(36867, _ASCII, taken.encode())], exif_at, 0)  # DateTimeOriginal
    jpeg_at = exif_at + len(exif) + len(exif_values)
    raw_at = jpeg_at + len(jpeg) + (len(jpeg) % 2)
    first, first_values = _ifd(ifd0(raw_at_ifd, jpeg_at, exif_at), header, 0)
    second, second_values = _ifd(raw_ifd(raw_at), raw_at_ifd, 0)
    blob = b"II*\0" + struct.pack("<I", header) + first + first_values + second + second_values + exif + exif_values
    blob += jpeg + (b"\0" if len(jpeg) % 2 else b"") + raw_bytes
    path.write_bytes(blob)
    return path
