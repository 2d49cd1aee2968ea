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

from image_recommender.catalog.rows import EmbedResult, FileStat, ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import TextLine
from image_recommender.models.recommended import cpu_flags
from image_recommender.query.words import merge, rank_words_only, word_hits

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


def warm_ms(catalog: Catalog, words: str, runs: int = 20) -> tuple[float, float]:
    """Median ms of ``--words`` alone, and of the word part of a merged query (the matches with
    their CLIP scores from the stored vectors, merged), in one process."""
    model = catalog.models()[0]
    query = np.ones(32, dtype=np.float32) / np.sqrt(32)

    def clip_score(image: ImageRow) -> float:
        stored = catalog.vector_of_image(image.id, model.id)
        return float(stored[1] @ query) if stored is not None else 0.0

    alone, merged = [], []
    for _ in range(runs):
        started = time.perf_counter()
        rank_words_only(word_hits(catalog, words, None), 10, False)
        alone.append(time.perf_counter() - started)
        started = time.perf_counter()
        merge(word_hits(catalog, words, None), [], clip_score, 10, False)
        merged.append(time.perf_counter() - started)
    return statistics.median(alone) * 1000, statistics.median(merged) * 1000


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
        hits = word_hits(catalog, "Rechnung", None)
        number = next(line.split()[2] for hit in hits for line in hit.lines if line.startswith("Rechnung Nr."))
        print(
            "| words | matches looked at | `--words`, warm | `--words`, cold process | word part of a merged query, warm |"
        )
        print("|---|---|---|---|---|")
        for words in (number, "Artikel1234", "Bahnhofstraße", "Straße", "Rechnung"):
            looked_at = len(word_hits(catalog, words, None))
            alone, merged = warm_ms(catalog, words)
            cold = cold_s(root, words)
            print(f"| {words} | {looked_at} | {alone:.1f} ms | {cold:.2f} s | {merged:.1f} ms |")
        catalog.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
