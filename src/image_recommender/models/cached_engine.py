"""Index with a converted model straight from the engine cache, without importing torch.

A model converted for OpenVINO (openvino_engine.py) leaves in its cache entry everything an
indexing run needs: the image tower, its input size and OpenCLIP's preprocessing recipe. So
on a CPU, once converted, ``imrec index`` reads the recipe, resizes and crops with Pillow
exactly as OpenCLIP's eval transform does (the same output sizes, filter and crop offsets),
normalises in numpy and runs the tower in OpenVINO. Importing torch and open_clip costs
3.5 s on a 2-core machine before any image is read, most of the fixed cost of a small
update (docs/benchmarks.md, section 10). Texts go the same way where the conversion saved
OpenCLIP's tokenizer (clip_tokens.py): only the text tower is checked and compiled.

Anything this module does not reproduce exactly (a GPU, ``engine = torch``, no conversion
yet, OpenVINO missing, a non-square input, the "longest" resize mode) takes the torch route.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from image_recommender.images.decode import RESIZE_REDUCING_GAP
from image_recommender.models.recommended import cpu_flags
from image_recommender.models.spec import ModelSpec

_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver shows a GPU here (then torch decides the device)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists()


def cpu_has_bf16() -> bool:
    """Native bf16 matrix instructions (AVX512-BF16 or AMX), read from the CPU's flags."""
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))


class NumpyPixels:
    """OpenCLIP's eval preprocessing up to the tensor, in Pillow and numpy: PIL -> uint8 (3, S, S).

    Resize the short side to S (the long side to ``int(S * long / short)``, as torchvision
    computes it, so both sides are at least S) with the recipe's filter, then crop the centre
    (offsets rounded as torchvision rounds them); "squash" resizes straight to S x S.
    """

    def __init__(self, size: int, interpolation: str, resize_mode: str) -> None:
        self.size = size
        self.filter = _FILTERS[interpolation]
        self.resize_mode = resize_mode

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any]) -> NumpyPixels | None:
        """From a cache manifest's preprocessing, or None for one this class does not reproduce."""
        size = recipe.get("size", 224)
        if isinstance(size, list | tuple):
            if len(size) != 2 or size[0] != size[1]:
                return None
            size = size[0]
        interpolation = recipe.get("interpolation", "bicubic")
        resize_mode = recipe.get("resize_mode", "shortest")
        if not isinstance(size, int) or interpolation not in _FILTERS or resize_mode not in ("shortest", "squash"):
            return None
        if recipe.get("mode", "RGB") != "RGB":
            return None
        return cls(size, interpolation, resize_mode)

    def __call__(self, image: Image.Image) -> np.ndarray:
        size = self.size
        if self.resize_mode == "squash":
            target = (size, size)
        else:
            short, long = sorted(image.size)
            scaled = int(size * long / short)
            target = (size, scaled) if image.width <= image.height else (scaled, size)
        if target != image.size:
            image = image.resize(target, self.filter, reducing_gap=RESIZE_REDUCING_GAP)
        if image.size != (size, size):
            image = _centre_crop(image, size)
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _centre_crop(image: Image.Image, size: int) -> Image.Image:
    """torchvision's center_crop of an image at least ``size`` on both sides (offsets rounded alike)."""
    width, height = image.size
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


class _Ready:
    """A batch's vectors, computed at once (the CPU runs one batch at a time)."""

    def __init__(self, vectors: np.ndarray) -> None:
        self._vectors = vectors

    def result(self) -> np.ndarray:
        return self._vectors


class CachedImageModel:
    """The image side of a converted model: what an indexing run asks of a model, torch-free."""

    engine = "openvino"
    device = "cpu"
    pixel_steps = None
    default_batch_size = 32

    def __init__(
        self, spec: ModelSpec, towers: Any, pixels: NumpyPixels, recipe: dict[str, Any], dim: int, precision: str
    ) -> None:
        self.spec = spec
        self.towers = towers
        self.pixel_transform = pixels
        self.image_size = pixels.size
        self.dim = dim
        self.precision = precision
        self.runs_on = "CPU"
        mean, std = recipe.get("mean", (0.0, 0.0, 0.0)), recipe.get("std", (1.0, 1.0, 1.0))
        self._scale = (1.0 / (255.0 * np.asarray(std, np.float32))).reshape(1, -1, 1, 1)
        self._shift = (np.asarray(mean, np.float32) / np.asarray(std, np.float32)).reshape(1, -1, 1, 1)

    def describe(self) -> str:
        return f"{self.engine} on {self.runs_on}, {self.precision}"

    def start_encoding(self, batch: Any) -> _Ready:
        """(N, 3, S, S) uint8 crops -> their unit vectors: (x / 255 - mean) / std, the tower, L2."""
        pixels = batch.astype(np.float32) * self._scale - self._shift
        features = self.towers.encode_image(pixels)
        norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        return _Ready((features / norms).astype(np.float32))

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        return self.start_encoding(batch).result()

    def encode_pil(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_images(np.stack([self.pixel_transform(image) for image in images]))


def cached_image_model(
    spec: ModelSpec, engine: str, device: str, precision: str, openvino_device: str, cache_dir: Path
) -> CachedImageModel | None:
    """The converted model for indexing without torch, or None where torch must decide or run it."""
    found = _cached_towers(spec, engine, device, precision, openvino_device, cache_dir, "image")
    if found is None:
        return None
    cached, towers, chosen = found
    pixels = NumpyPixels.from_recipe(cached.preprocess)
    if pixels is None or pixels.size != cached.image_size:
        return None
    return CachedImageModel(spec, towers, pixels, cached.preprocess, cached.dim, chosen)


class CachedTextModel:
    """The text side of a converted model: texts -> unit vectors with the saved tokenizer, torch-free.

    A cold ``imrec search "a red bicycle"`` took 7-9 s on 2 cores, most of it importing torch
    and building the whole model to tokenize and run one text (docs/benchmarks.md, section 18).
    """

    def __init__(self, spec: ModelSpec, towers: Any, tokens: Any, dim: int) -> None:
        self.spec = spec
        self.towers = towers
        self.tokens = tokens
        self.dim = dim

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        features = self.towers.encode_text(self.tokens(list(texts)))
        norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        return (features / norms).astype(np.float32)


def cached_text_model(
    spec: ModelSpec, engine: str, device: str, precision: str, openvino_device: str, cache_dir: Path
) -> CachedTextModel | None:
    """The converted text tower with its saved tokenizer, or None where torch must tokenize or run it."""
    found = _cached_towers(spec, engine, device, precision, openvino_device, cache_dir, "text")
    if found is None or found[0].tokenizer is None:
        return None
    from image_recommender.models.clip_tokens import ClipTokens

    cached, towers, _ = found
    return CachedTextModel(spec, towers, ClipTokens(cached.tokenizer), cached.dim)


def _cached_towers(
    spec: ModelSpec, engine: str, device: str, precision: str, openvino_device: str, cache_dir: Path, tower: str
) -> tuple[Any, Any, str] | None:
    """A verified cache entry (``tower`` checked), its towers and precision; None where torch must decide."""
    if engine not in ("auto", "openvino") or device not in ("auto", "cpu") or openvino_device != "CPU":
        return None
    if engine == "auto" and nvidia_gpu_present():
        return None
    from image_recommender.models import openvino_engine

    if not openvino_engine.openvino_installed():
        return None
    cached = openvino_engine.find_cached(cache_dir, spec, (tower,))
    if cached is None:
        return None
    chosen = precision if precision != "auto" else ("bf16" if cpu_has_bf16() else "fp32")
    return cached, openvino_engine.OpenVinoTowers(cached, openvino_device, chosen), chosen
