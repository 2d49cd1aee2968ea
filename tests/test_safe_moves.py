"""A move or an undo touches only what it planned, inside the library, and a group that moves is one picture.

Each test here plays a forged manifest, a swapped folder, a stale catalog or two resolves at
once against the real move code, on a real indexed library.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, indexed, indexed_copy
from PIL import Image
from test_duplicate_moves import THRESHOLD, make_library, tree_digests, with_exif

from image_recommender import Library
from image_recommender.errors import QueryError, SettingsError


@pytest.fixture(scope="module")
def indexed_messy(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    """The duplicates tests' library (copies, a resize, a burst, a HEIC and its export), indexed once."""
    return indexed(make_library(tmp_path_factory.mktemp("source") / "library"), model_settings)


@pytest.fixture
def messy(indexed_messy: Path, tmp_path: Path) -> Path:
    return indexed_copy(indexed_messy, tmp_path / "library")


def moved_once(library: Library, target: Path) -> Path:
    """Resolve every group into ``target``; the manifest."""
    _, report = library.move_duplicates(library.duplicates(THRESHOLD), target, apply=True)
    assert report is not None and report.manifest is not None and report.moved == 3
    return report.manifest


def forge(manifest: Path, **entry: object) -> Path:
    """The manifest with its moves replaced by one hand-written entry."""
    data = json.loads(manifest.read_text())
    data["moves"] = [{"id": 1, "size": 0, **entry}]
    forged = manifest.with_name("forged.json")
    forged.write_text(json.dumps(data))
    return forged


def test_undo_never_takes_files_from_outside_the_manifests_folder(
    messy: Path, model_settings: dict, tmp_path: Path
) -> None:
    target = tmp_path / "duplicates"
    secret = tmp_path / "keys" / "id_ed25519"
    secret.parent.mkdir()
    secret.write_bytes(b"private key")
    with Library.open(messy, **model_settings) as library:
        manifest = moved_once(library, target)
        cases = {
            "not in the manifest's folder": {"from": str(messy / "stolen"), "to": str(secret), "size": 11},
            "not a place in the library": {
                "from": str(messy / ".imrec" / "config.toml"),
                "to": str(target / "kleiber-small.jpg"),
            },
            "outside": {"from": str(tmp_path / "elsewhere.jpg"), "to": str(target / "kleiber-small.jpg")},
            "dotted": {"from": str(messy) + "/a/../../escape.jpg", "to": str(target / "kleiber-small.jpg")},
            "control character": {"from": str(messy / "a\nb.jpg"), "to": str(target / "kleiber-small.jpg")},
        }
        for name, entry in cases.items():
            before = tree_digests(messy)
            with pytest.raises(SettingsError, match="not an imrec move manifest, nothing was moved"):
                library.undo_moves(forge(manifest, **entry))
            assert tree_digests(messy) == before, name
        assert secret.read_bytes() == b"private key"
        assert not (messy / ".imrec" / "config.toml").exists()


def test_undo_puts_back_only_the_file_that_was_moved(messy: Path, model_settings: dict, tmp_path: Path) -> None:
    target = tmp_path / "duplicates"
    with Library.open(messy, **model_settings) as library:
        manifest = moved_once(library, target)
        # Another file of the same size put where a moved one was: not the moved file, stays.
        small = target / "kleiber-small.jpg"
        original = small.read_bytes()
        small.write_bytes(bytes(len(original)))
        report = library.undo_moves(manifest)
        assert report.moved == 2
        assert report.skipped == [
            (str(small), "not the file that was moved (its size or content differ); not put back")
        ]
        assert not (messy / "kleiber-small.jpg").exists() and small.read_bytes() == bytes(len(original))


@pytest.mark.parametrize("kind", ["fifo", "device", "huge", "notes", "version"])
def test_undo_reads_only_a_small_regular_manifest(kind: str, messy: Path, model_settings: dict, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    expected = {
        "fifo": "not a regular file",
        "device": "not a regular file",
        "huge": "too large for an imrec move manifest",
        "notes": r"not an imrec move manifest \(not JSON\)",
        "version": "not an imrec move manifest of a known version",
    }[kind]
    if kind == "fifo":
        os.mkfifo(path)  # opened for reading with no writer: must not hang
    elif kind == "device":
        path = Path("/dev/zero")  # would read without end
    elif kind == "huge":
        with path.open("wb") as handle:
            handle.truncate(65 << 20)
    elif kind == "notes":
        path.write_text("shopping: milk, eggs\n")
    else:
        path.write_text(json.dumps({"version": 99, "library": str(messy), "moves": []}))
    with Library.open(messy, **model_settings) as library:
        finished: list[BaseException] = []

        def attempt() -> None:
            try:
                library.undo_moves(path)
            except BaseException as exc:
                finished.append(exc)

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(10)
        assert finished, "the undo hung"
        assert isinstance(finished[0], SettingsError) and re.search(expected, str(finished[0]))


def test_a_folder_swapped_for_a_link_out_of_the_library_is_not_followed(
    messy: Path, model_settings: dict, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy2(messy / "copies" / "bridge.jpg", outside / "bridge.jpg")  # the same bytes, so it "matches"
    shutil.rmtree(messy / "copies")
    (messy / "copies").symlink_to(outside)
    with Library.open(messy, **model_settings) as library:
        groups = library.duplicates(THRESHOLD)
        _, report = library.move_duplicates(groups, tmp_path / "duplicates", apply=True)
    assert report is not None and (outside / "bridge.jpg").is_file()
    assert not (tmp_path / "duplicates" / "copies").exists()
    reasons = dict(report.skipped)
    assert "leads out of" in reasons[str(messy / "copies" / "bridge.jpg")]


def test_a_stale_catalog_moves_nothing_that_changed(messy: Path, model_settings: dict, tmp_path: Path) -> None:
    # A "copy" overwritten with another picture since the index, and a keeper deleted since.
    shutil.copy(PHOTOS / "sunset_by_Aitzol_Berasategi.jpg", messy / "copies" / "bridge.jpg")
    (messy / "Kleiber_by_Lukas_Baubkus.jpg").unlink()
    with Library.open(messy, **model_settings) as library:
        groups = library.duplicates(THRESHOLD)
        planned, report = library.move_duplicates(groups, tmp_path / "duplicates", apply=True)
    assert report is not None
    reasons = dict(report.skipped)
    assert "changed since the last 'imrec index'" in reasons[str(messy / "copies" / "bridge.jpg")]
    assert (
        "the copy to keep (Kleiber_by_Lukas_Baubkus.jpg): no longer there" in reasons[str(messy / "kleiber-small.jpg")]
    )
    assert (messy / "copies" / "bridge.jpg").is_file() and (messy / "kleiber-small.jpg").is_file()
    assert report.moved == 1 and report.bytes == (tmp_path / "duplicates" / "IMG_0001-export.jpg").stat().st_size
    assert len(planned) == 3


def test_two_resolves_planned_at_once_never_move_the_last_copy(
    messy: Path, model_settings: dict, tmp_path: Path
) -> None:
    with Library.open(messy, **model_settings) as first, Library.open(messy, **model_settings) as second:
        # Both plan before either moves, each keeping the other's "copy".
        keep_root = first.duplicates(THRESHOLD)
        keep_copies = second.duplicates(THRESHOLD, keep_under="copies")
        _, one = first.move_duplicates(keep_root, tmp_path / "a", apply=True)
        _, two = second.move_duplicates(keep_copies, tmp_path / "b", apply=True)
    assert one is not None and two is not None
    assert (messy / "Bridge_by_Sander_Klootwijk.jpg").is_file()  # the keeper of the first stays
    assert str(messy / "Bridge_by_Sander_Klootwijk.jpg") in dict(two.skipped)
    assert two.moved == 0


def test_the_web_resolve_refuses_a_threshold_that_groups_everything(messy: Path, model_settings: dict) -> None:
    with Library.open(messy, **model_settings) as library:
        ids = [image.id for image in library.catalog.images("ok")]
        before = tree_digests(messy)
        with pytest.raises(QueryError, match=r"only for groups at 0\.9 or above"):
            library.resolve_group(ids, ids[0], 0.0001)
        assert tree_digests(messy) == before


def blend(a: Path, b: Path, share: float) -> Image.Image:
    first = Image.open(a).convert("RGB").resize((256, 256))
    second = Image.open(b).convert("RGB").resize((256, 256))
    return Image.blend(first, second, share)


def test_a_chain_of_look_alikes_never_moves_an_image_unlike_its_keeper(tmp_path: Path, model_settings: dict) -> None:
    root = tmp_path / "library"
    root.mkdir()
    a, b = PHOTOS / "Bridge_by_Sander_Klootwijk.jpg", PHOTOS / "sunset_by_Aitzol_Berasategi.jpg"
    for step in range(7):  # a chain from one photo to another, each a little further along
        blend(a, b, step / 6).save(root / f"step-{step}.png")
    indexed(root, model_settings)
    with Library.open(root, **model_settings) as library:
        model = library.query_model()
        labels, vectors = library.catalog.vectors_by_labels(library.catalog.live_labels(model.id).tolist())
        images = library.catalog.images_by_labels(labels.tolist())
        vector_of = {images[label].path: vector for label, vector in zip(labels.tolist(), vectors, strict=True)}
        neighbours = [float(vector_of[f"step-{i}.png"] @ vector_of[f"step-{i + 1}.png"]) for i in range(6)]
        ends = float(vector_of["step-0.png"] @ vector_of["step-6.png"])
        threshold = min(neighbours) - 1e-4  # every step joins the next: one chain end to end
        assert ends < threshold, "the chain's ends must not be alike themselves"
        groups = library.duplicates(threshold)
        assert groups, "the neighbours are alike, so some group is found"
        for group in groups:
            for image in group.removable:
                assert float(vector_of[image.path] @ vector_of[group.keeper.path]) >= threshold, image.path
            assert group.score >= threshold
        in_groups = [image.path for group in groups for image in group.images]
        assert len(in_groups) == len(set(in_groups))  # each image in one group


def write_heic(picture: Image.Image, path: Path, taken: str, camera: str) -> None:
    exif = Image.open(io.BytesIO(with_exif(picture, taken, camera))).getexif()
    picture.save(path, quality=90, exif=exif)


def test_an_export_is_a_near_duplicate_and_a_burst_stays_protected(tmp_path: Path, model_settings: dict) -> None:
    root = tmp_path / "library"
    root.mkdir()
    wine = Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").convert("RGB")
    write_heic(wine, root / "IMG_0002.heic", "2024:03:01 10:00:00", "iPhone 15")
    (root / "IMG_0002.jpg").write_bytes(
        with_exif(wine.resize((wine.width * 2, wine.height * 2)), "2024:03:01 10:00:00", "iPhone 15")
    )
    bird = Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").convert("RGB")
    write_heic(bird, root / "IMG_0003.heic", "2024:03:01 11:00:00", "iPhone 15")
    (root / "IMG_0003.jpg").write_bytes(with_exif(bird, "2024:03:01 11:00:00", "iPhone 15"))  # its export
    (root / "IMG_0004.jpg").write_bytes(with_exif(bird.rotate(1), "2024:03:01 11:00:01", "iPhone 15"))  # a burst shot
    indexed(root, model_settings)
    with Library.open(root, **model_settings) as library:
        groups = {frozenset(i.path for i in g.images): g for g in library.duplicates(THRESHOLD)}
    export = groups[frozenset({"IMG_0002.heic", "IMG_0002.jpg"})]
    assert export.kind == "near" and export.keeper.path == "IMG_0002.heic"
    assert [image.path for image in export.removable] == ["IMG_0002.jpg"]
    burst = next(group for paths, group in groups.items() if "IMG_0004.jpg" in paths)
    assert burst.kind == "burst" and burst.removable == []


def test_a_similarity_below_one_never_shows_as_one(messy: Path, model_settings: dict) -> None:
    with Library.open(messy, **model_settings) as library:
        for group in library.duplicates(THRESHOLD):
            shown = group.as_json()["score"]
            if group.kind != "exact":
                assert shown < 1.0 and shown <= group.score
                assert np.floor(group.score * 1000) / 1000 == pytest.approx(np.floor(shown * 1000) / 1000)


def test_state_changing_requests_from_another_origin_are_refused(
    messy: Path, model_settings: dict, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(messy, **model_settings, duplicates_dir=tmp_path / "moved") as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        group = next(g for g in library.duplicates(THRESHOLD) if g.kind == "exact")
        body = {"image_ids": [i.id for i in group.images], "keeper_id": group.keeper.id, "threshold": THRESHOLD}
        before = tree_digests(messy)
        for headers in (
            {"Origin": "http://127.0.0.2:8000"},
            {"Origin": "http://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:8765"},
            {"Origin": "null"},
        ):
            refused = client.post("/api/duplicates/resolve", json=body, headers=headers)
            assert refused.status_code == 403, headers
            assert client.post("/api/duplicates/undo", headers=headers).status_code == 403
        assert tree_digests(messy) == before
        # The page's own requests still work.
        same = {"Origin": "http://127.0.0.1:8765", "Sec-Fetch-Site": "same-origin"}
        assert client.post("/api/duplicates/resolve", json=body, headers=same).json()["moved"] == 1
        assert client.get("/api/duplicates", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


@pytest.mark.browser
def test_a_page_of_another_origin_cannot_undo_or_resolve(messy: Path, model_settings: dict, tmp_path: Path) -> None:
    """An attacker's page on 127.0.0.2 posts a form and a no-cors fetch at the library's server."""
    import http.server

    from test_web import CHROMIUM, _has_playwright, free_port, serving

    if CHROMIUM is None or not _has_playwright():
        pytest.skip("needs Debian's chromium and playwright")
    from playwright.sync_api import sync_playwright

    library = Library.open(messy, **model_settings, duplicates_dir=tmp_path / "moved")
    group = next(
        g for g in library.duplicates(THRESHOLD) if g.kind == "near" and "IMG_0001.heic" in {i.path for i in g.images}
    )
    library.resolve_group([i.id for i in group.images], group.keeper.id, THRESHOLD)  # something to undo
    exact = next(g for g in library.duplicates(THRESHOLD) if g.kind == "exact")
    body = json.dumps({"image_ids": [i.id for i in exact.images], "keeper_id": exact.keeper.id, "threshold": THRESHOLD})
    before = tree_digests(messy)
    with serving(library) as port:
        attack = f"""<!doctype html><form id="f" method="POST" action="http://127.0.0.1:{port}/api/duplicates/undo"></form>
<script>
fetch("http://127.0.0.1:{port}/api/duplicates/resolve", {{method: "POST", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}}, body: {json.dumps(body)}}})
  .finally(() => document.getElementById("f").submit());
</script>"""

        class Attacker(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(attack.encode())

            def log_message(self, *_: object) -> None:
                pass

        evil = http.server.HTTPServer(("127.0.0.2", free_port()), Attacker)
        threading.Thread(target=evil.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page()
                with page.expect_navigation(url=f"http://127.0.0.1:{port}/api/duplicates/undo"):
                    page.goto(f"http://127.0.0.2:{evil.server_address[1]}/")
                assert "another site" in page.content()
                browser.close()
        finally:
            evil.shutdown()
    assert tree_digests(messy) == before  # nothing put back, nothing moved
    assert (tmp_path / "moved" / "IMG_0001-export.jpg").is_file() or (tmp_path / "moved" / "IMG_0001.heic").is_file()
