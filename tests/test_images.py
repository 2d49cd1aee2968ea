"""Decoding: every mode to upright RGB, drafts, and every kind of bad file as a recorded reason."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, as_camera_stores
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from image_recommender.errors import ImageDecodeError
from image_recommender.images.decode import HEIF_SUPPORTED, decode, read_file

PHOTO = PHOTOS / "Bridge_by_Sander_Klootwijk.jpg"


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo() -> Image.Image:
    return Image.open(PHOTO).convert("RGB")


def test_exif_rotated_photo_decodes_upright() -> None:
    upright = photo()
    stored, exif = as_camera_stores(upright, 6)  # a camera held sideways: "rotate 90 CW to display"
    decoded = decode(encoded(stored, "JPEG", quality=95, exif=exif))
    assert decoded.image.size == upright.size
    assert (decoded.width, decoded.height) == upright.size
    difference = np.abs(np.asarray(decoded.image, float) - np.asarray(upright, float)).mean()
    assert difference < 4


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("L", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("I;16", "PNG"), ("1", "PNG")],
)
def test_every_mode_becomes_rgb(mode: str, fmt: str) -> None:
    source = photo().resize((96, 64))
    converted = (
        Image.fromarray(np.asarray(source.convert("L"), dtype=np.uint16) * 257)
        if mode == "I;16"
        else source.convert(mode)
    )
    decoded = decode(encoded(converted, fmt))
    assert decoded.image.mode == "RGB" and decoded.image.size == (96, 64)
    if mode in ("P", "1"):  # quantised: exactly the palette colours the file holds
        assert np.array_equal(np.asarray(decoded.image), np.asarray(converted.convert("RGB")))
        return
    grey_difference = np.abs(np.asarray(decoded.image.convert("L"), float) - np.asarray(source.convert("L"), float))
    assert grey_difference.mean() < 8


def test_transparency_is_shown_over_white() -> None:
    transparent = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert decode(encoded(transparent, "PNG")).image.getpixel((5, 5)) == (255, 255, 255)
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    assert decode(encoded(palette, "PNG", transparency=0)).image.getpixel((5, 5)) == (255, 255, 255)


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "blue", "green")]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    red, green, blue = decode(data).image.getpixel((10, 10))
    assert red > 200 and green < 50 and blue < 50


def test_extreme_shapes_decode() -> None:
    assert decode(encoded(Image.new("RGB", (1, 1), "white"), "PNG")).image.size == (1, 1)
    assert decode(encoded(Image.new("RGB", (20000, 10), "white"), "PNG")).image.size == (20000, 10)


def test_draft_keeps_at_least_the_margin_and_full_size_reported() -> None:
    big = photo().resize((3200, 1800))
    decoded = decode(encoded(big, "JPEG", quality=90), min_side=224)
    assert min(decoded.image.size) >= 3 * 224 and decoded.image.size[0] < 3200
    assert (decoded.width, decoded.height) == (3200, 1800)


@pytest.mark.skipif(not HEIF_SUPPORTED, reason="pillow-heif not installed")
@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_decode(fmt: str) -> None:
    source = photo().resize((128, 72))
    decoded = decode(encoded(source, fmt, quality=90))
    assert decoded.image.size == (128, 72)
    assert np.abs(np.asarray(decoded.image, float) - np.asarray(source, float)).mean() < 10


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG declaring a huge grey image (its data stream is just a few compressed rows)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    data = zlib.compress(b"\0" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (encoded(Image.new("RGB", (300, 200), "red"), "JPEG")[:400], "damaged"),
        (encoded(Image.new("RGB", (300, 200), "red"), "PNG")[:120], "damaged"),
        (b"<html><body>not an image</body></html>", "not an image"),
        (b"\x00" * 64, "not an image"),
        (bomb_png(30000, 30000), "decompression bomb"),
    ],
    ids=["truncated-jpeg", "truncated-png", "html", "zeros", "bomb"],
)
def test_bad_bytes_raise_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageDecodeError, match=reason):
        decode(data)


def test_unreadable_files_raise_a_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty"):
        read_file(empty)
    with pytest.raises(ImageDecodeError, match="disappeared"):
        read_file(tmp_path / "gone.jpg")
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(ImageDecodeError, match="folder"):
        read_file(tmp_path / "folder.jpg")


def test_permission_denied_is_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads any file, so the refusal a normal user gets is injected at the open call."""
    import image_recommender.images.decode as images

    def refuse(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.os, "open", refuse)
    with pytest.raises(ImageDecodeError, match="permission denied"):
        read_file(tmp_path / "locked.jpg")


SEED_BYTES = encoded(Image.open(PHOTO).resize((64, 40)), "JPEG", quality=80)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(SEED_BYTES) - 1), st.integers(0, 255)), max_size=12),
    st.integers(0, len(SEED_BYTES)),
)
def test_mutated_bytes_never_escape_as_other_exceptions(edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(SEED_BYTES)
    for position, value in edits:
        data[position] = value
    try:
        decoded = decode(bytes(data[:cut] if cut else data), min_side=32)
    except ImageDecodeError:
        return
    assert decoded.image.mode == "RGB"
