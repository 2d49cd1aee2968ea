"""The embedding pipeline: decode workers feed model batches, results land in the catalog.

Worker processes read each file once, fingerprint it, and either skip it (the catalog
already holds a vector for that exact content: a move, copy or touch) or decode and
preprocess it. The main process runs the model and writes results in one transaction per
``batch_size`` rows, so a crash loses at most one uncommitted batch and a rerun resumes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_recommender.catalog import Catalog, EmbedResult, ImageRow
from image_recommender.errors import ImageDecodeError
from image_recommender.images import decode, read_file

if TYPE_CHECKING:
    import torch

    from image_recommender.models import LoadedModel

FLUSH_SECONDS = 5.0
ProgressCallback = Callable[[int, int, int], None]


@dataclasses.dataclass
class EmbedReport:
    """Counts for one embedding run."""

    embedded: int = 0
    reused: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        done = self.embedded + self.reused
        return done / self.seconds if self.seconds > 0 else 0.0


Item = tuple[EmbedResult, "torch.Tensor | None"]


class _DecodeDataset:
    """Read, fingerprint, decode and preprocess one catalogued file (runs in worker processes)."""

    def __init__(
        self,
        root: Path,
        work: Sequence[tuple[ImageRow, str | None]],
        known: frozenset[str],
        preprocess: Callable[..., Any],
        min_side: int,
    ) -> None:
        self.root = root
        self.work = work
        self.known = known
        self.preprocess = preprocess
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.work)

    def __getitem__(self, position: int) -> Item:
        """The file's catalog row without its vector, plus the pixels to compute it from (if needed)."""
        image, held = self.work[position]
        try:
            content = read_file(image.location(self.root))
            found = EmbedResult(image.id, content.fingerprint, content.size, content.mtime_ns)
            if content.fingerprint == held or content.fingerprint in self.known:
                return dataclasses.replace(found, reuse_from=content.fingerprint), None
            decoded = decode(content.data, self.min_side)
            tensor = self.preprocess(decoded.image)
        except ImageDecodeError as exc:
            return EmbedResult(image.id, error=str(exc)), None
        except (OSError, ValueError, RuntimeError) as exc:
            return EmbedResult(image.id, error=f"cannot preprocess: {exc}"), None
        return dataclasses.replace(found, width=decoded.width, height=decoded.height), tensor


def _collate(items: list[Item]) -> tuple[list[EmbedResult], torch.Tensor | None, list[int]]:
    """Stack the decoded tensors of a batch (in the worker, so pinning and copies stay cheap)."""
    import torch

    tensors = [tensor for _, tensor in items if tensor is not None]
    rows = [position for position, (_, tensor) in enumerate(items) if tensor is not None]
    return [result for result, _ in items], (torch.stack(tensors) if tensors else None), rows


def embed_pending(
    catalog: Catalog,
    root: Path,
    model: LoadedModel,
    model_id: int,
    work: Sequence[tuple[ImageRow, str | None]],
    batch_size: int,
    model_batch_size: int,
    workers: int,
    progress: ProgressCallback | None = None,
) -> EmbedReport:
    """Embed every work item and store the results; returns what happened."""
    from torch.utils.data import DataLoader

    report = EmbedReport()
    started = time.perf_counter()
    known = frozenset(catalog.known_fingerprints(model_id))
    dataset = _DecodeDataset(root, work, known, model.pixel_transform, model.image_size)
    cuda = model.device == "cuda"
    loader: DataLoader[Any] = DataLoader(
        dataset,  # type: ignore[arg-type]  # map-style: __len__ + __getitem__, no torch base class needed
        batch_size=model_batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=cuda,
        prefetch_factor=4 if workers > 0 else None,
        persistent_workers=False,
    )
    fresh: dict[str, np.ndarray] = {}
    pending: list[EmbedResult] = []
    last_flush = time.monotonic()
    done = 0

    def flush() -> None:
        nonlocal last_flush
        if pending:
            catalog.write_embed_results(model_id, pending)
            pending.clear()
        last_flush = time.monotonic()

    for found_batch, tensors, rows in loader:
        vectors = model.encode_images(tensors) if tensors is not None else np.zeros((0, model.dim), np.float32)
        by_position = dict(zip(rows, vectors, strict=True))
        for position, found in enumerate(found_batch):
            result, outcome = _with_vector(found, by_position.get(position), fresh)
            pending.append(result)
            setattr(report, outcome, getattr(report, outcome) + 1)
        done += len(found_batch)
        if progress is not None:
            progress(done, len(work), report.failed)
        if len(pending) >= batch_size or time.monotonic() - last_flush > FLUSH_SECONDS:
            flush()
    flush()
    report.seconds = time.perf_counter() - started
    return report


def _with_vector(
    found: EmbedResult, vector: np.ndarray | None, fresh: dict[str, np.ndarray]
) -> tuple[EmbedResult, str]:
    """Attach the model's vector (or one already computed for the same content in this run)."""
    if found.error is not None:
        return found, "failed"
    if found.reuse_from is not None:
        return found, "reused"
    assert found.fingerprint is not None and vector is not None
    if found.fingerprint in fresh:
        return dataclasses.replace(found, vector=fresh[found.fingerprint]), "reused"
    fresh[found.fingerprint] = vector
    return dataclasses.replace(found, vector=vector), "embedded"
