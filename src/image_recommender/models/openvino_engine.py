"""Run a model's image and text towers with OpenVINO, converted once and cached on disk.

On CPUs OpenVINO's kernels beat PyTorch's for these transformers (docs/benchmarks.md). A
tower is converted from the loaded OpenCLIP model to OpenVINO IR with a dynamic batch axis
by OpenVINO's PyTorch frontend; that takes seconds for small models and about 20 s for
ViT-L-14, once per architecture, weights and engine version. Each cache entry lists the
size and digest of its files and is checked before use: a stale or damaged entry is never
used but rebuilt from the torch model.

The conversion runs in fp32; reduced precision is OpenVINO's ``INFERENCE_PRECISION_HINT``
at compile time, so one cached entry serves every precision.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from image_recommender.errors import ModelError
from image_recommender.models.recommended import RECOMMENDED
from image_recommender.models.spec import ModelSpec

log = logging.getLogger("image_recommender")

# Bumped whenever the export below changes what a cache entry holds (2: the manifest's own digest;
# 3: converted by OpenVINO's PyTorch frontend, no ONNX file in between).
EXPORT_FORMAT = 3
TOWERS = ("image", "text")
MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"  # OpenCLIP's tokenizer for torch-free text queries (clip_tokens.py)
_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_PACKAGES = ("openvino", "torch", "open_clip_torch")


def openvino_installed() -> bool:
    """Whether the engine can run here: OpenVINO is installed (and importable)."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # blocked (sys.modules[name] is None) or half-installed
        return False


def require_openvino() -> None:
    """A one-line error naming what to install, instead of an ImportError deep in a conversion."""
    if not openvino_installed():
        raise ModelError(
            "engine openvino needs the Python package(s) openvino: pip install openvino (or choose --engine torch)"
        )


def available_devices() -> list[str]:
    import openvino as ov

    return list(ov.Core().available_devices)


def default_engine_cache() -> Path:
    """Converted models live beside other caches: $XDG_CACHE_HOME/imrec/engines or ~/.cache/imrec/engines."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imrec" / "engines"


def engine_versions() -> dict[str, str]:
    import importlib.metadata  # 20 ms: only a conversion or a cache lookup needs it, not every command

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def cache_key(spec: ModelSpec) -> dict[str, Any]:
    """Everything the converted towers depend on: architecture, weights, config file, engine versions."""
    config = spec.config.read_text(encoding="utf-8", errors="replace") if spec.config is not None else None
    return {
        "format": EXPORT_FORMAT,
        "architecture": spec.architecture,
        "weights": spec.catalog_key()[1],
        "config": config,
        "versions": engine_versions(),
    }


def entry_dir(cache_dir: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', key['architecture'])}-{digest}"


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclasses.dataclass(frozen=True)
class CachedModel:
    """A verified cache entry: where its IR files are, and what the torch model told us at export."""

    folder: Path
    image_size: int
    dim: int
    preprocess: dict[str, Any]
    tokenizer: Path | None = None  # OpenCLIP's tokenizer saved torch-free (clip_tokens.py), where it could be

    def ir(self, tower: str) -> Path:
        return self.folder / f"{tower}.xml"


def manifest_digest(manifest: dict[str, Any]) -> str:
    """What the manifest says (preprocessing, image size, dimension, files), digested: an edit to
    any of it would silently change every embedding."""
    content = {name: value for name, value in manifest.items() if name != "digest"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _read_manifest(folder: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest when it belongs to ``key`` and is as written; None when there is no entry;
    raises ValueError when it is damaged, edited or holds what this version does not know."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        raise ValueError("its manifest does not match this model")
    if manifest.get("digest") != manifest_digest(manifest):
        raise ValueError("its manifest was changed after it was written")
    if set(manifest) != {"key", "files", "image_size", "dim", "preprocess", "digest"}:
        raise ValueError("its manifest holds fields this version does not know")
    return manifest


def verify_files(folder: Path, manifest: dict[str, Any], tower: str) -> None:
    """Raise unless the tower's files have the size and digest recorded when they were written."""
    for name in (f"{tower}.xml", f"{tower}.bin"):
        verify_file(folder, manifest, name)


def verify_file(folder: Path, manifest: dict[str, Any], name: str) -> None:
    path, expected = folder / name, manifest["files"][name]
    if not path.is_file() or path.stat().st_size != expected["size"]:
        raise ValueError(f"{name} is missing or has the wrong size")
    if file_digest(path) != expected["sha256"]:
        raise ValueError(f"{name} does not match its recorded digest")


def _file_record(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": file_digest(path)}


# Models compiled in this process, by file identity, device and settings: opening a second
# library (the Python API in a loop, a test suite, a notebook) reuses the compiled model instead
# of compiling it again (55 ms for the tiny test model, seconds for ViT-L-14 on 2 cores); each
# user still gets its own infer request. A file replaced since has another identity.
_COMPILED: dict[tuple[str, int, int, str, str], Any] = {}
_COMPILED_MOST = 8
_COMPILING = threading.Lock()


def compiled_model(core: Any, ir: Path, device: str, config: dict[str, Any]) -> Any:
    """``core.compile_model(ir, device, config)``, once per process for the same file and settings."""
    info = ir.stat()
    key = (str(ir), info.st_size, info.st_mtime_ns, device, json.dumps(config, sort_keys=True, default=str))
    with _COMPILING:
        found = _COMPILED.get(key)
        if found is None:
            found = core.compile_model(str(ir), device, config)
            if len(_COMPILED) >= _COMPILED_MOST:
                _COMPILED.pop(next(iter(_COMPILED)))
            _COMPILED[key] = found
        return found


class OpenVinoTowers:
    """The image and text towers of a verified cache entry as OpenVINO models, compiled when first used.

    A text query compiles only the text tower, an indexing run only the image tower.
    """

    def __init__(self, cached: CachedModel, device: str, precision: str, threads: int | None = None) -> None:
        import openvino as ov

        self._core = ov.Core()
        self._cached = cached
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if device.upper().startswith("CPU"):
            self._config["INFERENCE_PRECISION_HINT"] = _HINTS[precision]
        if threads is not None and device.upper().startswith("CPU"):
            self._config["INFERENCE_NUM_THREADS"] = threads
        self._device = device
        self._requests: dict[str, Any] = {}
        self._lock = threading.Lock()  # an infer request runs one call at a time

    def _request(self, tower: str) -> Any:
        if tower not in self._requests:
            try:
                compiled = compiled_model(self._core, self._cached.ir(tower), self._device, self._config)
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
                raise ModelError(f"OpenVINO cannot compile the {tower} tower for {self._device}: {first}") from None
            self._requests[tower] = compiled.create_infer_request()
        return self._requests[tower]

    def _run(self, tower: str, inputs: np.ndarray) -> np.ndarray:
        with self._lock:
            request = self._request(tower)
            request.infer({0: np.ascontiguousarray(inputs)})
            return np.array(request.get_output_tensor(0).data, dtype=np.float32)

    def encode_image(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 normalised pixels -> (N, dim) features (not yet unit length)."""
        return self._run("image", pixels.astype(np.float32, copy=False))

    def encode_text(self, tokens: np.ndarray) -> np.ndarray:
        return self._run("text", tokens.astype(np.int64, copy=False))


def _tower_module(model: Any, tower: str) -> Any:
    """One tower of an OpenCLIP model as a module with a single tensor input, for export."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.model.encode_image(inputs) if tower == "image" else self.model.encode_text(inputs)

    return Tower()


def _example(model: Any, tower: str, image_size: int) -> Any:
    import torch

    if tower == "image":
        return torch.zeros(2, 3, image_size, image_size)
    context = int(getattr(model, "context_length", 0) or model.text.config.max_position_embeddings)
    return torch.zeros(2, context, dtype=torch.long)


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """The exporter prints its progress and warnings; the user sees our one line instead."""
    from image_recommender.models.quiet import quiet_logging

    with (
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
        warnings.catch_warnings(),
        quiet_logging(logging.WARNING),
    ):
        warnings.simplefilter("ignore")
        yield


def _export(model: Any, image_size: int, scratch: Path) -> dict[str, Any]:
    """Convert both towers to OpenVINO IR in ``scratch`` (a dynamic batch axis); returns the files' records.

    OpenVINO's own PyTorch frontend, not an ONNX export in between: for ViT-B-32 6.2 s against
    22.7 s through ``torch.onnx.export(dynamo=True)``, the same outputs in f32 (max difference
    4e-6 from torch's), and the image tower it makes runs faster (7.1 against 8.9 ms an image,
    batch 16, 2 cores; docs/benchmarks.md, section 5).
    """
    import openvino as ov
    import torch

    files: dict[str, Any] = {}
    model = model.float().eval()
    for tower in TOWERS:
        example = _example(model, tower, image_size)
        shape = ov.PartialShape([-1, *example.shape[1:]])
        kind = ov.Type.f32 if tower == "image" else ov.Type.i64
        with quiet_export(), torch.no_grad():
            converted = ov.convert_model(_tower_module(model, tower), example_input=example, input=[(shape, kind)])
        ov.save_model(converted, str(scratch / f"{tower}.xml"), compress_to_fp16=False)
        for suffix in (".xml", ".bin"):
            path = scratch / f"{tower}{suffix}"
            files[path.name] = _file_record(path)
    return files


def find_cached(cache_dir: Path, spec: ModelSpec, towers: tuple[str, ...] = TOWERS) -> CachedModel | None:
    """The verified entry for ``spec``, or None (a damaged one is moved aside with a note).

    Only ``towers`` are checked against their digests: a text query reads 250 MB of ViT-B-32's
    text tower, not also the 350 MB of its image tower.
    """
    key = cache_key(spec)
    folder = entry_dir(cache_dir, key)
    try:
        manifest = _read_manifest(folder, key)
        if manifest is None:
            return None
        for tower in towers:
            verify_files(folder, manifest, tower)
        tokenizer = None
        if TOKENIZER_FILE in manifest["files"]:
            verify_file(folder, manifest, TOKENIZER_FILE)
            tokenizer = folder / TOKENIZER_FILE
        return CachedModel(folder, int(manifest["image_size"]), int(manifest["dim"]), manifest["preprocess"], tokenizer)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("converted model in %s is damaged (%s); converting again", folder, exc)
        shutil.rmtree(folder, ignore_errors=True)
        return None


def scratch_dir(cache_dir: Path, what: str) -> Path:
    """A new folder in the cache to convert into (renamed into place when complete)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".converting-", dir=cache_dir))
    except OSError as exc:
        raise ModelError(
            f"{cache_dir}: cannot store the converted {what} there ({exc.strerror or exc}); set engine_cache"
            " (IMREC_ENGINE_CACHE) to a writable folder, or use --engine torch"
        ) from None


def commit_entry(scratch: Path, folder: Path, manifest: dict[str, Any]) -> None:
    """Seal ``manifest`` with its digest into ``scratch`` and move it into place as ``folder``;
    another process that stored the same entry at the same time wins without an error."""
    manifest["digest"] = manifest_digest(manifest)
    (scratch / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        scratch.rename(folder)
    except OSError:
        if not (folder / MANIFEST).is_file():
            raise


def convert(cache_dir: Path, spec: ModelSpec, model: Any, image_size: int, preprocess: dict[str, Any]) -> CachedModel:
    """Convert the loaded torch model's towers and store them as a new cache entry."""
    key = cache_key(spec)
    folder = entry_dir(cache_dir, key)
    scratch = scratch_dir(cache_dir, "model")
    log.info(
        "converting %s for this CPU (OpenVINO), once: %s; later runs reuse it from %s",
        spec.describe(),
        conversion_estimate(spec.architecture),
        folder,
    )
    import torch

    try:
        files = _export(model, image_size, scratch)
        files.update(_saved_tokenizer(spec, scratch))
        with torch.inference_mode():
            dim = int(model.encode_text(_example(model, "text", image_size)[:1]).shape[-1])
        manifest = {"key": key, "files": files, "image_size": image_size, "dim": dim, "preprocess": preprocess}
        commit_entry(scratch, folder, manifest)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"cannot convert {spec.describe()} for OpenVINO ({exc.__class__.__name__}: {exc})"[:400]
        ) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _remove_stale(cache_dir, key)
    cached = find_cached(cache_dir, spec)
    if cached is None:
        raise ModelError(f"{folder}: the converted model vanished while it was being stored")
    return cached


def _remove_stale(cache_dir: Path, key: dict[str, Any]) -> None:
    """Drop entries of the same model made by other engine versions: they are never used again."""
    for folder in cache_dir.glob(f"{entry_dir(cache_dir, key).name.rsplit('-', 1)[0]}-*"):
        try:
            other = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["key"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        same_model = all(other.get(field) == key[field] for field in ("architecture", "weights", "config"))
        if same_model and other != key:
            shutil.rmtree(folder, ignore_errors=True)


def conversion_estimate(architecture: str) -> str:
    """How long converting takes, said before it starts. Measured on 2 cores: 1.4 s for a tiny
    model's two towers, 6.2 s for ViT-B-32's, 19 s for ViT-L-14's."""
    gflops = {choice.name: choice.gflops for choice in RECOMMENDED}.get(architecture, 0.0)
    return "about a minute" if gflops > 100 else "seconds"


def openvino_towers(
    cache_dir: Path,
    spec: ModelSpec,
    device: str,
    precision: str,
    build_torch: Callable[[], tuple[Any, int, dict[str, Any]]],
) -> tuple[OpenVinoTowers, CachedModel]:
    """Towers for ``spec`` from the cache, converting them from ``build_torch()`` first when needed."""
    cached = find_cached(cache_dir, spec)
    if cached is None:
        model, image_size, preprocess = build_torch()
        cached = convert(cache_dir, spec, model, image_size, preprocess)
        del model
    elif cached.tokenizer is None:
        cached = _add_tokenizer(cached, spec)
    return OpenVinoTowers(cached, device, precision), cached


def _saved_tokenizer(spec: ModelSpec, folder: Path) -> dict[str, Any]:
    """The model's tokenizer saved torch-free into ``folder`` (its file record), or nothing where it cannot be."""
    import open_clip

    from image_recommender.models.clip_tokens import save_tokenizer

    path = folder / TOKENIZER_FILE
    try:
        saved = save_tokenizer(open_clip.get_tokenizer(spec.architecture), path)
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        log.warning("text queries with %s will load torch: its tokenizer could not be saved (%s)", spec.describe(), exc)
        return {}
    return {path.name: _file_record(path)} if saved else {}


def _add_tokenizer(cached: CachedModel, spec: ModelSpec) -> CachedModel:
    """Give an entry converted before tokenizers were saved its tokenizer, so later text queries skip torch.

    The new manifest replaces the old one in one rename: a reader sees either, each complete.
    """
    folder = cached.folder
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        added = _saved_tokenizer(spec, folder)
        if not added:
            return cached
        manifest["files"].update(added)
        manifest["digest"] = manifest_digest(manifest)
        staged = folder / f".{MANIFEST}.{os.getpid()}"
        staged.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        staged.replace(folder / MANIFEST)
    except (OSError, ValueError, KeyError, TypeError):
        return cached  # a read-only or shared cache keeps working; text queries load torch as before
    return dataclasses.replace(cached, tokenizer=folder / TOKENIZER_FILE)
