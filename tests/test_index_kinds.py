"""Index kinds for large libraries: exact top results after re-rank, filters, deletions, moving
between kinds without re-embedding, retraining, a killed build, and a scan in bounded memory."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import image_recommender.duplicates.finding as query_module
import image_recommender.index.kinds as index_kinds
import image_recommender.index.sync as index_sync
import image_recommender.scan as scan_module
from image_recommender import Library
from image_recommender.catalog.rows import EmbedResult, FileStat
from image_recommender.catalog.store import Catalog
from image_recommender.errors import LibraryError
from image_recommender.index.kinds import choose_kind
from image_recommender.scan import scan_library
from image_recommender.search import Term

KINDS = ["flat", "hnsw", "hnsw-sq8", "ivf-pq", "ivf-disk"]
FOLDERS = ("a", "b")


@pytest.fixture(autouse=True)
def _quick_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    """HNSW graphs here are built with a beam of 64, not 200: these tests are about what each kind
    keeps, finds and repairs, and the 3,000-vector graph is exact after re-rank either way. The
    default beam's recall is test_index's ``test_default_hnsw_recall_on_a_test_set``. Saves 2.7 s
    of the fast tier."""
    monkeypatch.setenv("IMREC_EF_CONSTRUCTION", "64")


def clustered(count: int, dim: int = 32, clusters: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    points = centres[rng.integers(0, clusters, count)] + 0.6 * rng.standard_normal((count, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


# Catalogs already written for a set of vectors, copied into a fresh library instead of being
# written again (3,000 rows cost 0.1 s, and most tests here start from the same ones).
_WRITTEN: dict[bytes, Path] = {}


def add_images(root: Path, vectors: np.ndarray, first: int = 0) -> None:
    """Catalog rows and vectors as ``imrec index`` leaves them (image i lies in a/ or b/)."""
    state = root / ".imrec"
    key = hashlib.blake2b(vectors.tobytes() + str(vectors.shape).encode(), digest_size=16).digest()
    fresh = first == 0 and not state.exists()
    if fresh and key in _WRITTEN:
        shutil.copytree(_WRITTEN[key], root, dirs_exist_ok=True)
        return
    _write_images(root, vectors, first)
    if fresh:
        folder = tempfile.mkdtemp(prefix="catalog-")
        atexit.register(shutil.rmtree, folder, True)
        kept = Path(folder) / "library"
        shutil.copytree(root, kept)
        _WRITTEN[key] = kept


def _write_images(root: Path, vectors: np.ndarray, first: int) -> None:
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    names = [f"{FOLDERS[i % 2]}/{i:06d}.jpg" for i in range(first, first + len(vectors))]
    catalog.apply_scan([FileStat(name, None, 1, 1) for name in names], [], [], [])
    model = catalog.ensure_model("synthetic", "test", vectors.shape[1], "", None)
    ids = {image.path: image.id for image in catalog.images()}
    results = [
        EmbedResult(ids[name], fingerprint=f"{first + i:032x}", width=1, height=1, vector=vector)
        for i, (name, vector) in enumerate(zip(names, vectors, strict=True))
    ]
    for start in range(0, len(results), 2000):
        catalog.write_embed_results(model.id, results[start : start + 2000])
    catalog.close()


def with_twins(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """1,500 images and a near twin (cosine about 0.99) of 30 of them, catalogued in ``root``:
    (the originals' vectors, the positions that got a twin; twin n lies at 1,500 + n)."""
    data = clustered(1500, seed=3)
    rng = np.random.default_rng(4)
    planted = rng.choice(len(data), 30, replace=False)
    twins = data[planted] + 0.01 * rng.standard_normal((30, data.shape[1])).astype(np.float32)
    add_images(root, np.concatenate([data, twins / np.linalg.norm(twins, axis=1, keepdims=True)]))
    return data, planted


def exact_paths(vectors: np.ndarray, query: int, k: int, allowed: set[int] | None = None) -> set[str]:
    scores = vectors @ vectors[query]
    order = [i for i in np.argsort(-scores) if i != query and (allowed is None or i in allowed)]
    return {f"{FOLDERS[i % 2]}/{i:06d}.jpg" for i in order[:k]}


def like(library: Library, position: int, **options: object) -> list[str]:
    """Paths of the images most like the one at ``position`` (image ids follow positions)."""
    return [r.path for r in library.search([Term("id", str(position + 1))], **options).results]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(3000)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_returns_the_exact_top_results(tmp_path: Path, vectors: np.ndarray, kind: str) -> None:
    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind=kind) as library:
        report = library.build_index()
        assert report.kind == kind and report.count == len(vectors)
        queries = range(0, len(vectors), 61)
        recall = np.mean([len(set(like(library, q, k=10)) & exact_paths(vectors, q, 10)) / 10 for q in queries])
    assert recall >= (0.99 if kind == "hnsw" else 1.0)  # hnsw alone has no exact re-rank


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_keeps_folder_filters_and_deletions(
    tmp_path: Path, vectors: np.ndarray, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_images(tmp_path, vectors)
    deleted = list(range(0, len(vectors), 37))  # under the rebuild share: filtered, not rebuilt
    monkeypatch.setattr(index_sync, "EXACT_FILTER_LIMIT", 0)  # the folder filter goes through the index
    with Library.open(tmp_path, index_kind=kind) as library:
        library.build_index()
        library.catalog.apply_scan([], [], [], [position + 1 for position in deleted])
        assert not library.build_index().rebuilt
        allowed = {i for i in range(0, len(vectors), 2)} - set(deleted)
        for query in (5, 700, 2001):
            found = like(library, query, k=20, under="a")
            assert len(found) == 20 and all(path.startswith("a/") for path in found)
            assert set(found) == exact_paths(vectors, query, 20, allowed)
            unfiltered = like(library, query, k=100)
            assert not set(unfiltered) & {f"{FOLDERS[i % 2]}/{i:06d}.jpg" for i in deleted}


def test_searches_on_an_outdated_index_read_the_live_labels_once_per_catalog_change(
    tmp_path: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_images(tmp_path, vectors[:2000])
    with Library.open(tmp_path, index_kind="hnsw") as library:
        library.build_index()
    add_images(tmp_path, vectors[2000:], first=2000)  # embedded since: the index no longer matches
    with Library.open(tmp_path) as library:
        reads = []
        real = library.catalog.live_labels
        monkeypatch.setattr(library.catalog, "live_labels", lambda model: reads.append(model) or real(model))
        for query in (3, 2500, 40):
            assert set(like(library, query, k=10)) == exact_paths(vectors, query, 10)
        assert len(reads) == 1
        nearest = int(next(i for i in np.argsort(-(vectors @ vectors[2500])) if i != 2500))
        assert f"{FOLDERS[nearest % 2]}/{nearest:06d}.jpg" in like(library, 2500, k=10)
        library.catalog.apply_scan([], [], [], [nearest + 1])  # a deletion: the next search knows it
        assert f"{FOLDERS[nearest % 2]}/{nearest:06d}.jpg" not in like(library, 2500, k=10)
        assert len(reads) == 2


@pytest.mark.parametrize("kind", [*KINDS, "not built"])
def test_every_kind_finds_the_same_near_duplicates_a_chunk_at_a_time(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, planted = with_twins(tmp_path)
    monkeypatch.setattr(query_module, "DUPLICATES_CHUNK", 7)  # pairs fall across chunk borders
    with Library.open(tmp_path, index_kind="hnsw" if kind == "not built" else kind) as library:
        if kind != "not built":
            library.build_index()
        reads = _catalog_reads(library, monkeypatch)
        groups = library.duplicates(threshold=0.99)
    found = {frozenset(image.path for image in group.images) for group in groups}
    path = [f"{FOLDERS[i % 2]}/{i:06d}.jpg" for i in range(len(data) + len(planted))]
    assert found == {frozenset({path[i], path[len(data) + n]}) for n, i in enumerate(planted)}
    assert all(group.kind == "near" and group.score >= 0.99 for group in groups)
    # The catalog's vectors are read a chunk at a time, never all at once: a chunk's own, or (a
    # compressed kind) the up to 4 x 17 neighbours each of them is proposed, for the exact scores.
    assert max(reads) <= (7 * 4 * 17 if kind in index_kinds.COMPRESSED_KINDS else 7) < len(data)


def test_a_library_moves_between_kinds_without_re_embedding(tmp_path: Path, vectors: np.ndarray) -> None:
    add_images(tmp_path, vectors)
    with Library.open(tmp_path) as library:
        assert library.build_index().kind == "hnsw"  # auto, at this size
        generation = library.catalog.generation()
        before = like(library, 10, k=10)
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        report = library.build_index(rebuild=True)
        assert report.rebuilt and report.kind == "ivf-pq" and library.status().index.kind == "ivf-pq"
        assert library.catalog.generation() == generation  # no vector was touched
        assert like(library, 10, k=10) == before
    with Library.open(tmp_path) as library:  # the kind asked for stays until asked otherwise
        report = library.build_index()
        assert not report.rebuilt and report.kind == "ivf-pq"
    with Library.open(tmp_path, index_kind="auto") as library:
        assert library.build_index().kind == "hnsw"


def test_ivf_is_trained_again_once_the_library_has_grown(tmp_path: Path) -> None:
    data = clustered(6000, seed=3)
    add_images(tmp_path, data[:1000])
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        assert library.build_index().rebuilt
    add_images(tmp_path, data[1000:1500], first=1000)
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        grown = library.build_index()
        assert not grown.rebuilt and grown.added == 500
    add_images(tmp_path, data[1500:], first=1500)  # 6x the training set
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        retrained = library.build_index()
        assert retrained.rebuilt and retrained.count == 6000
        assert set(like(library, 4321, k=10)) == exact_paths(data, 4321, 10)


@pytest.mark.parametrize(
    ("count", "budget", "kind"),
    [
        (100_000, 4 << 30, "hnsw"),
        (index_kinds.HNSW_UP_TO + 1, 4 << 30, "hnsw-sq8"),
        (index_kinds.SQ8_UP_TO + 1, 4 << 30, "ivf-pq"),
        (10_000_000, 4 << 30, "ivf-pq"),
        (100_000, 200 << 20, "hnsw-sq8"),  # float32 HNSW would not fit 200 MB
        (100_000, 50 << 20, "ivf-pq"),
        (25_000_000, 4 << 30, "ivf-disk"),  # IVF-PQ's lists would take 5 GB of memory
        (100_000_000, 16 << 30, "ivf-disk"),
        (1_000_000, 100 << 20, "ivf-disk"),
    ],
)
def test_auto_picks_the_most_exact_kind_that_fits(count: int, budget: int, kind: str) -> None:
    assert choose_kind(count, 768, budget) == kind


def _lists_file(library: Library) -> Path:
    sidecar = next(library.settings.state_dir.glob("index-*.json"))
    meta = json.loads(sidecar.read_text())
    assert meta["params"]["kind"] == "ivf-disk" and not meta["codes_file"]
    return sidecar.parent / meta["lists_file"]


def test_ivf_disk_builds_in_shards_keeps_its_lists_on_disk_and_extends_them_into_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.index.on_disk as on_disk

    monkeypatch.setattr(on_disk, "SHARD_VECTORS", 700)  # five shards and a rest for 3,000 vectors
    data = clustered(3500, seed=12)
    add_images(tmp_path / "old", data[:3000])
    with Library.open(tmp_path / "old", index_kind="ivf-pq", memory_budget=1 << 10) as library:
        report = library.build_index()  # ivf-pq whose lists do not fit 1 KB: on disk
        assert report.kind == "ivf-disk" and report.count == 3000 and library.status().index.exists
        lists = _lists_file(library)
        index_file = next(lists.parent.glob("*.faiss"))
        assert lists.stat().st_size >= 3000 * (32 + 8) > 2 * index_file.stat().st_size  # codes and rows
        assert set(like(library, 42, k=10)) == exact_paths(data, 42, 10)
    assert not list(lists.parent.glob("*.shard"))
    (tmp_path / "old").rename(tmp_path / "moved")  # the lists file is found beside the index
    add_images(tmp_path / "moved", data[3000:], first=3000)
    with Library.open(tmp_path / "moved", memory_budget=1 << 10) as library:
        assert set(like(library, 42, k=10)) == exact_paths(data, 42, 10)
        grown = library.build_index()
        assert not grown.rebuilt and grown.added == 500 and grown.kind == "ivf-disk" and grown.count == 3500
        status = library.status().index
        assert status.exists and status.count == 3500 and status.current  # the index answers, not the catalog
        assert _lists_file(library).name != lists.name and not (tmp_path / "moved" / ".imrec" / lists.name).exists()
        for query in (7, 3210):
            assert set(like(library, query, k=10)) == exact_paths(data, query, 10)
        assert library.status(check=True).integrity == "ok"
        files = sorted(path.suffix for path in (tmp_path / "moved" / ".imrec").glob("index-*"))
        assert files == [".faiss", ".ivfdata", ".json"]


def test_an_ivf_disk_index_naming_another_lists_file_is_never_followed(tmp_path: Path, vectors: np.ndarray) -> None:
    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind="ivf-disk") as library:
        library.build_index()
        lists = _lists_file(library)
    sidecar = next((tmp_path / ".imrec").glob("index-*.json"))
    meta = json.loads(sidecar.read_text())
    other = lists.with_name(f"{sidecar.stem}-0123456789ab.ivfdata")
    other.write_bytes(b"\0" * lists.stat().st_size)  # a file the index itself does not name
    meta["lists_file"] = other.name
    sidecar.write_text(json.dumps(meta))
    with Library.open(tmp_path) as library:
        assert not library.status().index.exists
        assert set(like(library, 5, k=10)) == exact_paths(vectors, 5, 10)  # scored from the catalog
        assert library.build_index().rebuilt
        assert library.status(check=True).integrity == "ok"


def test_an_ivf_disk_lists_file_cut_short_or_missing_means_rebuild(tmp_path: Path, vectors: np.ndarray) -> None:
    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind="ivf-disk") as library:
        library.build_index()
        lists = _lists_file(library)
    os.truncate(lists, lists.stat().st_size // 2)  # a search reading past its end would die of SIGBUS
    with Library.open(tmp_path) as library:
        assert not library.status().index.exists
        assert set(like(library, 5, k=10)) == exact_paths(vectors, 5, 10)
        assert library.build_index().rebuilt
        _lists_file(library).unlink()
    with Library.open(tmp_path) as library:
        assert set(like(library, 6, k=10)) == exact_paths(vectors, 6, 10)
        assert library.build_index().rebuilt
        assert library.status(check=True).integrity == "ok"


def test_a_failed_merge_keeps_the_previous_ivf_disk_index_and_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.index.on_disk as on_disk

    monkeypatch.setattr(on_disk, "SHARD_VECTORS", 1000)
    data = clustered(3500, seed=13)
    add_images(tmp_path, data[:3000])
    with Library.open(tmp_path, index_kind="ivf-disk") as library:
        library.build_index()
        before = sorted(path.name for path in library.settings.state_dir.iterdir())
    add_images(tmp_path, data[3000:], first=3000)

    def full_disk(*args: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(on_disk.ShardedLists, "merge_into", full_disk)
    with Library.open(tmp_path) as library:
        with pytest.raises(LibraryError, match="could not write the index's lists"):
            library.build_index()
        assert sorted(path.name for path in library.settings.state_dir.iterdir()) == before
        assert set(like(library, 3100, k=10)) == exact_paths(data, 3100, 10)  # new ones from the catalog


def _scramble_codes(index: object) -> None:
    """Overwrite every stored code of an HNSW-SQ8 or IVF-PQ index with random bytes."""
    import faiss

    rng = np.random.default_rng(0)
    inner = faiss.downcast_index(index.index)  # type: ignore[attr-defined]
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is None:
        storage = faiss.downcast_index(inner.storage)
        codes = faiss.vector_to_array(storage.codes)
        faiss.copy_array_to_vector(rng.integers(0, 256, len(codes), dtype=np.uint8), storage.codes)
        return
    lists = faiss.downcast_InvertedLists(ivf.invlists)
    for list_no in range(ivf.nlist):
        size = lists.list_size(list_no)
        if size:
            nbytes = ((size + 31) // 32) * lists.block_size  # fast-scan packs codes 32 at a time
            codes = faiss.rev_swig_ptr(lists.get_codes(list_no), nbytes)
            codes[:] = rng.integers(0, 256, nbytes, dtype=np.uint8)


@pytest.mark.parametrize("kind", ["hnsw-sq8", "ivf-pq"])
def test_damaged_compressed_codes_are_found_and_rebuilt(tmp_path: Path, vectors: np.ndarray, kind: str) -> None:
    import faiss

    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind=kind) as library:
        library.build_index()
        assert library.status(check=True).integrity == "ok"
        sidecar = next(library.settings.state_dir.glob("index-*.json"))
        index_path = sidecar.parent / json.loads(sidecar.read_text())["index_file"]
        index = faiss.read_index(str(index_path))
        _scramble_codes(index)
        faiss.write_index(index, str(index_path))
    with Library.open(tmp_path) as library:  # a later 'imrec status --check', then 'imrec index'
        assert "differs from the catalog" in library.status(check=True).integrity
        assert library.build_index().rebuilt
        assert library.status(check=True).integrity == "ok"


def _codes_file(library: Library) -> Path | None:
    """The committed index's codes file (IVF-PQ), once its rows are seen to be the 8-bit codes of
    the catalog's vectors of the index's labels, in index order; and no float32 copy beside it:
    the catalog holds the one copy of each vector."""
    state = library.settings.state_dir
    assert not list(state.glob("*.f32"))
    sidecar = next(state.glob("index-*.json"))
    meta = json.loads(sidecar.read_text())
    assert not meta["vectors_file"]
    assert bool(meta["codes_file"]) == (meta["params"]["kind"] == "ivf-pq")
    if not meta["codes_file"]:
        return None
    committed = library.index_for(library.query_model()).committed()
    assert committed is not None
    _, expected = library.catalog.vectors_by_labels(committed.labels().tolist())
    path = sidecar.parent / meta["codes_file"]
    codes = np.fromfile(path, np.uint8).reshape(expected.shape)
    assert np.array_equal(codes, committed.screen_codes(expected))
    return path


def _catalog_reads(library: Library, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts of the vectors each later search reads from the catalog (the real method still runs)."""
    reads: list[int] = []
    real = library.catalog.vectors_by_labels

    def counted(labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
        reads.append(len(labels))
        return real(labels)

    monkeypatch.setattr(library.catalog, "vectors_by_labels", counted)
    return reads


@pytest.mark.parametrize("kind", ["hnsw-sq8", "ivf-pq"])
def test_compressed_kinds_re_rank_a_few_candidates_from_the_catalog_and_keep_no_copy(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = clustered(3500, seed=8)
    add_images(tmp_path, data[:3000])
    with Library.open(tmp_path, index_kind=kind) as library:
        library.build_index()
        codes = _codes_file(library)
        if codes is not None:
            with codes.open("ab") as handle:  # a writer killed while appending left half a row behind
                handle.write(b"\x7f" * 20)
    add_images(tmp_path, data[3000:], first=3000)
    with Library.open(tmp_path) as library:
        report = library.build_index()
        assert not report.rebuilt and report.added == 500
        assert _codes_file(library) == codes
        reads = _catalog_reads(library, monkeypatch)
        for query in (7, 3210):
            assert set(like(library, query, k=10)) == exact_paths(data, query, 10)
        # IVF-PQ's 1,000 candidates are screened by their codes down to a few dozen vectors read
        most = index_kinds.screen_size(10) if kind == "ivf-pq" else index_kinds.default_rerank(kind, len(data))
        assert len(reads) == 2 and max(reads) <= most  # one read of the candidates' vectors a query


@pytest.mark.parametrize("damage", ["changed", "cut short", "missing"])
def test_damaged_screening_codes_are_found_and_rebuilt(tmp_path: Path, vectors: np.ndarray, damage: str) -> None:
    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        library.build_index()
        codes = _codes_file(library)
    assert codes is not None
    if damage == "changed":
        rows = np.memmap(codes, np.uint8, mode="r+").reshape(len(vectors), -1)
        rows[:] = np.roll(np.array(rows), 1, axis=0)  # every row holds another image's codes
        rows.flush()
        del rows
    elif damage == "cut short":
        os.truncate(codes, codes.stat().st_size // 2)
    else:
        codes.unlink()
    with Library.open(tmp_path) as library:
        if damage == "changed":
            assert "differs from the catalog" in library.status(check=True).integrity
        else:  # every candidate is re-ranked from the catalog until the next 'imrec index' writes the file again
            assert set(like(library, 99, k=10)) == exact_paths(vectors, 99, 10)
        assert library.build_index().rebuilt
        _codes_file(library)
        assert library.status(check=True).integrity == "ok"
        assert set(like(library, 99, k=10)) == exact_paths(vectors, 99, 10)


def test_a_library_indexed_before_screening_codes_is_rebuilt_once(tmp_path: Path, vectors: np.ndarray) -> None:
    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        library.build_index()
        _codes_file(library)
    sidecar = next((tmp_path / ".imrec").glob("index-*.json"))
    old = json.loads(sidecar.read_text())
    (sidecar.parent / old["codes_file"]).unlink()
    del old["codes_file"], old["code_ranges"]  # as an earlier release wrote it, without these
    sidecar.write_text(json.dumps(old))
    with Library.open(tmp_path) as library:
        assert set(like(library, 5, k=10)) == exact_paths(vectors, 5, 10)
        assert library.build_index().rebuilt
        assert library.build_index(rebuild=False).added == 0
        _codes_file(library)
    with Library.open(tmp_path, index_kind="hnsw") as library:  # a kind without one deletes it
        library.build_index()
    assert not list((tmp_path / ".imrec").glob("*.sq8"))


@pytest.mark.parametrize("kind", ["hnsw-sq8", "ivf-pq"])
def test_an_earlier_release_s_float32_copy_is_dropped_in_place(tmp_path: Path, vectors: np.ndarray, kind: str) -> None:
    """Vectors stored once: an index that kept a float32 copy of every vector beside it (as
    releases before did) loses the file at the next 'imrec index', without a rebuild or
    re-embedding, and answers the same."""
    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind=kind) as library:
        library.build_index()
        committed = library.index_for(library.query_model()).committed()
        assert committed is not None
        _, held = library.catalog.vectors_by_labels(committed.labels().tolist())
        before = like(library, 17, k=10)
    sidecar = next((tmp_path / ".imrec").glob("index-*.json"))
    meta = json.loads(sidecar.read_text())
    meta["vectors_file"] = f"{sidecar.stem}-0123456789ab.f32"
    held.astype("<f4").tofile(sidecar.parent / meta["vectors_file"])
    sidecar.write_text(json.dumps(meta))
    with Library.open(tmp_path) as library:
        assert like(library, 17, k=10) == before
        report = library.build_index()
        assert not report.rebuilt and report.added == 0
        _codes_file(library)
        assert like(library, 17, k=10) == before
        assert library.status(check=True).integrity == "ok"


@pytest.mark.slow
def test_a_killed_build_leaves_the_previous_index_in_use(tmp_path: Path) -> None:
    data = clustered(60_000, dim=64, seed=5)
    add_images(tmp_path, data)
    with Library.open(tmp_path) as library:
        library.build_index()
        sidecar = next(library.settings.state_dir.glob("index-*.json"))
        committed = sidecar.read_text()
        before = like(library, 42, k=10)
    build = [
        sys.executable,
        "-m",
        "image_recommender",
        "build-index",
        str(tmp_path),
        "--rebuild",
        "--index",
        "hnsw-sq8",
    ]
    build += ["--ef-construction", "400", "--hnsw-m", "48"]  # slow enough to be killed mid-way
    for delay in (3.0, 1.5, 0.8):
        process = subprocess.Popen(build, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            break
    else:
        pytest.fail("the build finished before it could be killed")
    assert sidecar.read_text() == committed
    with Library.open(tmp_path) as library:
        assert like(library, 42, k=10) == before
        assert library.status().index.current
    subprocess.run([*build[:5], "--index", "ivf-pq"], check=True, capture_output=True)
    assert len(list(sidecar.parent.glob("*.faiss"))) == 1  # what the killed build wrote is gone
    assert len(list(sidecar.parent.glob("*.sq8"))) == 1 and not list(sidecar.parent.glob("*.f32"))


def _scan_peak(root: Path, catalog: Catalog) -> int:
    tracemalloc.start()
    try:
        report = scan_library(catalog, root)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.new == report.changed == report.removed == 0
    return peak


@pytest.mark.slow  # catalogs 11,000 files twice under tracemalloc: 2 s
def test_a_rescan_uses_the_same_memory_for_a_large_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_module, "WALK_BATCH", 1000)
    peaks = []
    for count in (1_000, 10_000):
        root = tmp_path / str(count)
        for folder in range(count // 1000):
            (root / f"f{folder:03d}").mkdir(parents=True)
            for number in range(1000):
                (root / f"f{folder:03d}" / f"{number:04d}.jpg").touch()
        catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
        assert scan_library(catalog, root).new == count
        peaks.append(_scan_peak(root, catalog))
        catalog.close()
    # A dict of every row would grow tenfold with the catalog; the streamed scan holds one batch
    # of walked files (and one folder's entries) whatever the catalog's size.
    assert peaks[1] < 1.5 * peaks[0] + 256 * 1024, peaks


def test_one_damaged_code_row_is_found_by_every_check_and_the_next_index_rebuilds(
    tmp_path: Path, vectors: np.ndarray
) -> None:
    """One screening code row overwritten: searches stay exact (scores come from the catalog),
    status --check finds it every time (not by luck of a sample), and the next index rebuilds."""
    add_images(tmp_path, vectors)
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        library.build_index()
        codes = _codes_file(library)
        expected_groups = {frozenset(i.id for i in g.images) for g in library.duplicates(0.97)}
    assert codes is not None
    victim = 1234
    rows = np.memmap(codes, np.uint8, mode="r+").reshape(len(vectors), -1)
    rows[victim] = 255 - rows[victim]
    rows.flush()
    del rows
    with Library.open(tmp_path) as library:
        hits = library.search([Term("id", str(victim + 2))], k=20).results
        assert max(hit.score for hit in hits) <= 1.0 + 1e-5
        assert {frozenset(i.id for i in g.images) for g in library.duplicates(0.97)} == expected_groups
        for _ in range(3):
            assert "differs from the catalog" in library.status(check=True).integrity
        assert library.build_index().rebuilt  # the check asked the next writer to
        assert library.status(check=True).integrity == "ok"


def test_an_ivf_index_holding_many_identical_vectors_is_intact(tmp_path: Path) -> None:
    data = clustered(3000, seed=3)
    data[:300] = data[0]  # 300 exact copies (blank frames): more than the self-check's 100 nearest
    add_images(tmp_path, data)
    with Library.open(tmp_path, index_kind="ivf-pq") as library:
        assert library.build_index().rebuilt
        assert library.status(check=True).integrity == "ok"
        assert not library.build_index().rebuilt  # and an update keeps it


def test_equal_scores_come_back_in_id_order_whatever_the_kind(tmp_path: Path) -> None:
    data = clustered(3000, seed=5)
    copy = data[7] + 0.05 * data[8]
    data[[40, 12, 1500]] = copy / np.linalg.norm(copy)  # one vector three times: equal scores
    add_images(tmp_path, data)
    catalog = Catalog.open(tmp_path / ".imrec" / "catalog.sqlite3")
    model = catalog.ensure_model("synthetic", "test", data.shape[1], "", None)
    again = [
        EmbedResult(image_id, fingerprint=f"{image_id:032x}"[::-1], width=1, height=1, vector=data[12])
        for image_id in (41, 13)
    ]
    catalog.write_embed_results(model.id, again)  # re-embedded: their labels now follow image 1501's, 41's first
    catalog.close()
    orders = {}
    for kind in KINDS:
        with Library.open(tmp_path, index_kind=kind) as library:
            library.build_index(rebuild=True)
            orders[kind] = like(library, 7, k=2)  # the cut falls inside the tie
    assert orders["flat"] == ["a/000012.jpg", "a/000040.jpg"]  # ids 13 and 41, the lower first
    assert all(order == orders["flat"] for order in orders.values()), orders
