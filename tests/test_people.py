"""People: faces found by dlib's shipped models, grouped into people, named, merged, searched.

The faces are the public-domain portrait that scikit-image ships (astronaut Eileen Collins,
NASA), augmented as a photo library holds one person: crops, mirror, light, colour, rotation,
scale; beside photos without anyone in them.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed_copy, run_json
from PIL import Image, ImageEnhance

from image_recommender import Library

pytest.importorskip("dlib", reason="the faces extra is not installed")
skimage_data = pytest.importorskip("skimage.data")

pytestmark = pytest.mark.slow  # each indexes a library with the face pass


def astronaut_variants() -> dict[str, Image.Image]:
    face = Image.fromarray(skimage_data.astronaut())
    return {
        "eileen/portrait.jpg": face,
        "eileen/mirrored.jpg": face.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "eileen/dark.jpg": ImageEnhance.Brightness(face).enhance(0.55),
        "eileen/bright.jpg": ImageEnhance.Brightness(face).enhance(1.4),
        "eileen/pale.jpg": ImageEnhance.Color(face).enhance(0.3),
        "eileen/turned.jpg": face.rotate(10, resample=Image.Resampling.BICUBIC),
        "eileen/small.jpg": face.resize((360, 360)),
        "eileen/thumbnail.jpg": face.resize((200, 200)),  # her face 50 px: under HOG's 80-px window
        "beach/eileen-crop.jpg": face.crop((80, 0, 420, 340)),
    }


@pytest.fixture(scope="module")
def people_source(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    root = tmp_path_factory.mktemp("people") / "library"
    for name, picture in astronaut_variants().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        picture.save(root / name, quality=90)
    for source in sorted(PHOTOS.glob("*.jpg"))[:4]:
        shutil.copy(source, root / source.name)
    with Library.open(root, create=True, **{**model_settings, "faces": True}) as library:
        library.update()
    return root


@pytest.fixture
def people_library(people_source: Path, tmp_path: Path) -> Path:
    return indexed_copy(people_source, tmp_path / "library")


def test_one_person_s_pictures_are_one_person_and_photos_without_people_have_no_face(
    people_library: Path, imrec: Runner
) -> None:
    listed = run_json(imrec, "people", people_library)["people"]
    assert len(listed) == 1  # every picture of her, whatever the light, crop, turn or size: one person
    person = listed[0]
    assert person["name"] is None and person["faces"] == len(astronaut_variants())
    assert all(path.startswith(("eileen/", "beach/")) for path in person["paths"])
    status = json.loads(imrec("status", people_library, "--json").stdout)["faces"]
    assert status["looked"] == status["total"] == len(astronaut_variants()) + 4 and status["people"] == 1
    table = imrec("people", people_library).stdout.splitlines()
    assert table[0].split()[:3] == ["id", "faces", "name"] and "(unnamed)" in table[1]


def test_a_named_person_is_searched_by_name_and_keeps_the_name_across_a_regrouping(
    people_library: Path, imrec: Runner
) -> None:
    person = run_json(imrec, "people", people_library)["people"][0]
    said = imrec("people", "name", str(person["id"]), "Eileen", "-l", people_library).stdout
    assert said.strip() == f"person {person['id']} Eileen: {person['faces']} face(s)"
    found = run_json(imrec, "search", "--text", "a photo", "--person", "eileen", "-k", "20", "-l", people_library)
    assert {hit["path"].split("/")[0] for hit in found["results"]} == {"eileen", "beach"}
    assert len(found["results"]) == person["faces"]
    # the one search box reads the name, with the rest of the query
    asked = imrec("search", "Eileen am Strand", "-k", "20", "-l", people_library, "--json")
    data = json.loads(asked.stdout)
    assert data["understood"]["people"][0]["words"] == "Eileen" and data["understood"]["text"] == "am Strand"
    assert len(data["results"]) == person["faces"]
    assert "person Eileen, text 'am Strand'" in imrec("search", "Eileen am Strand", "-l", people_library).stderr
    imrec("people", "regroup", "-l", people_library)
    again = run_json(imrec, "people", people_library)["people"]
    assert [(p["id"], p["name"], p["faces"]) for p in again] == [(person["id"], "Eileen", person["faces"])]


def test_a_face_moved_away_stays_away_and_two_people_merge(people_library: Path, imrec: Runner) -> None:
    person = run_json(imrec, "people", people_library)["people"][0]
    faces = run_json(imrec, "people", "show", str(person["id"]), "-l", people_library)["face_list"]
    moved = next(face for face in faces if face["path"] == "beach/eileen-crop.jpg")
    made = run_json(imrec, "people", "move", str(moved["id"]), "new", "-l", people_library)["person"]
    listed = {p["id"]: p["faces"] for p in run_json(imrec, "people", people_library)["people"]}
    assert listed == {person["id"]: person["faces"] - 1, made: 1}
    imrec("people", "regroup", "-l", people_library)  # the user's move is kept; unnamed people are made anew
    regrouped = {p["id"]: p["faces"] for p in run_json(imrec, "people", people_library)["people"]}
    assert sorted(regrouped.values()) == [1, person["faces"] - 1] and regrouped[made] == 1
    rest = next(person_id for person_id in regrouped if person_id != made)
    merged = run_json(imrec, "people", "merge", str(rest), str(made), "-l", people_library)
    assert merged["faces"] == person["faces"]
    assert [p["id"] for p in run_json(imrec, "people", people_library)["people"]] == [rest]
    imrec("people", "hide", str(rest), "-l", people_library)
    assert run_json(imrec, "people", people_library)["people"] == []


def test_people_mistakes_are_one_line(people_library: Path, imrec: Runner) -> None:
    for args, said in (
        (("people", "name", "999", "Anna"), "person 999: there is no such person"),
        (("people", "frobnicate"), "is no action"),
        (("people", "merge", "1"), "people merge: imrec people"),
        (("search", "x", "--person", "Nobody"), "--person 'Nobody': nobody of that name"),
    ):
        refused = imrec(*args, "-l", people_library, expect=2)
        assert said in refused.stderr and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def test_a_moved_picture_keeps_its_faces_without_looking_again(people_library: Path, model_settings: dict) -> None:
    (people_library / "eileen" / "portrait.jpg").rename(people_library / "portrait-moved.jpg")
    with Library.open(people_library, **{**model_settings, "faces": True}) as library:
        summary = library.update()
        assert summary.faces_looked == 0  # the same content: its faces are kept
        (person,) = library.people()
        assert "portrait-moved.jpg" in {path for _, path in library.person_faces(person.id)}


def test_the_http_api_lists_names_and_searches_people_and_shows_face_boxes(
    people_library: Path, model_settings: dict
) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(people_library, **model_settings) as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        (person,) = client.get("/api/people").json()["people"]
        named = client.post(f"/api/people/{person['id']}/name", json={"name": "Eileen"}).json()
        assert named["name"] == "Eileen" and named["faces"] == person["faces"]
        found = client.get("/api/search", params={"text": "a photo", "person": "Eileen", "k": 20}).json()
        assert len(found["results"]) == person["faces"]
        detail = client.get(f"/api/images/{found['results'][0]['id']}").json()
        (face,) = [face for face in detail["faces"] if face["person"] == person["id"]]
        left, top, right, bottom = face["box"]
        assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1 and face["name"] == "Eileen"
        assert client.post("/api/people/merge", json={"kept": person["id"], "merged": person["id"]}).status_code == 400
        assert client.get("/api/people/999").status_code == 404


@pytest.mark.browser
def test_the_page_shows_people_names_them_in_place_and_outlines_their_faces(
    people_library: Path, model_settings: dict
) -> None:
    from playwright.sync_api import expect, sync_playwright
    from test_web import CHROMIUM, serving

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium")
    with serving(Library.open(people_library, **model_settings)) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.click("#tab-people")
        person = page.locator("#people .person")
        expect(person).to_have_count(1)
        expect(person.locator(".person-count")).to_have_text(f"{len(astronaut_variants())} faces")
        crop = person.locator(".person-open img")
        expect(crop).to_have_js_property("complete", True)
        assert crop.evaluate("img => img.naturalWidth") > 0  # the face's crop, served
        person.locator(".person-name input").fill("Eileen")
        person.locator(".person-name button").click()
        expect(page.locator("#people .person .person-name input")).to_have_value("Eileen")
        page.locator("#people .person .person-open").click()
        expect(page.locator("#results .card")).to_have_count(len(astronaut_variants()))
        page.fill("#text", "Eileen am Strand")
        page.press("#text", "Enter")
        expect(page.locator("#understood-list .chip")).to_have_count(1)
        expect(page.locator("#understood-list .chip").first).to_contain_text("Eileen")
        page.locator("#results .card .thumb").first.click()
        face = page.locator("#viewer-boxes rect.face")
        expect(face).to_have_count(1)
        expect(face.locator("title")).to_have_text("Eileen")
        browser.close()


def test_the_name_alone_finds_exactly_that_person_s_pictures(people_library: Path, imrec: Runner) -> None:
    person = run_json(imrec, "people", people_library)["people"][0]
    imrec("people", "name", str(person["id"]), "Eileen", "-l", people_library)
    found = run_json(imrec, "search", "Eileen", "-k", "50", "-l", people_library)
    assert len(found["results"]) == person["faces"]
    assert all(hit["path"].startswith(("eileen/", "beach/")) for hit in found["results"])


def test_a_crowd_is_bounded_and_a_tiny_or_huge_picture_is_harmless(tmp_path: Path) -> None:
    from image_recommender.faces import detecting

    face = Image.fromarray(skimage_data.astronaut()).crop((150, 60, 290, 200)).resize((100, 100))
    crowd = Image.new("RGB", (1500, 1500), "white")
    for row in range(15):
        for column in range(15):
            crowd.paste(face, (column * 100, row * 100))
    finder = detecting.FaceFinder()
    found = finder.find(crowd)
    assert len(found) == detecting.MAX_FACES  # 225 faces in it: the largest hundred kept
    assert finder.find(Image.new("RGB", (1, 1))) == [] and finder.find(Image.new("RGB", (1, 4000))) == []


def test_a_kill_during_the_face_pass_loses_nothing_and_looks_at_nothing_twice(
    tmp_path: Path, model_settings: dict, model_env: dict[str, str]
) -> None:
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from conftest import indexed

    root = tmp_path / "library"
    root.mkdir()
    face = Image.fromarray(skimage_data.astronaut())
    for number in range(48):  # enough that the pass is still running after its first batch
        ImageEnhance.Brightness(face).enhance(0.6 + number / 60).rotate(number % 7).save(root / f"eileen-{number}.jpg")
    indexed(root, model_settings)  # embedded, no face looked for yet
    catalog = root / ".imrec" / "catalog.sqlite3"

    def looked_so_far() -> int:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM face_reads").fetchone()[0])

    env = model_env | {"IMREC_FACES": "1"}
    command = [sys.executable, "-m", "image_recommender", "index", str(root), "--json"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while looked_so_far() == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = looked_so_far()
    assert 0 < before < 48, "the kill came after the pass had finished"
    again = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True)
    assert before + json.loads(again.stdout)["faces_looked"] == 48  # each content looked at once
    with Library.open(root, **model_settings) as library:
        assert library.people()[0].faces == 48  # (her suit's patch, turned, is a face to HOG: a second group)


def test_pictures_of_nobody_are_looked_at_without_loading_the_descriptor() -> None:
    from image_recommender.faces import detecting

    finder = detecting.FaceFinder()
    for path in sorted(PHOTOS.glob("*.jpg")):
        assert finder.find(Image.open(path).convert("RGB")) == []
    assert finder._models is None  # no face: the landmark model and the ResNet (0.5 s) never loaded
    assert finder.find(Image.fromarray(skimage_data.astronaut())) and finder._models is not None


def test_a_person_in_a_video_is_found_in_its_frames_and_searched_by_name(
    tmp_path: Path, model_settings: dict, imrec: Runner
) -> None:
    from fastapi.testclient import TestClient
    from videos import make_video

    from image_recommender.web.app import create_app

    root = tmp_path / "library"
    (root / "clips").mkdir(parents=True)
    face = Image.fromarray(skimage_data.astronaut())
    face.save(root / "portrait.jpg", quality=90)
    shutil.copy(sorted(PHOTOS.glob("*.jpg"))[0], root / "landscape.jpg")
    nobody = Image.open(sorted(PHOTOS.glob("*.jpg"))[1])
    make_video(root / "clips" / "visit.mp4", [nobody, face], seconds=2.0, size=(480, 480))
    make_video(root / "clips" / "empty.mp4", [nobody], seconds=2.0, size=(480, 480))
    with Library.open(root, create=True, **{**model_settings, "faces": True}) as library:
        summary = library.update()
    assert summary.faces_failed == 0
    status = json.loads(imrec("status", root, "--json").stdout)["faces"]
    assert status["looked"] == status["total"] == 4  # two pictures and two videos
    (person,) = run_json(imrec, "people", root)["people"]
    assert set(person["paths"]) == {"portrait.jpg", "clips/visit.mp4"}
    shown = run_json(imrec, "people", "show", str(person["id"]), "-l", root)["face_list"]
    in_video = [one for one in shown if one["path"] == "clips/visit.mp4"]
    assert in_video and all(2.0 <= one["seconds"] <= 4.0 for one in in_video)  # her scene is the second
    assert all(one["seconds"] is None for one in shown if one["path"] == "portrait.jpg")
    imrec("people", "name", str(person["id"]), "Eileen", "-l", root)
    found = run_json(imrec, "search", "--person", "Eileen", "a photo", "-k", "10", "-l", root)
    assert {hit["path"] for hit in found["results"]} == {"portrait.jpg", "clips/visit.mp4"}
    with Library.open(root, **model_settings) as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        crop = client.get(f"/api/faces/{in_video[0]['id']}/crop")
    assert crop.status_code == 200 and Image.open(io.BytesIO(crop.content)).size[0] <= 128
