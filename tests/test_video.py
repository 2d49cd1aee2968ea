"""Videos: found at the moment that matches, one result per video, kept current and safe like pictures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed, indexed_copy, run_json
from PIL import Image
from videos import make_video

from image_recommender import Library

pytestmark = pytest.mark.slow  # each builds a library with videos

SOURCES = sorted(PHOTOS.glob("*.jpg"))
SCENES = SOURCES[:3]  # the video's scenes, 2 s each: 0-2, 2-4, 4-6 s


def make_library(root: Path) -> Path:
    root.mkdir()
    make_video(root / "holiday.mp4", [Image.open(path) for path in SCENES], creation_time="2022-07-14T10:00:00Z")
    portrait = Image.open(SOURCES[3]).convert("RGB").resize((180, 320))
    make_video(root / "phone.MOV", [portrait], seconds=1.0, size=(180, 320), rotation=90)
    for source in SOURCES[4:]:
        shutil.copy(source, root / source.name)
    return root


@pytest.fixture(scope="module")
def indexed_videos(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    return indexed(make_library(tmp_path_factory.mktemp("video") / "videos"), model_settings)


@pytest.fixture
def video_library(indexed_videos: Path, tmp_path: Path) -> Path:
    return indexed_copy(indexed_videos, tmp_path / "videos")


def test_a_still_of_a_scene_finds_the_video_at_that_scene(video_library: Path, imrec: Runner) -> None:
    for scene, source in enumerate(SCENES):
        found = run_json(imrec, "search", source, "-l", video_library, "-k", "3")
        first = found["results"][0]
        assert first["path"] == "holiday.mp4" and first["kind"] == "video", scene
        assert 2 * scene <= first["timestamp"] < 2 * scene + 2, (scene, first["timestamp"])
        assert [hit["path"] for hit in found["results"]].count("holiday.mp4") == 1  # one result, not its frames
    table = imrec("search", SCENES[1], "-l", video_library, "-k", "1").stdout
    assert "holiday.mp4 @ 0:02" in table


def test_videos_have_their_facts_and_filters(video_library: Path, model_settings: dict) -> None:
    with Library.open(video_library, **model_settings) as library:
        rows = {row.path: row for row in library.catalog.images()}
        assert rows["holiday.mp4"].state == "ok" and rows["holiday.mp4"].taken_at == "2022-07-14T10:00:00"
        assert (rows["phone.MOV"].width, rows["phone.MOV"].height) == (180, 320)  # upright: the rotation applied
        videos = library.search(text="a photo", k=20, kind="video").results
        assert {hit.path for hit in videos} == {"holiday.mp4", "phone.MOV"}
        pictures = library.search(text="a photo", k=20, kind="image").results
        assert all(hit.timestamp is None for hit in pictures) and len(pictures) == len(SOURCES) - 4
        july = library.search(text="a photo", k=20, taken_on="2022-07-14").results
        assert [hit.path for hit in july] == ["holiday.mp4"]


def test_a_moved_video_keeps_its_frames_and_a_truncated_one_fails_cleanly(video_library: Path, imrec: Runner) -> None:
    (video_library / "trips").mkdir()
    (video_library / "holiday.mp4").rename(video_library / "trips" / "holiday.mp4")
    data = (SOURCES[0]).read_bytes()
    broken = video_library / "broken.mp4"
    shutil.copy(video_library / "phone.MOV", broken)
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])
    (video_library / "late.jpg").write_bytes(data)
    summary = run_json(imrec, "index", video_library)
    assert summary["videos"] == 0 and summary["videos_reused"] == 1 and summary["videos_failed"] == 1
    assert summary["new"] == 3 and summary["failed"] == 0
    status = imrec("status", video_library).stdout
    assert "broken.mp4" in status
    found = run_json(imrec, "search", SCENES[2], "-l", video_library, "-k", "1")
    assert found["results"][0]["path"] == "trips/holiday.mp4" and 4 <= found["results"][0]["timestamp"] < 6
