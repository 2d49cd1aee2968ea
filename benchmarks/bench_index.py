"""Index quality and speed on clustered synthetic CLIP-like vectors, and a cold CLI search.

Vectors: ``--clusters`` Gaussian clusters of unit vectors (each point is its centre plus
noise of norm 0.7, about 0.82 cosine to the centre), 768-d like ViT-L-14. Reports build
time, recall@10 against exact search at the default parameters, single-thread query
latency p50/p99, bytes per vector on disk and in memory, and the whole-process wall time
of a cold ``imrec search --like-id N --json`` on a catalog of that size beside a cold
``python -c pass``.

    python benchmarks/bench_index.py --vectors 100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from image_recommender.catalog import Catalog, EmbedResult, FileStat
from image_recommender.index import IndexParams, VectorIndex, default_ef_search
from image_recommender.library import Library


def clustered(count: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((count, dim)).astype(np.float32)
    noise *= 0.7 / np.linalg.norm(noise, axis=1, keepdims=True)
    points = centres[rng.integers(0, clusters, count)] + noise
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def fill_catalog(root: Path, vectors: np.ndarray) -> None:
    """A catalog as ``imrec index`` would leave it, without running a model on 100k files."""
    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    catalog.apply_scan([FileStat(f"img/{i:07d}.jpg", None, 1000 + i, i) for i in range(len(vectors))], [], [], [])
    model = catalog.ensure_model("synthetic", "bench", vectors.shape[1], "", None)
    for start in range(0, len(vectors), 5000):
        batch = [
            EmbedResult(start + i + 1, fingerprint=f"{start + i:032x}", width=640, height=480, vector=vector)
            for i, vector in enumerate(vectors[start : start + 5000])
        ]
        catalog.write_embed_results(model.id, batch)
    catalog.close()


def current_rss() -> int:
    """Resident bytes now (not the peak), from /proc."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cold_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--no-cli", action="store_true", help="skip the cold CLI search")
    args = parser.parse_args()

    data = clustered(args.vectors + args.queries, args.dim, args.clusters, seed=1)
    base, queries = data[: args.vectors], data[args.vectors :]
    labels = np.arange(1, args.vectors + 1, dtype=np.int64)
    params = IndexParams()
    print(f"{args.vectors} clustered {args.dim}-d vectors, {args.clusters} clusters, defaults {params}")

    started = time.perf_counter()
    index = VectorIndex.build(labels, base, params, "synthetic", "bench", args.dim)
    build = time.perf_counter() - started
    print(f"build: {build:.1f} s ({args.vectors / build:.0f} vectors/s, {faiss.omp_get_max_threads()} threads)")

    exact = faiss.IndexFlatIP(args.dim)
    exact.add(base)
    _, truth = exact.search(queries, 10)
    faiss.omp_set_num_threads(1)
    chosen = default_ef_search(args.vectors)
    for ef_search in sorted({16, 32, 48, 64, 128, chosen}):
        _, found = index.search(queries, 10, ef_search)
        recall = np.mean([len(set(found[i]) & set(truth[i] + 1)) / 10 for i in range(len(queries))])
        latencies = []
        for query in queries:
            started = time.perf_counter()
            index.search(query[None, :], 10, ef_search)
            latencies.append((time.perf_counter() - started) * 1000)
        p50, p99 = np.percentile(latencies, [50, 99])
        default = " (default)" if ef_search == chosen else ""
        print(
            f"efSearch {ef_search:4d}{default}: recall@10 {recall:.4f}, single-thread latency p50 {p50:.3f} ms, p99 {p99:.3f} ms"
        )

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        sidecar = root / ".imrec" / "index.json"
        index.save(sidecar)
        on_disk = (sidecar.parent / index.meta.index_file).stat().st_size
        del index
        before = current_rss()
        loaded = VectorIndex.load(sidecar, writable=True)
        in_memory = current_rss() - before
        print(
            f"bytes per vector: {on_disk / args.vectors:.0f} on disk, {in_memory / args.vectors:.0f} in memory "
            f"when loaded for writing (raw float32 {4 * args.dim}); search memory-maps the vectors instead"
        )
        del loaded
        if args.no_cli:
            return
        fill_catalog(root, base)
        with Library.open(root) as library:
            started = time.perf_counter()
            library.build_index()
            print(
                f"catalog of {args.vectors} images + index via Library.build_index: {time.perf_counter() - started:.1f} s"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
        search = [sys.executable, "-m", "image_recommender", "search", "--like-id", "4242", "-l", str(root), "--json"]
        check = subprocess.run(search, capture_output=True, text=True, env=env)
        if check.returncode != 0:
            raise SystemExit(check.stderr)
        cli = cold_seconds(search, 5, env)
        bare = cold_seconds([sys.executable, "-c", "pass"], 5, env)
        print(f"cold 'imrec search --like-id N --json': {cli:.3f} s (median of 5); cold 'python -c pass': {bare:.3f} s")


if __name__ == "__main__":
    main()
