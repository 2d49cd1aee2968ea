"""Ray against the local pipeline on the same machine and files: images/s of each and their ratio.

Both runs embed the same freshly made library (distinct photos, so nothing is reused) with the
same model, precision and batch sizes; each starts from an empty catalog and loads the model
(converted once beforehand for the CPU engine), and the Ray run includes starting a local Ray
(or joining ``--address``) and loading the model in its actors. Model weights do not change speed,
so the architecture is built with random weights.

    python benchmarks/bench_ray.py --source ../shared/photos --images 1000 --model ViT-B-32
    # on a cluster whose nodes all mount the library folder at the same path:
    python benchmarks/bench_ray.py --source /shared/photos --images 20000 --model ViT-L-14 \\
        --library /shared/bench-library --address auto
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import corpus

from image_recommender import Library
from image_recommender.models.recommended import cpu_flags


def fresh(root: Path) -> None:
    shutil.rmtree(root / ".imrec", ignore_errors=True)


def run(root: Path, settings: dict[str, object]) -> tuple[float, str]:
    fresh(root)
    with Library.open(root, create=True, **settings) as library:  # type: ignore[arg-type]
        started = time.perf_counter()
        library.scan()
        report = library.embed()
        return time.perf_counter() - started, report.line()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a folder of photos to make the library from")
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch", type=int, default=0, help="model batch size (0: by device)")
    parser.add_argument("--address", default="local", help="Ray address: local (start one), auto, or HOST:PORT")
    parser.add_argument("--library", type=Path, help="make the library here (a shared mount for a cluster)")
    args = parser.parse_args()
    print(f"nproc {os.cpu_count()}, CPU flags {' '.join(cpu_flags())}; {args.images} images, {args.model}")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.library or Path(scratch) / "library"
        files = corpus.make_phone_library(args.source, args.images, root)
        print(corpus.describe(files))
        settings: dict[str, object] = {
            "model": args.model,
            "pretrained": "",
            "precision": args.precision,
            "model_batch_size": args.batch,
        }
        warm = Path(scratch) / "warm-up"  # converts the model for the CPU engine once, outside the timings
        corpus.make_phone_library(args.source, 4, warm)
        run(warm, settings)
        local_seconds, local = run(root, settings)
        ray_seconds, on_ray = run(root, {**settings, "ray_address": args.address})
        fresh(root)
    local_rate, ray_rate = args.images / local_seconds, args.images / ray_seconds
    print(f"local pipeline: {local_rate:.1f} images/s ({local})")
    print(f"Ray ({args.address}): {ray_rate:.1f} images/s ({on_ray})")
    print(f"Ray / local: {ray_rate / local_rate:.2f}")


if __name__ == "__main__":
    main()
