"""Load an OpenCLIP model once and encode images and texts with it.

With the device decoder and the Ray stage (embed/), the only code that imports torch, and
open_clip only here; it is imported only when a model must really run (import-linter keeps
it so). Weights come from a pretrained tag (OpenCLIP's hub download, honouring
``HF_HUB_OFFLINE``) or a local checkpoint file; a custom or tiny architecture is
registered from a JSON config file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.transforms import functional as transforms_functional

from image_recommender.errors import ModelError
from image_recommender.images.decode import RESIZE_REDUCING_GAP
from image_recommender.models.openvino_engine import default_engine_cache
from image_recommender.models.quiet import quiet_logging
from image_recommender.models.recommended import MULTILINGUAL_EXTRA_HINT, reachable
from image_recommender.models.spec import ModelSpec

HUB_CONNECT_TIMEOUT = 3.0


_OPEN_CLIP_PRECISION = {"fp32": "fp32", "bf16": "pure_bf16", "fp16": "pure_fp16"}


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    with contextlib.suppress(AttributeError, RuntimeError):
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_device(device: str) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda: PyTorch sees no CUDA GPU on this machine")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ModelError("--device mps: PyTorch sees no Apple GPU on this machine")
    return device


def native_bf16(device: str) -> bool:
    """Whether the device computes bf16 in hardware: Ampere+ GPUs, CPUs with AVX512-BF16 or AMX."""
    if device == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device == "cpu" and cpu_supports_bf16()


def choose_runtime(engine: str, precision: str, device: str, has_bf16: bool, openvino_ready: bool) -> tuple[str, str]:
    """(engine, precision) for a resolved device: the rule measured in docs/benchmarks.md.

    Precision auto: bf16 where the device computes it natively (2x faster than fp32 with
    AVX512-BF16, more with AMX), fp32 where bf16 would be emulated (6x slower there), fp16 on
    GPUs older than Ampere.
    Engine auto: OpenVINO on CPUs wherever it is installed (faster than torch for ViT-B-32 and
    ViT-L-14, in fp32 and bf16, with and without native bf16), torch on GPUs.
    """
    if precision == "auto":
        if device == "cuda":
            precision = "bf16" if has_bf16 else "fp16"
        else:
            precision = "bf16" if device == "cpu" and has_bf16 else "fp32"
    if engine == "auto":
        return ("openvino" if device == "cpu" and openvino_ready else "torch"), precision
    if engine == "openvino" and device != "cpu":
        raise ModelError(f"--engine openvino runs on the CPU (or openvino_device), not on --device {device}")
    return engine, precision


def _register_config(config: Path) -> None:
    if not config.is_file():
        raise ModelError(f"{config}: model config file not found")
    try:
        open_clip.add_model_config(config)
    except (ValueError, KeyError, OSError) as exc:
        raise ModelError(f"{config}: not a valid OpenCLIP model config: {exc}") from None


def _check_known(spec: ModelSpec) -> None:
    models = open_clip.list_models()
    if spec.architecture not in models:
        close = difflib.get_close_matches(spec.architecture, models, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; 'imrec models' lists them"
        raise ModelError(f"unknown model {spec.architecture!r}{hint}")
    if spec.weights_file is not None:
        spec.check_weights_file()
        return
    if spec.pretrained and not open_clip.get_pretrained_cfg(spec.architecture, spec.pretrained):
        tags = open_clip.list_pretrained_tags_by_model(spec.architecture)
        raise ModelError(
            f"no pretrained weights {spec.pretrained!r} for {spec.architecture}"
            f" (known: {', '.join(tags) or 'none'}; or pass a checkpoint file with --pretrained)"
        )


def _hub_host(spec: ModelSpec) -> tuple[str, int] | None:
    cfg = open_clip.get_pretrained_cfg(spec.architecture, spec.pretrained)
    if cfg.get("hf_hub"):
        from huggingface_hub import constants

        url = urlparse(constants.ENDPOINT)
    elif cfg.get("url"):
        url = urlparse(cfg["url"])
    else:
        return None
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


@contextlib.contextmanager
def _offline_hub(offline: bool) -> Iterator[None]:
    """Make the hub client use its cache only, so an unreachable hub fails at once, not after retries."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    previous_env, previous_flag = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous_flag
        if previous_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous_env


class PixelTransform:
    """OpenCLIP's preprocessing up to, not including, ToTensor + Normalize: PIL -> uint8 CHW.

    Decode workers send these uint8 crops (a quarter of float32's bytes) and the model's
    device does the /255 and normalisation, the same arithmetic ToTensor + Normalize do.
    """

    def __init__(self, steps: Sequence[Callable[[Any], Any]]) -> None:
        self.source_steps = list(steps)
        self.steps = [_fast_resize(step) if isinstance(step, transforms.Resize) else step for step in steps]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        for step in self.steps:
            image = step(image)
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()


class _ReducingResize:
    """torchvision's Resize (same output size and filter) done by PIL with a reducing gap."""

    def __init__(self, resize: transforms.Resize, mode: Image.Resampling) -> None:
        self.resize = resize
        self.mode = mode

    def __call__(self, image: Any) -> Any:
        if not isinstance(image, Image.Image):
            return self.resize(image)
        size = [self.resize.size] if isinstance(self.resize.size, int) else list(self.resize.size)
        height, width = transforms_functional._compute_resized_output_size(
            (image.height, image.width), size, self.resize.max_size
        )
        if (width, height) == image.size:
            return image
        return image.resize((width, height), self.mode, reducing_gap=RESIZE_REDUCING_GAP)


def _fast_resize(resize: transforms.Resize) -> Callable[[Any], Any]:
    mode = transforms_functional.pil_modes_mapping.get(resize.interpolation)
    return resize if mode is None else _ReducingResize(resize, mode)


def split_preprocess(
    preprocess: Callable[[Image.Image], torch.Tensor],
) -> tuple[Callable[[Image.Image], torch.Tensor], tuple[list[float], list[float]] | None]:
    """(worker transform, (mean, std)) when the pipeline ends in ToTensor + Normalize, else the whole thing."""
    steps = list(getattr(preprocess, "transforms", []))
    if len(steps) >= 2 and isinstance(steps[-1], transforms.Normalize) and isinstance(steps[-2], transforms.ToTensor):
        normalize = steps[-1]
        return PixelTransform(steps[:-2]), (list(normalize.mean), list(normalize.std))
    return preprocess, None


class PendingVectors:
    """A batch's unit vectors, possibly still being computed and copied back by the GPU."""

    def __init__(self, host: torch.Tensor, done: torch.cuda.Event | None) -> None:
        self._host = host
        self._done = done

    def result(self) -> np.ndarray:
        """Wait for this batch only (not for batches queued after it) and return (N, dim) float32."""
        if self._done is not None:
            self._done.synchronize()
        return self._host.numpy()


class TorchTowers:
    """The OpenCLIP model's own forward passes in PyTorch, at the chosen precision."""

    def __init__(self, model: Any, dtype: torch.dtype) -> None:
        self.model = model
        self.dtype = dtype

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels.to(self.dtype)).float()

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens).float()


class Towers(Protocol):
    """What runs the model: unnormalised features from pixels or tokens, on the model's device."""

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor: ...

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor: ...


class LoadedModel:
    """A ready model on its device: encodes preprocessed image batches and texts to unit vectors.

    ``engine`` says what runs the towers (torch, or OpenVINO on a CPU); the preprocessing,
    tokenizer and normalisation around them are the same for both.
    """

    def __init__(
        self,
        spec: ModelSpec,
        towers: Towers,
        preprocess: Callable[[Image.Image], torch.Tensor],
        device: str,
        precision: str,
        image_size: int,
        engine: str = "torch",
        dim: int | None = None,
        runs_on: str | None = None,
    ) -> None:
        self.spec = spec
        self.towers = towers
        self.preprocess = preprocess
        self.device = device
        self.precision = precision
        self.engine = engine
        self.runs_on = runs_on or device
        self.image_size = image_size
        self._tokenizer: Any = None
        self.pixel_transform, statistics = split_preprocess(preprocess)
        self._mean = self._std = None
        if statistics is not None:
            self._mean = torch.tensor(statistics[0], device=device).view(1, -1, 1, 1)
            self._std = torch.tensor(statistics[1], device=device).view(1, -1, 1, 1)
        self._dim = dim

    @property
    def dim(self) -> int:
        """Vector width, asked of the text tower once (the tokenizer may need its own download)."""
        if self._dim is None:
            self._dim = int(self.encode_texts([""]).shape[1])
        return self._dim

    @property
    def default_batch_size(self) -> int:
        """Images per forward pass when the setting is 0 (automatic).

        256 on CUDA (ViT-L-14 on an H200 ran 1,432 images/s end to end at 256 against 919
        at 32: fewer, larger launches), 32 on CPUs, where larger batches gain little.
        """
        return 256 if self.device == "cuda" else 32

    def describe(self) -> str:
        """Engine, device and precision, as the progress line and benchmarks show them."""
        return f"{self.engine} on {self.runs_on}, {self.precision}"

    @property
    def pixel_steps(self) -> list[Callable[[Any], Any]] | None:
        """The PIL steps ``pixel_transform`` runs, or None when the preprocess could not be split."""
        return self.pixel_transform.source_steps if isinstance(self.pixel_transform, PixelTransform) else None

    def encode_images(self, batch: torch.Tensor) -> np.ndarray:
        """(N, 3, H, W) batch -> (N, dim) float32 unit vectors."""
        return self.start_encoding(batch).result()

    def start_encoding(self, batch: torch.Tensor) -> PendingVectors:
        """Queue a batch on the device and return at once on CUDA, so the caller can prepare the next.

        A uint8 batch comes from ``pixel_transform`` and is normalised here, on the device;
        a float batch is already fully preprocessed.
        """
        with torch.inference_mode():
            pixels = batch.to(self.device, non_blocking=True)
            if pixels.dtype == torch.uint8:
                if self._mean is None or self._std is None:
                    raise ValueError("uint8 input needs a preprocess that ends in ToTensor + Normalize")
                pixels = (pixels.float().div_(255) - self._mean) / self._std
            features = F.normalize(self.towers.encode_image(pixels), dim=-1)
            if self.device != "cuda":
                return PendingVectors(features.cpu(), None)
            host = torch.empty(features.shape, dtype=features.dtype, pin_memory=True)
            host.copy_(features, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
            return PendingVectors(host, done)

    def encode_pil(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_images(torch.stack([self.pixel_transform(image) for image in images]))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        with torch.inference_mode():
            if self._tokenizer is None:
                self._tokenizer = open_clip.get_tokenizer(self.spec.architecture)
            tokens = self._tokenizer(list(texts)).to(self.device)
            return F.normalize(self.towers.encode_text(tokens), dim=-1).cpu().numpy()


def _compiled(module: torch.nn.Module) -> Any:
    """torch.compile the image tower; its kernels are built by a C++ compiler, so one must exist."""
    if not any(shutil.which(name) for name in ("c++", "g++", "clang++")):
        raise ModelError("--compile needs a C++ compiler (g++ or clang++) on PATH; run without --compile")
    # Inductor notes on CPU-only machines that it found no CUDA runtime: true, and not the user's concern.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch.compile(module)


def _fetch_weights(spec: ModelSpec) -> None:
    """Find a hub tag's weights in the local cache (or download them) before the model is built.

    Building ViT-L-14 takes tens of seconds on a CPU; a missing download must fail before that.
    """
    host = _hub_host(spec)
    env_offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    offline = env_offline or (host is not None and not reachable(*host, HUB_CONNECT_TIMEOUT))
    try:
        with _offline_hub(offline), quiet_logging():
            open_clip.download_pretrained(open_clip.get_pretrained_cfg(spec.architecture, spec.pretrained))
    except Exception as exc:
        if offline:
            raise ModelError(
                f"weights {spec.architecture}/{spec.pretrained} are not cached here and the model hub cannot be"
                " reached; download the checkpoint elsewhere and pass it with --pretrained /path/to/checkpoint.bin"
            ) from None
        raise ModelError(f"cannot download weights {spec.architecture}/{spec.pretrained}: {exc}") from None


def _load_failure(spec: ModelSpec, exc: Exception) -> ModelError:
    """Say what is wrong with weights that were found but do not load."""
    source = str(spec.weights_file) if spec.weights_file is not None else f"{spec.architecture}/{spec.pretrained}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    if "pip install transformers" in str(exc) or (isinstance(exc, ImportError) and "transformers" in str(exc)):
        return ModelError(
            f"{spec.architecture} has a Hugging Face text tower and needs transformers: {MULTILINGUAL_EXTRA_HINT}"
        )
    if "state_dict" in str(exc) or "size mismatch" in str(exc) or "Missing key" in str(exc):
        return ModelError(f"{source}: these weights do not fit the {spec.architecture} architecture ({text[:200]})")
    return ModelError(f"{source}: cannot load the weights ({exc.__class__.__name__}: {text[:200]})")


def _build_torch(spec: ModelSpec, device: str, precision: str) -> tuple[Any, Callable[[Image.Image], torch.Tensor]]:
    """The OpenCLIP model with its weights, or a one-line reason why not."""
    weights = spec.weights_file
    if weights is None and spec.pretrained:
        _fetch_weights(spec)
    try:
        with _offline_hub(weights is None and bool(spec.pretrained)), quiet_logging():
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.architecture,
                pretrained=str(weights) if weights is not None else (spec.pretrained or None),
                precision=_OPEN_CLIP_PRECISION[precision],
                device=device,
            )
    except Exception as exc:
        raise _load_failure(spec, exc) from None
    return model.eval(), preprocess


def _image_size(model: Any) -> int:
    size = model.visual.image_size
    return int(size if isinstance(size, int) else min(size))


def _openvino_model(spec: ModelSpec, precision: str, options: EngineOptions) -> LoadedModel:
    """The model's towers in OpenVINO: from the cache, or converted from the torch model once."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from image_recommender.models import openvino_engine

    openvino_engine.require_openvino()
    if options.openvino_device not in (devices := openvino_engine.available_devices()):
        raise ModelError(
            f"openvino_device {options.openvino_device!r} is not on this machine (OpenVINO sees: {', '.join(devices)})"
        )

    def build_torch() -> tuple[Any, int, dict[str, Any]]:
        model, _ = _build_torch(spec, "cpu", "fp32")
        return model, _image_size(model), dict(open_clip.get_model_preprocess_cfg(model))

    cache_dir = options.cache_dir or default_engine_cache()
    towers, cached = openvino_engine.openvino_towers(cache_dir, spec, options.openvino_device, precision, build_torch)
    preprocess = image_transform_v2(PreprocessCfg(**cached.preprocess), is_train=False)
    return LoadedModel(
        spec,
        _NumpyTowers(towers),
        preprocess,
        "cpu",
        precision,
        cached.image_size,
        "openvino",
        cached.dim,
        options.openvino_device,
    )


class _NumpyTowers:
    """Towers that compute in numpy (OpenVINO), seen through torch tensors."""

    def __init__(self, towers: Any) -> None:
        self.towers = towers

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.towers.encode_image(pixels.float().contiguous().numpy()))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.towers.encode_text(tokens.long().contiguous().numpy()))


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """What runs the model: ``engine`` (auto|torch|openvino), OpenVINO's device and its cache folder."""

    engine: str = "auto"
    openvino_device: str = "CPU"
    cache_dir: Path | None = None


def load_model(
    spec: ModelSpec,
    device: str = "auto",
    precision: str = "auto",
    compile_model: bool = False,
    engine: EngineOptions | None = None,
) -> LoadedModel:
    """Create the OpenCLIP model with its weights, or explain in one line why that is impossible.

    Everything that can be checked without building the model (the name, the checkpoint file,
    the hub download) is checked first. With OpenVINO, a cached conversion needs no weights.
    """
    from image_recommender.models.openvino_engine import openvino_installed

    options = engine or EngineOptions()
    if spec.config is not None:
        _register_config(spec.config)
    _check_known(spec)
    resolved_device = resolve_device("cpu" if options.engine == "openvino" and device == "auto" else device)
    if compile_model and options.engine == "openvino":
        raise ModelError("--compile is torch.compile; it does not apply to --engine openvino")
    chosen, resolved_precision = choose_runtime(
        "torch" if compile_model else options.engine,
        precision,
        resolved_device,
        native_bf16(resolved_device),
        openvino_installed(),
    )
    if chosen == "openvino":
        return _openvino_model(spec, resolved_precision, options)
    model, preprocess = _build_torch(spec, resolved_device, resolved_precision)
    towers = TorchTowers(model, _DTYPES[resolved_precision])
    if compile_model:
        model.visual = _compiled(model.visual)
    return LoadedModel(spec, towers, preprocess, resolved_device, resolved_precision, _image_size(model))


def measure_speed(model: LoadedModel, seconds: float = 10.0, batch: int = 8) -> float:
    """Images/s of the model alone on random crops: one warm-up batch, then whole batches for ``seconds``."""
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(
        0, 256, (batch, 3, model.image_size, model.image_size), dtype=torch.uint8, generator=generator
    )
    if model.pixel_steps is None:
        pixels = pixels.float().div(255)
    model.encode_images(pixels)
    started = time.perf_counter()
    done = 0
    while not done or time.perf_counter() - started < seconds:
        model.encode_images(pixels)
        done += batch
    return done / (time.perf_counter() - started)


def available_models() -> list[tuple[str, str]]:
    """Every (architecture, pretrained tag) pair OpenCLIP knows."""
    return [(name, tag) for name, tag in open_clip.list_pretrained()]
