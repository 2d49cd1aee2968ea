"""Each inference engine side by side in one process: images/s of the model alone, cosine to torch fp32.

The architecture gets seeded random weights (speed and arithmetic do not depend on what the
weights learned; real ones cannot be downloaded here), saved to a checkpoint and loaded back
through imrec's own loader for every engine, so OpenVINO converts exactly what torch runs.
Rounds are interleaved (every engine once per round) so that a machine's drift hits all alike;
the median round is reported. Cosines are on real photos through the model's own preprocess.

    python benchmarks/bench_engines.py --model ViT-B-32 --batch 8 32
    python benchmarks/bench_engines.py --model ViT-L-14 --batch 8 --rounds 3 --seconds 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image

from image_recommender.models.recommended import cpu_flags
from image_recommender.models.spec import ModelSpec
from image_recommender.models.torch_model import EngineOptions, LoadedModel, load_model, native_bf16

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"
TEXTS = ["a bridge over a river at dusk", "a dragonfly on a leaf", "a glass of red wine", "seedlings in soil"]


def seeded_checkpoint(name: str, folder: Path) -> Path:
    torch.manual_seed(0)
    path = folder / f"{name}.pt"
    torch.save(open_clip.create_model(name).state_dict(), path)
    return path


def speed(model: LoadedModel, batch: int, seconds: float) -> float:
    pixels = torch.randint(0, 256, (batch, 3, model.image_size, model.image_size), dtype=torch.uint8)
    model.encode_images(pixels)
    done, started = 0, time.perf_counter()
    while not done or time.perf_counter() - started < seconds:
        model.encode_images(pixels)
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch", type=int, nargs="+", default=[8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per engine, batch and round")
    args = parser.parse_args()
    bf16 = native_bf16("cpu")
    print(
        f"{args.model}, cpu flags: {' '.join(cpu_flags())}, {os.cpu_count()} cores, torch {torch.__version__},"
        f" native bf16: {bf16}"
    )
    photos = [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))]
    variants = [("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16")]
    with tempfile.TemporaryDirectory() as scratch:
        spec = ModelSpec(args.model, str(seeded_checkpoint(args.model, Path(scratch))))
        models: dict[tuple[str, str], LoadedModel] = {}
        for engine, precision in variants:
            started = time.perf_counter()
            options = EngineOptions(engine, cache_dir=Path(scratch) / "engines")
            models[engine, precision] = load_model(spec, "cpu", precision, engine=options)
            converted = " (export + conversion, once per model)" if (engine, precision) == ("openvino", "fp32") else ""
            print(f"load {engine} {precision}: {time.perf_counter() - started:.1f} s{converted}")
        reference_images = models["torch", "fp32"].encode_pil(photos)
        reference_texts = models["torch", "fp32"].encode_texts(TEXTS)
        rates: dict[tuple[str, str, int], list[float]] = {}
        for _ in range(args.rounds):
            for batch in args.batch:
                for variant, model in models.items():
                    rates.setdefault((*variant, batch), []).append(speed(model, batch, args.seconds))
        header = "".join(f"{'batch ' + str(b) + ' img/s':>15}{'ratio':>7}" for b in args.batch)
        print(f"{'engine':<10}{'precision':<10}{header}{'image cos min':>15}{'text cos min':>14}")
        for variant, model in models.items():
            cells = ""
            for batch in args.batch:
                rate = statistics.median(rates[(*variant, batch)])
                base = statistics.median(rates[("torch", "fp32", batch)])
                cells += f"{rate:>15.2f}{rate / base:>6.2f}x"
            image_cos = float(np.min(np.sum(model.encode_pil(photos) * reference_images, axis=1)))
            text_cos = float(np.min(np.sum(model.encode_texts(TEXTS) * reference_texts, axis=1)))
            print(f"{variant[0]:<10}{variant[1]:<10}{cells}{image_cos:>15.6f}{text_cos:>14.6f}")


if __name__ == "__main__":
    main()
