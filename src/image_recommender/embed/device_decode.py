"""Decode whole JPEGs where the model runs (nvJPEG on CUDA) and preprocess them there.

With a GPU, Pillow on the CPU cores is the ceiling: 16 cores decode and resize about 600
1.5 MP JPEGs/s, a quarter of what ViT-L-14 embeds on an H100. torchvision's batched nvJPEG
decode runs baseline JPEGs on the GPU's hardware decoders, and the model's own Resize and
CenterCrop steps then run on the decoded tensors as GPU kernels. Workers only read and
fingerprint those files. This module runs in the model's process, beside the model.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image
from torchvision import transforms
from torchvision.io import ImageReadMode, decode_jpeg

from image_recommender.errors import ModelError

TensorStep = Callable[[torch.Tensor], torch.Tensor]
# Decoded pixels held on the device at once (1.2 GB as RGB: 33 phone photos of 12 MP).
DECODE_CHUNK_PIXELS = 400_000_000

# EXIF orientation -> the CHW operation that makes the picture upright, as PIL's exif_transpose.
_UPRIGHT: dict[int, TensorStep] = {
    1: lambda pixels: pixels,
    2: lambda pixels: pixels.flip(-1),
    3: lambda pixels: pixels.flip(-2, -1),
    4: lambda pixels: pixels.flip(-2),
    5: lambda pixels: pixels.transpose(-2, -1),
    6: lambda pixels: pixels.rot90(-1, (-2, -1)),
    7: lambda pixels: pixels.transpose(-2, -1).flip(-2, -1),
    8: lambda pixels: pixels.rot90(1, (-2, -1)),
}


def _is_mode_step(step: Any) -> bool:
    """open_clip's step that converts a PIL image to RGB (MaybeConvertMode; _convert_to_rgb in older releases).

    A decoded tensor is RGB already, so the step has nothing to do there.
    """
    return type(step).__name__ == "MaybeConvertMode" or getattr(step, "__name__", "") == "_convert_to_rgb"


def tensor_steps(steps: Sequence[Any]) -> list[TensorStep] | None:
    """The preprocessing steps to run on a decoded uint8 tensor, or None if one needs PIL.

    torchvision's Resize (antialiased) and CenterCrop give the same geometry on tensors as
    on PIL images; anything else (ResizeKeepRatio, padding crops, custom code) keeps the
    model on the CPU decode path.
    """
    kept: list[TensorStep] = []
    for step in steps:
        if isinstance(step, transforms.Resize):
            kept.append(transforms.Resize(step.size, step.interpolation, step.max_size, antialias=True))
        elif isinstance(step, transforms.CenterCrop):
            kept.append(step)
        elif not _is_mode_step(step):
            return None
    return kept


def _decode_jpegs(blobs: list[torch.Tensor], device: str) -> list[torch.Tensor]:
    """nvJPEG on CUDA; libjpeg elsewhere, whose pictures are then moved to ``device``."""
    with warnings.catch_warnings():
        # torchvision 0.29 marks its image codecs deprecated in favour of TorchCodec; they still work.
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded: list[torch.Tensor] = decode_jpeg(blobs, mode=ImageReadMode.RGB, device=device)
    return [pixels.to(device) for pixels in decoded]


class DeviceJpegDecoder:
    """JPEG bytes in, the model's uint8 input crops out, on ``device``."""

    def __init__(self, device: str, steps: Sequence[TensorStep]) -> None:
        self.device = device
        self.steps = list(steps)

    def __call__(
        self, blobs: Sequence[torch.Tensor], orientations: Sequence[int], pixels: Sequence[int] | None = None
    ) -> list[torch.Tensor | None]:
        """One 3xSxS crop per blob; None where nvJPEG (or libjpeg on CPU) rejects that file.

        ``pixels`` (each picture's size, when known) splits the batch into chunks of at most
        ``DECODE_CHUNK_PIXELS``, each decoded and cropped before the next, so a batch of 256
        phone photos never holds 9 GB of decoded pictures on the device at once.
        """
        sizes = list(pixels) if pixels is not None else [0] * len(blobs)
        crops: list[torch.Tensor | None] = []
        start = 0
        while start < len(blobs):
            end, total = start + 1, sizes[start]
            while end < len(blobs) and total + sizes[end] <= DECODE_CHUNK_PIXELS:
                total += sizes[end]
                end += 1
            crops.extend(self._decode_chunk(blobs[start:end], orientations[start:end]))
            start = end
        return crops

    def _decode_chunk(self, blobs: Sequence[torch.Tensor], orientations: Sequence[int]) -> list[torch.Tensor | None]:
        """A batch fails as a whole on one bad file, so then each file is decoded on its own.
        Pictures of the same size and orientation (a camera's) are resized as one stack.
        """
        try:
            decoded: list[torch.Tensor | None] = list(_decode_jpegs(list(blobs), self.device))
        except RuntimeError:
            decoded = [self._decode_one(blob) for blob in blobs]
        alike: dict[tuple[int, ...], list[int]] = {}
        for position, (pixels, orientation) in enumerate(zip(decoded, orientations, strict=True)):
            if pixels is not None:
                alike.setdefault((orientation, *pixels.shape), []).append(position)
        crops: list[torch.Tensor | None] = [None] * len(decoded)
        for (orientation, *_), positions in alike.items():
            stack = torch.stack([decoded[position] for position in positions])  # type: ignore[misc]
            for position, crop in zip(positions, self._preprocess(stack, orientation), strict=True):
                crops[position] = crop
        return crops

    def _decode_one(self, blob: torch.Tensor) -> torch.Tensor | None:
        try:
            return _decode_jpegs([blob], self.device)[0]
        except RuntimeError:
            return None

    def _preprocess(self, pixels: torch.Tensor, orientation: int) -> torch.Tensor:
        """(N, 3, H, W) decoded pictures to (N, 3, S, S) upright model input."""
        pixels = _UPRIGHT.get(orientation, _UPRIGHT[1])(pixels)
        for step in self.steps:
            pixels = step(pixels)
        return pixels


def _probe_blob() -> torch.Tensor:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(buffer, "JPEG")
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


def has_hardware_jpeg_decoder(device: str) -> bool:
    """A100/A30 (sm 8.0), Hopper (9.x) and data-centre Blackwell (10.x) carry hardware JPEG decoders.

    Elsewhere nvJPEG runs its Huffman stage on one CPU thread of the main process, which
    the decode workers (one per core) outrun.
    """
    if not device.startswith("cuda"):
        return False
    major, minor = torch.cuda.get_device_capability(device)
    return (major, minor) == (8, 0) or major in (9, 10)


def device_decoder(mode: str, device: str, pixel_steps: Sequence[Any] | None) -> DeviceJpegDecoder | None:
    """The decoder ``mode`` asks for: auto uses a GPU's hardware JPEG decoder, workers never decodes here.

    ``device`` mode works on any device, the CPU included (libjpeg in the main process):
    useful to compare the two routes, never faster there.
    """
    if mode == "workers" or (mode == "auto" and not has_hardware_jpeg_decoder(device)):
        return None
    steps = tensor_steps(pixel_steps) if pixel_steps is not None else None
    if steps is None:
        if mode == "auto":
            return None
        raise ModelError("--decode device: this model's preprocessing needs PIL; use --decode workers")
    try:
        _decode_jpegs([_probe_blob()], device)
    except Exception as exc:  # a build without nvJPEG fails in several ways; each means "not here"
        if mode == "auto":
            return None
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ModelError(f"--decode device: torchvision cannot decode JPEGs on {device} here ({reason})") from None
    return DeviceJpegDecoder(device, steps)
