"""Results used elsewhere: copied or linked into a folder in rank order, or opened; nothing overwritten."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Runner, run_json

from image_recommender import Library


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_copy_to_and_link_to_keep_the_rank_order(imrec: Runner, library_dir: Path, tmp_path: Path) -> None:
    imrec("index", library_dir, "-q")
    query = ("search", "-l", library_dir, "--text", "a bridge", "-k", "3")
    ranked = [hit["path"] for hit in run_json(imrec, *query)["results"]]
    copies = tmp_path / "out" / "copies"
    result = imrec(*query, "--copy-to", copies)
    assert f"3 result(s) copied to {copies}" in result.stderr
    assert sorted(p.name for p in copies.iterdir()) == [f"{n:03d}-{name}" for n, name in enumerate(ranked, 1)]
    for number, name in enumerate(ranked, 1):
        copy = copies / f"{number:03d}-{name}"
        assert not copy.is_symlink() and digest(copy) == digest(library_dir / name)
    links = tmp_path / "links"
    imrec(*query, "--link-to", links, "--json")
    for number, name in enumerate(ranked, 1):
        link = links / f"{number:03d}-{name}"
        assert link.is_symlink() and link.resolve() == (library_dir / name).resolve()


def test_a_folder_that_holds_files_is_refused_before_searching(
    imrec: Runner, library_dir: Path, tmp_path: Path
) -> None:
    imrec("index", library_dir, "-q")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "001-keep.jpg").write_bytes(b"mine")
    result = imrec("search", "-l", library_dir, "--text", "x", "--copy-to", busy, expect=2)
    assert (
        result.stderr.strip()
        == f"imrec: error: {busy}: is not empty; give a new or empty folder (nothing is ever overwritten)"
    )
    assert (busy / "001-keep.jpg").read_bytes() == b"mine" and len(list(busy.iterdir())) == 1
    both = imrec(
        "search", "-l", library_dir, "--text", "x", "--copy-to", tmp_path / "a", "--link-to", tmp_path / "b", expect=2
    )
    assert "--copy-to and --link-to both place the results; choose one" in both.stderr


def test_open_hands_the_results_to_the_system_viewer(
    imrec: Runner, library_dir: Path, model_env: dict[str, str], tmp_path: Path
) -> None:
    imrec("index", library_dir, "-q")
    tools = tmp_path / "bin"
    tools.mkdir()
    record = tmp_path / "opened.txt"
    opener = tools / "xdg-open"
    opener.write_text(f'#!/bin/sh\necho "$1" >> {record}\n')
    opener.chmod(0o755)
    env = {**model_env, "PATH": f"{tools}{os.pathsep}{model_env['PATH']}"}
    hits = run_json(imrec, "search", "-l", library_dir, "--text", "a bridge", "-k", "2", "--open", env=env)["results"]
    deadline = time.monotonic() + 10
    while (not record.exists() or len(record.read_text().splitlines()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.read_text().splitlines() == [str(library_dir / hit["path"]) for hit in hits]
    too_many = imrec("search", "-l", library_dir, "--text", "x", "-k", "50", "--open", env=env, expect=2)
    assert "--open opens each result: ask for at most 20" in too_many.stderr


def test_web_zip_download_holds_the_chosen_files_in_order(model_settings: dict, library_dir: Path) -> None:
    import io
    import os
    import time
    import zipfile

    from fastapi.testclient import TestClient

    from image_recommender import Library
    from image_recommender.web.app import create_app

    taken = time.mktime((2019, 6, 1, 12, 30, 0, 0, 0, -1))  # local time, as a zip entry holds it
    os.utime(library_dir / "Wine_by_Jakkub_Mede.jpg", (taken, taken))
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        chosen = [
            library.catalog.image_by_path(name)
            for name in ("Wine_by_Jakkub_Mede.jpg", "Bridge_by_Sander_Klootwijk.jpg")
        ]
        ids = [image.id for image in chosen if image is not None]
        answer = client.get("/api/download", params=[("id", ids[0]), ("id", ids[1]), ("id", ids[0])])
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
        assert answer.headers["content-disposition"] == 'attachment; filename="library-2.zip"'
        with zipfile.ZipFile(io.BytesIO(answer.content)) as bundle:
            assert bundle.namelist() == ["001-Wine_by_Jakkub_Mede.jpg", "002-Bridge_by_Sander_Klootwijk.jpg"]
            assert bundle.getinfo("001-Wine_by_Jakkub_Mede.jpg").date_time == (2019, 6, 1, 12, 30, 0)  # not 1980
            assert (
                bundle.read("002-Bridge_by_Sander_Klootwijk.jpg")
                == (library_dir / "Bridge_by_Sander_Klootwijk.jpg").read_bytes()
            )
        assert client.get("/api/download", params={"id": 999999}).status_code == 404
        assert client.get("/api/download").status_code == 422
        assert client.get("/api/download", params=[("id", i) for i in range(1, 502)]).status_code == 422


@pytest.fixture
def zip_client(model_settings: dict, library_dir: Path) -> Iterator[tuple[Any, Library]]:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        yield TestClient(create_app(library), base_url="http://127.0.0.1:8765"), library


def _ids(library: Library, *names: str) -> list[tuple[str, int]]:
    return [("id", library.catalog.image_by_path(name).id) for name in names]  # type: ignore[union-attr]


def test_zip_download_serves_only_files_that_are_still_images(
    zip_client: tuple[Any, Library], library_dir: Path, tmp_path: Path
) -> None:
    client, library = zip_client
    notes = tmp_path / "notes.txt"
    notes.write_text("bank PIN 1234\n")
    bridge, wine = library_dir / "Bridge_by_Sander_Klootwijk.jpg", library_dir / "Wine_by_Jakkub_Mede.jpg"
    wine.unlink()
    os.link(notes, wine)  # swapped for a hard link to a text file: inside the library, not an image
    refused = client.get(
        "/api/download", params=_ids(library, "Bridge_by_Sander_Klootwijk.jpg", "Wine_by_Jakkub_Mede.jpg")
    )
    assert refused.status_code == 403 and "no longer an image file" in refused.json()["detail"]
    wine.unlink()
    os.mkfifo(wine)  # a FIFO would block a reader with no writer
    assert client.get("/api/download", params=_ids(library, "Wine_by_Jakkub_Mede.jpg")).status_code == 403
    kleiber = library_dir / "Kleiber_by_Lukas_Baubkus.jpg"
    outside = tmp_path / "outside.jpg"
    shutil.copy2(kleiber, outside)
    kleiber.unlink()
    kleiber.symlink_to(outside)  # a link swapped in, leading out of the library
    linked = client.get("/api/download", params=_ids(library, kleiber.name))
    assert linked.status_code == 403 and "does not resolve inside the library" in linked.json()["detail"]
    bridge.unlink()
    missing = client.get("/api/download", params=_ids(library, "Bridge_by_Sander_Klootwijk.jpg"))
    assert missing.status_code == 404 and "cannot be opened" in missing.json()["detail"]


def test_zip_download_limits_say_so_and_copy_only_what_was_checked(
    zip_client: tuple[Any, Library], library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.web.app as web_app

    client, library = zip_client
    chosen = _ids(library, "Bridge_by_Sander_Klootwijk.jpg", "Wine_by_Jakkub_Mede.jpg")
    monkeypatch.setattr(web_app, "MAX_ZIP_BYTES", 1000)
    too_much = client.get("/api/download", params=chosen)
    assert too_much.status_code == 413 and "choose fewer" in too_much.json()["detail"]
    monkeypatch.undo()
    # A file that grows between the check and the copy is not copied on and on.
    grown = library_dir / "Wine_by_Jakkub_Mede.jpg"
    real_open = web_app.open_regular_file
    calls: list[Path] = []

    def growing(path: Path, root: Path | None = None) -> Any:
        calls.append(path)
        if calls.count(path) == 2 and path.name == grown.name:
            with grown.open("ab") as handle:
                handle.write(b"\0" * 4096)
        return real_open(path, root)

    monkeypatch.setattr(web_app, "open_regular_file", growing)
    changed = client.get("/api/download", params=chosen)
    assert changed.status_code == 409 and "changed while it was being zipped" in changed.json()["detail"]


def test_concurrent_zips_are_bounded_together(
    zip_client: tuple[Any, Library], library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.web.app as web_app

    client, library = zip_client
    chosen = _ids(library, "Bridge_by_Sander_Klootwijk.jpg")
    size = (library_dir / "Bridge_by_Sander_Klootwijk.jpg").stat().st_size
    monkeypatch.setattr(web_app, "MAX_SPOOLED_BYTES", size - 1)
    client = type(client)(web_app.create_app(library), base_url="http://127.0.0.1:8765")
    assert client.get("/api/download", params=chosen).status_code == 503
    monkeypatch.setattr(web_app, "MAX_SPOOLED_BYTES", size)
    client = type(client)(web_app.create_app(library), base_url="http://127.0.0.1:8765")
    for _ in range(3):  # each finished download gives its bytes back
        assert client.get("/api/download", params=chosen).status_code == 200


@pytest.mark.slow
def test_zip_download_of_a_file_over_two_gigabytes(
    zip_client: tuple[Any, Library], library_dir: Path, tmp_path: Path
) -> None:
    import zipfile

    client, library = zip_client
    big = library_dir / "Bridge_by_Sander_Klootwijk.jpg"
    header = big.read_bytes()
    with big.open("r+b") as handle:  # a JPEG header, then sparse zeros: 2.2 GB
        handle.truncate((2 << 30) + (200 << 20))
    saved = tmp_path / "download.zip"
    with client.stream("GET", "/api/download", params=_ids(library, big.name)) as answer:
        assert answer.status_code == 200
        with saved.open("wb") as out:
            for chunk in answer.iter_bytes(1 << 22):
                out.write(chunk)
    with zipfile.ZipFile(saved) as bundle:
        (entry,) = bundle.infolist()
        assert entry.file_size == big.stat().st_size
        with bundle.open(entry) as member:
            assert member.read(len(header)) == header


def test_open_says_when_the_system_has_no_viewer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from image_recommender.export import open_in_viewer

    tools = tmp_path / "bin"
    tools.mkdir()
    opener = tools / "xdg-open"
    opener.write_text("#!/bin/sh\necho \"xdg-open: no method available for opening '$1'\" >&2\nexit 3\n")
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    photo = tmp_path / "photo.jpg"
    assert open_in_viewer([photo]) == [
        f"{photo}: xdg-open could not open it (xdg-open: no method available for opening '{photo}')"
    ]
    opener.write_text("#!/bin/sh\nexit 0\n")
    assert open_in_viewer([photo]) == []
