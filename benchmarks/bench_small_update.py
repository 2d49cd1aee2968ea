"""The fixed cost of a small update: ``imrec index`` after one new photo, side by side in one run.

Each run is a fresh ``imrec index`` process (as cron, watch or a user starts it), timed from
start to exit, median of ``--repeats``:

1. the cached OpenVINO conversion, run without torch (``engine = auto`` on a CPU);
2. ``engine = torch`` on the same library (what a machine without OpenVINO runs);
3. nothing new (the scan and the index check alone);

and, for where the seconds go, importing torch + open_clip alone in a fresh interpreter.
Weights do not change speed: the architecture gets seeded random weights in a checkpoint.

    python benchmarks/bench_small_update.py --model ViT-B-32 --source ../shared/photos --images 257
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
from pathlib import Path

from image_recommender.models.recommended import cpu_flags


def seeded_checkpoint(model: str, folder: Path) -> Path:
    import open_clip
    import torch

    torch.manual_seed(0)
    path = folder / f"{model}-seeded.pt"
    torch.save(open_clip.create_model(model).state_dict(), path)
    return path


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--source", type=Path, default=Path("../shared/photos"))
    parser.add_argument("--images", type=int, default=257)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-update-"))
    try:
        photos = sorted(p for p in args.source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not photos:
            raise SystemExit(f"{args.source}: no photos")
        library = work / "library"
        library.mkdir()
        for number in range(args.images):
            shutil.copy(photos[number % len(photos)], library / f"{number:05d}{photos[number % len(photos)].suffix}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
        env.update(
            {
                "IMREC_PRETRAINED": str(seeded_checkpoint(args.model, work)),
                "IMREC_MODEL": args.model,
                "IMREC_ENGINE_CACHE": str(work / "engines"),
                "HF_HUB_OFFLINE": "1",
            }
        )
        imrec = [sys.executable, "-m", "image_recommender"]
        first = timed([*imrec, "index", str(library), "-q"], env)  # converts once, embeds everything
        figures: dict[str, list[float]] = {"cached OpenVINO, no torch": [], "engine torch": [], "nothing new": []}
        for repeat in range(args.repeats):
            for label, engine in (("cached OpenVINO, no torch", "auto"), ("engine torch", "torch")):
                shutil.copy(photos[repeat % len(photos)], library / f"new-{label[:6]}-{repeat}.jpg")
                with open(library / f"new-{label[:6]}-{repeat}.jpg", "ab") as handle:
                    handle.write(os.urandom(16))  # new content, so it is embedded, not reused
                figures[label].append(timed([*imrec, "index", str(library), "-q"], {**env, "IMREC_ENGINE": engine}))
            figures["nothing new"].append(timed([*imrec, "index", str(library), "-q"], env))
        imports = [timed([sys.executable, "-c", "import open_clip"], env) for _ in range(args.repeats)]
        print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}")
        print(f"{args.model}, {args.images} photos; first index (conversion included): {first:.1f} s")
        for label, seconds in figures.items():
            print(
                f"one new photo, {label}: {statistics.median(seconds):.2f} s (runs: {', '.join(f'{s:.2f}' for s in seconds)})"
            )
        print(f"import torch + open_clip alone: {statistics.median(imports):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
