"""Videos: found at the moment that matches, one result per video, kept current and safe like pictures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed, indexed_copy, run_json
from PIL import Image, ImageStat
from test_web import CHROMIUM, _has_playwright, serving
from videos import make_video

from image_recommender import Library

pytestmark = pytest.mark.slow  # each builds a library with videos

SOURCES = sorted(PHOTOS.glob("*.jpg"))
SCENES = SOURCES[:3]  # the video's scenes, 2 s each: 0-2, 2-4, 4-6 s


def make_library(root: Path) -> Path:
    root.mkdir()
    make_video(
        root / "holiday.mp4",
        [Image.open(path) for path in SCENES],
        creation_time="2022-07-14T10:00:00Z",
        location="+48.8584+002.2945/",  # ISO 6709, as phones write it: the Eiffel Tower
    )
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
    sheet = video_library.parent / "sheet.png"
    imrec("search", SCENES[1], "-l", video_library, "-k", "1", "--preview", sheet)
    with Image.open(sheet) as drawn:  # query tile, then the video's tile: its frame, not "unreadable" on white
        grey = drawn.convert("L")
        tile = grey.crop((grey.width // 2, 0, grey.width, grey.height))
        assert ImageStat.Stat(tile).mean[0] < 230


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
        assert (rows["holiday.mp4"].latitude, rows["holiday.mp4"].longitude) == (48.8584, 2.2945)
        paris = library.search(text="a photo", k=20, place="Paris").results
        assert [(hit.path, hit.place, hit.duration) for hit in paris] == [("holiday.mp4", "Vanves, Paris, France", 6.0)]


def test_a_video_is_an_exact_duplicate_of_its_copy_and_never_a_near_one(video_library: Path, imrec: Runner) -> None:
    shutil.copy(video_library / "holiday.mp4", video_library / "holiday-copy.mp4")
    shutil.copy(SCENES[1], video_library / "scene-two.jpg")  # a picture that looks like one of its frames
    imrec("index", video_library, "-q")
    groups = run_json(imrec, "duplicates", video_library, "--threshold", "0.5")["groups"]
    exact = [group for group in groups if group["kind"] == "exact"]
    assert [sorted(image["path"] for image in group["images"]) for group in exact] == [
        ["holiday-copy.mp4", "holiday.mp4"]
    ]
    near = [image["path"] for group in groups if group["kind"] != "exact" for image in group["images"]]
    assert not any(path.endswith((".mp4", ".MOV")) for path in near)


def test_a_moved_video_keeps_its_frames_and_a_truncated_one_fails_cleanly(video_library: Path, imrec: Runner) -> None:
    (video_library / "trips").mkdir()
    (video_library / "holiday.mp4").rename(video_library / "trips" / "holiday.mp4")
    data = (SOURCES[0]).read_bytes()
    broken = video_library / "broken.mp4"
    shutil.copy(video_library / "phone.MOV", broken)
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])
    (video_library / "late.jpg").write_bytes(data)
    whole = make_video(
        video_library.parent / "whole.mp4", [Image.open(path) for path in SCENES], seconds=3, faststart=True
    )
    (video_library / "cut.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    summary = run_json(imrec, "index", video_library)
    assert summary["videos"] == 1 and summary["videos_reused"] == 1 and summary["videos_failed"] == 1
    assert summary["new"] == 4 and summary["failed"] == 0
    assert summary["failed_now"] == summary["failed_in_library"] == 1  # the video counts among the failures
    assert summary["videos_held"] == 3 and summary["files"] == summary["videos_held"] + 5
    status = imrec("status", video_library).stdout
    assert "failed: broken.mp4: not a video file, or one FFmpeg cannot read: Invalid data found" in status
    assert "read in part: cut.mp4: only the first" in status and "videos: 3 " in status
    found = run_json(imrec, "search", SCENES[2], "-l", video_library, "-k", "1")
    assert found["results"][0]["path"] == "trips/holiday.mp4" and 4 <= found["results"][0]["timestamp"] < 6


def test_the_file_is_served_in_ranges_and_the_thumb_at_the_moment(video_library: Path, model_settings: dict) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(video_library, **model_settings) as library:
        video_id = next(row.id for row in library.catalog.images() if row.path == "holiday.mp4")
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        whole = (video_library / "holiday.mp4").read_bytes()
        part = client.get(f"/api/images/{video_id}/file", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
        assert part.headers["content-type"] == "video/mp4"
        tail = client.get(f"/api/images/{video_id}/file", headers={"Range": "bytes=-50"})
        assert tail.status_code == 206 and tail.content == whole[-50:]
        assert client.get(f"/api/images/{video_id}/file", headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
        found = client.get("/api/search", params={"text": "a photo", "kind": "video", "k": 5}).json()["results"]
        holiday = next(hit for hit in found if hit["path"] == "holiday.mp4")
        assert holiday["thumb"] == f"/api/images/{video_id}/thumb?t={holiday['timestamp']}"
        frames = {t: client.get(f"/api/images/{video_id}/thumb", params={"t": t}) for t in (0.5, 2.5, 4.5)}
        assert all(response.status_code == 200 for response in frames.values())
        assert len({response.content for response in frames.values()}) == 3  # three scenes, three pictures
        more = client.get("/api/search", params={"like_id": video_id, "at": 2.5, "k": 3}).json()
        assert "holiday.mp4" not in [hit["path"] for hit in more["results"]] and more["query"] == [f"+#{video_id}@2.5s"]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or not _has_playwright(), reason="needs Debian's chromium and playwright")
def test_the_page_plays_the_video_from_its_moment(video_library: Path, model_settings: dict) -> None:
    from playwright.sync_api import expect, sync_playwright

    library = Library.open(video_library, **model_settings)
    expected = library.search(image=SCENES[2], k=1).results[0].timestamp
    assert expected is not None
    with serving(library) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.goto(f"http://127.0.0.1:{port}/")
        page.set_input_files("#file", str(SCENES[2]))
        first = page.locator("#results .card").first
        expect(first.locator(".path")).to_have_text("holiday.mp4")
        expect(first.locator(".moment")).to_contain_text("▶ 0:04")
        first.locator("button.thumb").click()
        player = page.locator("#viewer-video")
        expect(player).to_be_visible()
        page.wait_for_function("document.querySelector('#viewer-video').readyState >= 1", timeout=15000)
        position = page.evaluate("document.querySelector('#viewer-video').currentTime")
        assert abs(position - expected) <= 1.0, (position, expected)
        expect(page.locator("#viewer-caption")).to_contain_text("holiday.mp4 @ 0:04")
        browser.close()


def test_a_kill_during_the_video_pass_loses_at_most_the_video_in_flight(
    tmp_path: Path, model_env: dict[str, str]
) -> None:
    import json
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    root = tmp_path / "clips"
    root.mkdir()
    pictures = [Image.open(path) for path in SOURCES]
    for number in range(10):  # enough videos that the pass is still running after its first one
        scenes = pictures[number % len(pictures) :] + pictures[: number % len(pictures)]
        make_video(root / f"clip-{number}.mp4", scenes[:6], seconds=3 + number / 10, size=(640, 360))  # all different
    catalog = root / ".imrec" / "catalog.sqlite3"

    def frames_so_far() -> dict[int, int]:
        if not catalog.exists():
            return {}
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as db:
            try:
                rows = db.execute("SELECT image_id, count(*) FROM vectors WHERE seconds IS NOT NULL GROUP BY image_id")
            except sqlite3.OperationalError:  # the catalog is still being created
                return {}
            return dict(rows.fetchall())

    command = [sys.executable, "-m", "image_recommender", "index", str(root), "--json"]
    process = subprocess.Popen(
        command, env=model_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not frames_so_far() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = frames_so_far()
    assert 0 < len(before) < 10, "the kill came after the pass had finished"
    again = subprocess.run(command, env=model_env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True)
    summary = json.loads(again.stdout)
    assert summary["videos"] == 10 - len(before) and summary["videos_failed"] == 0  # none embedded twice
    after = frames_so_far()
    assert len(after) == 10 and all(after[video] == count for video, count in before.items())  # none cut short


def test_embed_alone_embeds_new_videos_too(video_library: Path, imrec: Runner) -> None:
    make_video(video_library / "new.webm", [Image.open(SCENES[0])], seconds=1, codec="libvpx-vp9")
    imrec("scan", video_library)
    report = run_json(imrec, "embed", video_library)
    assert report["embedded"] == 1 and report["failed"] == 0
    found = run_json(imrec, "search", SCENES[0], "-l", video_library, "--kind", "video", "-k", "5")
    assert "new.webm" in [hit["path"] for hit in found["results"]]
