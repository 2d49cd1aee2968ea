"""How far reduced precision moves embeddings: cosine of bf16/fp16 vectors to fp32 CPU ones.

The architecture gets fixed random weights (seed 0): the check is about arithmetic, and the
real weights cannot be downloaded here.

    python benchmarks/check_precision.py --model ViT-L-14 --device cpu --precisions bf16
    python benchmarks/check_precision.py --model ViT-L-14 --device cuda --precisions fp16 bf16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from image_recommender.images.decode import load_image
from image_recommender.models.spec import ModelSpec
from image_recommender.models.torch_model import EngineOptions, load_model

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"


def embed(name: str, device: str, precision: str, images: list) -> torch.Tensor:  # type: ignore[type-arg]
    torch.manual_seed(0)
    loaded = load_model(ModelSpec(name, ""), device, precision, engine=EngineOptions("torch"))
    return torch.from_numpy(loaded.encode_pil(images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", default=["bf16"])
    args = parser.parse_args()
    images = [load_image(path) for path in sorted(PHOTOS.glob("*.jpg"))]
    reference = embed(args.model, "cpu", "fp32", images)
    for precision in args.precisions:
        vectors = embed(args.model, args.device, precision, images)
        cosines = (vectors * reference).sum(dim=1)
        print(
            f"{args.model} {args.device} {precision} vs cpu fp32 on {len(images)} photos: "
            f"min cosine {cosines.min():.6f}, mean {cosines.mean():.6f}"
        )


if __name__ == "__main__":
    main()
