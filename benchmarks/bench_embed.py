"""Embedding throughput, side by side in one run.

1. end-to-end pipeline (read, fingerprint, decode, model, catalog writes) vs the model alone
   on tensors already in memory (same model, batch and precision), once per decode route
   (``--decode-modes workers,device``: Pillow in worker processes, or whole JPEGs on the
   model's device), plus how far the device route's crops and vectors are from Pillow's;
2. decode + preprocess per core, full decode vs JPEG draft, and the tensor difference;
3. the seed's naive loop (open, preprocess, one batch at a time, no workers, torch fp32).

Model weights do not change speed, so the architecture is built with random weights.

    python benchmarks/bench_embed.py --source ../shared/photos --model ViT-B-32 --images 257 --naive
    python benchmarks/bench_embed.py --device cuda --model ViT-L-14 --images 6000 --synthetic-mp 1.5 \
        --batch 256 --decode-modes workers,device
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import corpus
import numpy as np
import torch
from PIL import Image

from image_recommender.catalog.store import Catalog
from image_recommender.embed.device_decode import DeviceJpegDecoder, device_decoder
from image_recommender.embed.pipeline import EmbedOptions, embed_pending
from image_recommender.images.decode import decode, probe_whole_jpeg
from image_recommender.models.recommended import cpu_flags
from image_recommender.models.spec import ModelSpec
from image_recommender.models.torch_model import EngineOptions, load_model
from image_recommender.scan import scan_library
from image_recommender.settings import Settings


def _make_one(job: tuple[int, Path, Path, int]) -> Path:
    """One distinct file: the photo itself first, then re-encoded variants."""
    number, photo, target, originals = job
    destination = target / f"{number:06d}-photo-{photo.name}"
    if number < originals:
        shutil.copy(photo, destination)
        return destination
    with Image.open(photo) as image:
        image.convert("RGB").rotate(number % 7 - 3).save(destination, quality=85 + number % 10)
    return destination


def make_library(source: Path, count: int, target: Path, synthetic_mp: float | None, kind: str) -> list[Path]:
    """``count`` distinct files made from the source photos (copies would be reused, not embedded).

    ``photos``: the photos themselves, then re-encoded variants; ``phone``: the phone mix of
    ``corpus.py``; with ``synthetic_mp``: distinct baseline JPEGs of that size.
    """
    if kind == "phone":
        return corpus.make_phone_library(source, count, target)
    if synthetic_mp is not None:
        return corpus.make_uniform_library(source, count, target, synthetic_mp)
    photos = corpus.source_photos(source)
    target.mkdir(parents=True, exist_ok=True)
    jobs = [(n, photos[n % len(photos)], target, len(photos)) for n in range(count)]
    with ProcessPoolExecutor() as pool:
        return list(pool.map(_make_one, jobs, chunksize=16))


def model_only(model, batch: int, seconds: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    """Images/s of the model alone on a preprocessed batch already in memory."""
    tensors = torch.randint(0, 256, (batch, 3, model.image_size, model.image_size), dtype=torch.uint8)
    if model.device == "cuda":
        tensors = tensors.pin_memory()
    model.encode_images(tensors)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or done < 2 * batch:
        model.encode_images(tensors)
        done += batch
    return done / (time.perf_counter() - started)


def end_to_end(model, root: Path, batch: int, workers: int, decode_mode: str) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """Images/s of the whole pipeline on a fresh catalog, failures, and how many JPEGs the device decoded."""
    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    scan_library(catalog, root)
    row = catalog.ensure_model(model.spec.name, "bench", model.dim, "", None)
    work = catalog.work_for_model(row.id)
    report = embed_pending(catalog, root, model, row.id, work, EmbedOptions(256, batch, workers, decode_mode))
    catalog.close()
    shutil.rmtree(root / ".imrec")
    return (report.embedded + report.reused) / report.seconds, report.failed, report.decoded_on_device


def decode_rates(files: list[Path], model) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Single-core decode + preprocess images/s, and each path's tensor MAD against a full decode.

    full: decode everything, OpenCLIP's preprocess; draft: DCT-domain draft, same preprocess;
    pipeline: what a decode worker does (draft, reducing-gap resize, uint8 crop).
    """
    datas = [f.read_bytes() for f in files]
    mean = torch.tensor(model.preprocess.transforms[-1].mean).view(3, 1, 1)
    std = torch.tensor(model.preprocess.transforms[-1].std).view(3, 1, 1)
    paths = {
        "full": lambda data: model.preprocess(decode(data).image),
        "draft": lambda data: model.preprocess(decode(data, model.image_size).image),
        "pipeline": lambda data: (model.pixel_transform(decode(data, model.image_size).image) / 255 - mean) / std,
    }
    rates, tensors = {}, {}
    for name, run in paths.items():
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            tensors[name] = [run(data) for data in datas]
            best = min(best, time.perf_counter() - started)
        rates[name] = len(datas) / best
    for name in ("draft", "pipeline"):
        mads = [float(((a - b) * std).abs().mean() * 255) for a, b in zip(tensors["full"], tensors[name], strict=True)]
        rates[f"{name}_mad_max"] = max(mads)
        rates[f"{name}_mad_mean"] = float(np.mean(mads))
    return rates


def route_fidelity(model, decoder: DeviceJpegDecoder | None, files: list[Path]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Each route's vectors against OpenCLIP's reference on the same files: min cosine and crop MAD (/255).

    The reference is a full Pillow decode (EXIF orientation applied) through the model's own
    torchvision steps; the workers route drafts and resizes with a reducing gap; the device
    route decodes baseline JPEGs whole on the model's device (other files take the workers
    route there too, so they are left out of its figures).
    """
    datas = [f.read_bytes() for f in files]
    reference = torch.stack([reference_crop(model, decode(data).image) for data in datas])
    routes = {"workers": torch.stack([model.pixel_transform(decode(data, model.image_size).image) for data in datas])}
    rows = list(range(len(datas)))
    if decoder is not None:
        probes = [probe_whole_jpeg(data, model.image_size) for data in datas]
        rows = [row for row, probe in enumerate(probes) if probe is not None]
        if rows:
            blobs = [torch.frombuffer(bytearray(datas[row]), dtype=torch.uint8) for row in rows]
            crops = decoder(blobs, [probes[row].orientation for row in rows])  # type: ignore[union-attr]
            routes["device"] = torch.stack([crop.cpu() for crop in crops])  # type: ignore[union-attr]
    reference_vectors = model.encode_images(reference)
    figures: dict[str, float] = {"files": len(datas), "device_files": len(rows) if decoder is not None else 0}
    for route, crops in routes.items():
        chosen = rows if route == "device" else list(range(len(datas)))
        cosines = (model.encode_images(crops) * reference_vectors[chosen]).sum(axis=1)
        figures[f"{route}_cosine_min"] = float(cosines.min())
        figures[f"{route}_mad_max"] = float((crops.float() - reference[chosen].float()).abs().mean(dim=(1, 2, 3)).max())
    return figures


def reference_crop(model, image: Image.Image) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """OpenCLIP's own steps (torchvision Resize on a PIL image, CenterCrop) as a uint8 CHW tensor."""
    for step in model.pixel_steps:
        image = step(image)
    return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def naive_loop(model, files: list[Path], batch: int) -> float:  # type: ignore[no-untyped-def]
    """The seed's loop: open each file, preprocess, encode batch after batch, no workers."""
    started = time.perf_counter()
    for start in range(0, len(files), batch):
        images = [Image.open(f).convert("RGB") for f in files[start : start + batch]]
        model.encode_images(torch.stack([model.preprocess(image) for image in images]))
    return len(files) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"
    )
    parser.add_argument("--model", default="ViT-L-14")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--engine", default="auto", help="auto, torch or openvino (as imrec's --engine)")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch", type=int, default=0, help="images per forward pass (0: imrec's default)")
    parser.add_argument("--workers", type=int, default=-1)
    parser.add_argument("--synthetic-mp", type=float, default=None, help="distinct baseline JPEGs of this size")
    parser.add_argument("--corpus", choices=["photos", "phone"], default="photos", help="see benchmarks/corpus.py")
    parser.add_argument("--naive", action="store_true", help="also time the seed's naive loop")
    parser.add_argument("--draft", action="store_true", help="also time full decode vs draft (8+ MP photos)")
    parser.add_argument(
        "--decode-modes", default="auto", help="comma-separated decode routes to time: auto, workers, device"
    )
    parser.add_argument("--model-seconds", type=float, default=10.0)
    args = parser.parse_args()
    workers = args.workers if args.workers >= 0 else Settings().worker_count

    model = load_model(ModelSpec(args.model, ""), args.device, args.precision, engine=EngineOptions(args.engine))
    args.batch = args.batch or model.default_batch_size
    print(f"model {args.model}, {model.describe()}, batch {args.batch}, workers {workers}")
    print(f"cpu flags: {' '.join(cpu_flags())}, {os.cpu_count()} cores")
    if model.device == "cuda":
        print(f"gpu {torch.cuda.get_device_name()}, torch {torch.__version__}, cpu cores {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "library"
        files = make_library(args.source, args.images, root, args.synthetic_mp, args.corpus)
        megapixels = np.mean([Image.open(f).width * Image.open(f).height / 1e6 for f in files[:50]])
        print(f"{corpus.describe(files)}, mean {megapixels:.1f} MP")
        ceiling = model_only(model, args.batch, args.model_seconds)
        print(f"model only:  {ceiling:8.1f} images/s")
        pipeline = 0.0
        for mode in args.decode_modes.split(","):
            pipeline, failed, on_device = end_to_end(model, root, args.batch, workers, mode)
            print(
                f"end to end, decode {mode}:  {pipeline:8.1f} images/s  (ratio {pipeline / ceiling:.2f}, failed {failed},"
                f" decoded on the device {on_device})"
            )
        fidelity = route_fidelity(model, device_decoder("device", model.device, model.pixel_steps), files[:32])
        for route in ("workers", "device"):
            if f"{route}_cosine_min" in fidelity:
                count = fidelity["device_files" if route == "device" else "files"]
                print(
                    f"  {route} route vs OpenCLIP's reference on {count:.0f} files: vector cosine min"
                    f" {fidelity[route + '_cosine_min']:.6f}, crop MAD max {fidelity[route + '_mad_max']:.2f}/255"
                )
        if args.naive:
            seed_model = load_model(ModelSpec(args.model, ""), model.device, "fp32", engine=EngineOptions("torch"))
            naive = naive_loop(seed_model, files, args.batch)
            print(f"seed's naive loop: {naive:8.1f} images/s  (imrec is {pipeline / naive:.2f}x faster)")
        if args.draft:
            big = [f for f in files if Image.open(f).width * Image.open(f).height >= 8e6][:16]
            if big:
                rates = decode_rates(big, model)
                print(f"decode+preprocess per core on {len(big)} photos >= 8 MP: full {rates['full']:.2f}/s")
                for name in ("draft", "pipeline"):
                    print(
                        f"  {name}: {rates[name]:.2f}/s ({rates[name] / rates['full']:.2f}x), tensor MAD vs full "
                        f"max {rates[name + '_mad_max']:.2f}/255, mean {rates[name + '_mad_mean']:.2f}/255"
                    )


if __name__ == "__main__":
    main()
