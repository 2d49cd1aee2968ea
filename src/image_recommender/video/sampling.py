"""Which moments of a video to embed: one frame per scene, more in long scenes, bounded.

The video is decoded once (PyAV, which bundles FFmpeg). Where its keyframes come at least every
``MIN_GAP_SECONDS`` (phones write one a second), only the keyframes are decoded: the sampling
never keeps two frames closer than that anyway, and a 10-minute 1080p phone video is read in
5.5 s instead of 25.6 s (docs/benchmarks.md, section 16). Otherwise every frame is, skipping
those no other frame refers to (half the frames of a B-frame stream).

Each decoded frame gives a 32x18 luma signature, block means read straight from its Y plane
(no colour conversion: 815 against 875 frames/s for decoding alone on a 1080p stream here). A
cut is a mean absolute signature difference above ``CUT_DIFFERENCE`` (of 255) and above
``CUT_RATIO`` times the recent in-shot differences, so a pan is no cut. Only the frames kept
are converted to RGB pictures.

A frame is kept at every cut and every ``SCENE_SECONDS`` within a scene, never closer than
``MIN_GAP_SECONDS`` to the one before (at most 30 a minute); a long video widens that gap so
that no video gives more than ``MAX_FRAMES`` vectors, and past ``DECODE_BUDGET`` frames only
its keyframes are decoded. Frames come back upright (the container's
display rotation applied), timed in seconds from the start.
"""

from __future__ import annotations

import contextlib
import math
import re
import statistics
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from image_recommender.errors import ImageDecodeError
from image_recommender.images.decode import open_regular_file
from image_recommender.images.metadata import PhotoMetadata

# Mean absolute difference of two 32x18 luma signatures (0-255) that marks a cut, at least, and
# at least CUT_RATIO times the median of the last CUT_HISTORY differences (a steady pan over fine
# texture moves the signature by 4-9 every frame, a cut between two photos by 35-80: measured on
# tests/test_video_sampling.py's pans).
CUT_DIFFERENCE = 18.0
CUT_RATIO = 3.0
CUT_HISTORY = 8
SCENE_SECONDS = 10.0
MIN_GAP_SECONDS = 2.0
MAX_FRAMES = 1000
# Keyframes at most ``gap`` apart (a phone's one a second) are all the frames the sampling needs
# (it keeps at most one per gap): only they are decoded, about 30 times fewer frames. Their
# spacing is read from the first minute's packets.
KEYFRAME_PROBE_SECONDS = 60.0
# Past this many decoded frames (55 minutes at 30 fps, about 2.5 minutes of decoding here) only
# keyframes are decoded, so a video of a million frames costs what its keyframes cost.
DECODE_BUDGET = 100_000
# Decoding that stops this long before the duration the container gives: a truncated file.
TRUNCATED_SECONDS = 1.0
# Frames larger than this (width x height) are refused before decoding: 8K is 33 MP.
MAX_FRAME_PIXELS = 40_000_000
# A kept frame is handed to the model at most this long on its longer side: the models take
# 224-448 px and resize anyway, and a 768-px frame is 1 MB while it waits for its batch.
KEPT_LONG_SIDE = 768
_SIGNATURE = (18, 32)
_ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")


@dataclass
class SampledVideo:
    """The kept frames (seconds, upright picture), what the container says, and why it ended
    early where it did (``problem``: frames up to the damage are kept)."""

    frames: list[tuple[float, Image.Image | None]] = field(default_factory=list)
    first_size: tuple[int, int] = (0, 0)  # the first kept frame's upright size
    duration: float = 0.0
    width: int = 0
    height: int = 0
    decoded: int = 0
    until: float = 0.0  # the time of the last frame decoded
    keyframes_only: bool = False  # keyframes came often enough that only they were decoded
    past_budget: bool = False  # DECODE_BUDGET frames were decoded: only keyframes after that
    metadata: PhotoMetadata = field(default_factory=PhotoMetadata)
    problem: str | None = None


Keep = Callable[[float, Image.Image], None]


class _Handover(Exception):
    """Carries an exception raised by ``keep`` past the handling of the video's own damage."""


def sample_video(handle: BinaryIO, mtime_ns: int | None, keep: Keep | None = None) -> SampledVideo:
    """The frames worth embedding, read from an open file; a file that is no video (or has no
    video stream) raises ``ImageDecodeError`` with the reason. With ``keep``, each kept frame's
    picture goes there as soon as it is decoded (``frames`` then holds its time and no picture
    is kept), so a long video's frames never wait in memory together."""
    import av

    try:
        container = av.open(handle, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise ImageDecodeError(f"not a video file, or one FFmpeg cannot read: {_reason(exc)}") from None
    with container:
        stream = _video_stream(container)
        width, height = stream.codec_context.width, stream.codec_context.height
        damaged_clock = _damaged_clock(stream)  # read while open: PyAV 18.1.1 refuses a closed stream
        duration = _duration(container, stream)
        sampled = SampledVideo(duration=duration, metadata=_metadata(container, stream, mtime_ns))
        gap = max(MIN_GAP_SECONDS, duration / MAX_FRAMES) if duration > 0 else MIN_GAP_SECONDS
        spacing = _keyframe_spacing(container, stream)
        sampled.keyframes_only = spacing is not None and spacing <= gap
        # Frame threads only pay when consecutive frames are decoded: for keyframes alone they
        # wait on each other (9.1 s against 4.9 s for 613 keyframes of a 1080p video here).
        stream.thread_type = "SLICE" if sampled.keyframes_only else "AUTO"
        stream.codec_context.skip_frame = "NONKEY" if sampled.keyframes_only else "NONREF"
        try:
            _keep_frames(container.decode(stream), sampled, gap, keep, stream)
        except _Handover as handover:
            raise handover.__cause__ from None  # type: ignore[misc]
        except (av.FFmpegError, ValueError, OSError, MemoryError) as exc:
            sampled.problem = f"only the first {sampled.until:.1f} s could be read: {_reason(exc)}"
            if not sampled.frames:
                raise ImageDecodeError(f"damaged video: {_reason(exc)}") from None
    if not sampled.frames:
        raise ImageDecodeError("no frame could be decoded")
    if damaged_clock and sampled.problem is None:
        sampled.problem = "its header's time scale is damaged: the length and the times in it cannot be told"
    slack = TRUNCATED_SECONDS + (spacing or 0.0 if sampled.keyframes_only else 0.0)  # after the last keyframe
    if sampled.problem is None and duration - sampled.until > slack:
        sampled.problem = (
            f"sampled up to {sampled.until:.1f} s of {duration:.1f} s: past {DECODE_BUDGET:,} decoded frames only"
            " keyframes are read, and none came after"
            if sampled.past_budget
            else f"only the first {sampled.until:.1f} s could be read: the file ends before its {duration:.1f} s"
        )
    sampled.width, sampled.height = _upright_size(width, height, sampled.first_size)
    sampled.duration = max(sampled.duration if sampled.problem is None else sampled.until, sampled.frames[-1][0])
    return sampled


def _keep_frames(frames: Iterator[Any], sampled: SampledVideo, gap: float, keep: Keep | None, stream: Any) -> None:
    """Keep a frame at each cut and every ``SCENE_SECONDS`` of a scene, at least ``gap`` apart (a
    scene that starts too soon after the last kept frame is kept as soon as the gap has passed);
    past ``DECODE_BUDGET`` frames, only keyframes are decoded."""
    previous: np.ndarray | None = None
    recent: deque[float] = deque(maxlen=CUT_HISTORY)
    last_kept = -math.inf
    scene_start = 0.0
    owed = False
    for frame in frames:
        sampled.decoded += 1
        if sampled.decoded == DECODE_BUDGET and not sampled.keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
            sampled.past_budget = True
        seconds = float(frame.time or 0.0)
        sampled.until = seconds
        signature = _signature(frame)
        change = float(np.abs(signature - previous).mean()) if previous is not None else math.inf
        previous = signature
        if change > max(CUT_DIFFERENCE, CUT_RATIO * (statistics.median(recent) if recent else 0.0)):
            scene_start, owed = seconds, True
        else:  # only the changes within a shot say how much it moves
            recent.append(change)
            if seconds - max(last_kept, scene_start) >= SCENE_SECONDS:
                owed = True
        if owed and seconds - last_kept >= gap and len(sampled.frames) < MAX_FRAMES:
            picture = _picture(frame)
            if not sampled.frames:
                sampled.first_size = picture.size
            if keep is not None:
                try:
                    keep(seconds, picture)
                except Exception as exc:  # the receiver's failure (the model's), not the video's damage
                    raise _Handover from exc
            sampled.frames.append((seconds, None if keep is not None else picture))
            last_kept, owed = seconds, False


def _keyframe_spacing(container: Any, stream: Any) -> float | None:
    """The longest gap between keyframes in the first ``KEYFRAME_PROBE_SECONDS`` (packets read,
    none decoded), then back to the start; None where it cannot be told."""
    last: float | None = None
    longest = 0.0
    keyframes = 0
    latest = 0.0
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue
            seconds = float(packet.pts * packet.time_base)
            latest = max(latest, seconds)
            if packet.is_keyframe:
                longest = max(longest, seconds - last) if last is not None else longest
                last, keyframes = seconds, keyframes + 1
            if seconds > KEYFRAME_PROBE_SECONDS:
                break
        container.seek(0, stream=stream)
    except (ValueError, OSError) as exc:
        raise ImageDecodeError(f"damaged video: {_reason(exc)}") from None
    if keyframes < 2 or last is None:
        return None
    return max(longest, latest - last)  # the stretch after the last keyframe counts too


def _signature(frame: Any) -> np.ndarray:
    """The luma plane (or a grey conversion for formats without one) as a 32x18 grid of block
    means: a pan or zoom moves it little, a cut changes it (a grid of single samples would see
    a fine texture's pan as a cut)."""
    plane = frame.planes[0]
    luma: np.ndarray
    if frame.format.name.startswith(("yuv", "yuvj", "nv12", "nv21", "gray")):
        luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
    else:
        luma = frame.to_ndarray(format="gray")
    rows, columns = _SIGNATURE
    step = max(1, min(luma.shape[0] // (rows * 4), luma.shape[1] // (columns * 4)))
    thinned = luma[::step, ::step]
    height, width = (thinned.shape[0] // rows) * rows, (thinned.shape[1] // columns) * columns
    if height == 0 or width == 0:  # a frame smaller than the grid: its pixels as they are
        return np.resize(thinned.astype(np.float32), _SIGNATURE)
    blocks = thinned[:height, :width].reshape(rows, height // rows, columns, width // columns)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _picture(frame: Any) -> Image.Image:
    """The frame as an upright RGB picture, at most ``KEPT_LONG_SIDE`` on its longer side."""
    width, height = frame.width, frame.height
    scale = min(1.0, KEPT_LONG_SIDE / max(width, height))
    picture = frame.to_image(width=max(1, round(width * scale)), height=max(1, round(height * scale)))
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    return picture.rotate(rotation, expand=True) if rotation else picture


def _upright_size(width: int, height: int, first: tuple[int, int]) -> tuple[int, int]:
    turned = (first[0] > first[1]) != (width > height)
    return (height, width) if turned else (width, height)


def _damaged_clock(stream: Any) -> bool:
    """Whether the stream's time base is a whole second or more: a damaged header (an MP4 time
    scale of 0 reads as 1), whose length and frame rate are impossible (61,440 s for 6 s)."""
    return stream.time_base is not None and stream.time_base >= 1


def _duration(container: Any, stream: Any) -> float:
    """The length the header gives; none (0) where its clock is damaged."""
    if _damaged_clock(stream):
        return 0.0
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _metadata(container: Any, stream: Any, mtime_ns: int | None) -> PhotoMetadata:
    """Recording time (the container's ``creation_time``, UTC, else the file's time), camera
    (Apple's and Android's make/model tags), position (ISO 6709 ``location``)."""
    tags = {**dict(stream.metadata), **dict(container.metadata)} if container is not None else {}
    lowered = {key.lower(): str(value) for key, value in tags.items()}
    taken_at, taken_offset, taken_from = None, None, None
    created = lowered.get("creation_time") or lowered.get("com.apple.quicktime.creationdate")
    if created:
        try:
            moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
            if moment.year > 1970:  # 1904 or 1970: an unset QuickTime date
                taken_at = moment.strftime("%Y-%m-%dT%H:%M:%S")
                offset = moment.strftime("%z")
                taken_offset = f"{offset[:3]}:{offset[3:]}" if offset else None
                taken_from = "video"
        except ValueError:
            pass
    if taken_at is None and mtime_ns is not None:
        taken_at = datetime.fromtimestamp(mtime_ns / 1e9).strftime("%Y-%m-%dT%H:%M:%S")
        taken_from = "mtime"
    make = lowered.get("com.apple.quicktime.make") or lowered.get("com.android.manufacturer")
    model = lowered.get("com.apple.quicktime.model") or lowered.get("com.android.model")
    camera = " ".join(part for part in (make, model) if part)[:100] or None
    latitude = longitude = None
    location = lowered.get("location") or lowered.get("com.apple.quicktime.location.iso6709")
    if location and (match := _ISO6709.match(location)):
        latitude, longitude = float(match[1]), float(match[2])
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            latitude = longitude = None
    return PhotoMetadata(taken_at, taken_offset, taken_from, camera, latitude, longitude)


def video_metadata(handle: BinaryIO, mtime_ns: int | None) -> PhotoMetadata:
    """What the container says (no frame decoded); the file's time where it says nothing."""
    import av

    try:
        with av.open(handle, mode="r", metadata_errors="ignore") as container:
            if container.streams.video:
                return _metadata(container, container.streams.video[0], mtime_ns)
    except (av.FFmpegError, ValueError, OSError):
        pass
    return _metadata(None, None, mtime_ns)


def _video_stream(container: Any) -> Any:
    """The container's first video stream, refused when there is none or its frames are empty
    or larger than ``MAX_FRAME_PIXELS`` (before any frame is decoded)."""
    if not container.streams.video:
        raise ImageDecodeError("no video stream in the file")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_FRAME_PIXELS or width <= 0 or height <= 0:
        raise ImageDecodeError(f"video frames of {width}x{height} are too large (or empty)")
    return stream


def frames_at(
    path: Path, root: Path | None, times: Sequence[float], long_side: int = KEPT_LONG_SIDE
) -> Generator[tuple[float, Image.Image], None, None]:
    """(time, upright frame) at each of ``times`` (in order), the file opened once and checked on
    its handle to lie inside ``root``: the face pass's look at a video's kept frames."""
    import av

    try:
        handle, _ = open_regular_file(path, root)
    except OSError as exc:
        raise ImageDecodeError(f"cannot open: {exc.strerror or exc}") from None
    try:
        with handle, av.open(handle, mode="r", metadata_errors="ignore") as container:
            stream = _video_stream(container)
            for seconds in sorted(times):
                if stream.time_base is not None and seconds > 0:
                    container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
                chosen = None
                for decoded, frame in enumerate(container.decode(stream)):
                    chosen = frame
                    if (frame.time or 0.0) >= seconds - 1e-3 or decoded > 600:
                        break
                if chosen is not None:
                    picture = _picture(chosen)
                    picture.thumbnail((long_side, long_side))
                    yield seconds, picture
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise ImageDecodeError(f"damaged video: {_reason(exc)}") from None


def frame_at(path: Path, root: Path | None, seconds: float, long_side: int = KEPT_LONG_SIDE) -> Image.Image:
    """The upright frame shown at ``seconds`` (the nearest decodable one at or after the keyframe
    before it), of the file opened once and checked on its handle to lie inside ``root``."""
    with contextlib.closing(frames_at(path, root, [seconds], long_side)) as frames:
        for _, picture in frames:
            return picture
    raise ImageDecodeError("no frame could be decoded")


def _reason(exc: BaseException) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), without errno or file name."""
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return text.splitlines()[0][:200] if text else exc.__class__.__name__
