"""The embedding pipeline: decode workers feed model batches, results land in the catalog.

Worker processes read each file once, fingerprint it, and either skip it (the catalog
already holds a vector for that exact content: a move, copy or touch) or decode and
preprocess it; with a GPU, JPEGs too small for a DCT draft travel as bytes and are decoded
there (``device_decode``). The main process runs the model and writes results in one
transaction per ``batch_size`` rows, so a crash loses at most one uncommitted batch and a
rerun resumes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_recommender.catalog import Catalog, EmbedResult, ImageRow, RetiredVector
from image_recommender.errors import ImageDecodeError
from image_recommender.images import decode, probe_whole_jpeg, read_file
from image_recommender.reports import JsonReport

if TYPE_CHECKING:
    import torch

    from image_recommender.device_decode import DeviceJpegDecoder
    from image_recommender.models import LoadedModel, PendingVectors

FLUSH_SECONDS = 5.0
LONG_RUN_SECONDS = 3600.0
ProgressCallback = Callable[[int, int, int], None]
log = logging.getLogger("image_recommender")


@dataclasses.dataclass
class EmbedReport(JsonReport):
    """Counts for one embedding run."""

    embedded: int = 0
    reused: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        done = self.embedded + self.reused
        return done / self.seconds if self.seconds > 0 else 0.0

    def __iadd__(self, other: EmbedReport) -> EmbedReport:
        """Add another model's run (a library with several models embeds each in turn)."""
        self.embedded += other.embedded
        self.reused += other.reused
        self.failed += other.failed
        self.seconds += other.seconds
        return self

    def line(self) -> str:
        """The one-line summary; the rate only when images went through the pipeline."""
        rate = f", {self.images_per_second:.1f} images/s" if self.embedded + self.reused else ""
        return f"embedded {self.embedded}, reused {self.reused}, failed {self.failed} ({self.seconds:.1f} s{rate})"


@dataclasses.dataclass(frozen=True)
class EmbedOptions:
    """How one embedding run works: transaction size, batch size, workers, decode route, progress,
    and whether files may resolve outside the library (``follow_symlinks``)."""

    batch_size: int = 256
    model_batch_size: int = 32
    workers: int = 0
    decode: str = "auto"
    progress: ProgressCallback | None = None
    follow_symlinks: bool = False


@dataclasses.dataclass(frozen=True)
class _JpegBytes:
    """A whole JPEG for the model's device to decode, with its EXIF orientation."""

    data: bytes
    orientation: int


Item = tuple[EmbedResult, "torch.Tensor | _JpegBytes | None"]


class _DecodeDataset:
    """Read, fingerprint, decode and preprocess one catalogued file (runs in worker processes)."""

    def __init__(
        self,
        root: Path,
        work: Sequence[tuple[ImageRow, str | None]],
        known: frozenset[str],
        preprocess: Callable[..., Any],
        min_side: int,
        whole_jpegs_to_device: bool,
        follow_symlinks: bool,
    ) -> None:
        self.root = root
        self.work = work
        self.known = known
        self.preprocess = preprocess
        self.min_side = min_side
        self.whole_jpegs_to_device = whole_jpegs_to_device
        self.follow_symlinks = follow_symlinks

    def __len__(self) -> int:
        return len(self.work)

    def __getitem__(self, position: int) -> Item:
        """The file's catalog row without its vector, plus what to compute it from (if needed)."""
        image, held = self.work[position]
        try:
            content = read_file(image.location(self.root), None if self.follow_symlinks else self.root)
            found = EmbedResult(image.id, content.fingerprint, content.size, content.mtime_ns)
            if content.fingerprint == held or content.fingerprint in self.known:
                return dataclasses.replace(found, reuse_from=content.fingerprint), None
            whole = probe_whole_jpeg(content.data, self.min_side) if self.whole_jpegs_to_device else None
            if whole is not None:
                sized = dataclasses.replace(found, width=whole.width, height=whole.height)
                return sized, _JpegBytes(content.data, whole.orientation)
            decoded = decode(content.data, self.min_side, resize_to=self.min_side)
            tensor = self.preprocess(decoded.image)
        except ImageDecodeError as exc:
            return EmbedResult(image.id, error=str(exc)), None
        except (OSError, ValueError, RuntimeError) as exc:
            return EmbedResult(image.id, error=f"cannot preprocess: {exc}"), None
        return dataclasses.replace(found, width=decoded.width, height=decoded.height), tensor


@dataclasses.dataclass
class _Batch:
    """One model batch as a worker hands it over: crops it decoded, JPEG bytes it did not."""

    results: list[EmbedResult]
    crops: torch.Tensor | None
    crop_rows: list[int]
    jpegs: torch.Tensor | None
    jpeg_ends: list[int]
    jpeg_rows: list[int]
    orientations: list[int]

    def pin_memory(self) -> _Batch:
        """Pin the crops for a fast copy; JPEG bytes stay as they are (nvJPEG stages its own)."""
        if self.crops is not None:
            self.crops = self.crops.pin_memory()
        return self

    def jpeg_blobs(self) -> list[torch.Tensor]:
        """Each JPEG's bytes as a 1-D uint8 view (one shared buffer crossed the process boundary)."""
        if self.jpegs is None:
            return []
        starts = [0, *self.jpeg_ends[:-1]]
        return [self.jpegs[start:end] for start, end in zip(starts, self.jpeg_ends, strict=True)]


def _collate(items: list[Item]) -> _Batch:
    """Stack the crops and concatenate the JPEG bytes of a batch (in the worker, so the main process stays free)."""
    import torch

    crops = [(row, payload) for row, (_, payload) in enumerate(items) if isinstance(payload, torch.Tensor)]
    jpegs = [(row, payload) for row, (_, payload) in enumerate(items) if isinstance(payload, _JpegBytes)]
    ends = np.cumsum([len(payload.data) for _, payload in jpegs]).tolist()
    flat = None
    if jpegs:
        buffer = np.empty(ends[-1], np.uint8)
        for start, (_, payload) in zip([0, *ends[:-1]], jpegs, strict=True):
            buffer[start : start + len(payload.data)] = np.frombuffer(payload.data, np.uint8)
        flat = torch.from_numpy(buffer)
    return _Batch(
        results=[result for result, _ in items],
        crops=torch.stack([crop for _, crop in crops]) if crops else None,
        crop_rows=[row for row, _ in crops],
        jpegs=flat,
        jpeg_ends=ends,
        jpeg_rows=[row for row, _ in jpegs],
        orientations=[payload.orientation for _, payload in jpegs],
    )


def _device_pixels(
    batch: _Batch, model: LoadedModel, decoder: DeviceJpegDecoder | None
) -> tuple[torch.Tensor | None, list[int]]:
    """The batch's model input on the model's device, and which result row each image is.

    A JPEG the device cannot decode is decoded by Pillow here instead; if Pillow cannot
    either, its result row records why.
    """
    import torch

    parts: list[torch.Tensor] = []
    rows: list[int] = []
    if batch.crops is not None:
        parts.append(batch.crops.to(model.device, non_blocking=True))
        rows.extend(batch.crop_rows)
    if decoder is not None and batch.jpeg_rows:
        blobs = batch.jpeg_blobs()
        for row, blob, crop in zip(batch.jpeg_rows, blobs, decoder(blobs, batch.orientations), strict=True):
            if crop is None:
                try:
                    crop = model.pixel_transform(
                        decode(blob.numpy().tobytes(), model.image_size, resize_to=model.image_size).image
                    )
                    crop = crop.to(model.device)
                except ImageDecodeError as exc:
                    batch.results[row] = EmbedResult(batch.results[row].image_id, error=str(exc))
                    continue
                except (OSError, ValueError, RuntimeError) as exc:
                    batch.results[row] = EmbedResult(batch.results[row].image_id, error=f"cannot preprocess: {exc}")
                    continue
            parts.append(crop.unsqueeze(0))
            rows.append(row)
    return (torch.cat(parts) if parts else None), rows


# Images prepared ahead of the model: 4 batches a worker keep 2 CPU cores busy on small
# batches, but 16 workers x 4 x 256 images would hold ~16k crops or JPEGs (over 5 GB of
# shared memory) for no gain in speed, so large runs keep torch's default of 2.
PREFETCH_IMAGES = 8192


def _prefetch_batches(model_batch_size: int, workers: int) -> int | None:
    """Batches each worker prepares ahead: 4 for small runs, torch's default 2 for large ones."""
    if workers == 0:
        return None
    return max(2, min(4, PREFETCH_IMAGES // (model_batch_size * workers)))


def embed_pending(
    catalog: Catalog,
    root: Path,
    model: LoadedModel,
    model_id: int,
    work: Sequence[tuple[ImageRow, str | None]],
    options: EmbedOptions,
) -> EmbedReport:
    """Embed every work item and store the results; returns what happened.

    On CUDA the model works on one batch while the next is decoded and the previous one's
    vectors are written, so neither the GPU nor the catalog waits for the other.
    """
    from torch.utils.data import DataLoader

    from image_recommender.device_decode import device_decoder

    report = EmbedReport()
    started = time.perf_counter()
    known = frozenset(catalog.known_fingerprints(model_id))
    decoder = device_decoder(options.decode, model.device, model.pixel_steps)
    dataset = _DecodeDataset(
        root, work, known, model.pixel_transform, model.image_size, decoder is not None, options.follow_symlinks
    )
    loader: DataLoader[Any] = DataLoader(
        dataset,  # type: ignore[arg-type]  # map-style: __len__ + __getitem__, no torch base class needed
        batch_size=options.model_batch_size,
        num_workers=options.workers,
        collate_fn=_collate,
        pin_memory=model.device == "cuda",
        prefetch_factor=_prefetch_batches(options.model_batch_size, options.workers),
        persistent_workers=False,
    )
    fresh: dict[str, np.ndarray] = {}
    retired: dict[str, RetiredVector] = {}
    pending: list[EmbedResult] = []
    last_flush = time.monotonic()
    done = 0
    estimate = RunEstimate(len(work), model)

    def flush() -> None:
        nonlocal last_flush
        if pending:
            catalog.write_embed_results(model_id, pending, retired)
            pending.clear()
        last_flush = time.monotonic()

    def finish(batch: _Batch, rows: list[int], vectors: PendingVectors | None) -> None:
        nonlocal done
        by_row = dict(zip(rows, vectors.result(), strict=True)) if vectors is not None else {}
        for row, found in enumerate(batch.results):
            result, outcome = _with_vector(found, by_row.get(row), fresh)
            pending.append(result)
            setattr(report, outcome, getattr(report, outcome) + 1)
        done += len(batch.results)
        if options.progress is not None:
            estimate.observe(done, time.perf_counter())
            options.progress(done, len(work), report.failed)
        if len(pending) >= options.batch_size or time.monotonic() - last_flush > FLUSH_SECONDS:
            flush()

    in_flight: tuple[_Batch, list[int], PendingVectors | None] | None = None
    for batch in loader:
        pixels, rows = _device_pixels(batch, model, decoder)
        queued = (batch, rows, model.start_encoding(pixels) if pixels is not None else None)
        if in_flight is not None:
            finish(*in_flight)
        in_flight = queued
    if in_flight is not None:
        finish(*in_flight)
    flush()
    report.seconds = time.perf_counter() - started
    return report


class RunEstimate:
    """Says once, early in a run that will take over an hour, how long it will take, and with which
    recommended model it would be shorter.

    The rate is measured on this run after its first batch (worker start-up and the model's
    first call excluded) over at least two more batches, so it is what the progress bar's ETA
    will show too.
    """

    def __init__(self, total: int, model: LoadedModel, steady_batches: int = 2) -> None:
        self.total = total
        self.model = model
        self.steady_batches = steady_batches
        self._start: tuple[float, int] | None = None
        self._batches = 0
        self.line: str | None = None

    def observe(self, done: int, now: float) -> None:
        if self.line is not None or done >= self.total:
            return
        self._batches += 1
        if self._start is None:
            self._start = (now, done)
            return
        started, done_then = self._start
        if self._batches <= self.steady_batches or now <= started:
            return
        rate = (done - done_then) / (now - started)
        remaining = (self.total - done) / rate if rate > 0 else float("inf")
        self.line = ""
        if remaining + (now - started) > LONG_RUN_SECONDS:
            self.line = self.describe(rate, remaining)
            log.warning("%s", self.line)

    def describe(self, rate: float, remaining: float) -> str:
        from image_recommender.recommended import faster_choice

        spec = self.model.spec
        text = (
            f"{self.total} images to embed with {spec.describe()} ({self.model.describe()}) at {rate:.1f} images/s"
            f" here: about {_duration(remaining)} to go"
        )
        faster = faster_choice(spec.architecture)
        if faster is not None:
            choice, speedup = faster
            text += (
                f"; {choice.name} ({choice.pretrained}) would take about {_duration(remaining / speedup)}"
                " (estimated from GFLOPs; 'imrec models --bench' measures it)"
            )
        return text


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(1, round(seconds / 60))} min"


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
