"""Faces in a picture with dlib's models, whose weights install from the package registry.

dlib's HOG face detector, its 5-point landmark model and its ResNet face descriptor (99.38% on
LFW; the models of the ``face_recognition_models`` package, public domain; dlib itself from the
``dlib-bin`` wheel). Chosen over OpenCV's YuNet/SFace because no wheel ships those ONNX files:
OpenCV downloads them. A face's descriptor is a 128-d vector; two faces of one person lie
closer than about 0.6 (dlib's own threshold), the astronaut and her mirror image 0.19 here.

The detector looks at the picture 1024 px on its long side without upsampling (a picture of at
most 512 px upsampled once), so a face of 6% of the long side and more (a group photo's faces)
is found: 57 ms a picture on 2 cores beside another process, against 94 ms for the same recall
at 640 px upsampled once; at 800 px faces under 8% were missed (docs/benchmarks.md, section
19). Pictures that cannot hold a face are not looked at (``may_show_people``).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_recommender.catalog.faces import Face
from image_recommender.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image

FACES_EXTRA_HINT = "pip install 'image-recommender[faces]'"
DETECT_SIDE = 1024
# A picture at most half DETECT_SIDE long is looked at twice as large (dlib's upsampling): the
# detector's window is 80 px, and in a 200-px picture a face is often 36-70 px. Her face is then
# found in 58 of the 60 looks of docs/benchmarks.md section 19, against 53 (the five more are all
# such pictures); the cost is at most that of one DETECT_SIDE picture.
SMALL_PICTURE_SIDE = DETECT_SIDE // 2
# A detection the HOG detector is less sure of than this is not a face (its false positives on
# textures score below 0.2; the astronaut's face 1.16).
MIN_SCORE = 0.3
# The face chip the descriptor is computed on (dlib's own size) and the jitters it averages.
CHIP_SIZE = 150
# The share of skin-coloured pixels (YCbCr: Cb 77-127, Cr 133-173, Chai and Ngan's range) in a
# 64-px copy below which a colour picture cannot show a face of 6% of its side: landscapes,
# foliage, sky and sea are not looked at. Grey pictures are always looked at.
SKIN_SHARE = 0.002
# Faces kept of one picture, the largest first: a crowd or a wall of portraits costs at most
# this many descriptors (about 15 ms each), whatever it shows.
MAX_FACES = 100
GATE_SIDE = 64


def faces_available() -> bool:
    """Whether faces can be found here: dlib and the models package."""
    return _installed("dlib") and _installed("face_recognition_models")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _models_folder() -> Path:
    """The models package's folder, found without importing it (its __init__ needs setuptools'
    pkg_resources, which Python 3.12 no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelError(f"finding faces needs the face models: {FACES_EXTRA_HINT}")
    return Path(locations[0]) / "models"


def detector_copy(picture: Image.Image) -> Image.Image:
    """The picture as the detector looks at it: at most DETECT_SIDE on its long side. One
    bilinear resize of the decode, not a copy thumbnailed: 6.7 against 15 ms for a 1280 x 800
    decode, whose own decoding costs 24-27 ms (docs/benchmarks.md section 19)."""
    from PIL import Image

    scale = DETECT_SIDE / max(picture.size)
    if scale >= 1:
        return picture
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BILINEAR)


def may_show_people(rgb: Image.Image) -> bool:
    """Whether a picture may show a face: grey pictures always, colour ones when enough of a
    small copy is skin-coloured (docs/benchmarks.md: the gate's recall and what it rules out)."""
    small = rgb.convert("RGB")
    small.thumbnail((GATE_SIDE, GATE_SIDE))
    pixels = np.asarray(small, dtype=np.int16)
    if np.abs(pixels[..., 0] - pixels[..., 1]).max() < 8 and np.abs(pixels[..., 1] - pixels[..., 2]).max() < 8:
        return True  # grey: colour says nothing
    ycbcr = np.asarray(small.convert("YCbCr"), dtype=np.int16)
    cb, cr = ycbcr[..., 1], ycbcr[..., 2]
    skin = (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173)
    return float(skin.mean()) >= SKIN_SHARE


class FaceFinder:
    """dlib's detector, landmarks and descriptor, loaded once: picture -> faces."""

    def __init__(self) -> None:
        if not _installed("dlib"):
            raise ModelError(f"finding faces needs dlib: {FACES_EXTRA_HINT}")
        import dlib

        folder = _models_folder()
        landmarks, descriptor = (
            folder / "shape_predictor_5_face_landmarks.dat",
            folder / "dlib_face_recognition_resnet_model_v1.dat",
        )
        if not landmarks.is_file() or not descriptor.is_file():
            raise ModelError(f"the face models are missing from {folder}; reinstall them: {FACES_EXTRA_HINT}")
        self._dlib = dlib
        self._files = (landmarks, descriptor)
        self._models: tuple[Any, Any] | None = None
        self.engine = f"dlib {dlib.__version__} HOG + ResNet descriptor"
        self._one_at_a_time = threading.Lock()
        self._own = threading.local()

    def _describers(self) -> tuple[Any, Any]:
        """The landmark model and the descriptor network, loaded at the first face (0.5 s for
        their 100 MB here): a run over pictures of nobody never loads them. Call holding the lock."""
        if self._models is None:
            landmarks, descriptor = self._files
            self._models = (
                self._dlib.shape_predictor(str(landmarks)),
                self._dlib.face_recognition_model_v1(str(descriptor)),
            )
        return self._models

    def _thread_detector(self) -> Any:
        """This thread's own detector: one detector object asked from two threads at once crashes
        (a segmentation fault, seen here), and making one costs a millisecond."""
        detector = getattr(self._own, "detector", None)
        if detector is None:
            detector = self._own.detector = self._dlib.get_frontal_face_detector()
        return detector

    def find(self, picture: Image.Image, original_long_side: int | None = None) -> list[Face]:
        """The faces in ``picture`` (at most DETECT_SIDE on its long side is best); ``side`` is
        given in the pixels of the original, ``original_long_side`` long."""
        rgb = np.ascontiguousarray(np.asarray(picture if picture.mode == "RGB" else picture.convert("RGB")))
        height, width = rgb.shape[:2]
        scale = (original_long_side or max(width, height)) / max(width, height)
        upsample = 1 if max(width, height) <= SMALL_PICTURE_SIDE else 0
        found, scores, _ = self._thread_detector().run(rgb, upsample, 0.0)  # releases the GIL
        faces = []
        kept = sorted((pair for pair in zip(found, scores, strict=True) if pair[1] >= MIN_SCORE), key=_largest)
        for box, score in kept[:MAX_FACES]:
            with self._one_at_a_time:  # the descriptor network keeps its buffers between calls
                landmarker, describer = self._describers()
                shape = landmarker(rgb, box)
                vector = np.asarray(describer.compute_face_descriptor(rgb, shape), dtype=np.float32)
            left, top = max(0, box.left()), max(0, box.top())
            right, bottom = min(width, box.right()), min(height, box.bottom())
            faces.append(
                Face(
                    box=(left / width, top / height, right / width, bottom / height),
                    landmarks=tuple((point.x / width, point.y / height) for point in shape.parts()),
                    score=float(score),
                    side=round(max(right - left, bottom - top) * scale),
                    sharpness=_sharpness(rgb[top:bottom, left:right]),
                    vector=vector,
                )
            )
        return faces


def _largest(pair: tuple[Any, float]) -> int:
    box = pair[0]
    return -(box.right() - box.left()) * (box.bottom() - box.top())


def _sharpness(crop: np.ndarray) -> float:
    """The variance of the grey crop's Laplacian: under about 20 a face is too blurred to tell."""
    if crop.size == 0 or min(crop.shape[:2]) < 3:
        return 0.0
    grey = crop.astype(np.float32).mean(axis=2)
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(laplacian.var())


def descriptor_distance(one: np.ndarray, other: np.ndarray) -> float:
    return float(np.linalg.norm(one - other))


def chinese_whispers(vectors: np.ndarray, threshold: float) -> list[int]:
    """dlib's Chinese-whispers clustering (what its face-clustering example uses): a label per vector."""
    import dlib

    if len(vectors) == 0:
        return []
    return list(
        dlib.chinese_whispers_clustering([dlib.vector(v.astype(np.float64).tolist()) for v in vectors], threshold)
    )
