"""Videos made in the tests with PyAV (H.264 in MP4 unless asked otherwise): scenes from
pictures, each panning slowly across its picture, cut hard to the next, optionally stored turned
with a display rotation as phones do."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def make_video(
    path: Path,
    scenes: Sequence[Image.Image],
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 180),
    rotation: int = 0,
    codec: str = "libx264",
    creation_time: str | None = None,
    location: str | None = None,
    faststart: bool = False,
) -> Path:
    """Each picture for ``seconds``, panning 10% across; stored turned by ``rotation`` degrees
    (counter-clockwise display rotation: the upright frames are the pictures as given);
    ``faststart`` puts the index first, as streaming sites do (a cut file then still plays)."""
    import av

    width, height = size
    stored = (height, width) if rotation in (90, 270) else (width, height)
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as container:
        if creation_time:
            container.metadata["creation_time"] = creation_time
        if location:
            container.metadata["location"] = location
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = stored
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for picture in scenes:
            wide = picture.convert("RGB").resize((int(width * 1.1), int(height * 1.1)))
            frames = int(seconds * fps)
            for number in range(frames):
                shift = int((wide.width - width) * number / max(1, frames - 1))
                upright = wide.crop((shift, 0, shift + width, height))
                turned = upright.rotate(-rotation, expand=True) if rotation else upright
                frame = av.VideoFrame.from_ndarray(np.asarray(turned), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
