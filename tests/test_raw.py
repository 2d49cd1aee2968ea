"""Camera RAW originals: a DNG that LibRaw really reads (Bayer data and an embedded JPEG preview,
made in the test) is indexed from its preview, upright; a RAW and its JPEG are one photo in
results and never each other's duplicates; the duplicates keeper is the RAW."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, Runner, indexed, run_json
from PIL import Image
from rawfiles import write_dng

from image_recommender import Library
from image_recommender.images.decode import decode

SOURCES = sorted(PHOTOS.glob("*.jpg"))

pytestmark = pytest.mark.slow  # each builds a library of its own


def make_library(root: Path) -> Path:
    """IMG_0001: a DNG stored sideways (orientation 6) beside its upright JPEG; IMG_0002: a DNG
    whose preview is too small, so it is developed; two photos; an edited export of IMG_0001."""
    root.mkdir()
    first = Image.open(SOURCES[0]).convert("RGB")
    write_dng(root / "IMG_0001.DNG", first.transpose(Image.Transpose.ROTATE_90), orientation=6)
    first.save(root / "IMG_0001.JPG", quality=92)
    write_dng(root / "IMG_0002.dng", Image.open(SOURCES[1]).convert("RGB"), preview_size=(64, 36))
    for source in SOURCES[2:4]:
        shutil.copy(source, root / source.name)
    (root / "export").mkdir()
    first.resize((first.width - 2, first.height - 2)).save(root / "export" / "IMG_0001-edit.jpg", quality=80)
    return root


@pytest.fixture(scope="module")
def raw_library(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    return indexed(make_library(tmp_path_factory.mktemp("raw") / "raw"), model_settings)


def test_a_dng_is_indexed_from_its_preview_upright(raw_library: Path, model_settings: dict) -> None:
    decoded = decode((raw_library / "IMG_0001.DNG").read_bytes(), 224)
    upright = np.asarray(Image.open(raw_library / "IMG_0001.JPG").convert("RGB"), dtype=float)
    assert decoded.image.size == (upright.shape[1], upright.shape[0]) == (decoded.width, decoded.height)
    assert np.abs(np.asarray(decoded.image, dtype=float) - upright).mean() < 3  # the JPEG preview, turned upright
    with Library.open(raw_library, **model_settings) as library:
        report = library.status()
        assert report.counts["ok"] == 6 and report.counts["failed"] == 0
        rows = {row.path: row for row in library.catalog.images()}
        raw_id, jpeg_id = rows["IMG_0001.DNG"].id, rows["IMG_0001.JPG"].id
        model = library.query_model().id
        raw_vector = library.catalog.vector_of_image(raw_id, model)[1]  # type: ignore[index]
        jpeg_vector = library.catalog.vector_of_image(jpeg_id, model)[1]  # type: ignore[index]
        assert float(raw_vector @ jpeg_vector) > 0.99
        assert rows["IMG_0001.DNG"].camera == "Imrec Test DNG"  # from the RAW's own EXIF
        assert (rows["IMG_0001.DNG"].taken_at, rows["IMG_0001.DNG"].taken_from) == ("2021-08-15T10:30:00", "exif")
        developed = decode((raw_library / "IMG_0002.dng").read_bytes(), 224)  # preview 64x36: developed
        assert min(developed.image.size) >= 135 and developed.width == 480


def test_a_raw_and_its_jpeg_are_one_result(raw_library: Path, imrec: Runner, model_settings: dict) -> None:
    found = run_json(imrec, "search", raw_library / "IMG_0001.JPG", "-l", raw_library, "--include-query", "-k", "6")
    first = found["results"][0]
    assert first["path"] == "IMG_0001.JPG" and first["paths"] == ["IMG_0001.JPG", "IMG_0001.DNG"]
    assert [hit["path"] for hit in found["results"]].count("IMG_0001.DNG") == 0
    assert [hit["rank"] for hit in found["results"]] == list(range(1, len(found["results"]) + 1))
    with Library.open(raw_library, raw_pairs="separate", **model_settings) as library:
        apart = library.search(image=raw_library / "IMG_0001.JPG", include_query=True)
    assert {"IMG_0001.JPG", "IMG_0001.DNG"} <= {hit.path for hit in apart.results}


def test_the_page_shows_a_raw_as_a_rendering_and_serves_its_file(raw_library: Path, model_settings: dict) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(raw_library, **model_settings) as library:
        raw_id = next(row.id for row in library.catalog.images() if row.path == "IMG_0002.dng")
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        shown = client.get(f"/api/images/{raw_id}/thumb", params={"size": 2048})
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        width, height = Image.open(SOURCES[1]).size
        assert Image.open(io.BytesIO(shown.content)).size == (width // 2, height // 2)  # developed at half size
        original = client.get(f"/api/images/{raw_id}/file")
        assert original.status_code == 200 and original.content == (raw_library / "IMG_0002.dng").read_bytes()


def test_duplicates_keep_the_raw_and_never_pair_it_with_its_jpeg(raw_library: Path, imrec: Runner) -> None:
    groups = run_json(imrec, "duplicates", raw_library, "--threshold", "0.99")
    near = [  # the tiny test model sees other photos as near too; these are the IMG_0001 ones
        group for group in groups["groups"] if any("IMG_0001" in image["path"] for image in group["images"])
    ]
    assert len(near) == 1 and near[0]["kind"] == "near"
    assert near[0]["keeper"]["path"] == "IMG_0001.DNG"
    assert {image["path"] for image in near[0]["images"]} == {"IMG_0001.DNG", "export/IMG_0001-edit.jpg"}
