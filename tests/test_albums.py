"""Smart albums: kept queries, shown on demand, mirrored into folders that follow the results and
never lose or touch a file the album did not make."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import Runner, indexed, indexed_copy
from PIL import Image

from image_recommender import Library

# Each test indexes or re-indexes a library of its own: the full suite's.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed_once(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    from conftest import PHOTOS

    root = tmp_path_factory.mktemp("albums") / "library"
    shutil.copytree(PHOTOS, root)
    return indexed(root, model_settings)


@pytest.fixture
def library(indexed_once: Path, tmp_path: Path) -> Path:
    return indexed_copy(indexed_once, tmp_path / "library")


def results(imrec: Runner, *args: object) -> list[str]:
    return [hit["path"] for hit in json.loads(imrec(*args, "--json").stdout)["results"]]


def test_an_album_keeps_its_query_and_runs_it_again(library: Path, imrec: Runner) -> None:
    saved = imrec("album", "save", "Brücken", "--text", "a bridge", "--not-text", "snow", "-k", "3", "-l", library)
    assert saved.stdout.strip() == "album Brücken: +'a bridge' -'snow', 3 picture(s)"
    assert results(imrec, "album", "show", "Brücken", "-l", library) == results(
        imrec, "search", "--text", "a bridge", "--not-text", "snow", "-k", "3", "-l", library
    )
    assert imrec("album", "list", "-l", library).stdout.strip() == "Brücken: +'a bridge' -'snow'"
    imrec("album", "save", "Brücken", "--text", "a bridge", "-k", "2", "-l", library)  # saved again: changed
    assert len(results(imrec, "album", "show", "Brücken", "-l", library)) == 2
    imrec("album", "delete", "Brücken", "-l", library)
    gone = imrec("album", "show", "Brücken", "-l", library, expect=2)
    assert (
        gone.stderr.strip()
        == "imrec: error: album 'Brücken': there is no album of that name ('imrec album list' shows them)"
    )


def test_album_save_and_show_say_how_they_read_the_query_like_search(library: Path, imrec: Runner) -> None:
    said = imrec("search", "a bridge 2019", "-l", library, "--include-undated").stderr
    understood = next(line for line in said.splitlines() if "understood: " in line)
    assert "text 'a bridge'" in understood and "2019" in understood
    assert understood in imrec("album", "save", "b19", "a bridge 2019", "--include-undated", "-l", library).stderr
    assert understood in imrec("album", "show", "b19", "-l", library).stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a/b", "--text", "x"), "album name 'a/b': use 1-100 characters without slashes or control characters"),
        (("\u202eevil", "--text", "x"), "album name '\\u202eevil': use 1-100 characters without slashes or"),
        (("ok", "--text", "x", "--link-to", "{library}/inside"), "a mirror folder lies outside the library"),
        (("ok", "--text", "x", "--link-to", "{full}"), "is not empty; give a new or empty folder"),
        (("ok", "--text", "x", "--link-to", "{tmp}/a", "--copy-to", "{tmp}/b"), "--link-to and --copy-to both"),
        (("ok", "--text", "x", "--after", "2024-13"), "--after '2024-13'"),
    ],
)
def test_an_album_that_cannot_be_kept_is_one_line(
    library: Path, imrec: Runner, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("mine")
    given = [arg.format(library=library, full=full, tmp=tmp_path) for arg in args]
    refused = imrec("album", "save", *given, "-l", library, expect=2)
    assert (
        refused.stderr.startswith("imrec: error: ")
        and message in refused.stderr
        and len(refused.stderr.splitlines()) == 1
    )
    assert imrec("album", "list", "-l", library).stdout == ""


def test_a_mirror_follows_the_results_and_touches_nothing_it_did_not_make(
    library: Path, imrec: Runner, tmp_path: Path, model_settings: dict
) -> None:
    with Library.open(library) as opened:
        bridge = opened.catalog.image_by_path("Bridge_by_Sander_Klootwijk.jpg")
    assert bridge is not None
    mirror = tmp_path / "mirror"
    imrec("album", "save", "bridges", "--like-id", bridge.id, "-k", "3", "--link-to", mirror, "-l", library)
    first = results(imrec, "album", "show", "bridges", "-l", library)
    assert sorted(os.listdir(mirror)) == sorted(f"{Path(p).stem}-{_id(library, p)}{Path(p).suffix}" for p in first)
    for link in mirror.iterdir():
        assert link.is_symlink() and link.resolve().parent == library.resolve()
    (mirror / "mine.txt").write_text("the user's own file")  # never the album's
    # A near copy of the bridge photo joins the library: it ranks first and its link appears;
    # the third result falls out and its link goes.
    Image.open(library / "Bridge_by_Sander_Klootwijk.jpg").resize((400, 225)).save(library / "bridge-small.jpg")
    indexed(library, model_settings)
    second = results(imrec, "album", "show", "bridges", "-l", library)
    assert second[0] == "bridge-small.jpg" and first[2] not in second
    names = set(os.listdir(mirror))
    assert names == {f"{Path(p).stem}-{_id(library, p)}{Path(p).suffix}" for p in second} | {"mine.txt"}
    # The user replaces one of the album's links with a file of their own: it is never removed.
    kept = f"{Path(second[1]).stem}-{_id(library, second[1])}{Path(second[1]).suffix}"
    (mirror / kept).unlink()
    (mirror / kept).write_text("mine now")
    (library / second[1]).unlink()  # the picture leaves the library, so the album drops it
    summary = imrec("index", library)
    assert f"album bridges: {kept}: changed or replaced since the album made it; not touched" in summary.stderr
    assert (mirror / kept).read_text() == "mine now" and (mirror / "mine.txt").read_text() == "the user's own file"


def test_a_copy_mirror_copies_and_leaves_a_copy_the_user_changed(library: Path, imrec: Runner, tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    imrec("album", "save", "two", "--text", "a bridge", "-k", "2", "--copy-to", copies, "-l", library)
    made = sorted(copies.iterdir())
    assert len(made) == 2 and all(path.is_file() and not path.is_symlink() for path in made)
    shown = results(imrec, "album", "show", "two", "-l", library)
    assert made[0].read_bytes() in {(library / path).read_bytes() for path in shown}
    leaving = copies / f"{Path(shown[1]).stem}-{_id(library, shown[1])}{Path(shown[1]).suffix}"
    os.utime(leaving, ns=(0, 10**18))  # the user touched the copy of the second picture
    imrec("album", "save", "two", "--text", "a bridge", "-k", "1", "--copy-to", copies, "-l", library)
    assert leaving.exists() and len(list(copies.iterdir())) == 2  # changed by the user: kept though it left


def test_album_commands_take_the_library_as_root_or_l(library: Path, imrec: Runner) -> None:
    imrec("album", "save", "bridges", "--text", "a bridge", "-k", "2", "-l", library)
    listed = json.loads(imrec("album", "list", library, "--json").stdout)
    assert [album["name"] for album in listed] == ["bridges"]
    assert json.loads(imrec("album", "list", "-l", library, "--json").stdout) == listed
    assert results(imrec, "album", "show", "bridges", library) == results(
        imrec, "album", "show", "bridges", "-l", library
    )
    imrec("album", "delete", "bridges", library)
    assert json.loads(imrec("album", "list", library, "--json").stdout) == []


def test_a_copy_whose_original_was_deleted_is_kept_aside_not_destroyed(
    library: Path, imrec: Runner, tmp_path: Path
) -> None:
    copies = tmp_path / "copies"
    imrec("album", "save", "two", "--text", "a bridge", "-k", "2", "--copy-to", copies, "-l", library)
    first = results(imrec, "album", "show", "two", "-l", library)[0]
    copy = copies / f"{Path(first).stem}-{_id(library, first)}{Path(first).suffix}"
    content = copy.read_bytes()
    (library / first).unlink()  # the original is deleted: the album's copy may be the last one
    indexed = imrec("index", library)
    kept = copies / "removed" / copy.name
    assert not copy.exists() and kept.read_bytes() == content
    assert f"kept as removed/{copy.name}" in indexed.stdout + indexed.stderr
    imrec("index", library)
    assert kept.read_bytes() == content  # and left there by later runs
    imrec("album", "save", "two", "--text", "a bridge", "-k", "1", "--copy-to", copies, "-l", library)
    assert kept.read_bytes() == content


def _id(library: Path, path: str) -> int:
    with Library.open(library) as opened:
        image = opened.catalog.image_by_path(path)
    assert image is not None
    return image.id


def test_a_mirror_folder_swapped_for_a_link_is_not_followed(library: Path, imrec: Runner, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    imrec("album", "save", "one", "--text", "a bridge", "-k", "1", "--link-to", mirror, "-l", library)
    (name,) = os.listdir(mirror)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink((mirror / name).readlink(), elsewhere / name)  # the same link, in someone else's folder
    shutil.rmtree(mirror)
    mirror.symlink_to(elsewhere, target_is_directory=True)
    (library / "Bridge_by_Sander_Klootwijk.jpg").unlink()  # whatever the results, the folder is not used
    summary = imrec("index", library)
    assert "album one: not mirrored:" in summary.stderr and "cannot use it as the album's folder" in summary.stderr
    assert os.listdir(elsewhere) == [name]


@pytest.mark.browser
def test_the_page_and_the_api_list_and_show_albums(library: Path, model_settings: dict) -> None:
    from fastapi.testclient import TestClient
    from playwright.sync_api import expect, sync_playwright
    from test_web import CHROMIUM, serving

    from image_recommender.web.app import create_app

    with Library.open(library, **model_settings) as opened:
        opened.save_album("Brücken & Meer", ["a bridge"], k=3)
        client = TestClient(create_app(opened), base_url="http://127.0.0.1:8765")
        listed = client.get("/api/albums").json()["albums"]
        assert listed == [{"name": "Brücken & Meer", "query": ["+'a bridge'"], "mirror": None, "mode": None}]
        shown = client.get("/api/albums/Brücken & Meer").json()
        assert shown["album"] == "Brücken & Meer" and len(shown["results"]) == 3
        missing = client.get("/api/albums/nowhere")
        assert missing.status_code == 400 and "no album of that name" in missing.json()["detail"]
        expected = [hit["path"] for hit in shown["results"]]
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium")
    with serving(Library.open(library, **model_settings)) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context(locale="de-DE").new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("tab", name="Alben").click()
        expect(page.locator("#albums li")).to_have_count(1)
        expect(page.locator("#albums .album-query")).to_have_text("+'a bridge'")
        page.get_by_role("button", name="Brücken & Meer").click()
        expect(page.locator("#message")).to_contain_text("Album Brücken & Meer: 3 Treffer")
        expect(page.locator("#results .card .path")).to_have_count(3)
        assert [path.get_attribute("title") for path in page.locator("#results .card .path").all()] == expected
        browser.close()
