"""Results used elsewhere: copied or linked into a folder in rank order, or opened; nothing overwritten."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from conftest import Runner, run_json


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
    import zipfile

    from fastapi.testclient import TestClient

    from image_recommender import Library
    from image_recommender.web.app import create_app

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
            assert (
                bundle.read("002-Bridge_by_Sander_Klootwijk.jpg")
                == (library_dir / "Bridge_by_Sander_Klootwijk.jpg").read_bytes()
            )
        assert client.get("/api/download", params={"id": 999999}).status_code == 404
        assert client.get("/api/download").status_code == 422
        assert client.get("/api/download", params=[("id", i) for i in range(1, 502)]).status_code == 422
