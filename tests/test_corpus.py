"""The benchmark corpus generator makes what it says: distinct files, in the phone mix, readable by imrec."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from conftest import PHOTOS
from PIL import Image

from image_recommender.images.decode import decode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus
import pytest


@pytest.mark.slow  # renders a phone-like corpus
def test_phone_library_is_distinct_mixed_and_readable(tmp_path: Path) -> None:
    files = corpus.make_phone_library(PHOTOS, 20, tmp_path / "phone", seed=7, size=(480, 360))
    assert len(files) == 20
    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    assert len(digests) == 20  # no two files alike, though there are only 8 source photos
    kinds = [path.stem.split("-")[1] for path in files]
    assert {kind: kinds.count(kind) for kind in set(kinds)} == {"jpeg": 11, "progressive": 3, "heic": 4, "png": 2}
    orientations = set()
    for path, kind in zip(files, kinds, strict=True):
        with Image.open(path) as image:
            assert image.format == {"jpeg": "JPEG", "progressive": "JPEG", "heic": "HEIF", "png": "PNG"}[kind]
            if kind in ("jpeg", "progressive"):
                assert bool(image.info.get("progressive")) == (kind == "progressive")
                orientations.add(image.getexif().get(0x0112))
        upright = decode(path.read_bytes()).image
        assert upright.size == ((1170, 2532) if kind == "png" else (480, 360))  # EXIF orientation undone
    assert orientations == {1, 3, 6, 8}
    again = corpus.make_phone_library(PHOTOS, 20, tmp_path / "again", seed=7, size=(480, 360))
    assert [path.read_bytes() for path in again if path.suffix == ".jpg"] == [
        path.read_bytes() for path in files if path.suffix == ".jpg"
    ]  # deterministic for a seed


def test_uniform_library_is_distinct(tmp_path: Path) -> None:
    files = corpus.make_uniform_library(PHOTOS, 12, tmp_path / "uniform", megapixels=0.3, seed=1)
    assert len({hashlib.sha256(path.read_bytes()).hexdigest() for path in files}) == 12
    assert "12 files (baseline 12)" in corpus.describe(files)
