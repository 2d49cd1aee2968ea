"""The web app: every API endpoint and refusal, and the page driven in a real Chromium."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner
from fastapi.testclient import TestClient
from PIL import Image
from test_images import bomb_png

from image_recommender import Library
from image_recommender.web.app import MAX_UPLOAD_BYTES, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def library(model_settings: dict, library_dir: Path, tmp_path: Path) -> Iterator[Library]:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(PHOTOS / "Wine_by_Jakkub_Mede.jpg", outside / "secret.jpg")
    os.symlink(outside / "secret.jpg", library_dir / "link-out.jpg")
    with Library.open(library_dir, create=True, follow_symlinks=True, **model_settings) as opened:
        opened.update()
        yield opened


@pytest.fixture
def client(library: Library) -> TestClient:
    return TestClient(create_app(library), base_url="http://127.0.0.1:8765")


def photo_bytes(name: str = "Bridge_by_Sander_Klootwijk.jpg") -> bytes:
    return (PHOTOS / name).read_bytes()


def test_page_status_and_openapi(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<title>imrec</title>" in page.text
    assert '<script type="module" src="/static/app.js">' in page.text  # ES modules, no build step
    entry = client.get("/static/app.js")
    views = re.findall(r'from "\./views/(\w+)\.js"', entry.text)
    assert {"search", "duplicates", "themes", "albums", "people", "status"} <= set(views)
    for view in views:
        served = client.get(f"/static/views/{view}.js")
        assert served.status_code == 200 and "javascript" in served.headers["content-type"] and "export " in served.text
    status = client.get("/api/status").json()
    assert status["counts"]["ok"] == 9 and status["index"]["current"] is True
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search", "/api/recommend", "/api/images/{image_id}", "/api/duplicates", "/api/status"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_search_by_text_ids_and_negatives(client: TestClient) -> None:
    data = client.get("/api/search", params={"text": "a bridge", "k": 3}).json()
    assert len(data["results"]) == 3 and data["results"][0]["thumb"].startswith("/api/images/")
    like = client.get("/api/search", params={"like_id": 1, "unlike_id": 2, "k": 20}).json()
    assert {r["id"] for r in like["results"]}.isdisjoint({1}) and like["query"] == ["+#1", "-#2"]
    missing = client.get("/api/search", params={"like_id": 999})
    assert missing.status_code == 404 and "999" in missing.json()["detail"]
    assert client.get("/api/search", params={"k": 0, "text": "x"}).status_code == 422
    assert client.get("/api/search").status_code == 400
    blank = client.get("/api/search", params={"text": "  "})
    assert blank.status_code == 400 and blank.json()["detail"] == "empty text query"


def test_upload_search_and_refusals(client: TestClient, library: Library) -> None:
    before = sorted(p.name for p in library.root.rglob("*") if ".imrec" not in p.parts)
    found = client.post("/api/search", files={"image": ("query.jpg", photo_bytes(), "image/jpeg")}, data={"k": "3"})
    assert found.status_code == 200, found.text
    assert found.json()["query"] == ["+query.jpg"] and len(found.json()["results"]) == 3
    assert "Bridge_by_Sander_Klootwijk.jpg" not in {r["path"] for r in found.json()["results"]}  # its copy is the query
    refusals = {
        "not an image": ("notes.jpg", b"<html>hello</html>"),
        "empty": ("empty.jpg", b""),
        "decompression bomb": ("bomb.png", bomb_png(30000, 30000)),
    }
    for reason, (name, payload) in refusals.items():
        answer = client.post("/api/search", files={"image": (name, payload, "image/jpeg")})
        assert answer.status_code == 400 and reason in answer.json()["detail"], (reason, answer.text)
    huge = client.post("/api/search", files={"image": ("huge.jpg", b"\0" * (MAX_UPLOAD_BYTES + 1), "image/jpeg")})
    assert huge.status_code == 413
    after = sorted(p.name for p in library.root.rglob("*") if ".imrec" not in p.parts)
    assert after == before


def test_browse_pages_through_the_library(client: TestClient) -> None:
    first = client.get("/api/images", params={"limit": 5}).json()
    second = client.get("/api/images", params={"limit": 5, "offset": 5}).json()
    assert first["total"] == 9 and len(first["images"]) == 5 and len(second["images"]) == 4
    paths = [image["path"] for image in first["images"] + second["images"]]
    assert paths == sorted(paths) and len(set(paths)) == 9
    assert client.get("/api/images", params={"limit": 0}).status_code == 422


def test_recommend_excludes_inputs(client: TestClient) -> None:
    data = client.post("/api/recommend", json={"liked": [1, 2], "disliked": [3], "k": 10}).json()
    # six images are left; two of them hold the same bytes (Wine and link-out.jpg): one result
    assert {r["id"] for r in data["results"]}.isdisjoint({1, 2, 3}) and len(data["results"]) == 5
    assert sorted(len(r["copies"]) for r in data["results"]) == [0, 0, 0, 0, 1]
    every = client.post("/api/recommend", json={"liked": [1, 2], "disliked": [3], "k": 10, "all_copies": True})
    assert len(every.json()["results"]) == 6
    assert client.post("/api/recommend", json={"liked": []}).status_code == 422


def test_images_thumbnails_and_caching(client: TestClient, library: Library) -> None:
    info = client.get("/api/images/1").json()
    assert info["path"] and info["width"] and info["thumb"] == "/api/images/1/thumb"
    full = client.get("/api/images/1/file")
    assert full.status_code == 200 and full.content == (library.root / info["path"]).read_bytes()
    thumb = client.get("/api/images/1/thumb", params={"size": 128})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 128
    assert "max-age" in thumb.headers["cache-control"] and thumb.headers["etag"]
    assert list((library.settings.state_dir / "thumbs").glob("1-*-128.jpg"))
    again = client.get("/api/images/1/thumb", params={"size": 128}, headers={"If-None-Match": thumb.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/api/images/1/thumb", params={"size": 999}).status_code == 400
    assert client.get("/api/images/999").status_code == 404


def test_no_path_outside_the_library_is_served(client: TestClient, library: Library) -> None:
    for url in (
        "/api/images/../../etc/passwd",
        "/api/images/..%2F..%2Fetc%2Fpasswd/file",
        "/api/images/%2e%2e/file",
        "/api/images//etc/passwd/file",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/app.py",
    ):
        answer = client.get(url)
        assert answer.status_code in (404, 422), url
        assert b"root:" not in answer.content
    link = library.catalog.image_by_path("link-out.jpg")
    assert link is not None and link.state == "ok"
    refused = client.get(f"/api/images/{link.id}/file")
    assert refused.status_code == 403 and "inside the library" in refused.json()["detail"]
    assert client.get(f"/api/images/{link.id}/thumb").status_code == 403


def test_duplicates_endpoint_honours_its_threshold(client: TestClient, library: Library) -> None:
    strict = client.get("/api/duplicates", params={"threshold": 0.9999}).json()
    loose = client.get("/api/duplicates", params={"threshold": 0.05}).json()
    assert strict["threshold"] == 0.9999 and loose["threshold"] == 0.05
    grouped = lambda data: {image["path"] for group in data["groups"] for image in group["images"]}  # noqa: E731
    # link-out.jpg holds the same bytes as Wine: an exact pair at any threshold; near pairs only when loose
    assert [group["kind"] for group in strict["groups"]] == ["exact"] and len(grouped(strict)) == 2
    # loose, the exact pair nests as one member in the near group that moves it, marked as a copy
    assert {group["kind"] for group in loose["groups"]} == {"near"} and len(grouped(loose)) == 9
    assert sum("copy_of" in image for group in loose["groups"] for image in group["images"]) == 1
    assert client.get("/api/duplicates", params={"threshold": 2}).status_code == 422


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(library: Library) -> Iterator[int]:
    """The web app on a free local port in a thread, for a real browser; stopped (and the library closed) after.

    The server gets the socket bound here: a port probed free and bound again later was once taken
    in between (by the browser's own connections), and the page then met a refused connection."""
    import uvicorn

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(library), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert server.started, "the web app did not start within 20 s"
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()
        library.close()


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or not _has_playwright(), reason="needs Debian's chromium and playwright")
def test_page_in_a_real_browser(model_settings: dict, tmp_path: Path) -> None:
    """Click through search, upload, like/dislike refinement, clearing and failures, as a user would."""
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "lib<img src=x onerror=alert(1)>"  # a folder name that is also HTML
    shutil.copytree(PHOTOS, root)
    library = Library.open(root, create=True, **model_settings)
    library.update()
    query = tmp_path / "query.jpg"
    shutil.copy(PHOTOS / "Kleiber_by_Lukas_Baubkus.jpg", query)  # an exact copy of a library image
    not_an_image = tmp_path / "notimage.jpg"
    not_an_image.write_text("<html>not a picture</html>")
    with serving(library) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/")
        message, cards, refine = page.locator("#message"), page.locator("#results .card"), page.locator("#refine")
        expect(message).to_contain_text("Library: images 1-8 of 8")
        expect(refine).to_be_hidden()
        page.fill("#k", "5")

        # Upload: the query's own copy never comes back; exactly k results.
        page.set_input_files("#file", str(query))
        expect(message).to_contain_text("Like query.jpg: 5 results")
        expect(cards).to_have_count(5)
        paths = [c.inner_text() for c in page.locator("#results .card .path").all()]
        assert "Kleiber_by_Lukas_Baubkus.jpg" not in paths

        # Like one: the query stays, the liked image joins it and leaves the list; still k results.
        liked_path = paths[1]
        cards.nth(1).get_by_role("button", name=re.compile("^Like ")).click()
        expect(message).to_contain_text("Like query.jpg + 1 liked: 5 results")
        expect(refine).to_be_visible()
        expect(page.locator("#refine-list .chip.liked")).to_contain_text(liked_path)
        refined = [c.inner_text() for c in page.locator("#results .card .path").all()]
        assert liked_path not in refined and "Kleiber_by_Lukas_Baubkus.jpg" not in refined
        scores = [float(c.inner_text()) for c in page.locator("#results .card .score").all()]
        assert scores == sorted(scores, reverse=True)

        # Un-like from its chip: back to the plain query, bar hidden, nothing marked.
        page.get_by_role("button", name=f"Remove {liked_path} from liked").click()
        expect(message).to_contain_text("Like query.jpg: 5 results")
        expect(refine).to_be_hidden()
        expect(page.locator("#results .card.liked")).to_have_count(0)

        # Dislike alone re-ranks the query (the disliked image leaves the results).
        disliked_path = page.locator("#results .card .path").first.inner_text()
        cards.first.get_by_role("button", name=re.compile("^Dislike ")).click()
        expect(message).to_contain_text("Like query.jpg + 1 disliked")
        assert disliked_path not in [c.inner_text() for c in page.locator("#results .card .path").all()]

        # Clear likes and dislikes: the original query again, not an older view.
        page.get_by_role("button", name="Clear likes and dislikes").click()
        expect(message).to_contain_text("Like query.jpg: 5 results")
        expect(refine).to_be_hidden()

        # The image can be cleared; a text search is then the text alone.
        page.get_by_role("button", name="Clear the query image").click()
        expect(page.locator("#drop-label")).to_have_text("Drop or pick a query image")
        page.fill("#text", "a bird")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(message).to_contain_text("“a bird”: 5 results")

        # Filters: nothing was taken up to the last day of 1999; the photos hold no date taken (only
        # the files' times, today's), so a date range leaves them out too.
        page.fill("#to", "1999-12-31")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(message).to_contain_text("“a bird”: no matching images")
        today = page.locator("#results .card .taken").first  # not shown: no results
        expect(today).to_have_count(0)
        day = time.strftime("%Y-%m-%d")
        page.fill("#after", day)
        page.fill("#to", day)
        page.get_by_role("button", name="Search", exact=True).click()
        expect(message).to_contain_text("“a bird”: no matching images")
        page.fill("#after", "")
        page.fill("#to", "")
        page.select_option("#sort", "date")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(message).to_contain_text("“a bird”: 5 results")
        expect(page.locator("#results .card .taken")).to_have_count(5)
        dates = [t.get_attribute("datetime") for t in page.locator("#results .card .taken").all()]
        assert dates == sorted(dates)
        # No EXIF date: the file's date, marked as such.
        first_date = page.locator("#results .card .taken").first
        expect(first_date).to_have_text(re.compile(r"^~\d{4}-\d{2}-\d{2}$"))
        assert "file date" in (first_date.get_attribute("title") or "")
        page.select_option("#sort", "score")

        # Cards: the picture first and square, the name on one line (its end visible), even heights.
        boxes = [c.bounding_box() for c in cards.all()]
        assert len({round(b["height"]) for b in boxes if b}) == 1
        thumb = cards.first.locator(".thumb").bounding_box()
        path_box = cards.first.locator(".path").bounding_box()
        line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.card .meta')).lineHeight)")
        assert thumb and path_box and abs(thumb["width"] - thumb["height"]) < 2 and path_box["height"] <= line + 1
        assert cards.first.locator(".path").get_attribute("title") == cards.first.locator(".path").inner_text()

        # Pick two results and download them as one zip, in the order picked.
        selection = page.locator("#selection")
        expect(selection).to_be_hidden()
        picks = page.locator("#results .card .pick")
        picks.nth(1).check()
        picks.nth(0).check()
        expect(page.locator("#selection-count")).to_have_text("2 selected")
        expect(page.locator("#download")).to_have_text("Download 2 selected (zip)")
        with page.expect_download() as started:
            page.locator("#download").click()
        bundle = tmp_path / started.value.suggested_filename
        started.value.save_as(bundle)
        picked = [c.inner_text() for c in page.locator("#results .card .path").all()][:2]
        with zipfile.ZipFile(bundle) as archive:
            assert archive.namelist() == [f"001-{picked[1]}", f"002-{picked[0]}"]

        # The selection outlives a search and says how much of it is on screen; it can be cleared.
        page.fill("#k", "1")
        page.fill("#text", "a bird")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator("#selection-count")).to_contain_text("2 selected (")
        page.get_by_role("button", name="Clear selection").click()
        expect(selection).to_be_hidden()
        page.fill("#k", "5")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(cards).to_have_count(5)
        before_upload = [c.inner_text() for c in page.locator("#results .card .path").all()]

        # A failed upload names the file once and keeps the results it had.
        page.set_input_files("#file", str(not_an_image))
        expect(message).to_contain_text("notimage.jpg is not an image imrec can read")
        expect(message).to_have_class(re.compile("error"))
        assert message.inner_text().count("notimage.jpg") == 1
        assert [c.inner_text() for c in page.locator("#results .card .path").all()] == before_upload
        expect(page.locator("#drop-label")).to_have_text("Drop or pick a query image")

        # Dislikes without any query say what they need instead of claiming a re-rank.
        page.goto(f"http://127.0.0.1:{port}/")
        expect(message).to_contain_text("Library: images 1-8 of 8")
        cards.first.get_by_role("button", name=re.compile("^Dislike ")).click()
        expect(message).to_contain_text("search, or like an image")
        page.get_by_role("button", name="Clear likes and dislikes").click()
        expect(message).to_contain_text("Library: images")

        page.get_by_role("tab", name="Status").click()
        expect(page.locator("#status")).to_contain_text("ok")
        expect(page.locator("#status")).to_contain_text("<img src=x")  # the folder name, as text
        assert page.locator("#status img").count() == 0
        page.get_by_role("tab", name="Duplicates").click()
        expect(page.locator("#dup-message")).not_to_have_text("Looking for duplicates…", timeout=20000)
        page.get_by_role("tab", name="Search").click()
        page.fill("#text", "a bridge")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(cards).to_have_count(8)  # the page was reloaded: k is back to 24, the library holds 8
        cards.nth(1).get_by_role("button", name=re.compile("^Like ")).click()
        expect(page.locator("#refine-list .chip")).to_have_count(1)
        page.wait_for_function("[...document.images].every(i => i.complete)")
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot))
        assert Image.open(shot).size == (1280, 900)
        if os.environ.get("IMREC_SCREENSHOT"):
            shutil.copy(shot, os.environ["IMREC_SCREENSHOT"])
        assert page.request.get(f"http://127.0.0.1:{port}/favicon.ico").status == 200
        browser.close()


def test_serve_command_answers_and_refuses_a_busy_port(imrec: Runner, library_dir: Path, model_env: dict) -> None:
    import subprocess
    import sys
    import urllib.request

    imrec("index", library_dir, "-q")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "image_recommender", "serve", str(library_dir), "--port", str(port)],
        env=model_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 60, None
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as answer:
                    status = json.loads(answer.read())
            except OSError:
                time.sleep(0.2)
        assert status is not None and status["counts"]["ok"] == 8
        busy = imrec("serve", library_dir, "--port", port, expect=2)
        assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr and "Traceback" not in busy.stderr
        # a browser's keep-alive connection open, as a page leaves it: SIGTERM still stops it at once
        lingering = socket.create_connection(("127.0.0.1", port))
        lingering.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        lingering.recv(65536)
        asked = time.monotonic()
        server.terminate()
        server.wait(timeout=30)
        assert time.monotonic() - asked < 4 and "Traceback" not in server.communicate()[1]
        lingering.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_sigterm_stops_the_server_while_a_request_still_runs(
    imrec: Runner, library_dir: Path, model_env: dict, tmp_path: Path
) -> None:
    import subprocess
    import sys
    import urllib.request

    imrec("index", library_dir, "-q")
    # one request that runs for a minute in its worker thread, planted in the server's own process
    (tmp_path / "sitecustomize.py").write_text(
        "import time\nfrom image_recommender.library import Library\n"
        "Library.places = lambda self: time.sleep(60) or []\n"
    )
    env = {**model_env, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "image_recommender", "serve", str(library_dir), "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)

        def ask_slowly() -> None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/places", timeout=90).close()

        threading.Thread(target=ask_slowly, daemon=True).start()
        time.sleep(1.0)
        asked = time.monotonic()
        server.terminate()
        _, said = server.communicate(timeout=30)
        assert time.monotonic() - asked < 4 and "Traceback" not in said  # uvicorn cancels it after 1 s
    finally:
        server.kill()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-US,en;q=0.9,de;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,de;q=0.5", "de"),
        ("fr-FR", "en"),
        ("", "en"),
        ("de;q=0, en", "en"),
        ("en;q=0.2, de-AT;q=0.7", "de"),
        ("de;q=abc", "en"),
    ],
)
def test_the_page_language_follows_accept_language(header: str, language: str) -> None:
    from image_recommender.web.app import page_language

    assert page_language(header) == language


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or not _has_playwright(), reason="needs Debian's chromium and playwright")
def test_a_german_browser_gets_a_german_page_and_can_switch(model_settings: dict, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "library"
    shutil.copytree(PHOTOS, root)
    library = Library.open(root, create=True, **model_settings)
    library.update()
    with serving(library) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context(locale="de-DE").new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        message = page.locator("#message")
        expect(message).to_have_text("Bibliothek: Bilder 1–8 von 8 (suchen oder eines für ähnliche wählen)")
        assert page.evaluate("document.documentElement.lang") == "de"
        expect(page.get_by_role("tab", name="Suche")).to_be_visible()
        expect(page.get_by_role("tab", name="Duplikate")).to_be_visible()
        expect(page.locator("#text")).to_have_attribute("placeholder", re.compile("^Beschreiben Sie ein Bild"))
        page.fill("#text", "eine Brücke")
        page.get_by_role("button", name="Suchen", exact=True).click()
        expect(message).to_contain_text("„eine Brücke“: 8 Treffer")
        expect(page.locator("#drop-label")).to_have_text("Suchbild ablegen oder wählen")
        card = page.locator("#results .card").first
        expect(card.get_by_role("button", name=re.compile("^Gefällt mir: "))).to_have_count(1)
        expect(card.locator(".taken")).to_have_attribute("title", re.compile("^Dateidatum .*kein Aufnahmedatum"))
        # What the server says is said in German too: a file that is no image, a server that is gone.
        not_an_image = tmp_path / "notiz.jpg"
        not_an_image.write_text("Einkaufsliste")
        page.set_input_files("#file", str(not_an_image))
        expect(message).to_have_text(
            "notiz.jpg ist kein Bild, das imrec lesen kann (keine Bilddatei oder ein Format, das Pillow nicht lesen kann)"
        )
        page.evaluate(  # the page's own modules, as a view calls them
            "import('/static/views/core.js').then(({ api, setMessage }) =>"
            " api('/api/duplicates/undo', {method: 'POST'}).catch((error) => setMessage(error.message, true)))"
        )
        expect(message).to_have_text("Keine Verschiebung, die sich rückgängig machen ließe")
        page.get_by_role("tab", name="Status").click()
        expect(page.locator("#status")).to_contain_text("Modell: tiny-clip")
        # The switch: English, kept for the next visit.
        page.select_option("#language", "en")
        expect(page.locator("#status")).to_contain_text("Model: tiny-clip")
        expect(page.get_by_role("tab", name="Search")).to_be_visible()
        page.reload()
        expect(page.get_by_role("tab", name="Search")).to_be_visible()
        assert page.evaluate("document.documentElement.lang") == "en"
        browser.close()
