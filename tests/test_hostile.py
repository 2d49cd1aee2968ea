"""Hostile and unlucky inputs, one test per class: shapes, renames, unreadable folders, odd names,
foreign Host headers, forged sidecars, swapped files, damaged catalogs and indexes, huge ids."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS
from fastapi.testclient import TestClient
from PIL import Image

from image_recommender import Library
from image_recommender.catalog.store import Catalog
from image_recommender.errors import ImageDecodeError, QueryError, SettingsError
from image_recommender.images.decode import MAX_RESIZED_PIXELS, decode, probe_whole_jpeg, read_file
from image_recommender.paths import is_inside
from image_recommender.scan import is_mass_removal
from image_recommender.settings import load_settings
from image_recommender.web import app as web_app
from image_recommender.web.app import create_app
from image_recommender.web.safety import allowed_hosts, host_of


def strip_png(width: int, height: int) -> bytes:
    """A small PNG of a long thin strip (compresses to under a few KB)."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def small_jpeg(name: str = "Fossa_by_Jasper_Roks.jpg", size: tuple[int, int] = (96, 64)) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB").resize(size)


# -- 1. extreme aspect ratios -----------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1, 2_000_000), (2_000_000, 1), (3, 900_000)])
def test_a_strip_is_refused_from_its_header_before_decoding(width: int, height: int) -> None:
    data = strip_png(width, height)
    assert len(data) < 64_000
    with pytest.raises(ImageDecodeError, match="extreme shape"):
        decode(data, 224, resize_to=224)
    assert decode(data).image.size == (width, height)  # a thumbnail never scales it up: allowed


def test_the_bound_is_on_pixels_after_the_models_resize() -> None:
    wide = strip_png(20_000, 10)  # 2000:1 makes 8 MP at a 64 px input, 100 MP at 224 px
    assert decode(wide, 64, resize_to=64).image.size == (20_000, 10)
    with pytest.raises(ImageDecodeError, match=f"at most {MAX_RESIZED_PIXELS // 1_000_000} MP"):
        decode(wide, 224, resize_to=224)


def test_a_thin_jpeg_is_kept_from_the_gpu_route_and_refused_on_the_cpu_route() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 60_000), "gray").save(buffer, "JPEG", quality=50)
    assert probe_whole_jpeg(buffer.getvalue(), 224) is None
    with pytest.raises(ImageDecodeError, match="extreme shape"):
        decode(buffer.getvalue(), 224, resize_to=224)


def test_strips_in_a_library_are_recorded_as_failed_and_the_rest_embedded(model_settings: dict, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "strip.png").write_bytes(strip_png(1, 2_000_000))
    (root / "bar.png").write_bytes(strip_png(2_000_000, 1))
    small_jpeg().save(root / "fine.jpg")
    with Library.open(root, create=True, **model_settings) as library:
        summary = library.update()
        assert (summary.embedded, summary.failed) == (1, 2)
        reasons = dict(library.status().failures)
        assert "extreme shape 1x2000000" in reasons["strip.png"] and "extreme shape" in reasons["bar.png"]
        again = library.update()
        assert (again.embedded, again.failed) == (0, 0)  # recorded once, not retried forever


def test_a_strip_as_query_or_upload_is_a_clear_refusal(model_settings: dict, library_dir: Path, tmp_path: Path) -> None:
    strip = tmp_path / "strip.png"
    strip.write_bytes(strip_png(1, 2_000_000))
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        with pytest.raises(QueryError, match="extreme shape"):
            library.search(image=strip)
        client = TestClient(create_app(library), base_url="http://127.0.0.1")
        answer = client.post("/api/search", files={"image": ("strip.png", strip.read_bytes(), "image/png")})
        assert answer.status_code == 400 and "extreme shape" in answer.json()["detail"]


# -- 2. rename or copy, then replace the original ---------------------------------------------


def test_move_then_replace_the_original_reuses_the_moved_vector(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        model = library.query_model()
        moved_before = library.catalog.vector_of_image(
            library.catalog.image_by_path("Bridge_by_Sander_Klootwijk.jpg").id, model.id
        )[1]
        (library_dir / "Bridge_by_Sander_Klootwijk.jpg").rename(library_dir / "bridge-moved.jpg")
        shutil.copy(library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / "Bridge_by_Sander_Klootwijk.jpg")
        summary = library.update()
        assert summary.reused == 2 and summary.embedded == 0
        assert library.catalog.state_counts()["pending"] == 0 and library.status().index.current
        moved = library.catalog.image_by_path("bridge-moved.jpg")
        assert moved.state == "ok" and moved.error is None
        assert np.allclose(library.catalog.vector_of_image(moved.id, model.id)[1], moved_before)
        assert "bridge-moved.jpg" in {r.path for r in library.search(text="x", k=20).results}


def test_two_files_swapping_names_keep_their_vectors(model_settings: dict, library_dir: Path) -> None:
    a, b = library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / "Fossa_by_Jasper_Roks.jpg"
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        model = library.query_model()
        vectors = {
            p.name: library.catalog.vector_of_image(library.catalog.image_by_path(p.name).id, model.id)[1]
            for p in (a, b)
        }
        a.rename(library_dir / "swap.tmp")
        b.rename(a)
        (library_dir / "swap.tmp").rename(b)
        os.utime(a, (1e9, 1e9))  # a rename keeps mtimes; make both look changed, as a copy would
        os.utime(b, (1e9 + 5, 1e9 + 5))
        summary = library.update()
        assert summary.changed == 2 and summary.reused == 2 and summary.embedded == 0
        for path, was in ((a, b.name), (b, a.name)):
            image = library.catalog.image_by_path(path.name)
            assert image.state == "ok" and np.allclose(
                library.catalog.vector_of_image(image.id, model.id)[1], vectors[was]
            )


# -- 3. a folder that cannot be read keeps its rows -------------------------------------------


def test_an_unreadable_folder_keeps_its_images(
    model_settings: dict, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = library_dir / "trip"
    sub.mkdir()
    for number in range(3):
        small_jpeg().rotate(number * 40).save(sub / f"t{number}.jpg")
    with Library.open(library_dir, create=True, **model_settings) as library:
        assert library.update().embedded == 11
        real_scandir = os.scandir

        def refuse(path: object) -> object:
            if os.fspath(path).endswith("trip"):
                raise PermissionError(13, "Permission denied")
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", refuse)
        summary = library.update()
        assert summary.removed == 0 and any(line.startswith("trip: Permission denied") for line in summary.unreadable)
        assert library.catalog.state_counts()["ok"] == 11
        assert {"trip/t0.jpg", "trip/t1.jpg", "trip/t2.jpg"} <= {r.path for r in library.search(text="x", k=20).results}
        monkeypatch.undo()
        (sub / "t0.jpg").unlink()
        assert library.update().removed == 1  # readable again: a real deletion is seen


def test_an_unreadable_root_removes_nothing(
    model_settings: dict, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()

        def refuse(path: object) -> object:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(os, "scandir", refuse)
        summary = library.update()
        assert summary.removed == 0 and summary.unreadable and library.catalog.state_counts()["ok"] == 8


# -- 4. names that display alike stay distinct ------------------------------------------------


@pytest.mark.parametrize("raw", [b"caf\xe9.jpg", b"\xff\xfe.jpg", b"dir-\x80/x.jpg"])
def test_a_non_utf8_name_and_its_display_twin_are_two_images(model_settings: dict, tmp_path: Path, raw: bytes) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    twin = raw.decode("utf-8", "backslashreplace")
    for number, name in enumerate((os.fsencode(root) + b"/" + raw, os.fsencode(root) + b"/" + twin.encode())):
        os.makedirs(os.path.dirname(name), exist_ok=True)
        small_jpeg().rotate(90 * number).save(open(name, "wb"), "JPEG")  # noqa: SIM115 - closed by PIL on save
    with Library.open(root, create=True, **model_settings) as library:
        first = library.update()
        assert (first.new, first.embedded, first.failed) == (2, 2, 0)
        again = library.update()
        assert (again.new, again.changed, again.embedded) == (0, 0, 0)
        assert len(library.catalog.images("ok")) == 2


def test_a_v2_catalog_migrates_with_its_vectors(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
    path = library_dir / ".imrec" / "catalog.sqlite3"
    with sqlite3.connect(path) as db:  # undo v3: back to a path-UNIQUE table, as version 2 wrote it
        db.execute("PRAGMA user_version=2")
    backup_vectors = sqlite3.connect(path).execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    catalog = Catalog.open(path)  # migrates 2 -> 3 again: the rebuild must not cascade into vectors
    assert catalog.integrity_check() == "ok" and catalog.vector_counts() == {1: backup_vectors}
    assert catalog._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    catalog.close()


# -- 5. DNS rebinding ---------------------------------------------------------------------------


def test_host_header_parsing() -> None:
    assert host_of("127.0.0.1:8765") == "127.0.0.1" and host_of("LOCALHOST") == "localhost"
    assert host_of("[::1]:8765") == "::1" and host_of("[0:0::1]") == "::1"
    assert host_of("evil.example:80") == "evil.example" and host_of("a:b") == "" and host_of("") == ""
    hosts = allowed_hosts("127.0.0.1", "photos.lan, NAS")
    assert {"127.0.0.1", "localhost", "::1", "photos.lan", "nas"} <= hosts and "evil.example" not in hosts


def test_requests_for_other_host_names_are_refused(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, allowed_hosts="photos.lan", **model_settings) as library:
        library.update()
        app = create_app(library, served_host="127.0.0.1")
        for base in ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765", "http://photos.lan"):
            assert TestClient(app, base_url=base).get("/api/status").status_code == 200, base
        for base in ("http://evil.example", "http://127.0.0.1.evil.example:8765", "http://attacker:8765"):
            client = TestClient(app, base_url=base)
            for url in ("/", "/api/status", "/api/images/1/file", "/api/search?text=x", "/static/app.js"):
                answer = client.get(url)
                assert answer.status_code == 421 and b"root" not in answer.content, (base, url)


# -- 6. a forged sidecar never deletes or reads other files -------------------------------------


@pytest.mark.parametrize("field", ["index_file", "vectors_file", "codes_file", "lists_file"])
@pytest.mark.parametrize("target", ["../catalog.sqlite3", "catalog.sqlite3", "/etc/hostname", "index-x.json"])
def test_a_sidecar_naming_another_file_means_rebuild(
    model_settings: dict, library_dir: Path, target: str, field: str
) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        state = library.settings.state_dir
        sidecar = next(state.glob("index-*.json"))
        data = json.loads(sidecar.read_text())
        victim = state / "catalog.sqlite3" if "catalog" in target else state / target
        data[field] = target
        sidecar.write_text(json.dumps(data))
        # Any file but the catalog (which the rebuild writes to) must stay byte for byte.
        before = victim.read_bytes() if victim.exists() and "catalog" not in target else None
        assert not library.status().index.exists
        report = library.build_index()
        assert report.rebuilt and report.count == 8
        assert victim.exists() or not before
        if before is not None:
            assert victim.read_bytes() == before
        assert library.catalog.integrity_check() == "ok"
        assert len(library.search(text="x", k=20).results) == 8


@pytest.mark.parametrize("ranges", ["short", "not finite", "text", "not a list", "ranges without codes"])
def test_a_sidecar_with_a_forged_screen_quantizer_means_rebuild(
    model_settings: dict, library_dir: Path, ranges: str
) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        sidecar = next(library.settings.state_dir.glob("index-*.json"))
        data = json.loads(sidecar.read_text())
        width = 2 * data["dim"]
        forged = {"short": [0.5], "not finite": [math.inf] * width, "text": ["x"] * width, "not a list": {"a": 1}}
        forged["ranges without codes"] = [0.5] * width
        data["code_ranges"] = forged[ranges]
        screened = ranges != "ranges without codes"  # else as if the index screened with codes
        data["codes_file"] = f"{sidecar.stem}-{'0' * 12}.sq8" if screened else ""
        sidecar.write_text(json.dumps(data))
        assert not library.status().index.exists
        assert library.build_index().rebuilt
        assert len(library.search(text="x", k=20).results) == 8


# -- 7. files swapped after the scan for FIFOs, devices or links out ---------------------------


def test_a_file_swapped_for_a_fifo_or_device_after_the_scan_fails_fast(
    model_settings: dict, library_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.jpg"
    small_jpeg("Wine_by_Jakkub_Mede.jpg").save(outside)
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.scan()
        (library_dir / "Bridge_by_Sander_Klootwijk.jpg").unlink()
        os.mkfifo(library_dir / "Bridge_by_Sander_Klootwijk.jpg")
        (library_dir / "Dragonfly_by_Bolly.jpg").unlink()
        os.symlink("/dev/zero", library_dir / "Dragonfly_by_Bolly.jpg")
        (library_dir / "Fossa_by_Jasper_Roks.jpg").unlink()
        os.symlink(outside, library_dir / "Fossa_by_Jasper_Roks.jpg")
        started = time.monotonic()
        report = library.embed()
        assert time.monotonic() - started < 60 and (report.embedded, report.failed) == (5, 3)
        reasons = dict(library.status().failures)
        assert "not a regular file" in reasons["Bridge_by_Sander_Klootwijk.jpg"]
        assert "not a regular file" in reasons["Dragonfly_by_Bolly.jpg"]
        assert "leading out of the library" in reasons["Fossa_by_Jasper_Roks.jpg"]


def test_read_file_caps_the_size(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * 5000)
    with pytest.raises(ImageDecodeError, match="too large"):
        read_file(big, max_bytes=4096)
    assert read_file(big, max_bytes=10_000).size == 5002


# -- 8. served files are checked when served --------------------------------------------------


def test_a_catalogued_file_replaced_after_indexing_is_not_served(
    model_settings: dict, library_dir: Path, tmp_path: Path
) -> None:
    page = tmp_path / "page.html"
    page.write_text("<script>alert(1)</script>")
    system_like = tmp_path / "passwd"
    system_like.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        client = TestClient(create_app(library), base_url="http://127.0.0.1")
        ids = {image.path: image.id for image in library.catalog.images("ok")}
        served = client.get(f"/api/images/{ids['Wine_by_Jakkub_Mede.jpg']}/file")
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert served.headers["x-content-type-options"] == "nosniff"
        swaps = {
            "Bridge_by_Sander_Klootwijk.jpg": library.settings.catalog_path,  # a link to the catalog itself
            "Dragonfly_by_Bolly.jpg": page,  # a link to a web page outside
        }
        for name, target in swaps.items():
            (library_dir / name).unlink()
            os.symlink(target, library_dir / name)
        (library_dir / "Fossa_by_Jasper_Roks.jpg").unlink()
        os.link(system_like, library_dir / "Fossa_by_Jasper_Roks.jpg")  # a hard link stays "inside"
        for name in (*swaps, "Fossa_by_Jasper_Roks.jpg"):
            for kind in ("file", "thumb"):
                answer = client.get(f"/api/images/{ids[name]}/{kind}")
                assert answer.status_code in (403, 422), (name, kind, answer.status_code)
                assert (
                    b"root:x" not in answer.content
                    and b"<script>" not in answer.content
                    and b"SQLite" not in answer.content
                )


@pytest.mark.slow  # seconds: the fast tier stays under a minute
def test_thumbnail_decodes_are_bounded(
    model_settings: dict, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        client = TestClient(create_app(library), base_url="http://127.0.0.1")
        busy, most = 0, 0
        guard = threading.Lock()

        def slow_load(path: Path, size: int, root: Path | None = None) -> Image.Image:
            nonlocal busy, most
            with guard:
                busy += 1
                most = max(most, busy)
            time.sleep(0.2)
            with guard:
                busy -= 1
            return Image.new("RGB", (size, size))

        monkeypatch.setattr(web_app, "load_image", slow_load)
        threads = [threading.Thread(target=client.get, args=(f"/api/images/{i}/thumb",)) for i in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert most == web_app.THUMB_DECODES_AT_ONCE


# -- 9. damaged catalogs and indexes ----------------------------------------------------------


def test_a_damaged_catalog_is_one_line_everywhere(imrec, library_dir: Path) -> None:  # type: ignore[no-untyped-def]
    imrec("index", library_dir, "-q")
    path = library_dir / ".imrec" / "catalog.sqlite3"
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):
        data[start : start + page] = os.urandom(page)  # every page after the header page: garbage
    path.write_bytes(bytes(data))
    for args in (("status", library_dir), ("search", "--like-id", "1", "-l", library_dir), ("index", library_dir)):
        result = imrec(*args, expect=None)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stderr.startswith("imrec: error:") and result.stderr.count("\n") == 1, result.stderr
    checked = imrec("status", library_dir, "--check", expect=1)
    assert "catalog damaged" in checked.stdout and "Traceback" not in checked.stderr


def test_corrupted_index_vectors_are_found_and_rebuilt(model_settings: dict, library_dir: Path) -> None:
    import faiss

    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        state = library.settings.state_dir
        sidecar = next(state.glob("index-*.json"))
        index_path = state / json.loads(sidecar.read_text())["index_file"]
        index = faiss.read_index(str(index_path))
        storage = faiss.downcast_index(faiss.downcast_index(index.index).storage)
        vectors = faiss.rev_swig_ptr(storage.get_xb(), index.ntotal * index.d)
        vectors[: index.d * 3] = 1e18  # damaged bytes: would score 1e36 against any query
        faiss.write_index(index, str(index_path))
        assert "differs from the catalog" in library.status(check=True).integrity
        report = library.build_index()
        assert report.rebuilt
        assert library.status(check=True).integrity == "ok"
        scores = [r.score for r in library.search(text="x", k=8).results]
        assert max(scores) <= 1.0001


# -- 10. ids beyond 64 bits and odd upload names ----------------------------------------------


def test_huge_ids_and_nul_names_are_client_errors(model_settings: dict, library_dir: Path) -> None:
    huge = str(2**64 + 5)
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        client = TestClient(create_app(library), base_url="http://127.0.0.1")
        for url in (
            f"/api/images/{huge}",
            f"/api/images/{huge}/file",
            f"/api/images/{huge}/thumb",
            f"/api/search?like_id={huge}",
            f"/api/search?text=x&unlike_id={huge}",
            f"/api/images?offset={huge}",
        ):
            assert client.get(url).status_code == 422, url
        assert client.post("/api/recommend", json={"liked": [2**64]}).status_code == 422
        for name in ("a\0b.jpg", "../../etc/x.jpg", "\x1b[31mred.jpg", "x" * 5000):
            answer = client.post(
                "/api/search", files={"image": (name, (PHOTOS / "Wine_by_Jakkub_Mede.jpg").read_bytes(), "image/jpeg")}
            )
            assert answer.status_code in (200, 400), (name, answer.text)  # never a 500
            if answer.status_code == 400:
                continue
            shown = answer.json()["query"][0]
            assert "\0" not in shown and "/" not in shown and "\x1b" not in shown and len(shown) < 200
        with pytest.raises(QueryError, match="no indexed image"):
            library.recommend([huge])


def test_out_of_range_numbers_in_json_are_client_errors(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        client = TestClient(create_app(library), base_url="http://127.0.0.1", raise_server_exceptions=False)
        for url, body in (
            ("/api/recommend", b'{"like": [1e400]}'),
            ("/api/recommend", b'{"liked": [NaN]}'),
            ("/api/recommend", b'{"liked": [1], "disliked": [-Infinity]}'),
            ("/api/duplicates/resolve", b'{"image_ids": [Infinity], "keeper_id": 1}'),
        ):
            answer = client.post(url, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 422, (url, body, answer.text)
            assert answer.json()["detail"][0]["loc"]  # names the field, echoes no value


def test_a_body_over_the_limit_is_refused_before_it_is_read(model_settings: dict, library_dir: Path) -> None:
    from image_recommender.web.app import MAX_BODY_BYTES

    with Library.open(library_dir, create=True, **model_settings) as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1")
        declared = client.post(
            "/api/search", content=b"x" * 10, headers={"content-length": str(400 << 20), "content-type": "image/jpeg"}
        )
        assert declared.status_code == 413
        app = create_app(library)
    pulled, answer = 0, []

    async def receive() -> dict[str, object]:  # a chunked 400 MB upload, a megabyte a message
        nonlocal pulled
        pulled += 1
        head = b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n' if pulled == 1 else b""
        return {"type": "http.request", "body": head + b"\0" * (1 << 20), "more_body": pulled < 400}

    async def send(message: dict[str, object]) -> None:
        answer.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/search", "raw_path": b"/api/search", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"multipart/form-data; boundary=x")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8765),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert answer[0]["status"] == 413 and b"larger than" in answer[1]["body"]  # type: ignore[operator]
    assert pulled <= MAX_BODY_BYTES / (1 << 20) + 2  # reading stopped at the limit, not after 400 MB


# -- 12. bounded query work -------------------------------------------------------------------


def test_search_beams_and_result_counts_are_bounded(library_dir: Path) -> None:
    for overrides in ({"ef_search": 2_000_000_000}, {"top_k": 10**9}):
        with pytest.raises(SettingsError):
            load_settings(library_dir, overrides)


# -- 13. one mass-removal rule; paths that cannot be lines --------------------------------------


@pytest.mark.parametrize(
    ("vanished", "catalogued", "refused"),
    [
        (8, 8, True),
        (1, 1, True),
        (0, 50, False),
        (7, 8, False),
        (51, 100, True),
        (50, 100, False),
        (99, 150, True),
        (60, 99, False),
        (99, 200, False),
    ],
)
def test_the_mass_removal_rule(vanished: int, catalogued: int, refused: bool) -> None:
    assert is_mass_removal(vanished, catalogued) is refused


def test_is_inside_needs_the_separator(tmp_path: Path) -> None:
    (tmp_path / "library").mkdir()
    (tmp_path / "library-private").mkdir()
    os.symlink(tmp_path / "library-private", tmp_path / "library" / "sneaky")
    assert is_inside(tmp_path / "library" / "a.jpg", tmp_path / "library")
    assert is_inside(tmp_path / "library", tmp_path / "library")
    assert not is_inside(tmp_path / "library-private" / "a.jpg", tmp_path / "library")
    assert not is_inside(tmp_path / "library" / "sneaky" / "a.jpg", tmp_path / "library")
    assert not is_inside(tmp_path / "library" / ".." / "library-private", tmp_path / "library")
