"""Themes at scale: time and peak memory of computing them for ``--images`` 768-d vectors
(clustered like CLIP vectors: ``--clusters`` directions with noise), written through imrec's
catalog API, named through ViT-L-14's text tower (seeded weights: the cost, not the names),
and of the incremental join of 1% new pictures. Run in one process; peak RSS from the kernel.

    python benchmarks/bench_themes.py --images 200000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from image_recommender.catalog.rows import EmbedResult, FileStat
from image_recommender.catalog.store import Catalog
from image_recommender.models.recommended import cpu_flags
from image_recommender.themes.computing import compute_themes, join_themes, theme_count


def vectors(count: int, clusters: int, seed: int, start: int = 0) -> np.ndarray:
    chance = np.random.default_rng(seed + start)
    centres = np.random.default_rng(seed).standard_normal((clusters, 768)).astype(np.float32)
    rows = centres[chance.integers(0, clusters, count)] + 0.8 * chance.standard_normal((count, 768)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def add(catalog: Catalog, model_id: int, start: int, count: int, clusters: int) -> None:
    catalog.apply_scan(
        [FileStat(f"f{n // 1000:04d}/{n:07d}.jpg", None, 1000 + n, n) for n in range(start, start + count)], [], [], []
    )
    for first in range(start, start + count, 10_000):
        size = min(10_000, start + count - first)
        block = vectors(size, clusters, 0, first)
        catalog.write_embed_results(
            model_id,
            [EmbedResult(n + 1, fingerprint=f"c{n}", size=1000 + n, mtime_ns=n, width=64, height=64, vector=block[n - first])
             for n in range(first, first + size)],
        )  # fmt: skip


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--clusters", type=int, default=120)
    args = parser.parse_args()
    import open_clip
    import torch

    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}")
    torch.manual_seed(0)
    clip = open_clip.create_model("ViT-L-14").eval()
    tokenizer = open_clip.get_tokenizer("ViT-L-14")

    def encode_texts(texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            return torch.cat([clip.encode_text(tokenizer(texts[i : i + 64])) for i in range(0, len(texts), 64)]).numpy()

    work = Path(tempfile.mkdtemp(prefix="bench-themes-"))
    try:
        catalog = Catalog.open(work / "catalog.sqlite3")
        model = catalog.ensure_model("bench", "seeded", 768, "seeded", None)
        started = time.perf_counter()
        add(catalog, model.id, 0, args.images, args.clusters)
        print(
            f"catalog of {args.images} 768-d vectors written in {time.perf_counter() - started:.0f} s; peak RSS so far {peak_mb():.0f} MB"
        )
        before = peak_mb()
        started = time.perf_counter()
        made = compute_themes(catalog, model.id, encode_texts)
        seconds = time.perf_counter() - started
        print(
            f"themes: {made} (theme_count: {theme_count(args.images)}) in {seconds:.1f} s; peak RSS {peak_mb():.0f} MB (before: {before:.0f} MB)"
        )
        extra = args.images // 100
        add(catalog, model.id, args.images, extra, args.clusters)
        started = time.perf_counter()
        joined = join_themes(catalog, model.id, catalog.themes(model.id))
        print(f"{joined} new pictures joined their nearest theme in {time.perf_counter() - started:.2f} s")
        catalog.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
