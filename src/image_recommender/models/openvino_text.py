"""M-CLIP text towers on OpenVINO: converted once per tower, cached beside the image models.

One short query through XLM-R Large's shape on 2 cores (AVX512-BF16 and AMX), side by side in
one run (docs/benchmarks.md, section 11): torch fp32 155 ms, OpenVINO fp32 85 ms, OpenVINO
bf16 39 ms (cosine 0.99995 to fp32). So on a CPU the tower runs here, like the image towers.
The whole query module (transformer, mean over the attention mask, the linear map, unit
length) is converted from the loaded torch tower with OpenVINO's PyTorch frontend (6 s for
XLM-R Large, no ONNX step) with dynamic batch and length; its entry lists the size and digest
of its files and is verified before use, like an image model's.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from image_recommender.errors import ModelError
from image_recommender.models import openvino_engine

log = logging.getLogger("image_recommender")

TEXT_FORMAT = 1
_TOWER = "text"
_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


def tower_key(folder: Path) -> dict[str, Any]:
    """What a converted tower depends on: its config, its weights file (name, size, time), the
    engine's and transformers' versions."""
    found = [folder / name for name in ("model.safetensors", "pytorch_model.bin") if (folder / name).is_file()]
    if not found:
        raise ModelError(f"text model {folder}: no model.safetensors or pytorch_model.bin")
    weights = found[0]
    stat = weights.stat()
    try:
        transformers_version = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        transformers_version = "missing"
    return {
        "format": TEXT_FORMAT,
        "architecture": f"text-{folder.resolve().name}",
        "folder": str(folder.resolve()),
        "config": (folder / "config.json").read_text(encoding="utf-8", errors="replace"),
        "weights": [weights.name, stat.st_size, stat.st_mtime_ns],
        "versions": openvino_engine.engine_versions() | {"transformers": transformers_version},
    }


def find_converted(cache_dir: Path, key: dict[str, Any]) -> Path | None:
    """The verified converted tower's IR file, or None (a damaged entry is removed with a note)."""
    folder = openvino_engine.entry_dir(cache_dir, key)
    try:
        manifest = json.loads((folder / openvino_engine.MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        manifest = exc
    try:
        if not isinstance(manifest, dict) or set(manifest) != {"key", "files", "digest"}:
            raise ValueError("its manifest is not one this version wrote")
        if manifest["key"] != key:
            raise ValueError("its manifest does not match this tower")
        if manifest["digest"] != openvino_engine.manifest_digest(manifest):
            raise ValueError("its manifest was changed after it was written")
        openvino_engine.verify_files(folder, manifest, _TOWER)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("converted text tower in %s is damaged (%s); converting again", folder, exc)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return folder / f"{_TOWER}.xml"


def convert(cache_dir: Path, key: dict[str, Any], module: Any, example: dict[str, Any]) -> Path:
    """Convert the torch query module (inputs ``input_ids`` and ``attention_mask``) and store it."""
    import openvino as ov

    folder = openvino_engine.entry_dir(cache_dir, key)
    scratch = openvino_engine.scratch_dir(cache_dir, "text tower")
    log.info("converting the text tower %s for this CPU (OpenVINO), once; later queries reuse it", key["folder"])
    try:
        with openvino_engine.quiet_export():
            shape = [("input_ids", [-1, -1], ov.Type.i64), ("attention_mask", [-1, -1], ov.Type.i64)]
            converted = ov.convert_model(module, example_input=example, input=shape)
        ov.save_model(converted, str(scratch / f"{_TOWER}.xml"), compress_to_fp16=False)
        files = {}
        for suffix in (".xml", ".bin"):
            path = scratch / f"{_TOWER}{suffix}"
            files[path.name] = {"size": path.stat().st_size, "sha256": openvino_engine.file_digest(path)}
        openvino_engine.commit_entry(scratch, folder, {"key": key, "files": files})
    except Exception as exc:
        raise ModelError(f"cannot convert the text tower {key['folder']} for OpenVINO ({exc})"[:400]) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    found = find_converted(cache_dir, key)
    if found is None:
        raise ModelError(f"{folder}: the converted text tower vanished while it was being stored")
    return found


class OpenVinoTextTower:
    """A converted tower with its tokenizer: texts -> (N, dim) unit vectors, compiled at load."""

    engine = "openvino"

    def __init__(self, ir: Path, tokenizer: Any, max_tokens: int, device: str, precision: str) -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if device.upper().startswith("CPU"):
            config["INFERENCE_PRECISION_HINT"] = _PRECISIONS[precision]
        try:
            self._request = openvino_engine.compiled_model(ov.Core(), ir, device, config).create_infer_request()
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
            raise ModelError(f"OpenVINO cannot compile the text tower for {device}: {first}") from None
        self.tokenizer = tokenizer
        self.precision = precision
        self._max_tokens = max_tokens
        self._lock = threading.Lock()  # an infer request runs one call at a time

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self._max_tokens, return_tensors="np")
        inputs = {name: np.ascontiguousarray(tokens[name], dtype=np.int64) for name in ("input_ids", "attention_mask")}
        with self._lock:
            self._request.infer(inputs)
            vectors = np.array(self._request.get_output_tensor(0).data, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)  # exact after bf16
