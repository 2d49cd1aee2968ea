"""Embedding on a Ray cluster: decoding in CPU tasks, the model in actors, the driver the only writer.

The work list (new and changed files) becomes a Ray Dataset. Decoding runs in Ray Data tasks
with the local pipeline's own code (read, fingerprint, reuse check, EXIF metadata, decode,
preprocess to uint8 crops), the model in actors, one per GPU (or CPU actors where the
cluster has no GPU), each loading the same model with the same precision and engine rules
as a local run. Results stream back to this process, which commits them exactly as a local
run does, one transaction per ``batch_size`` rows: killing the driver loses at most one
batch, and a rerun continues with what is still pending. Ray retries a lost task or actor;
results of an image seen twice are dropped, so every image is counted once.

Workers read files from the library root, which must be the same path on every node (a
shared mount); ``embed_on_ray`` checks each node can see it before any work starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_recommender.catalog.rows import EmbedResult, ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.embed.pipeline import DecodeDataset, EmbedOptions, EmbedReport, Writer
from image_recommender.errors import LibraryError
from image_recommender.images.metadata import PhotoMetadata

if TYPE_CHECKING:
    from image_recommender.models.torch_model import LoadedModel

NODE_CHECK_SECONDS = 60.0
LOCAL = "local"


_ADDRESS = re.compile(r"local|auto|(ray://)?[A-Za-z0-9.\-]+:\d{1,5}")


def require_ray(address: str) -> Any:
    """Ray and Ray Data, or a one-line error naming the extra that brings them (or a bad address)."""
    if not _ADDRESS.fullmatch(address):
        raise LibraryError(f"--ray {address!r}: give HOST:PORT of the cluster's head, auto, or nothing for a local Ray")
    try:
        import ray
        import ray.data  # Ray Data needs pyarrow: part of the extra
    except ImportError:
        raise LibraryError("--ray needs Ray: pip install 'image-recommender[ray]'") from None
    return ray


def _connect(ray: Any, address: str) -> bool:
    """Join the cluster at ``address`` ("auto": the one the environment names) or start a local one;
    True when this call started Ray (and so shuts it down)."""
    if ray.is_initialized():
        return False
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # imrec's own bar shows progress; Ray's would interleave with it
    context.print_on_execution_start = False
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        ray.init(
            address=None if address == LOCAL else address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a local Ray" if address == LOCAL else f"the Ray cluster at {address!r}"
        raise LibraryError(f"cannot start or join {where}: {str(exc).splitlines()[0]}") from None
    return True


def _check_nodes_see(ray: Any, root: Path) -> list[str]:
    """Every alive node's address, after it confirmed the library root is there; a one-line error if not."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    marker = str(root / ".imrec")

    @ray.remote(num_cpus=0)
    def sees(path: str) -> bool:
        return os.path.isdir(path)

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    checks = {
        node["NodeManagerAddress"]: sees.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(marker)
        for node in nodes
    }
    ready, _ = ray.wait(list(checks.values()), num_returns=len(checks), timeout=NODE_CHECK_SECONDS)
    for address, check in checks.items():
        if check not in ready:
            raise LibraryError(f"Ray node {address} did not answer within {NODE_CHECK_SECONDS:.0f} s; is it busy?")
        if not ray.get(check):
            raise LibraryError(
                f"{root}: not visible on Ray node {address}; the library must be on a shared mount"
                " at the same path on every node"
            )
    return list(checks)


def _decode_batch(
    batch: dict[str, np.ndarray],
    *,
    root: str,
    known: frozenset[str],
    preprocess: Callable[..., Any],
    min_side: int,
    follow: bool,
) -> dict[str, np.ndarray]:
    """Ray Data task: decode a batch of work rows exactly as a local worker process does."""
    work = [
        (_work_row(int(image_id), str(path), bytes(raw)), str(held) or None)
        for image_id, path, raw, held in zip(
            batch["image_id"], batch["path"], batch["raw_path"], batch["held"], strict=True
        )
    ]
    dataset = DecodeDataset(Path(root), work, known, preprocess, min_side, None, follow)
    items = [dataset[position] for position in range(len(work))]
    crops = [payload for _, payload, _ in items if payload is not None]
    shape = tuple(np.asarray(crops[0]).shape) if crops else (3, min_side, min_side)
    pixels = np.zeros((len(items), *shape), dtype=np.uint8)
    for row, (_, payload, _) in enumerate(items):
        if payload is not None:
            pixels[row] = np.asarray(payload)
    return {
        "result": np.array([json.dumps(_result_fields(result)) for result, _, _ in items]),
        "needs_model": np.array([payload is not None for _, payload, _ in items]),
        "pixels": pixels,
    }


class _Embed:
    """Ray Data actor: one loaded model, turning decoded crops into unit vectors."""

    def __init__(self, load: Callable[[], Any]) -> None:
        import torch

        # Ray limits a worker's threads to its CPU request (none here): the model uses the node's cores.
        torch.set_num_threads(os.cpu_count() or 1)
        self.model = load()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        needs = batch["needs_model"].astype(bool)
        vectors = np.zeros((len(needs), self.model.dim), dtype=np.float32)
        if needs.any():
            vectors[needs] = self.model.encode_images(torch.from_numpy(np.ascontiguousarray(batch["pixels"][needs])))
        return {"result": batch["result"], "needs_model": needs, "vector": vectors}


def _work_row(image_id: int, path: str, raw: bytes) -> ImageRow:
    return ImageRow(image_id, path, raw or None, 0, 0, None, None, None, "pending", None)


def _result_fields(result: EmbedResult) -> dict[str, Any]:
    fields = {
        f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name not in ("vector", "metadata")
    }
    fields["metadata"] = dataclasses.asdict(result.metadata) if result.metadata is not None else None
    return fields


def _result_from(text: str) -> EmbedResult:
    fields = json.loads(text)
    metadata = fields.pop("metadata")
    return EmbedResult(**fields, metadata=PhotoMetadata(**metadata) if metadata is not None else None)


def embed_on_ray(
    catalog: Catalog,
    root: Path,
    model: LoadedModel,
    load_model: Callable[[], LoadedModel],
    model_id: int,
    work: Sequence[tuple[ImageRow, str | None]],
    options: EmbedOptions,
    address: str,
) -> EmbedReport:
    """Embed ``work`` on the Ray cluster at ``address`` and store the results here.

    ``model`` (loaded here) gives the preprocessing and the run estimate; ``load_model``
    loads the same model again in each actor.
    """
    ray = require_ray(address)
    started = time.perf_counter()
    # Ray reports lost workers on stdout; stdout is for results (--json), so its notes go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        owned = _connect(ray, address)
        try:
            nodes = _check_nodes_see(ray, root)
            gpus = int(ray.cluster_resources().get("GPU", 0))
            actors = gpus or len(nodes)
            known = frozenset(catalog.known_fingerprints(model_id))
            items = [
                {"image_id": image.id, "path": image.path, "raw_path": image.raw_path or b"", "held": held or ""}
                for image, held in work
            ]
            decode = {
                "root": root.as_posix(),
                "known": known,
                "preprocess": model.pixel_transform,
                "min_side": model.image_size,
                "follow": options.follow_symlinks,
            }
            size = options.model_batch_size
            dataset = (
                ray.data.from_items(items, override_num_blocks=max(1, len(items) // size))
                .map_batches(_decode_batch, fn_kwargs=decode, batch_size=size, num_cpus=1)
                .map_batches(
                    _Embed,
                    fn_constructor_args=(load_model,),
                    batch_size=size,
                    compute=ray.data.ActorPoolStrategy(size=actors),
                    num_gpus=1 if gpus else 0,
                    # Like the local pipeline's main process, a model actor is not counted against its
                    # node's CPUs: decoding tasks take them all (on a 2-core machine, counting the actor
                    # halved the decoders and the speed). The differing request also keeps Ray Data
                    # from fusing decoding into the actors.
                    num_cpus=0,
                )
            )
            writer = Writer(catalog, model, model_id, len(work), options)
            seen: set[int] = set()
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                results: list[EmbedResult] = []
                vectors: dict[int, np.ndarray] = {}
                for text, needs, vector in zip(batch["result"], batch["needs_model"], batch["vector"], strict=True):
                    result = _result_from(str(text))
                    if result.image_id in seen:  # a retried task's second answer
                        continue
                    seen.add(result.image_id)
                    if needs:
                        vectors[len(results)] = vector
                    results.append(result)
                writer.record(results, vectors)
            writer.flush()
        finally:
            if owned:
                ray.shutdown()
        report = writer.report
        report.seconds, report.ray_nodes, report.ray_actors = time.perf_counter() - started, len(nodes), actors
        return report
