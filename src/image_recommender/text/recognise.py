"""Read the text in a picture with rapidocr's PP-OCR models, which ship inside its wheel.

Most photos hold no text, and the detector's cost grows with the pixels it looks at, so it
first looks at the picture decoded small: 640 px on the long side, luminance only (a JPEG at
a reduced DCT scale, without its colour), scaled the rest of the way by nearest neighbour,
which keeps strokes of small print sharp (text 16 px high in a 1920-px screenshot: found in
6 of 6 pictures, 4 of 6 with a bilinear scale). Only a picture where it finds a box shaped
like a line is decoded at up to 2000 px and read: detected again there (boxes from the small
copy, scaled up, crop less exactly: word recall at 16 px 0.09 against 0.17) and each line
recognised from a crop of it, so small print is read at the resolution it needs. At 640 px
word recall is at least that of reading every picture at full size at every text size
measured (docs/benchmarks.md, section 12). Lines upside down or turned a quarter are put
the right way up by rapidocr's direction classifier before they are read (90 and 180 degrees:
0 and 1 of 7 words read without it, 7 of 7 with it, at no measurable cost: 68 vs 69 ms for a
picture of three lines). OpenVINO runs these models 3x faster than ONNX Runtime on a 2-core
CPU (detection at 480 px 25 vs 80 ms, a full read 0.34 vs 1.04 s), so it is the engine
wherever it is installed; ONNX Runtime with CUDA runs them on an NVIDIA GPU.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from image_recommender.catalog.words import TextLine
from image_recommender.errors import ModelError

OCR_EXTRA_HINT = "pip install 'image-recommender[ocr]'"
# The picture the recogniser crops its lines from, and the long side the detector looks at.
READ_SIDE = 2000
DETECT_SIDE = 640
# A detected box counts as a line of text when its long side is at least this times its short side.
MIN_LINE_SHAPE = 2.0
# Lines the recogniser is less sure of than this are not kept (rapidocr's own default).
MIN_LINE_SCORE = 0.5
# The detector's input is a multiple of this on each side (the network's stride).
DETECT_STRIDE = 32
# A picture longer than this (its long side over its short one: a panorama, a receipt roll) is
# looked at and read in tiles along its long side, each at most TILE_RATIO long, overlapping by
# TILE_OVERLAP so a line across a seam is whole in one of them, and at most MAX_TILES of them:
# scaled as one picture, 10-px text in a 20,000 x 200 panorama would be a third of a pixel high
# at 640 px. A 1 x 2,000,000 image still costs at most MAX_TILES questions of 640 x 320 px.
LONG_RATIO = 3.0
TILE_RATIO = 2.0
TILE_OVERLAP = 0.1
MAX_TILES = 64
# A detector input shape seen this often gets a model compiled for exactly that shape, for at
# most this many shapes (see _Detector).
STATIC_AFTER = 24
STATIC_SHAPES = 8


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

    def __init__(self, device: str = "auto", threads: int | None = None, detect_side: int | None = DETECT_SIDE) -> None:
        """``detect_side``: the long side the detector looks at; None: rapidocr's own rule (the
        short side scaled to 736 px: every picture read at full size, the benchmark's baseline)."""
        if not _installed("rapidocr"):
            raise ModelError(f"reading text in pictures needs rapidocr: {OCR_EXTRA_HINT}")
        import rapidocr
        from rapidocr import EngineType

        engine, on_gpu = _engine(device)
        models = Path(rapidocr.__file__).parent / "models"
        detector, recogniser = models / "PP-OCRv6_det_small.onnx", models / "PP-OCRv6_rec_small.onnx"
        turner = models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
        if not all(path.is_file() for path in (detector, recogniser, turner)):
            raise ModelError(f"rapidocr's models are missing from {models}; reinstall it: {OCR_EXTRA_HINT}")
        kind = EngineType(engine)
        common: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Global.max_side_len": READ_SIDE,
            "Global.text_score": MIN_LINE_SCORE,
            "Det.engine_type": kind,
            "Det.model_path": str(detector),
            "Rec.engine_type": kind,
            "Rec.model_path": str(recogniser),
            "Cls.engine_type": kind,
            "Cls.model_path": str(turner),
        }
        if engine == "onnxruntime":
            common["EngineConfig.onnxruntime.use_cuda"] = on_gpu
            if threads:
                common["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        elif threads:
            common["EngineConfig.openvino.inference_num_threads"] = threads
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._params = common | ({"Det.limit_type": "max", "Det.limit_side_len": detect_side} if detect_side else {})
        self._openvino = engine == "openvino"
        self._model_file = detector
        self._set_up: Any = None
        version = importlib.metadata.version("rapidocr")
        self.engine = f"rapidocr {version} PP-OCRv6 on {engine}{' (CUDA)' if on_gpu else ''}"

    @property
    def _reader(self) -> Any:
        """rapidocr's reader, set up on first use (1.1 s for its three models on 2 cores)."""
        if self._set_up is None:
            from rapidocr import RapidOCR

            try:
                self._set_up = RapidOCR(params=self._params)
            except Exception as exc:
                raise ModelError(f"cannot set up text recognition ({exc.__class__.__name__}: {exc})"[:300]) from None
        return self._set_up

    def holds_line(self, grey: np.ndarray) -> bool:
        """Whether a grey picture (DETECT_SIDE on its long side, or on each tile's: ``tile_count``)
        holds a line of text (``detect``)."""
        picture = Image.fromarray(grey)
        return any(self.detect(picture.crop(box)) is not None for box in tiles(picture.size))

    def detect(self, image: Image.Image) -> np.ndarray | None:
        """The boxes (N, 4, 2; the picture's pixels) the detector finds in the picture, best
        given at DETECT_SIDE, the size it looks at (a small decode of a large photo costs a
        fraction of a full one); None unless one of them is shaped like a line of text.

        A line is at least twice as long as it is high (two characters side by side). The
        detector also marks textured regions of photos (foliage, water, stone), but as roughly
        square boxes: on 29 photos without text 9 had such boxes (side ratio 1.0-1.8), while
        no rendered line's box was below 2.1; reading those photos is skipped."""
        if self._openvino:  # without setting up the recogniser: a run whose pictures hold no text never pays for it
            boxes: Any = _question(self._model_file).detector.boxes(image)
        else:
            boxes = getattr(self._reader(_bgr(image), use_det=True, use_cls=False, use_rec=False), "boxes", None)
        return _lines_among(boxes)

    def read(self, image: Image.Image) -> list[TextLine]:
        """The picture's lines, detected (at DETECT_SIDE) and recognised from crops of ``image``,
        which should be at most READ_SIDE on its long side, or on each tile's (``for_reading``);
        a line cut by a seam is kept whole, from the tile that holds it whole."""
        lines: list[TextLine] = []
        for box in tiles(image.size):
            tile = image.crop(box)
            found: Any = self._reader(_bgr(tile), use_det=True, use_cls=True, use_rec=True)
            if getattr(found, "txts", None) is None or found.boxes is None:
                continue
            boxes = np.asarray(found.boxes, dtype=np.float64).reshape(-1, 4, 2) + np.array(box[:2], np.float64)
            lines += self._lines(found.txts, found.scores, boxes, image.size)
        return [line for index, line in enumerate(lines) if not _seam_copy(line, index, lines)]

    @staticmethod
    def _lines(texts: Any, scores: Any, boxes: np.ndarray, size: tuple[int, int]) -> list[TextLine]:
        width, height = size
        lines = []
        for text, score, box in zip(texts, scores, boxes, strict=False):
            text = " ".join(str(text).split())
            if sum(character.isalnum() for character in text) < 2 or float(score) < MIN_LINE_SCORE:
                continue  # a lone stroke read into a texture is not text anyone searches for
            corners = tuple(
                (round(min(max(float(x) / width, 0.0), 1.0), 4), round(min(max(float(y) / height, 0.0), 1.0), 4))
                for x, y in np.asarray(box).reshape(-1, 2)
            )
            lines.append(TextLine(text, float(score), corners))
        return lines


class _Detector:
    """rapidocr's detector model on OpenVINO, fed straight from a grey picture, for the question
    "is there a line of text here?" that every picture of a library is asked.

    rapidocr's own call takes a colour picture, normalises it in float64 and runs a model
    compiled for any input shape; on one 640 x 480 photo that is 6.3 ms of preparation and
    20.6 ms of model. Here the grey picture is normalised once in float32 (the model's three
    channels are the same grey) and, for the few shapes a library's photos come in, the model
    runs compiled for exactly that shape (``_ShapeModels``); any other shape runs on rapidocr's
    model compiled for any shape. The boxes are found by rapidocr's own post-processing, so
    they are the boxes its reader would find.
    """

    def __init__(self, shapes: _ShapeModels, any_shape: Any, postprocess: Any) -> None:
        self._shapes = shapes
        self._any_shape = any_shape
        self._postprocess = postprocess

    def boxes(self, image: Image.Image) -> np.ndarray:
        """The text boxes rapidocr's own post-processing finds in ``image`` (in its pixels)."""
        width, height = image.size
        size = (max(DETECT_STRIDE, round(width / DETECT_STRIDE) * DETECT_STRIDE),
                max(DETECT_STRIDE, round(height / DETECT_STRIDE) * DETECT_STRIDE))  # fmt: skip
        grey = image.convert("L")
        if grey.size != size:
            grey = grey.resize(size, Image.Resampling.BILINEAR)
        pixels = np.empty((1, 3, size[1], size[0]), np.float32)
        np.multiply(np.asarray(grey), np.float32(2 / 255), out=pixels[0, 0])
        pixels[0, 0] -= 1.0  # (x / 255 - 0.5) / 0.5: the model's normalisation
        pixels[0, 1] = pixels[0, 0]
        pixels[0, 2] = pixels[0, 0]
        request = self._shapes.request((size[1], size[0]))
        if request is None:
            output = np.asarray(self._any_shape(pixels))
        else:
            request.infer([pixels])
            output = np.asarray(request.get_output_tensor().data)
        found, _ = self._postprocess(output, (height, width))
        return np.asarray(found)


class _ShapeModels:
    """The detector model compiled for exactly one input shape, for the shapes seen most.

    Static: 15.1 ms against 20.6 ms (any shape) at 640 x 480, 11.1 against 15.3 at 640 x 352.
    Compiling a shape costs about 250 ms, so a shape gets its own model only once it has been
    seen STATIC_AFTER times, and at most STATIC_SHAPES do. There is one of these a process
    (``_shape_models``), its models kept as long as it lives: a process that opens libraries
    again and again (a server, a watch, the tests) compiles each shape once.
    """

    def __init__(self, model: Path) -> None:
        import openvino

        self._core = openvino.Core()
        self._model = model
        self._compiled: dict[tuple[int, int], tuple[Any, Any]] = {}  # (height, width) -> (model, its request)
        self._seen: Counter[tuple[int, int]] = Counter()

    def request(self, shape: tuple[int, int]) -> Any | None:
        """The inference request compiled for ``shape`` (height, width); None: use any-shape's."""
        if shape not in self._compiled:
            self._seen[shape] += 1
            if self._seen[shape] < STATIC_AFTER or len(self._compiled) >= STATIC_SHAPES:
                return None
            model = self._core.read_model(str(self._model))
            model.reshape([1, 3, *shape])
            self._compiled[shape] = (model, self._core.compile_model(model, "CPU").create_infer_request())
        return self._compiled[shape][1]


class _Question:
    """The detector that ``TextReader.detect`` asks on OpenVINO, set up alone: rapidocr's model
    of any shape (and of exactly the shape for shapes seen often) with rapidocr's own box
    finding, configured from rapidocr's own configuration file. 0.8 s, where rapidocr's reader
    with its recogniser and direction classifier takes 1.1 s more.
    """

    def __init__(self, model: Path) -> None:
        import openvino
        import rapidocr.main
        from omegaconf import OmegaConf
        from rapidocr.ch_ppocr_det.utils import DBPostProcess

        settings = OmegaConf.load(rapidocr.main.DEFAULT_CFG_PATH).Det
        found_by = DBPostProcess(
            thresh=settings.thresh, box_thresh=settings.box_thresh, max_candidates=settings.max_candidates,
            unclip_ratio=settings.unclip_ratio, use_dilation=settings.use_dilation, score_mode=settings.score_mode,
        )  # fmt: skip
        any_shape = openvino.Core().compile_model(str(model), "CPU")
        self.detector = _Detector(_shape_models(model), lambda pixels: any_shape(pixels)[0], found_by)


@functools.cache
def _question(model: Path) -> _Question:
    """One ``_Question`` a process, kept (like ``_shape_models``): a server or a watch sets it up once."""
    return _Question(model)


def _lines_among(boxes: Any) -> np.ndarray | None:
    """The boxes (N, 4, 2) if one of them is shaped like a line of text, else None (see ``TextReader.detect``)."""
    if boxes is None or len(boxes) == 0:
        return None
    corners = np.asarray(boxes, dtype=np.float32).reshape(-1, 4, 2)
    widths = np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1)
    heights = np.linalg.norm(corners[:, 3] - corners[:, 0], axis=1)
    lines = np.maximum(widths, heights) >= MIN_LINE_SHAPE * np.maximum(np.minimum(widths, heights), 1.0)
    return corners if lines.any() else None


@functools.cache
def _shape_models(model: Path) -> _ShapeModels:
    return _ShapeModels(model)


def _seam_copy(line: TextLine, index: int, lines: list[TextLine]) -> bool:
    """Whether ``line`` is another line read again from a tile a seam cut it in (its text inside
    the other's, or the same text read before it) with the boxes of the two overlapping."""
    return any(
        _overlap(line, other) and (line.text in other.text if line.text != other.text else other_index < index)
        for other_index, other in enumerate(lines)
        if other_index != index
    )


def _overlap(one: TextLine, other: TextLine) -> bool:
    for axis in (0, 1):
        first, second = ([corner[axis] for corner in line.box] for line in (one, other))
        if min(first) >= max(second) or min(second) >= max(first):
            return False
    return True


def tile_count(size: tuple[int, int]) -> int:
    """How many tiles a picture of this size is looked at in: 1 unless it is longer than LONG_RATIO."""
    ratio = max(size) / max(1, min(size))
    return 1 if ratio <= LONG_RATIO else min(MAX_TILES, math.ceil(ratio / TILE_RATIO))


def tiles(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The crop boxes (left, top, right, bottom) of the picture's tiles along its long side."""
    count = tile_count(size)
    width, height = size
    if count == 1:
        return [(0, 0, width, height)]
    length = max(width, height)
    step = length / count
    spans = [
        (
            max(0, math.floor(i * step - TILE_OVERLAP * step)),
            min(length, math.ceil((i + 1) * step + TILE_OVERLAP * step)),
        )
        for i in range(count)
    ]
    return [(a, 0, b, height) if width >= height else (0, a, width, b) for a, b in spans]


def for_reading(image: Image.Image) -> Image.Image:
    """The picture at most READ_SIDE px on its long side, or on each of its tiles' (a smaller
    one as it is)."""
    side = READ_SIDE * tile_count(image.size)
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.BICUBIC)
    return image


def _bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
