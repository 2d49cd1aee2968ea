"""IVF-PQ beyond a catalog's reach: build time, memory, recall@10 and latency at 5-10M vectors.

``bench_index.py`` fills a real catalog, which at 10M rows takes longer than a short session
lasts. This script measures the part that grows with the library without it: the same
clustered vectors (``bench_index.clustered_chunk``, made in parallel threads), written to
the index's float32 row file as ``imrec`` writes it, an ``ivf-pq`` index built through
``VectorIndex`` with the library's own lists, training sample and chunked adds (the 8-bit
screening codes written beside it), and single-threaded searches that screen candidates and
re-rank the survivors from the memory-mapped float32 rows through ``VectorIndex.search_rows``,
``screened`` and ``vectors_at``, as ``LibraryIndex.nearest`` does. Exact truth comes from
brute force while the vectors are made. A last pass first drops the float32 file from the
page cache (``posix_fadvise``), as on a 16 GB machine at 10M images, whose page cache holds
the codes (7.7 GB) but not the float32 rows (31 GB). Each search process first reads the
codes and maps their pages, as a server that has answered a while holds them.

    python benchmarks/bench_index_scale.py --vectors 10000000 --dir /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
from bench_index import CHUNK, centres, clustered_chunk, keep_best, machine, memory_kb, run_child

from image_recommender.index.kinds import BUILD_CHUNK, IndexParams, default_nprobe, default_rerank, screen_size
from image_recommender.index.row_files import FLOAT32, SQ8
from image_recommender.index.storage import IndexMeta, VectorIndex

SEED = 7


def say(text: str) -> None:
    print(text, flush=True)


def make_vectors(args: argparse.Namespace, folder: Path, queries: np.ndarray) -> np.ndarray:
    """Write the vector file chunk by chunk and return each query's exact top 10 labels (0-based)."""
    middle = centres(args.dim, args.clusters)
    starts = range(0, args.vectors, CHUNK)
    best_scores = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_labels = np.zeros((len(queries), 10), dtype=np.int64)
    with (
        ThreadPoolExecutor(os.cpu_count()) as pool,
        FLOAT32.appending(folder / "vectors.f32", 0, args.dim) as append,
    ):
        window = 2 * (os.cpu_count() or 1)  # chunks made ahead of the writer: bounded memory
        for first in range(0, len(starts), window):
            numbers = range(first, min(first + window, len(starts)))
            made = pool.map(lambda n: clustered_chunk(n, min(CHUNK, args.vectors - starts[n]), middle, SEED), numbers)
            for number, vectors in zip(numbers, made, strict=True):
                append(vectors)
                labels = np.arange(starts[number], starts[number] + len(vectors))
                best_scores, best_labels = keep_best(best_scores, best_labels, queries @ vectors.T, labels)
    return best_labels


def build(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """The library's build: train on 39 vectors a list, then add in the library's chunks, the
    screening codes appended to their row file as they are made."""
    mapped = FLOAT32.open_rows(folder / "vectors.f32", args.vectors, args.dim)
    assert mapped is not None
    rows = mapped.array
    index = VectorIndex.empty(IndexParams("ivf-pq"), "synthetic", "bench", args.dim, args.vectors)
    started = time.perf_counter()
    nlist = index.nlist
    sample = index.training_sample(np.arange(args.vectors, dtype=np.int64))
    index.train(np.asarray(rows[sample]))
    trained = time.perf_counter()
    say(f"   trained {nlist} lists on {len(sample)} vectors: {trained - started:.0f} s")
    with SQ8.appending(folder / "codes.sq8", 0, args.dim) as append_codes:
        for start in range(0, args.vectors, BUILD_CHUNK):
            stop = min(start + BUILD_CHUNK, args.vectors)
            vectors = np.asarray(rows[start:stop])
            index.add(np.arange(start, stop, dtype=np.int64), vectors)
            append_codes(index.screen_codes(vectors))
    added = time.perf_counter()
    faiss.write_index(index.index, str(folder / "index.faiss"))
    (folder / "code_ranges.json").write_text(json.dumps(index.meta.code_ranges))
    return {
        "train_s": trained - started,
        "add_s": added - trained,
        "nlist": nlist,
        "peak_mb": memory_kb("VmHWM") / 1024,
    }


def disk_read_bytes() -> int:
    """Bytes this process has had read from the disk (page cache misses), from /proc/self/io."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def search(args: argparse.Namespace, folder: Path, cold: bool) -> dict[str, object]:
    """Single-threaded searches: candidates, the 8-bit screen, the exact re-rank of its best.

    ``cold``: the float32 file is first dropped from the page cache (no process maps it then:
    the kernel keeps mapped pages), and only the defaults are searched. A screen of 0 passes
    every candidate to the float32 re-rank (as before the screen existed).
    """
    if cold:
        with open(folder / "vectors.f32", "rb") as handle:
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    started = time.perf_counter()
    with open(folder / "codes.sq8", "rb", buffering=0) as handle:  # as a server running a while holds them
        chunk = bytearray(64 << 20)
        while handle.readinto(chunk):
            pass
    codes_read_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    before = memory_kb("RssAnon")
    inner = faiss.read_index(str(folder / "index.faiss"), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    ranges = json.loads((folder / "code_ranges.json").read_text())
    meta = IndexMeta(
        "synthetic", "bench", args.dim, int(inner.ntotal), IndexParams("ivf-pq"), "", 0.0, code_ranges=ranges
    )
    exact = FLOAT32.open_rows(folder / "vectors.f32", args.vectors, args.dim)
    codes = SQ8.open_rows(folder / "codes.sq8", args.vectors, args.dim)
    assert codes is not None
    started = time.perf_counter()
    step = max(1, mmap.PAGESIZE // SQ8.row_bytes(args.dim))
    int(codes.array[::step, 0].max())  # every page of the codes mapped, as in a server that has run a while
    codes_mapped_s = time.perf_counter() - started
    index = VectorIndex(inner, meta, exact, codes)
    opened = memory_kb("RssAnon")
    queries = np.load(folder / "queries.npy")
    truth = np.load(folder / "truth.npy")
    nprobe, rerank = default_nprobe(index.nlist), default_rerank("ivf-pq", args.vectors)
    default = {"nprobe": nprobe, "rerank": rerank, "screen": screen_size(10)}
    sweep = [default] + [{"nprobe": nprobe, "rerank": rerank, "screen": s} for s in (0, 20, 100)]
    sweep += [{"nprobe": p, "rerank": r, "screen": screen_size(10)} for p in (16, 32) for r in (1000, 2000, 4000)]
    rows = []
    for number, knobs in enumerate([{**default, "cold": 1}] if cold else sweep):
        found, latencies = [], []
        read_before = disk_read_bytes()
        for query in queries:
            started = time.perf_counter()
            _, hits = index.search_rows(query, max(10, knobs["rerank"]), 0, nprobe=knobs["nprobe"])
            candidates = hits[0][hits[0] >= 0]
            if knobs["screen"]:
                candidates = index.screened(query, candidates, knobs["screen"])
            copies = index.vectors_at(candidates)
            assert copies is not None
            held, vectors = copies
            best = held[np.argsort(-(vectors @ query))[:10]]
            latencies.append((time.perf_counter() - started) * 1000)
            found.append(best)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
        p50, p99 = np.percentile(latencies, [50, 99])
        disk_kb = (disk_read_bytes() - read_before) / len(queries) / 1024
        rows.append(
            {**knobs, "default": number == 0, "recall": recall, "p50_ms": float(p50), "p99_ms": float(p99)}
            | {"disk_kb": disk_kb}
        )
    return {
        "rows": rows,
        "index_mb": (opened - before) / 1024,
        "anon_mb": opened / 1024,
        "nlist": index.nlist,
        "codes_read_s": codes_read_s,
        "codes_mapped_s": codes_mapped_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=10_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--dir", type=Path, required=True, help="for the vector file and index (30 GB at 10M)")
    parser.add_argument("--child", choices=["search", "cold"], help=argparse.SUPPRESS)
    parser.add_argument("--search-only", action="store_true", help="search the vectors and index --dir holds")
    parser.add_argument(
        "--reuse-vectors", action="store_true", help="build from the vectors, queries and truth --dir holds"
    )
    args = parser.parse_args()
    folder = args.dir
    if args.child:
        print(json.dumps(search(args, folder, cold=args.child == "cold")))
        return
    folder.mkdir(parents=True, exist_ok=True)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    say(f"{args.vectors} clustered {args.dim}-d vectors, {args.clusters} clusters; {machine()}, {memory:.0f} GB RAM")
    if not args.search_only:
        build_all(args, folder)
    for child in ("search", "cold"):
        searched = run_child(*sys.argv[1:], "--child", child, script=__file__)
        if child == "search":
            say(
                f"   search process: {searched['anon_mb']:.0f} MB own memory after opening, of which the index"
                f" {searched['index_mb']:.0f} MB; the codes file read into the page cache first in"
                f" {searched['codes_read_s']:.1f} s and its pages mapped in {searched['codes_mapped_s']:.1f} s"
            )
        for row in searched["rows"]:
            label = "defaults, float32 rows not cached" if row.get("cold") else "defaults" if row["default"] else ""
            say(
                f"   {label:33s} nprobe {row['nprobe']:3d}, rerank {row['rerank']:5d}, screen {row['screen']:3d}:"
                f" recall@10 {row['recall']:.4f}  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms,"
                f" {row['disk_kb']:.0f} KB/query from disk"
            )


def build_all(args: argparse.Namespace, folder: Path) -> None:
    """The vector file with the queries' exact truth (unless reused), then the index."""
    if not args.reuse_vectors:
        queries = clustered_chunk(0, args.queries, centres(args.dim, args.clusters), seed=99)
        np.save(folder / "queries.npy", queries)
        started = time.perf_counter()
        np.save(folder / "truth.npy", make_vectors(args, folder, queries))
        say(f"vector file written with exact truth: {time.perf_counter() - started:.0f} s")
    built = build(args, folder)
    index_bytes = (folder / "index.faiss").stat().st_size
    say(
        f"== ivf-pq build {built['train_s'] + built['add_s']:.0f} s (train {built['train_s']:.0f} s, add"
        f" {built['add_s']:.0f} s) on {os.cpu_count()} threads, peak {built['peak_mb']:.0f} MB;"
        f" index file {index_bytes / 2**20:.0f} MB = {index_bytes / args.vectors:.0f} B/image;"
        f" row files {FLOAT32.row_bytes(args.dim)} B/image (float32) + {SQ8.row_bytes(args.dim)} B/image (codes)"
    )


if __name__ == "__main__":
    main()
