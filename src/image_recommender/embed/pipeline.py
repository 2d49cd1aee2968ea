"""The embedding pipeline, in four stages: work list -> decoders -> device batches -> writer.

1. The work list is the catalog's rows to embed, with what the catalog already knows.
2. Decoders (worker processes) read each file once, fingerprint it, and either skip it (the
   catalog already holds a vector for that exact content: a move, copy or touch) or decode
   and preprocess it (and, when asked, keep a small grey copy of it for the text detector,
   so the text pass need not decode the file again). With a GPU decoder, baseline JPEGs
   travel as bytes and are decoded there instead: those the DCT draft cannot shrink always,
   the others while the GPU keeps up (a shared backlog count), so the GPU's decoder and the
   CPU cores work at once.
3. Device batches: the model's process decodes the batch's JPEGs (on their own CUDA stream)
   and queues the model, so one batch computes while the next is decoded.
4. The writer attaches vectors and commits one transaction per ``batch_size`` rows, so a
   crash loses at most one uncommitted batch and a rerun resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from image_recommender.catalog.rows import EmbedResult, ImageRow, RetiredVector
from image_recommender.catalog.store import Catalog
from image_recommender.errors import ImageDecodeError
from image_recommender.images.decode import decode, grey_thumbnail, probe_whole_jpeg, read_file
from image_recommender.images.metadata import read_metadata
from image_recommender.models.cached_engine import CachedImageModel
from image_recommender.reports import JsonReport

if TYPE_CHECKING:
    import torch

    from image_recommender.embed.device_decode import DeviceJpegDecoder
    from image_recommender.models.torch_model import LoadedModel

FLUSH_SECONDS = 5.0
LONG_RUN_SECONDS = 3600.0
ProgressCallback = Callable[[int, int, int], None]


class GreyLook(Protocol):
    """What looks at a grey copy, ``side`` px on its long side, of each picture a run decodes
    (the text detector): called with each batch's (fingerprint, copy) pairs."""

    side: int

    def __call__(self, copies: list[tuple[str, np.ndarray]]) -> None: ...


class Pending(Protocol):
    """A batch's vectors, ready now or once the device is done (``PendingVectors`` on CUDA)."""

    def result(self) -> np.ndarray: ...


log = logging.getLogger("image_recommender")


@dataclasses.dataclass
class EmbedReport(JsonReport):
    """Counts for one embedding run (``decoded_on_device``: JPEGs the model's device decoded)."""

    embedded: int = 0
    reused: int = 0
    failed: int = 0
    seconds: float = 0.0
    decoded_on_device: int = 0
    ray_nodes: int = 0
    ray_actors: int = 0

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
        self.decoded_on_device += other.decoded_on_device
        self.ray_nodes = max(self.ray_nodes, other.ray_nodes)
        self.ray_actors = max(self.ray_actors, other.ray_actors)
        return self

    def line(self) -> str:
        """The one-line summary; the rate only when images went through the pipeline."""
        rate = f", {self.images_per_second:.1f} images/s" if self.embedded + self.reused else ""
        cluster = f", on {self.ray_nodes} Ray node(s) with {self.ray_actors} model actor(s)" if self.ray_nodes else ""
        return f"embedded {self.embedded}, reused {self.reused}, failed {self.failed} ({self.seconds:.1f} s{rate}{cluster})"


@dataclasses.dataclass(frozen=True)
class EmbedOptions:
    """How one embedding run works: transaction size, batch size, workers, decode route, progress,
    whether files may resolve outside the library (``follow_symlinks``), how many draftable
    JPEGs may wait for the device's decoder before the workers decode the next ones themselves
    (``device_backlog``; 0: two model batches), and what looks at a grey copy of each picture
    the workers decode (``look``: the text detector)."""

    batch_size: int = 256
    model_batch_size: int = 32
    workers: int = 0
    decode: str = "auto"
    progress: ProgressCallback | None = None
    follow_symlinks: bool = False
    device_backlog: int = 0
    look: GreyLook | None = None


@dataclasses.dataclass(frozen=True)
class _JpegBytes:
    """A whole JPEG for the model's device to decode, with its EXIF orientation."""

    data: bytes
    orientation: int


# A file's result row, what the model computes its vector from, and its grey copy if one was asked for.
Item = tuple[EmbedResult, "torch.Tensor | np.ndarray | _JpegBytes | None", "np.ndarray | None"]


class DeviceBacklog:
    """How many JPEGs went to the device's decoder and are not decoded yet, shared by all workers.

    A worker sends a JPEG it could draft-decode itself only while this is under ``limit``:
    when the device's decoder falls behind, the workers take the next files, and when it
    catches up, it gets them again. ``limit`` 0 keeps every draftable JPEG on the CPU.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = multiprocessing.Value("q", 0)

    def claim(self, force: bool) -> bool:
        """Count one more JPEG for the device if there is room (or ``force``); whether it was counted."""
        with self._count.get_lock():
            if not force and self._count.value >= self.limit:
                return False
            self._count.value += 1
            return True

    def release(self, count: int) -> None:
        with self._count.get_lock():
            self._count.value -= count


class DecodeDataset:
    """Stage 2: read, fingerprint, decode and preprocess one catalogued file (runs in worker processes)."""

    def __init__(
        self,
        root: Path,
        work: Sequence[tuple[ImageRow, str | None]],
        known: frozenset[str],
        preprocess: Callable[..., Any],
        min_side: int,
        backlog: DeviceBacklog | None,
        follow_symlinks: bool,
        grey_side: int = 0,
    ) -> None:
        self.root = root
        self.work = work
        self.known = known
        self.preprocess = preprocess
        self.min_side = min_side
        self.backlog = backlog
        self.follow_symlinks = follow_symlinks
        self.grey_side = grey_side

    def __len__(self) -> int:
        return len(self.work)

    def __getitem__(self, position: int) -> Item:
        """The file's catalog row without its vector, plus what to compute it from (if needed) and
        its grey copy (a picture decoded here, when ``grey_side`` asks for one)."""
        image, held = self.work[position]
        try:
            content = read_file(image.location(self.root), None if self.follow_symlinks else self.root)
            metadata = read_metadata(content.data, content.mtime_ns)
            found = EmbedResult(image.id, content.fingerprint, content.size, content.mtime_ns, metadata=metadata)
            if content.fingerprint == held or content.fingerprint in self.known:
                return dataclasses.replace(found, reuse_from=content.fingerprint), None, None
            whole = probe_whole_jpeg(content.data, self.min_side) if self.backlog is not None else None
            if whole is not None and self.backlog is not None and self.backlog.claim(force=not whole.draftable):
                sized = dataclasses.replace(found, width=whole.width, height=whole.height)
                return sized, _JpegBytes(content.data, whole.orientation), None
            decoded = decode(content.data, self.min_side, resize_to=self.min_side)
            grey = np.asarray(grey_thumbnail(decoded.image, self.grey_side)) if self.grey_side else None
            tensor = self.preprocess(decoded.image)
        except ImageDecodeError as exc:
            return EmbedResult(image.id, error=str(exc)), None, None
        except (OSError, ValueError, RuntimeError) as exc:
            return EmbedResult(image.id, error=f"cannot preprocess: {exc}"), None, None
        return dataclasses.replace(found, width=decoded.width, height=decoded.height), tensor, grey


@dataclasses.dataclass
class _Batch:
    """One model batch as a worker hands it over: crops it decoded, JPEG bytes it did not."""

    results: list[EmbedResult]
    crops: torch.Tensor | np.ndarray | None
    crop_rows: list[int]
    jpegs: torch.Tensor | None
    jpeg_ends: list[int]
    jpeg_rows: list[int]
    orientations: list[int]
    greys: list[tuple[int, np.ndarray]] = dataclasses.field(default_factory=list)

    def pin_memory(self) -> _Batch:
        """Pin the crops for a fast copy; JPEG bytes stay as they are (nvJPEG stages its own)."""
        if self.crops is not None and not isinstance(self.crops, np.ndarray):
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

    crops = [(row, payload) for row, (_, payload, _) in enumerate(items) if isinstance(payload, torch.Tensor)]
    jpegs = [(row, payload) for row, (_, payload, _) in enumerate(items) if isinstance(payload, _JpegBytes)]
    ends = np.cumsum([len(payload.data) for _, payload in jpegs]).tolist()
    flat = None
    if jpegs:
        buffer = np.empty(ends[-1], np.uint8)
        for start, (_, payload) in zip([0, *ends[:-1]], jpegs, strict=True):
            buffer[start : start + len(payload.data)] = np.frombuffer(payload.data, np.uint8)
        flat = torch.from_numpy(buffer)
    return _Batch(
        results=[result for result, _, _ in items],
        crops=torch.stack([crop for _, crop in crops]) if crops else None,
        crop_rows=[row for row, _ in crops],
        jpegs=flat,
        jpeg_ends=ends,
        jpeg_rows=[row for row, _ in jpegs],
        orientations=[payload.orientation for _, payload in jpegs],
        greys=_greys(items),
    )


def _greys(items: list[Item]) -> list[tuple[int, np.ndarray]]:
    return [(row, grey) for row, (_, _, grey) in enumerate(items) if grey is not None]


# Images prepared ahead of the model: 4 batches a worker keep 2 CPU cores busy on small
# batches, but 16 workers x 4 x 256 images would hold ~16k crops or JPEGs (over 5 GB of
# shared memory) for no gain in speed, so large runs keep torch's default of 2.
PREFETCH_IMAGES = 8192


def _prefetch_batches(model_batch_size: int, workers: int) -> int | None:
    """Batches each worker prepares ahead: 4 for small runs, torch's default 2 for large ones."""
    if workers == 0:
        return None
    return max(2, min(4, PREFETCH_IMAGES // (model_batch_size * workers)))


def _decoders(
    root: Path,
    model: LoadedModel | CachedImageModel,
    work: Sequence[tuple[ImageRow, str | None]],
    known: frozenset[str],
    backlog: DeviceBacklog | None,
    options: EmbedOptions,
) -> Iterator[_Batch]:
    """Stage 2 as a stream of model batches, decoded by ``options.workers`` processes (0: in this one)."""
    dataset = DecodeDataset(
        root,
        work,
        known,
        model.pixel_transform,
        model.image_size,
        backlog,
        options.follow_symlinks,
        options.look.side if options.look is not None else 0,
    )
    if isinstance(model, CachedImageModel):
        yield from _numpy_batches(dataset, options.model_batch_size, options.workers)
        return
    from torch.utils.data import DataLoader

    loader: DataLoader[Any] = DataLoader(
        dataset,  # type: ignore[arg-type]  # map-style: __len__ + __getitem__, no torch base class needed
        batch_size=options.model_batch_size,
        num_workers=options.workers,
        collate_fn=_collate,
        pin_memory=model.device == "cuda",
        prefetch_factor=_prefetch_batches(options.model_batch_size, options.workers),
        persistent_workers=False,
    )
    # torch's DataLoader installs a process-wide SIGCHLD handler and never removes it; a process
    # that went on to wait for other children (a later subprocess in a watch, a server or a test
    # run) crashed with a corrupted heap. It is put back after each run.
    previous = signal.getsignal(signal.SIGCHLD) if hasattr(signal, "SIGCHLD") else None
    try:
        yield from loader
    finally:
        if previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGCHLD, previous)


# The dataset the forked decode workers of the torch-free route read (inherited, never pickled).
_WORKER_DATASET: DecodeDataset | None = None


def _decode_at(position: int) -> Item:
    assert _WORKER_DATASET is not None
    return _WORKER_DATASET[position]


def _numpy_batches(dataset: DecodeDataset, batch_size: int, workers: int) -> Iterator[_Batch]:
    """Stage 2 without torch: forked workers decode two batches ahead of the model, which works on
    the two before (memory stays at four batches of crops, whatever the run's size). A run of
    one batch or less is decoded here: starting workers would cost more."""
    global _WORKER_DATASET
    positions = list(range(len(dataset)))
    if workers <= 0 or len(positions) <= batch_size:
        for start in range(0, len(positions), batch_size):
            yield _collate_numpy([dataset[position] for position in positions[start : start + batch_size]])
        return
    window = 2 * batch_size
    _WORKER_DATASET = dataset
    pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        ahead = pool.map_async(_decode_at, positions[:window], chunksize=4)
        for start in range(0, len(positions), window):
            items = ahead.get()
            if start + window < len(positions):
                ahead = pool.map_async(_decode_at, positions[start + window : start + 2 * window], chunksize=4)
            for first in range(0, len(items), batch_size):
                yield _collate_numpy(items[first : first + batch_size])
    finally:
        pool.terminate()
        pool.join()
        _WORKER_DATASET = None


def _collate_numpy(items: list[Item]) -> _Batch:
    crops = [(row, payload) for row, (_, payload, _) in enumerate(items) if isinstance(payload, np.ndarray)]
    return _Batch(
        results=[result for result, _, _ in items],
        crops=np.stack([crop for _, crop in crops]) if crops else None,
        crop_rows=[row for row, _ in crops],
        jpegs=None,
        jpeg_ends=[],
        jpeg_rows=[],
        orientations=[],
        greys=_greys(items),
    )


class _HostStage:
    """Stage 3 of the torch-free route: the crops are already the model's input."""

    decoded = 0

    def pixels(self, batch: _Batch) -> tuple[Any, list[int]]:
        return batch.crops, batch.crop_rows


class _DeviceStage:
    """Stage 3: a batch's model input on the model's device, decoding its JPEGs there first.

    On CUDA the JPEGs are decoded on a stream of their own, so decoding the next batch
    overlaps the model computing this one. A JPEG the device cannot decode is decoded by
    Pillow here instead; if Pillow cannot either, its result row records why.
    """

    def __init__(self, model: LoadedModel, decoder: DeviceJpegDecoder | None, backlog: DeviceBacklog | None) -> None:
        import torch

        self.model = model
        self.decoder = decoder
        self.backlog = backlog
        self.stream = torch.cuda.Stream() if decoder is not None and model.device == "cuda" else None
        self.decoded = 0

    def pixels(self, batch: _Batch) -> tuple[torch.Tensor | None, list[int]]:
        import torch

        parts: list[torch.Tensor] = []
        rows: list[int] = []
        if batch.crops is not None:
            parts.append(torch.as_tensor(batch.crops).to(self.model.device, non_blocking=True))
            rows.extend(batch.crop_rows)
        if self.decoder is not None and batch.jpeg_rows:
            with torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext():
                crops = self._decode(batch)
            if self.stream is not None:
                main = torch.cuda.current_stream()
                main.wait_stream(self.stream)
                for _, crop in crops:  # made on the decode stream, used on the model's: keep them until it is done
                    crop.record_stream(main)
            for row, crop in crops:
                parts.append(crop.unsqueeze(0))
                rows.append(row)
        return (torch.cat(parts) if parts else None), rows

    def _decode(self, batch: _Batch) -> list[tuple[int, torch.Tensor]]:
        assert self.decoder is not None
        blobs = batch.jpeg_blobs()
        sizes = [(batch.results[row].width or 0) * (batch.results[row].height or 0) for row in batch.jpeg_rows]
        decoded = self.decoder(blobs, batch.orientations, sizes)
        if self.backlog is not None:
            self.backlog.release(len(blobs))
        crops: list[tuple[int, torch.Tensor]] = []
        for row, blob, crop in zip(batch.jpeg_rows, blobs, decoded, strict=True):
            if crop is not None:
                self.decoded += 1
                crops.append((row, crop))
                continue
            try:
                image = decode(blob.numpy().tobytes(), self.model.image_size, resize_to=self.model.image_size).image
                crops.append((row, self.model.pixel_transform(image).to(self.model.device)))
            except ImageDecodeError as exc:
                batch.results[row] = EmbedResult(batch.results[row].image_id, error=str(exc))
            except (OSError, ValueError, RuntimeError) as exc:
                batch.results[row] = EmbedResult(batch.results[row].image_id, error=f"cannot preprocess: {exc}")
        return crops


class Writer:
    """Stage 4: attach each batch's vectors, count outcomes, report progress, commit in transactions.

    It owns the run's counters and the rows not yet committed; ``close`` commits the rest.
    """

    def __init__(
        self,
        catalog: Catalog,
        model: LoadedModel | CachedImageModel | None,
        model_id: int,
        total: int,
        options: EmbedOptions,
    ) -> None:
        self.catalog = catalog
        self.model_id = model_id
        self.total = total
        self.options = options
        self.report = EmbedReport()
        self.estimate = RunEstimate(total, model)
        self.fresh: dict[str, np.ndarray] = {}
        self.retired: dict[str, RetiredVector] = {}
        self.pending: list[EmbedResult] = []
        self.last_flush = time.monotonic()
        self.done = 0

    def add(self, batch: _Batch, rows: list[int], vectors: Pending | None) -> None:
        self.record(batch.results, dict(zip(rows, vectors.result(), strict=True)) if vectors is not None else {})
        if self.options.look is not None and batch.greys:
            results = batch.results
            copies = [(results[row].fingerprint or "", grey) for row, grey in batch.greys if results[row].error is None]
            self.options.look(copies)

    def record(self, results: Sequence[EmbedResult], vectors: dict[int, np.ndarray]) -> None:
        """Take one batch's results, with the model's vector for each row that needed one."""
        for row, found in enumerate(results):
            result, outcome = _with_vector(found, vectors.get(row), self.fresh)
            self.pending.append(result)
            setattr(self.report, outcome, getattr(self.report, outcome) + 1)
        self.done += len(results)
        if self.options.progress is not None:
            self.estimate.observe(self.done, time.perf_counter())
            self.options.progress(self.done, self.total, self.report.failed)
        if len(self.pending) >= self.options.batch_size or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.catalog.write_embed_results(self.model_id, self.pending, self.retired)
            self.pending.clear()
        self.last_flush = time.monotonic()


def embed_pending(
    catalog: Catalog,
    root: Path,
    model: LoadedModel | CachedImageModel,
    model_id: int,
    work: Sequence[tuple[ImageRow, str | None]],
    options: EmbedOptions,
) -> EmbedReport:
    """Embed every work item and store the results; returns what happened.

    The model works on one batch while the next is decoded and the previous one's vectors
    are written, so neither the device nor the catalog waits for the other.
    """
    started = time.perf_counter()
    backlog = None
    device: _DeviceStage | _HostStage = _HostStage()
    if not isinstance(model, CachedImageModel):  # torch's route: device decode, CUDA streams
        from image_recommender.embed.device_decode import device_decoder

        decoder = device_decoder(options.decode, model.device, model.pixel_steps)
        if decoder is not None:
            backlog = DeviceBacklog(options.device_backlog or 2 * options.model_batch_size)
        device = _DeviceStage(model, decoder, backlog)
    writer = Writer(catalog, model, model_id, len(work), options)
    for part in _copies_last(work):
        known = frozenset(catalog.known_fingerprints(model_id))
        in_flight: tuple[_Batch, list[int], Pending | None] | None = None
        for batch in _decoders(root, model, part, known, backlog, options):
            pixels, rows = device.pixels(batch)
            queued = (batch, rows, model.start_encoding(pixels) if pixels is not None else None)
            if in_flight is not None:
                writer.add(*in_flight)
            in_flight = queued
        if in_flight is not None:
            writer.add(*in_flight)
        writer.flush()
    writer.report.seconds = time.perf_counter() - started
    writer.report.decoded_on_device = device.decoded
    return writer.report


def _copies_last(work: Sequence[tuple[ImageRow, str | None]]) -> list[list[tuple[ImageRow, str | None]]]:
    """The work in two passes: first one file of each size, then the others of a size seen before.

    Copies share their size, and workers in separate processes cannot see each other's
    fingerprints, so two new copies in one pass would both be decoded and embedded. In the
    second pass the first pass's fingerprints are committed and known: a copy is read and
    fingerprinted, then reuses the vector without being decoded.
    """
    first: list[tuple[ImageRow, str | None]] = []
    later: list[tuple[ImageRow, str | None]] = []
    sizes: set[int] = set()
    for item in work:
        (later if item[0].size in sizes else first).append(item)
        sizes.add(item[0].size)
    return [part for part in (first, later) if part]


class RunEstimate:
    """Says once, early in a run that will take over an hour, how long it will take, and with which
    recommended model it would be shorter.

    The rate is measured on this run after its first batch (worker start-up and the model's
    first call excluded) over at least two more batches, so it is what the progress bar's ETA
    will show too.
    """

    def __init__(self, total: int, model: LoadedModel | CachedImageModel | None, steady_batches: int = 2) -> None:
        self.total = total
        self.model = model
        self.steady_batches = steady_batches
        self._start: tuple[float, int] | None = None
        self._batches = 0
        self._judged = False

    def observe(self, done: int, now: float) -> None:
        if self._judged or done >= self.total or self.model is None:
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
        self._judged = True
        if remaining + (now - started) > LONG_RUN_SECONDS:
            log.warning("%s", self.describe(rate, remaining))

    def describe(self, rate: float, remaining: float) -> str:
        from image_recommender.models.recommended import faster_choice

        assert self.model is not None  # observe() judges only runs with a model
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
