"""The milvus index kind, against Milvus Lite: the same answers as the local index, filters and
deletions, the kind kept until asked otherwise, one searchable copy of the vectors, damage
found by ``status --check`` and repaired by ``index``, a sync stopped half-way, a bad address."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_index_kinds import FOLDERS, add_images, clustered, exact_paths, like, with_twins

import image_recommender.index.milvus as milvus_module
from image_recommender import Library
from image_recommender.errors import LibraryError
from image_recommender.search import Term

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")
pytestmark = pytest.mark.slow  # Milvus Lite starts a server process of its own


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(3000)


def _path(i: int) -> str:
    return f"{FOLDERS[i % 2]}/{i:06d}.jpg"


def _collection(root: Path) -> tuple[object, str]:
    """A client of the library's Milvus Lite and the collection's name, as a user with pymilvus sees them."""
    from pymilvus import MilvusClient

    (meta,) = (root / ".imrec").glob("*.milvus.json")
    return MilvusClient(str(root / ".imrec" / "milvus.db")), json.loads(meta.read_text())["collection"]


def test_milvus_gives_the_local_index_top_ten_and_holds_the_only_searchable_copy(
    tmp_path: Path, vectors: np.ndarray
) -> None:
    add_images(tmp_path, vectors)
    queries = range(0, len(vectors), 61)
    with Library.open(tmp_path, index_kind="hnsw") as library:
        library.build_index()
        local = {q: like(library, q, k=10) for q in queries}
    with Library.open(tmp_path, index_kind="milvus") as library:
        report = library.build_index()
        assert (report.kind, report.count, report.added) == ("milvus", len(vectors), len(vectors))
        overlap = np.mean([len(set(like(library, q, k=10)) & set(local[q])) / 10 for q in queries])
        exact = np.mean([len(set(like(library, q, k=10)) & exact_paths(vectors, q, 10)) / 10 for q in queries])
        status = library.status(check=True)
    assert overlap >= 0.9 and exact >= 0.99
    assert status.index.kind == "milvus" and status.index.count == len(vectors) and status.integrity == "ok"
    held = sorted(path.name for path in (tmp_path / ".imrec").iterdir())
    assert not [name for name in held if name.endswith((".faiss", ".f32", ".sq8"))], held  # the FAISS copy gave way
    client, name = _collection(tmp_path)
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == len(vectors)  # type: ignore[attr-defined]


def test_filters_deletions_and_new_vectors_before_a_sync(
    tmp_path: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_images(tmp_path, vectors[:2500])
    monkeypatch.setattr(milvus_module, "EXACT_FILTER_LIMIT", 0)  # the folder filter goes to Milvus as ids
    monkeypatch.setattr(milvus_module, "ID_LIST_LIMIT", 500)  # in chunks whose best are merged
    with Library.open(tmp_path, index_kind="milvus") as library:
        library.build_index()
    add_images(tmp_path, vectors[2500:], first=2500)  # embedded since the sync: scored from the catalog
    deleted = list(range(0, 2500, 37))
    with Library.open(tmp_path) as library:
        library.catalog.apply_scan([], [], [], [position + 1 for position in deleted])
        status = library.status().index
        assert (status.kind, status.stale, status.unindexed) == ("milvus", len(deleted), 500)
        allowed = set(range(0, len(vectors), 2)) - set(deleted)
        for query in (5, 700, 2801):
            found = like(library, query, k=20, under="a")
            assert len(found) == 20 and set(found) == exact_paths(vectors, query, 20, allowed)
            assert set(like(library, query, k=30)) == exact_paths(vectors, query, 30, set(range(3000)) - set(deleted))
        report = library.build_index()
        assert (report.kind, report.count, report.added) == ("milvus", len(vectors) - len(deleted), 500)
    client, name = _collection(tmp_path)
    left = client.query(name, ids=[position + 1 for position in deleted], output_fields=["id"])  # type: ignore[attr-defined]
    assert left == []  # deleted files vanish from Milvus itself after the sync


def test_the_kind_stays_until_asked_otherwise_and_moving_back_drops_the_collection(
    tmp_path: Path, vectors: np.ndarray
) -> None:
    add_images(tmp_path, vectors[:1000])
    with Library.open(tmp_path, index_kind="milvus") as library:
        library.build_index()
        before = like(library, 10, k=10)
    with Library.open(tmp_path) as library:  # no kind named: the one it was built as
        assert library.build_index().kind == "milvus" and like(library, 10, k=10) == before
    client, name = _collection(tmp_path)
    with Library.open(tmp_path, index_kind="hnsw") as library:
        assert library.build_index().kind == "hnsw" and like(library, 10, k=10) == before
    assert not client.has_collection(name)  # type: ignore[attr-defined]
    assert not list((tmp_path / ".imrec").glob("*.milvus*"))
    with Library.open(tmp_path) as library:
        assert library.build_index().kind == "hnsw"


def test_damage_is_found_by_the_check_and_repaired_by_the_next_index(tmp_path: Path, vectors: np.ndarray) -> None:
    add_images(tmp_path, vectors[:800])
    with Library.open(tmp_path, index_kind="milvus") as library:
        library.build_index()
    client, name = _collection(tmp_path)
    client.delete(name, ids=list(range(1, 401)))  # type: ignore[attr-defined]  # half the vectors lost behind imrec's back
    client.close()  # type: ignore[attr-defined]
    with Library.open(tmp_path) as library:
        assert "differs from the catalog" in library.status(check=True).integrity
        report = library.build_index()
        assert report.rebuilt and report.count == 800
        assert library.status(check=True).integrity == "ok"
        assert like(library, 3, k=5)[0] == _path(int(np.argsort(-(vectors[:800] @ vectors[3]))[1]))


def test_a_sync_stopped_half_way_stores_nothing_twice(
    tmp_path: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_images(tmp_path, vectors[:1200])
    monkeypatch.setattr(milvus_module, "BUILD_CHUNK", 500)
    with Library.open(tmp_path, index_kind="milvus") as library:
        library.build_index()
    add_images(tmp_path, vectors[1200:], first=1200)
    calls: list[int] = []
    real = milvus_module.MilvusIndex._call

    def failing(self: milvus_module.MilvusIndex, what: str, call: object, *args: object, **kwargs: object) -> object:
        if what == "storing vectors":
            calls.append(1)
            if len(calls) == 3:
                raise LibraryError("the machine went down")
        return real(self, what, call, *args, **kwargs)

    with Library.open(tmp_path) as library:
        monkeypatch.setattr(milvus_module.MilvusIndex, "_call", failing)
        with pytest.raises(LibraryError):
            library.build_index()
        monkeypatch.setattr(milvus_module.MilvusIndex, "_call", real)
        assert set(like(library, 2900, k=10)) == exact_paths(vectors, 2900, 10)  # meanwhile: from the catalog
        report = library.build_index()
        assert report.count == len(vectors) and library.status(check=True).integrity == "ok"
    client, name = _collection(tmp_path)
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == len(vectors)  # type: ignore[attr-defined]


def test_cli_builds_a_milvus_index_and_searches_it(imrec, library_dir: Path) -> None:  # type: ignore[no-untyped-def]
    imrec("index", library_dir, "--no-ocr", "--no-faces")
    local = json.loads(imrec("search", "--like-id", "1", "-l", library_dir, "--json").stdout)
    built = imrec("build-index", library_dir, "--index", "milvus")
    assert built.stdout.startswith("milvus index holds 8 vectors")
    found = json.loads(imrec("search", "--like-id", "1", "-l", library_dir, "--json").stdout)
    assert [r["path"] for r in found["results"]] == [r["path"] for r in local["results"]]
    status = imrec("status", library_dir, "--check").stdout
    assert "milvus" in status
    (library_dir / "kept.jpg").unlink(missing_ok=True)
    first = sorted(library_dir.glob("*.jpg"))[0]
    first.unlink()
    imrec("index", library_dir, "--no-ocr", "--no-faces")
    again = json.loads(imrec("search", "--like-id", "2", "-l", library_dir, "--json", "-k", "20").stdout)
    assert first.name not in {r["path"] for r in again["results"]}


def test_an_unreachable_milvus_is_one_line_and_keeps_the_local_index(imrec, library_dir: Path) -> None:  # type: ignore[no-untyped-def]
    imrec("index", library_dir, "--no-ocr", "--no-faces")
    failed = imrec(
        "build-index", library_dir, "--index", "milvus", "--milvus-uri", "http://user:secret@127.0.0.1:9", expect=None
    )
    assert failed.returncode != 0
    assert "Milvus at http://user:***@127.0.0.1:9" in failed.stderr and "secret" not in failed.stderr
    assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    found = json.loads(imrec("search", "--like-id", "1", "-l", library_dir, "--json").stdout)
    assert len(found["results"]) == 7  # the FAISS index still answers


def test_a_fresh_process_loads_the_collection_and_prints_no_client_noise(  # type: ignore[no-untyped-def]
    imrec_process, library_dir: Path, model_settings: dict
) -> None:
    imrec_process("index", library_dir, "--no-ocr", "--no-faces")
    imrec_process("build-index", library_dir, "--index", "milvus")
    found = imrec_process("search", "--like-id", "1", "-l", library_dir, "--json")  # Milvus Lite starts released
    assert len(json.loads(found.stdout)["results"]) == 7 and found.stderr.strip() == ""
    checked = imrec_process("status", library_dir, "--check")
    assert "index: milvus, 8 vectors, current" in checked.stdout and "check: ok" in checked.stdout
    with Library.open(library_dir, **model_settings) as library:  # this process now holds Milvus Lite
        assert library.search([Term("id", "1")], k=3).results
        held = imrec_process("search", "--like-id", "1", "-l", library_dir, "--json", expect=None)
    assert held.returncode != 0 and "Traceback" not in held.stderr
    assert held.stderr.strip().splitlines() == [held.stderr.strip()] and "open in another process" in held.stderr


def test_a_collection_dropped_behind_imrec_s_back_is_one_line_and_the_next_index_rebuilds_it(
    imrec, library_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    imrec("index", library_dir, "--no-ocr", "--no-faces")
    imrec("build-index", library_dir, "--index", "milvus")
    client, name = _collection(library_dir)
    client.drop_collection(name)  # type: ignore[attr-defined]
    broken = imrec("search", "--like-id", "1", "-l", library_dir, "--json", expect=None)
    assert broken.returncode != 0 and "Traceback" not in broken.stderr and "ERROR" not in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1 and "Milvus at" in broken.stderr
    imrec("index", library_dir, "--no-ocr", "--no-faces")  # the sample check finds it gone: rebuilt
    again = imrec("search", "--like-id", "1", "-l", library_dir, "--json")
    assert len(json.loads(again.stdout)["results"]) == 7


def test_duplicates_are_found_by_asking_milvus_without_holding_the_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.duplicates.finding as finding

    data, planted = with_twins(tmp_path)
    monkeypatch.setattr(finding, "DUPLICATES_CHUNK", 97)
    monkeypatch.setattr(milvus_module, "NEIGHBOUR_QUERIES", 40)  # several requests per chunk
    monkeypatch.setattr(finding, "_flat_index", lambda *_: pytest.fail("duplicates held every vector in memory"))
    with Library.open(tmp_path, index_kind="milvus") as library:
        library.build_index()
        groups = library.duplicates(threshold=0.99)
    found = {frozenset(image.path for image in group.images) for group in groups}
    assert found == {frozenset({_path(i), _path(len(data) + n)}) for n, i in enumerate(planted)}
    assert all(group.kind == "near" and group.score >= 0.99 for group in groups)
