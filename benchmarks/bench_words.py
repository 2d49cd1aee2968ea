"""How fast the text in pictures answers at scale: ``--words`` on a catalog of ``--images``
pictures with recognised text in ``--text-share`` of them, cold (a whole ``imrec search
--words`` process) and warm (in one process), for a rare and a common word, and what the word
lookup adds to a merged text query (the CLIP part is the index search of sections 5-8).

The catalog is written through imrec's own catalog API: rows, 32-d vectors, and lines of
receipt-, sign- and screenshot-like German text drawn from a few thousand words.

    python benchmarks/bench_words.py --images 100000 --text-share 0.15
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from image_recommender.catalog.rows import EmbedResult, FileStat
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import TextLine
from image_recommender.models.recommended import cpu_flags
from image_recommender.query.words import rank_words_only, word_hits

STEMS = ["Straße", "Bahnhof", "Rechnung", "Bäckerei", "Öffnung", "Zeiten", "Summe", "Kasse", "Markt", "Müller",
         "Garten", "Haus", "Platz", "Kirche", "Schule", "Brücke", "Ufer", "Weg", "Hof", "Laden"]  # fmt: skip
ENDINGS = ["", "n", "en", "er", "weg", "platz", "straße", "haus", "markt", "zeit", "nummer", "karte"]


def build(root: Path, images: int, text_share: float, seed: int = 0) -> None:
    chance = random.Random(seed)
    words = [stem + ending for stem in STEMS for ending in ENDINGS] + [f"Artikel{n}" for n in range(2000)]
    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    catalog.apply_scan(
        [FileStat(f"f{n // 1000:03d}/{n:06d}.jpg", None, 1000 + n, n) for n in range(images)], [], [], []
    )
    model = catalog.ensure_model("bench", "seeded", 32, "seeded", None)
    vectors = np.random.default_rng(seed).standard_normal((images, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for start in range(0, images, 5000):
        batch = [
            EmbedResult(n + 1, fingerprint=f"content-{n}", size=1000 + n, mtime_ns=n, width=64, height=64, vector=vectors[n])
            for n in range(start, min(images, start + 5000))
        ]  # fmt: skip
        catalog.write_embed_results(model.id, batch)
    records = []
    box = ((0.1, 0.1), (0.9, 0.1), (0.9, 0.2), (0.1, 0.2))
    for n in range(images):
        if chance.random() < text_share:
            lines = [
                TextLine(" ".join(chance.sample(words, chance.randint(2, 5))), 0.95, box),
                TextLine(
                    f"Rechnung Nr. 2024-{n:06d} Summe {chance.randint(1, 999)},{chance.randint(0, 99):02d} EUR",
                    0.9,
                    box,
                ),
            ]
        else:
            lines = []
        records.append((f"content-{n}", "ok", lines, None))
        if len(records) == 5000:
            catalog.store_texts(records, "bench")
            records = []
    catalog.store_texts(records, "bench")
    catalog.close()


def warm_ms(catalog: Catalog, words: str, runs: int = 20) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = len(rank_words_only(word_hits(catalog, words, None), 10, False))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, found


def cold_s(root: Path, words: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "image_recommender", "search", "--words", words, "-l", str(root), "--json"],
        check=True, capture_output=True, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--text-share", type=float, default=0.15)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}")
    root = Path(tempfile.mkdtemp(prefix="bench-words-"))
    try:
        started = time.perf_counter()
        build(root, args.images, args.text_share)
        print(
            f"catalog of {args.images} pictures, text in {args.text_share:.0%}: built in {time.perf_counter() - started:.0f} s"
        )
        catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
        print("| query | matches (top 10 kept) | warm median | cold process |")
        print("|---|---|---|---|")
        for words in ("2024-000117", "Artikel1234", "Bahnhofstraße", "Straße", "Rechnung"):
            every = len(word_hits(catalog, words, None))
            warm, _ = warm_ms(catalog, words)
            cold = cold_s(root, words)
            print(f"| `--words {words}` | {every} | {warm:.1f} ms | {cold:.2f} s |")
        catalog.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
