"""The milvus index kind against the local HNSW index, side by side in one run on one library:
build (sync) time, query latency through ``Library.search`` (p50/p99), top-10 overlap with
the local index and recall against exact search, the incremental sync after deletions and
additions, and what each kind keeps on disk per image.

    python benchmarks/bench_milvus.py --count 50000 --dim 512 --queries 200

Clustered CLIP-like unit vectors written into a real catalog (no model: the index is the
subject); Milvus Lite, embedded, in the library's ``.imrec/``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_index_kinds import FOLDERS, add_images, clustered  # noqa: E402

from image_recommender import Library  # noqa: E402
from image_recommender.models.recommended import cpu_flags  # noqa: E402
from image_recommender.search import Term  # noqa: E402


def _path(i: int) -> str:
    return f"{FOLDERS[i % 2]}/{i:06d}.jpg"


def _timed_queries(library: Library, queries: list[int], k: int) -> tuple[list[list[str]], list[float]]:
    found, times = [], []
    for position in queries:
        started = time.perf_counter()
        results = library.search([Term("id", str(position + 1))], k=k).results
        times.append(time.perf_counter() - started)
        found.append([result.path for result in results])
    return found, times


def _state_bytes(root: Path, names: tuple[str, ...]) -> int:
    folder = root / ".imrec"
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and any(part in path.name for part in names):
            total += path.stat().st_size
    if "milvus" in names and (folder / "milvus.db").is_dir():
        total += sum(p.stat().st_size for p in (folder / "milvus.db").rglob("*") if p.is_file())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    print(f"nproc {os.cpu_count()}, {platform.processor() or platform.machine()}, flags: {' '.join(cpu_flags())}")
    vectors = clustered(args.count, dim=args.dim, clusters=max(40, args.count // 500))
    work = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
    try:
        add_images(work, vectors)
        catalog_bytes = (work / ".imrec" / "catalog.sqlite3").stat().st_size
        rng = np.random.default_rng(1)
        queries = sorted(rng.choice(args.count, size=min(args.queries, args.count), replace=False).tolist())
        exact = []
        for position in queries:
            scores = vectors @ vectors[position]
            order = [i for i in np.argsort(-scores)[: args.k + 1] if i != position][: args.k]
            exact.append({_path(i) for i in order})
        figures = {}
        for kind in ("hnsw", "milvus"):
            with Library.open(work, index_kind=kind) as library:
                started = time.perf_counter()
                report = library.build_index()
                built = time.perf_counter() - started
                _timed_queries(library, queries[:5], args.k)  # first-query costs (loading) apart
                found, times = _timed_queries(library, queries, args.k)
            disk = _state_bytes(work, ("milvus",) if kind == "milvus" else (".faiss", ".f32", ".sq8", "index-"))
            figures[kind] = (report, built, found, times, disk)
        local = figures["hnsw"][2]
        print(f"{args.count} vectors of {args.dim} dimensions; catalog {catalog_bytes / args.count:.0f} B an image")
        print("| kind | build | p50 | p99 | recall@10 | overlap with hnsw | index on disk an image |")
        print("|---|---|---|---|---|---|---|")
        for kind, (_, built, found, times, disk) in figures.items():
            recall = np.mean([len(set(f) & e) / args.k for f, e in zip(found, exact, strict=True)])
            overlap = np.mean([len(set(f) & set(h)) / args.k for f, h in zip(found, local, strict=True)])
            cuts = statistics.quantiles(times, n=100)
            print(
                f"| {kind} | {built:.1f} s | {statistics.median(times) * 1000:.1f} ms | {cuts[98] * 1000:.1f} ms"
                f" | {recall:.4f} | {overlap:.3f} | {disk / args.count:.0f} B |"
            )
        with Library.open(work) as library:
            gone = list(range(1, args.count, 97))
            library.catalog.apply_scan([], [], [], gone)
            started = time.perf_counter()
            report = library.build_index()
            print(f"milvus sync after {len(gone)} deletions: {time.perf_counter() - started:.2f} s ({report})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
