"""Index kinds at scale: memory, disk, build time, recall@10 and latency on a real catalog.

Vectors: ``--clusters`` Gaussian clusters of unit vectors (each point is its centre plus
noise of norm 0.7, about 0.82 cosine to the centre), 768-d like ViT-L-14, generated and
written to a catalog in chunks (never all in memory). Exact truth: chunked brute force over
a sample of queries. For each kind, the build runs in one child process and the searches in
another, so each reports its own peak memory (VmHWM) and the search its resident memory
(VmRSS), split into the process's own memory (RssAnon) and the pages of memory-mapped
files it touched (RssFile: the index, and the catalog pages SQLite maps). Searches are
single-threaded and include the exact re-rank, which reads the best candidates' float32
vectors from the catalog (compressed kinds). Disk per image counts the catalog and every file
of the index.

    python benchmarks/bench_index.py --vectors 1000000 --kinds hnsw,hnsw-sq8,ivf-pq,ivf-disk
    python benchmarks/bench_index.py --vectors 100000 --cli   # also a cold 'imrec search'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from image_recommender.catalog.rows import EmbedResult, FileStat
from image_recommender.catalog.store import Catalog

CHUNK = 20_000


def machine() -> str:
    flags = sorted({f for f in Path("/proc/cpuinfo").read_text().split() if f in ("avx2", "avx512_bf16", "amx_bf16")})
    return f"nproc {os.cpu_count()}, CPU flags {' '.join(flags)}"


def centres(dim: int, clusters: int) -> np.ndarray:
    points = np.random.default_rng(1).standard_normal((clusters, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def clustered_chunk(number: int, size: int, middle: np.ndarray, seed: int) -> np.ndarray:
    """Chunk ``number`` of the vectors: the same on every call, made on its own (in any thread)."""
    rng = np.random.default_rng([seed, number])
    noise = rng.standard_normal((size, middle.shape[1])).astype(np.float32)
    noise *= 0.7 / np.linalg.norm(noise, axis=1, keepdims=True)
    points = middle[rng.integers(0, len(middle), size)] + noise
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def clustered_chunks(count: int, dim: int, clusters: int, seed: int) -> Iterator[np.ndarray]:
    """The same vectors on every call, CHUNK at a time."""
    middle = centres(dim, clusters)
    for number, start in enumerate(range(0, count, CHUNK)):
        yield clustered_chunk(number, min(CHUNK, count - start), middle, seed)


def fill_catalog(root: Path, args: argparse.Namespace) -> None:
    """A catalog as ``imrec index`` would leave it, without running a model on a million files."""
    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    model = catalog.ensure_model("synthetic", "bench", args.dim, "", None)
    first = 0
    for vectors in clustered_chunks(args.vectors, args.dim, args.clusters, seed=7):
        names = [FileStat(f"img/{first + i:08d}.jpg", None, 1000, first + i) for i in range(len(vectors))]
        catalog.apply_scan(names, [], [], [])
        results = [
            EmbedResult(first + i + 1, fingerprint=f"{first + i:032x}", width=640, height=480, vector=vector)
            for i, vector in enumerate(vectors)
        ]
        catalog.write_embed_results(model.id, results)
        first += len(vectors)
    catalog.close()


def exact_truth(args: argparse.Namespace, queries: np.ndarray) -> np.ndarray:
    """Labels (1-based, as the catalog numbers them) of each query's exact top 10."""
    best_scores = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_labels = np.zeros((len(queries), 10), dtype=np.int64)
    first = 0
    for vectors in clustered_chunks(args.vectors, args.dim, args.clusters, seed=7):
        labels = np.arange(first + 1, first + 1 + len(vectors))
        best_scores, best_labels = keep_best(best_scores, best_labels, queries @ vectors.T, labels)
        first += len(vectors)
    return best_labels


def keep_best(
    best_scores: np.ndarray, best_labels: np.ndarray, scores: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's best so far merged with a chunk's ``scores`` (queries x chunk) for ``labels``."""
    merged_scores = np.concatenate([best_scores, scores], axis=1)
    merged_labels = np.concatenate([best_labels, np.broadcast_to(labels, scores.shape)], axis=1)
    top = np.argsort(-merged_scores, axis=1)[:, : best_scores.shape[1]]
    return np.take_along_axis(merged_scores, top, axis=1), np.take_along_axis(merged_labels, top, axis=1)


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child_build(root: Path, kind: str) -> dict[str, object]:
    from image_recommender import Library

    with Library.open(root, index_kind=kind) as library:
        report = library.build_index(rebuild=True)
        committed = library.index_for(library.query_model()).committed()
        assert committed is not None
        folder = root / ".imrec"
        meta = committed.meta
        return {
            "seconds": report.seconds,
            "kind": report.kind,
            "nlist": committed.nlist,
            "index_bytes": (folder / meta.index_file).stat().st_size,
            "codes_bytes": (folder / meta.codes_file).stat().st_size if meta.codes_file else 0,
            "lists_bytes": (folder / meta.lists_file).stat().st_size if meta.lists_file else 0,
            "peak_mb": memory_kb("VmHWM") / 1024,
        }


def child_search(root: Path, kind: str, queries_file: Path, sweep: list[dict[str, int]]) -> dict[str, object]:
    import faiss

    from image_recommender import Library
    from image_recommender.search import SearchKnobs, search_vectors

    faiss.omp_set_num_threads(1)
    queries = np.load(queries_file)
    truth = np.load(queries_file.with_suffix(".truth.npy"))
    rows = []
    with Library.open(root) as library:
        index = library.index_for(library.query_model())
        base_rss = memory_kb("VmRSS")
        for knobs in sweep:
            settings = SearchKnobs(**knobs)
            found, latencies = [], []
            for query in queries:
                started = time.perf_counter()
                results = search_vectors(library.catalog, index, query, 10, settings)
                latencies.append((time.perf_counter() - started) * 1000)
                found.append([r.id for r in results])  # image id == label in this catalog
            recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
            p50, p99 = np.percentile(latencies, [50, 99])
            rows.append({**knobs, "recall": recall, "p50_ms": float(p50), "p99_ms": float(p99)})
        return {
            "rows": rows,
            "rss_mb": memory_kb("VmRSS") / 1024,
            "anon_mb": memory_kb("RssAnon") / 1024,
            "file_mb": memory_kb("RssFile") / 1024,
            "rss_before_search_mb": base_rss / 1024,
        }


def sweep_for(kind: str) -> list[dict[str, int]]:
    """The default (all zeros) first, then the main parameter around it."""
    if kind == "ivf-pq":
        return [{}] + [{"nprobe": p, "rerank": r} for p in (8, 16, 32) for r in (400, 1000, 2000, 4000)]
    if kind == "ivf-disk":
        return [{}] + [{"nprobe": p} for p in (8, 16, 32, 64)]
    if kind == "hnsw-sq8":
        return [{}] + [{"ef_search": e, "rerank": r} for e in (64, 128, 256) for r in (50, 100, 200)]
    return [{}] + [{"ef_search": e} for e in (32, 64, 128, 256)]


def run_child(*arguments: str, script: str = __file__) -> dict[str, object]:
    """The JSON a benchmark script's child process prints last (``script ARGUMENTS``)."""
    done = subprocess.run([sys.executable, script, *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--kinds", default="hnsw,hnsw-sq8,ivf-pq")
    parser.add_argument("--dir", type=Path, help="keep the catalog here (reused when it exists)")
    parser.add_argument("--cli", action="store_true", help="also time a cold 'imrec search --like-id N --json'")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, root, kind, *rest = args.child
        if what == "build":
            print(json.dumps(child_build(Path(root), kind)))
        else:
            print(json.dumps(child_search(Path(root), kind, Path(rest[0]), sweep_for(kind))))
        return

    print(f"{args.vectors} clustered {args.dim}-d vectors, {args.clusters} clusters; {machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.dir or Path(scratch) / "library"
        catalog_file = root / ".imrec" / "catalog.sqlite3"
        if not catalog_file.exists():
            started = time.perf_counter()
            fill_catalog(root, args)
            print(f"catalog filled in {time.perf_counter() - started:.0f} s")
        catalog_bytes = catalog_file.stat().st_size
        queries = np.concatenate(list(clustered_chunks(args.queries, args.dim, args.clusters, seed=99)))
        queries_file = Path(scratch) / "queries.npy"
        np.save(queries_file, queries)
        started = time.perf_counter()
        np.save(queries_file.with_suffix(".truth.npy"), exact_truth(args, queries))
        print(f"exact truth for {args.queries} queries: {time.perf_counter() - started:.0f} s")
        print(f"catalog on disk: {catalog_bytes / args.vectors:.0f} bytes per image (float32 vector included)")
        builds: dict[str, float] = {}
        for kind in args.kinds.split(","):
            built = run_child("--child", "build", str(root), kind)
            builds[kind] = float(built["seconds"])  # type: ignore[arg-type]
            ratio = f", {builds['hnsw'] / builds[kind]:.1f}x faster than hnsw" if "hnsw" in builds else ""
            print(
                f"\n== {kind}: build {built['seconds']:.0f} s{ratio} (peak {built['peak_mb']:.0f} MB),"
                f" index file {built['index_bytes'] / 2**20:.0f} MB = {built['index_bytes'] / args.vectors:.0f} B/image"
                + (f", {built['nlist']} lists" if built["nlist"] else "")
                + "".join(
                    f", {name} file {built[key] / args.vectors:.0f} B/image"  # type: ignore[operator]
                    for name, key in (("codes", "codes_bytes"), ("lists", "lists_bytes"))
                    if built[key]
                )
            )
            held = catalog_bytes + sum(int(built[key]) for key in ("index_bytes", "codes_bytes", "lists_bytes"))  # type: ignore[call-overload]
            print(f"   on disk with the catalog: {held / args.vectors:,.0f} B/image")
            searched = run_child("--child", "search", str(root), kind, str(queries_file))
            print(
                f"   search process RSS {searched['rss_mb']:.0f} MB ({searched['rss_before_search_mb']:.0f} MB after"
                f" opening): {searched['anon_mb']:.0f} MB its own, {searched['file_mb']:.0f} MB pages of mapped files"
                " (the index, and the catalog pages the re-rank read: cache the kernel can drop)"
            )
            for row in searched["rows"]:  # type: ignore[attr-defined]
                knobs = ", ".join(f"{k} {row[k]}" for k in ("ef_search", "nprobe", "rerank") if k in row) or "defaults"
                print(
                    f"   {knobs:28s} recall@10 {row['recall']:.4f}  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms"
                )
        if args.cli:
            env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
            search = [
                sys.executable,
                "-m",
                "image_recommender",
                "search",
                "--like-id",
                "4242",
                "-l",
                str(root),
                "--json",
            ]
            cli = cold_seconds(search, 5, env)
            bare = cold_seconds([sys.executable, "-c", "pass"], 5, env)
            print(
                f"\ncold 'imrec search --like-id N --json': {cli:.3f} s (median of 5); 'python -c pass': {bare:.3f} s"
            )


if __name__ == "__main__":
    main()
