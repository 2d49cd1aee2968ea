"""Cold commands, as a shell user runs them: each a fresh ``imrec`` process, start to exit, medians.

On one library of ``--photos`` photos indexed with each of ``--models`` (seeded random weights:
time does not depend on them; converted for OpenVINO once, before anything is timed):

- ``search --like-id N --json`` (stored vector, index, rows: no model at all);
- ``search --words WORD --json`` (the word index alone);
- ``search "a red bicycle" --json`` (a text query: the text tower from its cached conversion
  and the saved tokenizer, torch-free), and the same with ``--engine torch`` beside it;
- ``index`` after one new photo (the cached image tower, torch-free);
- ``python -c "import numpy, faiss, typer._adapters, rich.console"``: the floor that the third
  parties' imports set before any of imrec's code runs.

    python benchmarks/bench_cold.py --models ViT-B-32,ViT-L-14 --photos 257 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_small_update import seeded_checkpoint  # noqa: E402

from image_recommender.models.recommended import cpu_flags  # noqa: E402

IMREC = [sys.executable, "-m", "image_recommender"]


def median_seconds(command: list[str], env: dict[str, str], repeats: int, before: object = None) -> list[float]:
    seconds = []
    for _ in range(repeats):
        if callable(before):
            before()
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds.append(time.perf_counter() - started)
    return seconds


def photo_adder(library: Path, photos: list[Path]) -> Callable[[], None]:
    """A call that adds one photo of new content to ``library`` (embedded, not reused), another each time."""
    counter = iter(range(10_000))

    def add() -> None:
        number = next(counter)
        target = library / f"new-{number}.jpg"
        shutil.copy(photos[number % len(photos)], target)
        with target.open("ab") as handle:
            handle.write(os.urandom(16))

    return add


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--models", default="ViT-B-32")
    parser.add_argument("--photos", type=int, default=257)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}")
    try:
        photos = sorted(p for p in args.source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not photos:
            raise SystemExit(f"{args.source}: no photos")
        floor = median_seconds(
            [sys.executable, "-c", "import numpy, faiss, typer._adapters, rich.console"], os.environ.copy(), 5
        )
        print(f"third-party import floor: {statistics.median(floor):.2f} s")
        for model in filter(None, args.models.split(",")):
            library = work / model
            library.mkdir()
            for number in range(args.photos):
                source = photos[number % len(photos)]
                shutil.copy(source, library / f"{number:05d}{source.suffix}")
            env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
            env.update(
                {
                    "IMREC_PRETRAINED": str(seeded_checkpoint(model, work)),
                    "IMREC_MODEL": model,
                    "IMREC_ENGINE_CACHE": str(work / "engines"),
                    "HF_HUB_OFFLINE": "1",
                }
            )
            subprocess.run([*IMREC, "index", str(library), "-q", "--no-ocr"], env=env, check=True)
            subprocess.run(
                [*IMREC, "search", "warm", "-l", str(library), "--json"], env=env, check=True, stdout=subprocess.DEVNULL
            )
            new_photo = photo_adder(library, photos)
            query = [*IMREC, "search", "a red bicycle", "-l", str(library), "--json"]
            runs = {
                "search --like-id 5": [*IMREC, "search", "--like-id", "5", "-l", str(library), "--json"],
                "search --words bridge": [*IMREC, "search", "--words", "bridge", "-l", str(library), "--json"],
                'search "a red bicycle"': query,
                'search "a red bicycle" --engine torch': [*query, "--engine", "torch"],
                "index, one new photo": [*IMREC, "index", str(library), "-q", "--no-ocr"],
            }
            for label, command in runs.items():
                before = new_photo if label.startswith("index") else None
                seconds = median_seconds(command, env, args.repeats, before)
                print(
                    f"{model}, cold {label}: {statistics.median(seconds):.2f} s"
                    f" (runs {', '.join(f'{s:.2f}' for s in seconds)})"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
