"""What the passes after embedding cost: ``imrec index`` with defaults against ``--no-ocr``, side by side.

``--against "--no-ocr --no-faces"`` weighs every pass at once (defaults read text and look for faces).

Each figure is a whole ``imrec index`` process on a fresh copy of one library, start to exit,
the two ways alternating, medians of ``--rounds``:

(a) ``--photos`` distinct photos without text (the shared photos, then re-encoded, turned
    variants of them, as ``bench_embed.py`` makes them);
(b) the same photos with text pictures added so that ``--text-share`` of the library holds
    text (signs on photos, pages, screenshots at 12-56 px, from ``bench_text.py``), where the
    gate's word recall is measured too: the words of three or more characters found in the
    catalog after a default index, against reading every text picture with the same reader.

Model weights do not change speed: each architecture gets seeded random weights in a
checkpoint, converted once for OpenVINO before anything is timed.

    python benchmarks/bench_passes.py --models ViT-B-32,ViT-L-14 --photos 257 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_embed import make_library  # noqa: E402
from bench_small_update import seeded_checkpoint  # noqa: E402
from bench_text import text_pictures  # noqa: E402

from image_recommender.catalog.words import fold  # noqa: E402
from image_recommender.models.recommended import cpu_flags  # noqa: E402


def timed_index(library: Path, env: dict[str, str], *flags: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "image_recommender", "index", str(library), "--json", *flags],
        env=env, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started, json.loads(done.stdout)


def compare(source: Path, work: Path, env: dict[str, str], rounds: int, against: list[str]) -> dict[str, object]:
    """Defaults against ``against`` on fresh copies of ``source``, alternating; medians and the last summary."""
    seconds: dict[str, list[float]] = {"default": [], "against": []}
    summary: dict = {}
    for number in range(rounds):
        for way in ("default", "against") if number % 2 == 0 else ("against", "default"):
            library = work / f"run-{way}"
            shutil.rmtree(library, ignore_errors=True)
            shutil.copytree(source, library)
            took, report = timed_index(library, env, *(() if way == "default" else against))
            seconds[way].append(took)
            if way == "default":
                summary = report
    return {"seconds": seconds, "summary": summary, "last": work / "run-default"}


def word_recall(library: Path, texts: dict[str, list[str]]) -> tuple[float, float, int, int]:
    """(share of rendered words found in the catalog, the same reading every text picture, found, words)."""
    from PIL import Image

    from image_recommender import Library
    from image_recommender.text.recognise import TextReader, for_reading

    reader = TextReader()
    indexed = every = total = 0
    with Library.open(library) as opened:
        for name, lines in texts.items():
            words = [
                word.strip(".,:;") for line in lines for word in fold(line).split() if len(word.strip(".,:;")) >= 3
            ]
            image = opened.catalog.image_by_path(name)
            stored = opened.catalog.text_of(image.fingerprint if image is not None else None) or []
            read = reader.read(for_reading(Image.open(library / name).convert("RGB")))
            in_index, in_full = fold(" ".join(line.text for line in stored)), fold(" ".join(line.text for line in read))
            indexed += sum(word in in_index for word in words)
            every += sum(word in in_full for word in words)
            total += len(words)
    return indexed / total, every / total, indexed, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--models", default="ViT-B-32")
    parser.add_argument("--photos", type=int, default=257)
    parser.add_argument("--text-share", type=float, default=0.15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--against", default="--no-ocr", help="the flags of the run defaults are weighed against")
    args = parser.parse_args()
    against = args.against.split()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-passes-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}")
    plain = work / "photos"
    if not plain.is_dir():
        make_library(args.source, args.photos, plain, None, "photos")
    with_text = work / "with-text"
    texts: dict[str, list[str]] = {}
    if not with_text.is_dir():
        shutil.copytree(plain, with_text)
    wanted = round(args.photos * args.text_share / (1 - args.text_share))
    photos = sorted(args.source.rglob("*.jpg"))
    made = text_pictures(photos, max(1, -(-wanted // 5)), seed=7)[:wanted]
    for number, (picture, lines, _) in enumerate(made):
        name = f"text-{number:03d}.jpg"
        if not (with_text / name).exists():
            picture.save(with_text / name, quality=90)
        texts[name] = lines
    for model in filter(None, args.models.split(",")):
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
        env.update(
            {
                "IMREC_MODEL": model,
                "IMREC_PRETRAINED": str(
                    seeded_checkpoint(model, work)
                    if not (work / f"{model}-seeded.pt").exists()
                    else work / f"{model}-seeded.pt"
                ),
                "IMREC_ENGINE_CACHE": str(work / "engines"),
                "HF_HUB_OFFLINE": "1",
            }
        )
        warm = work / "warm-up"
        shutil.rmtree(warm, ignore_errors=True)
        shutil.copytree(plain, warm, ignore=lambda _, names: names[8:])
        timed_index(warm, env, "--no-ocr")  # converts the model once; not what is measured
        for label, library in (("(a) no text", plain), (f"(b) text in {args.text_share:.0%}", with_text)):
            figures = compare(library, work, env, args.rounds, against)
            seconds = figures["seconds"]
            assert isinstance(seconds, dict)
            summary = figures["summary"]
            assert isinstance(summary, dict)
            default, plain_s = statistics.median(seconds["default"]), statistics.median(seconds["against"])
            runs = "; ".join(f"{way}: {', '.join(f'{s:.1f}' for s in values)}" for way, values in seconds.items())
            print(
                f"{model}, {label}, {summary.get('scanned')} files: default {default:.1f} s, {args.against} {plain_s:.1f} s,"
                f" ratio {default / plain_s:.2f} (runs {runs}); text found in {summary.get('text_found')},"
                f" ruled out while embedding {summary.get('text_ruled_out_while_embedding')},"
                f" text seconds {summary.get('text_seconds', 0):.1f}"
                f" (asking during embedding {summary.get('text_seconds_while_embedding', 0):.1f})"
            )
            if library is with_text:
                last = figures["last"]
                assert isinstance(last, Path)
                recall, every, found, total = word_recall(last, texts)
                print(
                    f"  word recall after a default index {recall:.3f} ({found} of {total}); reading every text picture {every:.3f}"
                )


if __name__ == "__main__":
    main()
