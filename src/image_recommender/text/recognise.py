"""Read the text in a picture with rapidocr's PP-OCR models, which ship inside its wheel.

Most photos hold no text, so the detector first looks at a small copy (480 px on the long
side); only a picture where it finds something is read properly: detection at up to 1280 px,
each line recognised from a crop of the picture at up to 2000 px, so small print is still
read. Measured on 2 cores (benchmarks/bench_text.py, docs/benchmarks.md section 12): the
gate costs 25 ms a picture on OpenVINO, the full read of a picture with text about 0.3 s;
OpenVINO runs these models 3x faster than ONNX Runtime on this CPU, so it is the engine
wherever it is installed; ONNX Runtime with CUDA runs them on an NVIDIA GPU.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from image_recommender.catalog.words import TextLine
from image_recommender.errors import ModelError

OCR_EXTRA_HINT = "pip install 'image-recommender[ocr]'"
# The picture the recogniser crops its lines from, and the small copy the detector gate sees.
READ_SIDE = 2000
GATE_SIDE = 480
DETECT_SIDE = 1280
# Lines the recogniser is less sure of than this are not kept (rapidocr's own default).
MIN_LINE_SCORE = 0.5


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def ocr_available() -> bool:
    """Whether text can be read here: rapidocr and an engine to run its models."""
    return _installed("rapidocr") and (_installed("openvino") or _installed("onnxruntime"))


def _engine(device: str) -> tuple[str, bool]:
    """(engine, on the GPU): ONNX Runtime on CUDA where it can, else OpenVINO, else ONNX Runtime."""
    if device in ("auto", "cuda") and _installed("onnxruntime"):
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return "onnxruntime", True
    if _installed("openvino") and device != "cuda":
        return "openvino", False
    if _installed("onnxruntime"):
        return "onnxruntime", False
    raise ModelError(f"reading text in pictures needs rapidocr and OpenVINO or ONNX Runtime: {OCR_EXTRA_HINT}")


class TextReader:
    """rapidocr's detector and recogniser, set up once: pictures -> recognised lines."""

    def __init__(self, device: str = "auto", threads: int | None = None) -> None:
        if not _installed("rapidocr"):
            raise ModelError(f"reading text in pictures needs rapidocr: {OCR_EXTRA_HINT}")
        import rapidocr
        from rapidocr import EngineType, RapidOCR

        engine, on_gpu = _engine(device)
        models = Path(rapidocr.__file__).parent / "models"
        detector, recogniser = models / "PP-OCRv6_det_small.onnx", models / "PP-OCRv6_rec_small.onnx"
        if not detector.is_file() or not recogniser.is_file():
            raise ModelError(f"rapidocr's models are missing from {models}; reinstall it: {OCR_EXTRA_HINT}")
        kind = EngineType(engine)
        common: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Global.max_side_len": READ_SIDE,
            "Global.text_score": MIN_LINE_SCORE,
            "Det.engine_type": kind,
            "Det.model_path": str(detector),
            "Det.limit_type": "max",
            "Rec.engine_type": kind,
            "Rec.model_path": str(recogniser),
        }
        if engine == "onnxruntime":
            common["EngineConfig.onnxruntime.use_cuda"] = on_gpu
            if threads:
                common["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        elif threads:
            common["EngineConfig.openvino.inference_num_threads"] = threads
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        try:
            self._gate = RapidOCR(params={**common, "Det.limit_side_len": GATE_SIDE, "Global.use_rec": False})
            self._reader = RapidOCR(params={**common, "Det.limit_side_len": DETECT_SIDE})
        except Exception as exc:
            raise ModelError(f"cannot set up text recognition ({exc.__class__.__name__}: {exc})"[:300]) from None
        self.engine = (
            f"rapidocr {getattr(rapidocr, '__version__', '')} PP-OCRv6 on {engine}{' (CUDA)' if on_gpu else ''}"
        )

    def has_text(self, image: Image.Image) -> bool:
        """Whether the detector sees any text in a small copy of the picture."""
        small = image.copy()
        small.thumbnail((GATE_SIDE, GATE_SIDE), Image.Resampling.BILINEAR)
        found: Any = self._gate(_bgr(small), use_det=True, use_cls=False, use_rec=False)
        return getattr(found, "boxes", None) is not None and len(found.boxes) > 0

    def read(self, image: Image.Image, gate: bool = True) -> list[TextLine]:
        """The picture's lines (reading order as the detector found them); [] when it holds none.
        ``image`` should be at most READ_SIDE on its long side (see ``for_reading``)."""
        if gate and not self.has_text(image):
            return []
        found: Any = self._reader(_bgr(image))
        if getattr(found, "txts", None) is None or found.boxes is None:
            return []
        width, height = image.size
        lines = []
        for text, score, box in zip(found.txts, found.scores, found.boxes, strict=False):
            text = " ".join(str(text).split())
            if sum(character.isalnum() for character in text) < 2 or float(score) < MIN_LINE_SCORE:
                continue  # a lone stroke read into a texture is not text anyone searches for
            corners = tuple(
                (round(min(max(float(x) / width, 0.0), 1.0), 4), round(min(max(float(y) / height, 0.0), 1.0), 4))
                for x, y in np.asarray(box).reshape(-1, 2)
            )
            lines.append(TextLine(text, float(score), corners))
        return lines


def for_reading(image: Image.Image) -> Image.Image:
    """The picture at most READ_SIDE px on its long side (a smaller one as it is)."""
    if max(image.size) > READ_SIDE:
        image = image.copy()
        image.thumbnail((READ_SIDE, READ_SIDE), Image.Resampling.BICUBIC)
    return image


def _bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
