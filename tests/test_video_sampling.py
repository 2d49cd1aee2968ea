"""Which frames of a video are embedded: one per scene, more in long scenes, bounded; upright; and
a damaged video keeps what could be read, saying so."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import PHOTOS
from PIL import Image
from videos import make_video

from image_recommender.errors import ImageDecodeError
from image_recommender.video import sampling
from image_recommender.video.sampling import sample_video

PICTURES = [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))[:4]]


def sampled(path: Path) -> sampling.SampledVideo:
    with path.open("rb") as handle:
        return sample_video(handle, None)


def test_every_scene_gets_a_frame_and_a_long_scene_more(tmp_path: Path) -> None:
    cuts = sampled(make_video(tmp_path / "cuts.mp4", PICTURES, seconds=2.5))
    assert [round(t, 1) for t, _ in cuts.frames] == [0.0, 2.5, 5.0, 7.5]  # each cut, nothing between
    long = sampled(make_video(tmp_path / "long.mp4", PICTURES[:1], seconds=25, fps=4))
    assert [round(t) for t, _ in long.frames] == [0, 10, 20]  # a still shot: every SCENE_SECONDS
    assert long.decoded < 25 * 4  # frames nothing refers to are never decoded
    rapid = sampled(make_video(tmp_path / "rapid.mp4", PICTURES * 3, seconds=0.5))
    times = [t for t, _ in rapid.frames]
    assert all(b - a >= sampling.MIN_GAP_SECONDS - 1e-6 for a, b in itertools.pairwise(times))


def test_a_fast_pan_is_one_shot_not_a_run_of_cuts(tmp_path: Path) -> None:
    wide = PICTURES[1].resize((1280, 180))  # fine texture (a dragonfly on leaves), panned 24 px a frame
    path = tmp_path / "pan.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for number in range(40):
            frame = np.asarray(wide.crop((24 * number, 0, 24 * number + 320, 180)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    # Each frame moves the signature by 17-28, above CUT_DIFFERENCE, but steadily: no cut, one frame.
    assert [round(t) for t, _ in sampled(path).frames] == [0]


def test_a_long_video_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "MAX_FRAMES", 3)
    many = sampled(make_video(tmp_path / "many.mp4", PICTURES * 3, seconds=3, fps=2))
    times = [t for t, _ in many.frames]
    assert len(times) <= 3 and times[-1] > 20  # spread over the whole video, not its first minute
    monkeypatch.setattr(sampling, "MAX_FRAMES", 1000)
    monkeypatch.setattr(sampling, "DECODE_BUDGET", 10)
    thinned = sampled(make_video(tmp_path / "thinned.mp4", PICTURES * 2, seconds=3, fps=10))
    assert thinned.decoded < 40 and len(thinned.frames) >= 4  # keyframes only past 10 frames; cuts still found


def test_frames_come_back_upright_and_bounded_in_size(tmp_path: Path) -> None:
    portrait = PICTURES[0].resize((180, 320))
    turned = sampled(make_video(tmp_path / "phone.mov", [portrait], seconds=1, size=(180, 320), rotation=90))
    frame = turned.frames[0][1]
    assert (turned.width, turned.height) == (180, 320) and frame.size == (180, 320)
    difference = np.abs(
        np.asarray(frame.convert("L"), float)
        - np.asarray(portrait.resize((198, 352)).crop((0, 0, 180, 320)).convert("L"), float)
    )
    assert difference.mean() < 12  # the picture as shot, not turned on its side


def test_huge_frames_are_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "MAX_FRAME_PIXELS", 320 * 180 - 1)
    with pytest.raises(ImageDecodeError, match="video frames of 320x180 are too large"):
        sampled(make_video(tmp_path / "big.mp4", PICTURES[:1], seconds=0.5))


def test_damage_keeps_the_frames_before_it_and_says_so(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as container:  # the index first
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for picture in PICTURES[:3]:
            for _ in range(30):
                for packet in stream.encode(
                    av.VideoFrame.from_ndarray(np.asarray(picture.resize((320, 180))), format="rgb24")
                ):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    partial = sampled(cut)
    assert partial.frames and partial.problem is not None and partial.problem.startswith("only the first")
    assert partial.frames[-1][0] < 9
    with pytest.raises(ImageDecodeError, match="not a video file"):
        sample_video(io.BytesIO(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100), None)


def test_a_stop_at_the_decode_budget_is_said_as_one_not_as_a_truncated_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sampling, "DECODE_BUDGET", 20)
    # one picture, 6 s at 10 fps: x264's one keyframe at the start, so past 20 frames nothing more comes
    intact = sampled(make_video(tmp_path / "still.mp4", PICTURES[:1], seconds=6, fps=10))
    assert intact.past_budget and intact.problem is not None
    assert (
        intact.problem.startswith("sampled up to ")
        and "of 6.0 s: past 20 decoded frames only keyframes" in intact.problem
    )
    assert "ends before" not in intact.problem


def test_a_damaged_time_scale_gives_no_impossible_length(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clock.mp4", PICTURES[:3], seconds=2)
    data = bytearray(path.read_bytes())
    header = data.find(b"mdhd") + 4 + 4 + 8  # version and flags, creation and modification times
    data[header : header + 4] = bytes(4)  # the media time scale: 0
    path.write_bytes(bytes(data))
    damaged = sampled(path)
    assert damaged.duration < 7 and damaged.problem is not None and "time scale is damaged" in damaged.problem
