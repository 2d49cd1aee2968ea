"""IVF indexes beyond a catalog's reach: build time and memory, recall@10, latency and the search
process's memory at 5-10M vectors, for ``ivf-pq`` (lists in memory) and ``ivf-disk`` (lists
memory-mapped from disk, built in shards and merged).

``bench_index.py`` fills a real catalog, which at 10M rows takes longer than a short session
lasts. This script measures the part that grows with the library without it: the same
clustered vectors (``bench_index.clustered_chunk``, made in parallel threads) in a float32
file that stands in for the catalog's one copy of the vectors (reading a catalog row costs
about 7 µs more than a mapped row: 0.35 ms for the 50 rows a query re-ranks), an index built
through ``VectorIndex`` with the library's own lists, training sample, chunks and (ivf-disk)
shards, and single-threaded searches as ``LibraryIndex.nearest`` makes them: candidates,
(ivf-pq) the 8-bit screen, the exact re-rank of the best 50. Exact truth comes from brute
force while the vectors are made. A second search process first drops the index's lists or
codes and the float32 file from the page cache (``posix_fadvise``), as on a machine whose
page cache cannot hold them, and counts what each query reads from the disk.

    python benchmarks/bench_index_scale.py --vectors 10000000 --kind ivf-disk --dir /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
from bench_index import CHUNK, centres, clustered_chunk, keep_best, machine, memory_kb, run_child

from image_recommender.index import on_disk
from image_recommender.index.kinds import BUILD_CHUNK, IndexParams, default_nprobe, default_rerank, screen_size
from image_recommender.index.row_files import SQ8, RowFormat
from image_recommender.index.storage import IndexMeta, VectorIndex

SEED = 7
VECTORS = RowFormat(".f32", "<f4")  # the stand-in for the catalog's float32 vectors


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
        VECTORS.appending(folder / "vectors.f32", 0, args.dim) as append,
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
    """The library's build: train on 39 vectors a list, then add in the library's chunks (ivf-pq:
    the screening codes appended to their row file; ivf-disk: shards merged into a lists file)."""
    mapped = VECTORS.open_rows(folder / "vectors.f32", args.vectors, args.dim)
    assert mapped is not None
    rows = mapped.array
    index = VectorIndex.empty(IndexParams(args.kind), "synthetic", "bench", args.dim, args.vectors)
    started = time.perf_counter()
    sample = index.training_sample(np.arange(args.vectors, dtype=np.int64))
    index.train(np.asarray(rows[sample]))
    trained = time.perf_counter()
    say(f"   trained {index.nlist} lists on {len(sample)} vectors: {trained - started:.0f} s")
    chunks = (
        (np.arange(start, min(start + BUILD_CHUNK, args.vectors)), np.asarray(rows[start : start + BUILD_CHUNK]))
        for start in range(0, args.vectors, BUILD_CHUNK)
    )
    if args.kind == "ivf-disk":
        index.add_on_disk(folder, "index", chunks)
        (folder / "lists_file").write_text(index.meta.lists_file)
    else:
        with SQ8.appending(folder / "codes.sq8", 0, args.dim) as append_codes:
            for labels, vectors in chunks:
                index.add(labels, vectors)
                append_codes(index.screen_codes(vectors))
        (folder / "code_ranges.json").write_text(json.dumps(index.meta.code_ranges))
    added = time.perf_counter()
    faiss.write_index(index.index, str(folder / "index.faiss"))
    return {"train_s": trained - started, "add_s": added - trained, "peak_mb": memory_kb("VmHWM") / 1024}


def disk_read_bytes() -> int:
    """Bytes this process has had read from the disk (page cache misses), from /proc/self/io."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def drop_from_page_cache(path: Path) -> None:
    with open(path, "rb") as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def open_index(args: argparse.Namespace, folder: Path) -> VectorIndex:
    if args.kind == "ivf-disk":
        lists_file = (folder / "lists_file").read_text()
        inner = on_disk.read_index(folder / "index.faiss", lists_file)
        assert inner is not None
        meta = IndexMeta("synthetic", "bench", args.dim, int(inner.ntotal), IndexParams(args.kind), "", 0.0)
        return VectorIndex(inner, meta)
    inner = faiss.read_index(str(folder / "index.faiss"), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    ranges = json.loads((folder / "code_ranges.json").read_text())
    meta = IndexMeta(
        "synthetic", "bench", args.dim, int(inner.ntotal), IndexParams(args.kind), "", 0.0, code_ranges=ranges
    )
    return VectorIndex(inner, meta, SQ8.open_rows(folder / "codes.sq8", args.vectors, args.dim))


def search(args: argparse.Namespace, folder: Path, cold: bool) -> dict[str, object]:
    """Single-threaded searches, the defaults and (warm) a sweep of nprobe; ``cold``: the lists or
    codes and the float32 file first dropped from the page cache, the defaults only."""
    if cold:
        for path in [*folder.glob("index*"), *folder.glob("*.sq8"), folder / "vectors.f32"]:
            drop_from_page_cache(path)
    faiss.omp_set_num_threads(1)
    before = memory_kb("RssAnon")
    index = open_index(args, folder)
    opened = {"anon_mb": memory_kb("RssAnon") / 1024, "index_mb": (memory_kb("RssAnon") - before) / 1024}
    exact = VECTORS.open_rows(folder / "vectors.f32", args.vectors, args.dim)
    assert exact is not None
    queries = np.load(folder / "queries.npy")
    truth = np.load(folder / "truth.npy")
    nprobe = default_nprobe(index.nlist)
    rerank = default_rerank(args.kind, args.vectors, 10)
    sweep = [nprobe] if cold else [nprobe, 8, 32, 64]
    rows = []
    for number, probes in enumerate(sweep):
        found, latencies = [], []
        read_before = disk_read_bytes()
        for query in queries:
            started = time.perf_counter()
            _, hits = index.search_rows(query, max(10, rerank), 0, nprobe=probes)
            candidates = index.screened(query, hits[0][hits[0] >= 0], screen_size(10))
            candidates = np.sort(candidates)
            labels = index.labels()[candidates]
            vectors = exact.array[labels]  # the stand-in's row i is label i
            best = labels[np.argsort(-(vectors @ query))[:10]]
            latencies.append((time.perf_counter() - started) * 1000)
            found.append(best)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
        p50, p99 = np.percentile(latencies, [50, 99])
        disk_kb = (disk_read_bytes() - read_before) / len(queries) / 1024
        rows.append(
            {"nprobe": probes, "rerank": rerank, "default": number == 0, "recall": recall}
            | {"p50_ms": float(p50), "p99_ms": float(p99), "disk_kb": disk_kb}
        )
    searched = {"anon_mb": memory_kb("RssAnon") / 1024, "file_mb": memory_kb("RssFile") / 1024}
    return {"rows": rows, "opened": opened, "searched": searched, "nlist": index.nlist}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=10_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--kind", choices=["ivf-pq", "ivf-disk"], default="ivf-disk")
    parser.add_argument("--dir", type=Path, required=True, help="for the vector file and index (38 GB at 10M)")
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
    say(
        f"{args.vectors} clustered {args.dim}-d vectors, {args.clusters} clusters, {args.kind};"
        f" {machine()}, {memory:.0f} GB RAM"
    )
    if not args.search_only:
        build_all(args, folder)
    for child in ("search", "cold"):
        searched = run_child(*sys.argv[1:], "--child", child, script=__file__)
        opened, after = searched["opened"], searched["searched"]
        say(
            f"   {child} process: {opened['anon_mb']:.0f} MB own memory after opening (the index"
            f" {opened['index_mb']:.0f} MB); after its queries {after['anon_mb']:.0f} MB own +"
            f" {after['file_mb']:.0f} MB of mapped file pages (page cache the kernel can drop)"
        )
        for row in searched["rows"]:
            label = "defaults, nothing cached" if child == "cold" else "defaults" if row["default"] else ""
            say(
                f"   {label:25s} nprobe {row['nprobe']:3d}, candidates {row['rerank']:5d}:"
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
    sizes = {path.suffix: path.stat().st_size for path in folder.glob("index*")}
    sizes.update({".sq8": (folder / "codes.sq8").stat().st_size} if args.kind == "ivf-pq" else {})
    held = " + ".join(
        f"{suffix} {size / 2**20:,.0f} MB ({size / args.vectors:.0f} B/image)" for suffix, size in sizes.items()
    )
    say(
        f"== {args.kind} build {built['train_s'] + built['add_s']:.0f} s (train {built['train_s']:.0f} s, add"
        f" {built['add_s']:.0f} s) on {os.cpu_count()} threads, peak {built['peak_mb']:.0f} MB; {held}"
    )


if __name__ == "__main__":
    main()
