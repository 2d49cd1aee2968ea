"""Decoding whole JPEGs where the model runs (nvJPEG on CUDA): the same pictures and vectors as Pillow.

CI has no GPU, so these run the device path on the CPU (libjpeg through torchvision): the
routing, orientation, resize, crop and fallbacks are the same code; only the decoder differs.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PHOTOS, TINY_CONFIG, Runner, as_camera_stores, run_json
from PIL import Image

from image_recommender import Library
from image_recommender.catalog.store import Catalog
from image_recommender.embed.device_decode import DeviceJpegDecoder, device_decoder, tensor_steps
from image_recommender.embed.pipeline import DeviceBacklog, EmbedOptions, embed_pending
from image_recommender.errors import ModelError
from image_recommender.images.decode import WholeJpeg, decode, probe_whole_jpeg
from image_recommender.models.spec import ModelSpec
from image_recommender.models.torch_model import load_model
from image_recommender.scan import scan_library


def jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, **options)
    return buffer.getvalue()


def upright_photo() -> Image.Image:
    """A landscape photo (480x360) whose content tells every flip and rotation apart."""
    return Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").convert("RGB")


def garbled(data: bytes) -> bytes:
    """Random bytes over the middle of the scan: libjpeg (Pillow's and torchvision's) gives up on this one."""
    damaged = bytearray(data)
    damaged[len(data) // 2 : len(data) // 2 + 2000] = np.random.default_rng(0).bytes(2000)
    return bytes(damaged)


def blob(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint: Path):  # type: ignore[no-untyped-def]
    return load_model(ModelSpec("tiny-clip", str(tiny_checkpoint), TINY_CONFIG), "cpu", "fp32")


def test_probe_picks_plain_jpegs_and_says_which_the_draft_could_shrink() -> None:
    picture = upright_photo()
    assert probe_whole_jpeg(jpeg(picture), 224) == WholeJpeg(480, 360, 1)
    assert probe_whole_jpeg(jpeg(picture.convert("L")), 224) == WholeJpeg(480, 360, 1)
    exif = Image.Exif()
    exif[0x0112] = 6
    assert probe_whole_jpeg(jpeg(picture.transpose(Image.Transpose.ROTATE_90), exif=exif), 224) == WholeJpeg(
        480, 360, 6
    )
    big = picture.resize((2400, 1600))
    # a 1/2 draft still covers 3x 224: the CPU could decode it cheaply, so it goes to the GPU only while that keeps up
    assert probe_whole_jpeg(jpeg(big), 224) == WholeJpeg(2400, 1600, 1, draftable=True)
    assert probe_whole_jpeg(jpeg(big), 600) == WholeJpeg(2400, 1600, 1, draftable=False)
    assert probe_whole_jpeg(jpeg(picture.convert("CMYK")), 224) is None
    assert probe_whole_jpeg(jpeg(picture, progressive=True), 224) is None
    data = jpeg(picture)
    assert probe_whole_jpeg(data[: len(data) // 2], 224) is None  # truncated: Pillow reports it
    assert probe_whole_jpeg(data + b"trailing video", 224) is None
    png = io.BytesIO()
    picture.save(png, "PNG")
    assert probe_whole_jpeg(png.getvalue(), 224) is None
    assert probe_whole_jpeg(b"\xff\xd8 not really \xff\xd9", 224) is None


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: nvJPEG untested")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation: int, device: str, tiny_model) -> None:  # type: ignore[no-untyped-def]
    stored, exif = as_camera_stores(upright_photo(), orientation)
    data = jpeg(stored, exif=exif)
    whole = probe_whole_jpeg(data, tiny_model.image_size)
    assert whole is not None and (whole.width, whole.height) == (480, 360)
    steps = tensor_steps(tiny_model.pixel_steps)
    assert steps is not None
    [crop] = DeviceJpegDecoder(device, steps)([blob(data)], [whole.orientation])
    assert crop is not None and crop.dtype == torch.uint8 and crop.device.type == device
    crop = crop.cpu()
    reference = tiny_model.pixel_transform(decode(data).image)
    assert crop.shape == reference.shape
    difference = (crop.float() - reference.float()).abs().mean()
    assert difference < 1.5, f"orientation {orientation}: mean difference {difference:.2f}/255"


@pytest.mark.parametrize("device", DEVICES)
def test_a_file_the_decoder_rejects_is_none_and_the_rest_decode(device: str, tiny_model) -> None:  # type: ignore[no-untyped-def]
    good = jpeg(upright_photo())
    steps = tensor_steps(tiny_model.pixel_steps)
    assert steps is not None
    no_picture = b"\xff\xd8" + np.random.default_rng(0).bytes(3000) + b"\xff\xd9"
    crops = DeviceJpegDecoder(device, steps)([blob(good), blob(no_picture), blob(good)], [1, 1, 1])
    assert crops[1] is None
    assert crops[0] is not None and crops[2] is not None and torch.equal(crops[0], crops[2])


@pytest.mark.parametrize("device", DEVICES)
def test_a_batch_gives_what_each_file_gives_alone(device: str, tiny_model) -> None:  # type: ignore[no-untyped-def]
    """Same-size pictures are resized as one stack; sizes and orientations must not mix."""
    exif = Image.Exif()
    exif[0x0112] = 6
    plain = jpeg(upright_photo())
    sideways = jpeg(upright_photo().transpose(Image.Transpose.ROTATE_90), exif=exif)
    portrait = jpeg(Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").convert("RGB"))
    square = jpeg(upright_photo().resize((300, 300)))
    batch = [(plain, 1), (sideways, 6), (portrait, 1), (plain, 1), (square, 1), (sideways, 6)]
    steps = tensor_steps(tiny_model.pixel_steps)
    assert steps is not None
    decoder = DeviceJpegDecoder(device, steps)
    together = decoder([blob(data) for data, _ in batch], [orientation for _, orientation in batch])
    for (data, orientation), crop in zip(batch, together, strict=True):
        [alone] = decoder([blob(data)], [orientation])
        assert crop is not None and alone is not None
        assert int((crop.int() - alone.int()).abs().max()) <= 1  # a mix-up would differ by far more


def test_decode_mode_choice(tiny_model) -> None:  # type: ignore[no-untyped-def]
    assert device_decoder("workers", "cpu", tiny_model.pixel_steps) is None
    assert device_decoder("auto", "cpu", tiny_model.pixel_steps) is None  # Pillow workers are the CPU's best path
    assert isinstance(device_decoder("device", "cpu", tiny_model.pixel_steps), DeviceJpegDecoder)
    assert device_decoder("auto", "cpu", None) is None
    with pytest.raises(ModelError, match="needs PIL"):
        device_decoder("device", "cpu", [lambda image: image.rotate(3)])


def test_a_torchvision_without_the_decoder_is_one_line_or_skipped(tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """As with a torchvision built without nvJPEG: auto quietly keeps the workers, device says why."""
    import image_recommender.embed.device_decode as device_decode

    def unavailable(blobs: list[torch.Tensor], device: str) -> list[torch.Tensor]:
        raise RuntimeError("decode_jpegs_cuda: torchvision not compiled with nvJPEG support\nmore detail")

    monkeypatch.setattr(device_decode, "_decode_jpegs", unavailable)
    monkeypatch.setattr(device_decode, "has_hardware_jpeg_decoder", lambda device: True)
    assert device_decoder("auto", "cuda", tiny_model.pixel_steps) is None
    with pytest.raises(ModelError) as refused:
        device_decoder("device", "cuda", tiny_model.pixel_steps)
    assert str(refused.value) == (
        "--decode device: torchvision cannot decode JPEGs on cuda here"
        " (decode_jpegs_cuda: torchvision not compiled with nvJPEG support)"
    )


def test_index_with_device_decoding_stores_the_same_vectors(
    imrec: Runner, library_dir: Path, model_env: dict[str, str], tmp_path: Path
) -> None:
    """Photos (some rotated by EXIF, one grey, one CMYK, one damaged) give the same catalog either way."""
    exif = Image.Exif()
    exif[0x0112] = 6
    upright_photo().transpose(Image.Transpose.ROTATE_90).save(library_dir / "sideways.jpg", quality=92, exif=exif)
    upright_photo().convert("L").save(library_dir / "grey.jpg")
    upright_photo().convert("CMYK").save(library_dir / "print.jpg")
    (library_dir / "damaged.jpg").write_bytes(garbled(jpeg(upright_photo())))
    twin = tmp_path / "twin"
    shutil.copytree(library_dir, twin)
    by_workers = run_json(imrec, "index", library_dir, "--decode", "workers")
    on_device = run_json(imrec, "index", twin, "--decode", "device", "--workers", "2")
    assert (by_workers["embedded"], by_workers["failed"]) == (on_device["embedded"], on_device["failed"]) == (11, 1)
    vectors = []
    for root in (library_dir, twin):
        with Library.open(root, model_config=TINY_CONFIG, pretrained=model_env["IMREC_PRETRAINED"]) as library:
            model_id = library.query_model().id
            rows = {image.path: image for image in library.catalog.images()}
            assert rows["sideways.jpg"].width == 480 and rows["sideways.jpg"].height == 360
            assert "damaged" in (rows["damaged.jpg"].error or "")
            vectors.append(
                {
                    path: library.catalog.vector_of_image(row.id, model_id)[1]
                    for path, row in rows.items()
                    if row.error is None
                }
            )
    assert vectors[0].keys() == vectors[1].keys()
    for path, vector in vectors[0].items():
        assert float(vector @ vectors[1][path]) >= 0.999, path


def test_unknown_decode_mode_is_one_line(imrec: Runner, library_dir: Path) -> None:
    result = imrec("index", library_dir, "--decode", "gpu", expect=2)
    assert result.stderr.strip().count("\n") == 0 and "decode must be one of auto, workers, device" in result.stderr


def test_device_backlog_lets_the_workers_take_draftable_jpegs_when_the_device_falls_behind() -> None:
    backlog = DeviceBacklog(2)
    assert backlog.claim(force=False) and backlog.claim(force=False)
    assert not backlog.claim(force=False)  # full: the worker decodes this one itself
    assert backlog.claim(force=True)  # one the CPU cannot draft goes to the device regardless
    backlog.release(3)
    assert backlog.claim(force=False)
    assert not DeviceBacklog(0).claim(force=False)


def _mixed_library(root: Path) -> dict[str, str]:
    """Every kind of file the split routes differently, and where each one must end up."""
    root.mkdir()
    picture = upright_photo()
    big = picture.resize((1920, 1440))  # a 1/2 DCT draft covers 3x 64 px: draftable
    kinds = {}
    for number, orientation in enumerate((1, 3, 6, 8)):
        stored, exif = as_camera_stores(big.rotate(number * 7), orientation)
        stored.save(root / f"big-{orientation}.jpg", quality=90, exif=exif)
        kinds[f"big-{orientation}.jpg"] = "device or workers"
    stored, exif = as_camera_stores(picture, 6)
    stored.resize((40, 53)).save(root / "small.jpg", quality=90, exif=exif)  # too small to draft: always the device
    kinds["small.jpg"] = "device"
    big.save(root / "progressive.jpg", quality=90, progressive=True)
    big.convert("CMYK").save(root / "print.jpg", quality=90)
    big.save(root / "screen.png")
    big.save(root / "phone.heic", quality=70)
    kinds.update({name: "workers" for name in ("progressive.jpg", "print.jpg", "screen.png", "phone.heic")})
    (root / "damaged.jpg").write_bytes(garbled(jpeg(big)))
    kinds["damaged.jpg"] = "failed"
    return kinds


@pytest.mark.slow  # starts decode workers and reads hundreds of files: 5 s
@pytest.mark.parametrize(("backlog", "workers"), [(10_000, 0), (1, 2)])
def test_device_and_workers_split_one_work_list_without_losing_or_repeating_a_file(
    backlog: int,
    workers: int,
    tiny_model,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    kinds = _mixed_library(tmp_path / "library")
    results = {}
    for decode_mode in ("workers", "device"):
        root = tmp_path / decode_mode
        shutil.copytree(tmp_path / "library", root)
        catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
        scanned = scan_library(catalog, root).scanned
        model_row = catalog.ensure_model("tiny-clip", "test", tiny_model.dim, "", None)
        work = catalog.work_for_model(model_row.id)
        options = EmbedOptions(
            batch_size=4, model_batch_size=3, workers=workers, decode=decode_mode, device_backlog=backlog
        )
        report = embed_pending(catalog, root, tiny_model, model_row.id, work, options)
        assert (report.embedded, report.failed, report.reused) == (scanned - 1, 1, 0)  # each file once
        rows = {image.path: image for image in catalog.images()}
        assert "damaged" in (rows["damaged.jpg"].error or "")
        vectors = {
            path: catalog.vector_of_image(row.id, model_row.id)[1] for path, row in rows.items() if not row.error
        }
        results[decode_mode] = (report, vectors, rows)
        catalog.close()
    workers_report, by_workers, rows = results["workers"]
    device_report, on_device, device_rows = results["device"]
    assert workers_report.decoded_on_device == 0
    draftable = sum(kind == "device or workers" for kind in kinds.values())
    if backlog >= 10_000:
        assert device_report.decoded_on_device == draftable + 1  # every baseline JPEG, the small one too
    else:
        assert 1 <= device_report.decoded_on_device <= draftable + 1  # the small one at least; the rest as room allows
    assert on_device.keys() == by_workers.keys() == {name for name, kind in kinds.items() if kind != "failed"}
    for path, vector in by_workers.items():
        assert float(vector @ on_device[path]) >= 0.999, path
        assert (device_rows[path].width, device_rows[path].height) == (rows[path].width, rows[path].height), path
