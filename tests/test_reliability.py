"""Bad files, kills, races, unmounted drives, schema versions and full disks: nothing is lost."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, Runner, run_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_images import bomb_png

from image_recommender import Library
from image_recommender.catalog.schema import _SCHEMA_V1, SCHEMA_VERSION
from image_recommender.catalog.store import Catalog
from image_recommender.errors import LibraryError, MassRemovalError
from image_recommender.scan import scan_library


def make_variants(root: Path, count: int) -> None:
    """``count`` distinct small JPEGs derived from the committed photos."""
    sources = [Image.open(p).convert("RGB").resize((160, 100)) for p in sorted(PHOTOS.glob("*.jpg"))]
    root.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        picture = sources[number % len(sources)].rotate(number * 7 % 360)
        picture.save(root / f"v{number:04d}.jpg", quality=70 + number % 25)


def catalog_facts(root: Path) -> dict[str, object]:
    with sqlite3.connect(root / ".imrec" / "catalog.sqlite3") as db:
        return {
            "integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
            "ok": db.execute("SELECT COUNT(*) FROM images WHERE state='ok'").fetchone()[0],
            "vectors": db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0],
            "distinct": db.execute("SELECT COUNT(DISTINCT image_id) FROM vectors").fetchone()[0],
            "paths": db.execute("SELECT COUNT(*) - COUNT(DISTINCT path) FROM images").fetchone()[0],
        }


def catalog_vectors(root: Path) -> int:
    """Committed vectors so far (0 while the catalog does not exist yet or is being created)."""
    try:
        with sqlite3.connect(f"file:{root / '.imrec' / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
    except sqlite3.Error:
        return 0


def imrec_process(env: dict[str, str], *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "image_recommender", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_kill_9_at_random_moments_then_rerun_completes(
    imrec: Runner, model_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "lib"
    make_variants(root, 240)
    env = dict(model_env, IMREC_BATCH_SIZE="8", IMREC_MODEL_BATCH_SIZE="8")
    chance = random.Random(7)
    for round_number in range(4):
        process = imrec_process(env, "index", root, "-q")
        if round_number % 2:  # mid-run: after at least one batch has been committed, while others are in flight
            deadline = time.monotonic() + 120
            while catalog_vectors(root) == 0 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            time.sleep(chance.uniform(0.0, 0.5))
        else:
            time.sleep(chance.uniform(0.5, 4.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if (root / ".imrec" / "catalog.sqlite3").exists():
            facts = catalog_facts(root)
            assert facts["integrity"] == "ok" and facts["paths"] == 0
            assert facts["vectors"] == facts["distinct"]
    summary = run_json(imrec, "index", root, env=env)
    assert summary["failed"] == 0 and summary["indexed"] == 240
    facts = catalog_facts(root)
    assert facts == {"integrity": "ok", "ok": 240, "vectors": 240, "distinct": 240, "paths": 0}
    assert run_json(imrec, "status", root, env=env)["index"]["current"] is True
    assert len(list((root / ".imrec").glob("*.faiss"))) == 1  # no half-written index left behind


def test_second_writer_is_refused_while_readers_work(imrec: Runner, model_env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "lib"
    make_variants(root, 8)
    imrec("index", root, "-q")
    make_variants(root / "more", 300)
    # torch's route (a cached conversion indexes 300 images before a second process has started)
    env = dict(
        model_env, IMREC_BATCH_SIZE="4", IMREC_MODEL_BATCH_SIZE="4", IMREC_LOCK_TIMEOUT="1", IMREC_ENGINE="torch"
    )
    first = imrec_process(env, "index", root, "-q")
    try:
        deadline = time.monotonic() + 60
        while "pid" not in (root / ".imrec" / "lock").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = imrec("index", root, expect=75, env=env)
        assert "another imrec (pid" in second.stderr and "Traceback" not in second.stderr
        reader = run_json(imrec, "search", "--like-id", "1", "-l", root, env=env)
        assert reader["results"]
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0, first.stderr


def test_unmounted_or_emptied_library_is_not_wiped(imrec: Runner, library_dir: Path, tmp_path: Path) -> None:
    imrec("index", library_dir, "-q")
    stash = tmp_path / "stash"
    stash.mkdir()
    for photo in library_dir.glob("*.jpg"):
        shutil.move(photo, stash / photo.name)
    refused = imrec("index", library_dir, expect=2)
    assert "8 of 8 catalogued files are missing" in refused.stderr and "--allow-mass-removal" in refused.stderr
    assert run_json(imrec, "status", library_dir)["counts"]["ok"] == 8
    allowed = run_json(imrec, "index", library_dir, "--allow-mass-removal")
    assert (allowed["removed"], allowed["indexed"]) == (8, 0)
    moved_root = tmp_path / "gone"
    library_dir.rename(moved_root)
    missing = imrec("index", library_dir, expect=2)
    assert "does not exist or is not mounted" in missing.stderr


@pytest.mark.parametrize(("vanish", "refused"), [(70, True), (61, True), (60, False), (40, False)])
def test_large_library_mostly_gone_is_refused(tmp_path: Path, vanish: int, refused: bool) -> None:
    """The unmounted-drive guard beyond the "all gone" case: more than half of 120 files."""
    root = tmp_path / "big"
    root.mkdir()
    for number in range(120):
        (root / f"f{number:03d}.jpg").write_bytes(b"x" * (number + 1))
    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    scan_library(catalog, root)
    for number in range(vanish):
        (root / f"f{number:03d}.jpg").unlink()
    if refused:
        with pytest.raises(MassRemovalError, match=f"{vanish} of 120"):
            scan_library(catalog, root)
        assert catalog.state_counts()["gone"] == 0
    else:
        assert scan_library(catalog, root).removed == vanish
    catalog.close()


def test_a_batch_is_written_whole_or_not_at_all(
    model_settings: dict, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.catalog.store as catalog_module

    real = catalog_module.vector_to_blob
    written = 0

    def fail_on_the_fifth(vector: np.ndarray) -> bytes:
        nonlocal written
        written += 1
        if written == 5:
            raise OSError(28, "No space left on device")
        return real(vector)

    monkeypatch.setattr(catalog_module, "vector_to_blob", fail_on_the_fifth)
    with Library.open(library_dir, create=True, batch_size=8, **model_settings) as library:
        library.scan()
        with pytest.raises(OSError):
            library.embed()
        counts = library.catalog.state_counts()
        assert (counts["ok"], counts["pending"]) == (0, 8)  # the 4 vectors before the failure were rolled back
        assert library.catalog.vector_counts() == {}
        monkeypatch.undo()
        assert library.embed().embedded == 8


def test_newer_catalog_is_refused_untouched(imrec: Runner, library_dir: Path) -> None:
    imrec("index", library_dir, "-q")
    path = library_dir / ".imrec" / "catalog.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    refused = imrec("status", library_dir, expect=2)
    assert "newer than this imrec understands" in refused.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_older_catalog_is_migrated_after_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_V1)
        db.execute("INSERT INTO images(path, size, mtime_ns, state, updated_at) VALUES ('a.jpg', 1, 1, 'ok', 0)")
        db.execute("PRAGMA user_version=1")
    catalog = Catalog.open(path)
    assert catalog.integrity_check() == "ok" and catalog.generation() == 0
    assert catalog.image_by_path("a.jpg") is not None
    catalog.close()
    backup = path.with_name("catalog.sqlite3.v1.bak")
    with sqlite3.connect(backup) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("SELECT path FROM images").fetchall() == [("a.jpg",)]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_disk_full_while_writing_keeps_the_catalog(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        make_variants(library_dir / "new", 40)
        db = library.catalog._db
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count={pages}")  # SQLite now answers SQLITE_FULL, as on a full disk
        with pytest.raises(LibraryError, match="disk is full"):
            library.update()
        assert library.catalog.integrity_check() == "ok"
        assert library.catalog.state_counts()["ok"] == 8
        db.execute("PRAGMA max_page_count=1073741823")
        summary = library.update()
        assert summary.embedded == 40 and library.catalog.state_counts()["ok"] == 48


def test_index_write_failure_keeps_the_previous_index(
    model_settings: dict, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faiss

    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        make_variants(library_dir / "new", 4)

        def no_space(*_: object) -> None:
            raise RuntimeError("Error: 'ret == (size)' failed: write error: No space left on device")

        monkeypatch.setattr(faiss, "write_index", no_space)
        with pytest.raises(LibraryError, match="previous one is kept"):
            library.update()
        monkeypatch.undo()
        status = library.status()
        assert status.index is not None and status.index.exists and status.index.count == 8
        assert len(library.search(text="anything", k=20).results) == 12  # the 4 unindexed ones scored exactly


def write_bad_and_odd_files(root: Path) -> dict[str, str]:
    """Every awkward file the issue lists; returns the expected failure reason for the bad ones."""
    photo = Image.open(PHOTOS / "Fossa_by_Jasper_Roks.jpg").convert("RGB").resize((120, 68))
    jpeg, png = io.BytesIO(), io.BytesIO()
    photo.save(jpeg, "JPEG")
    photo.save(png, "PNG")
    (root / "truncated.jpg").write_bytes(jpeg.getvalue()[:500])
    (root / "truncated.png").write_bytes(png.getvalue()[:200])
    (root / "empty.jpg").write_bytes(b"")
    (root / "page.jpg").write_text("<!doctype html><html><body>saved web page</body></html>")
    (root / "bomb.png").write_bytes(bomb_png(30000, 30000))
    photo.convert("CMYK").save(root / "cmyk.jpg")
    Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257).save(root / "deep16.png")
    palette = photo.convert("P")
    palette.save(root / "palette-transparent.png", transparency=0)
    frames = [photo, photo.rotate(90), photo.rotate(180)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:])
    photo.save(root / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.transpose(Image.Transpose.ROTATE_90).save(root / "rotated-exif.png", exif=exif)
    Image.new("RGB", (1, 1), "red").save(root / "one-pixel.png")
    Image.new("RGB", (20000, 10), "blue").save(root / "very-wide.png")
    photo.save(root / "name with spaces.jpg")
    photo.save(root / unicodedata.normalize("NFC", "café-nfc.jpg"))
    photo.save(root / unicodedata.normalize("NFD", "café-nfd.jpg"))
    photo.save(root / "new\nline.jpg")
    with open(os.path.join(os.fsencode(root), b"latin1-\xe9t\xe9.jpg"), "wb") as handle:
        photo.save(handle, "JPEG")
    (root / "folder.jpg").mkdir()
    photo.save(root / "folder.jpg" / "inside.jpg")
    (root / "loop").mkdir()
    os.symlink(root / "loop", root / "loop" / "again")
    (root / ".thumbnails").mkdir()
    photo.save(root / ".thumbnails" / "thumb.jpg")
    return {
        "truncated.jpg": "damaged",
        "truncated.png": "damaged",
        "empty.jpg": "empty",
        "page.jpg": "not an image",
        "bomb.png": "decompression bomb",
    }


def test_bad_and_odd_files_are_handled(model_settings: dict, tmp_path: Path) -> None:
    root = tmp_path / "messy"
    root.mkdir()
    expected_failures = write_bad_and_odd_files(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").save(outside / "elsewhere.jpg")
    os.symlink(outside, root / "link-out")
    with Library.open(root, create=True, **model_settings) as library:
        summary = library.update()
        failures = dict((path, reason) for path, reason in library.status().failures)
        assert set(failures) == set(expected_failures)
        for path, reason in expected_failures.items():
            assert reason in failures[path], (path, failures[path])
        ok = {image.path for image in library.catalog.images("ok")}
        assert "folder.jpg/inside.jpg" in ok and "animated.gif" in ok and "very-wide.png" in ok
        assert {"café-nfc.jpg", unicodedata.normalize("NFD", "café-nfd.jpg"), "new\nline.jpg"} <= ok
        assert "latin1-\\xe9t\\xe9.jpg" in ok
        assert not any(path.startswith((".thumbnails", "link-out", "loop/again")) for path in ok)
        assert summary.failed == 5
        upright, rotated = (library.catalog.image_by_path(name) for name in ("upright.png", "rotated-exif.png"))
        model = library.query_model()
        vector_a = library.catalog.vector_of_image(upright.id, model.id)[1]
        vector_b = library.catalog.vector_of_image(rotated.id, model.id)[1]
        assert float(vector_a @ vector_b) > 0.9999
        assert (rotated.width, rotated.height) == (upright.width, upright.height)
    with Library.open(root, include_hidden=True, follow_symlinks=True, **model_settings) as library:
        library.update()
        ok = {image.path for image in library.catalog.images("ok")}
        assert ".thumbnails/thumb.jpg" in ok and "link-out/elsewhere.jpg" in ok


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file_is_recorded(model_settings: dict, library_dir: Path) -> None:
    locked = library_dir / "locked.jpg"
    shutil.copy(PHOTOS / "Wine_by_Jakkub_Mede.jpg", locked)
    locked.chmod(0)
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        assert ("locked.jpg", "permission denied") in library.status().failures


def test_files_changing_between_scan_and_embed(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.scan()
        (library_dir / "Bridge_by_Sander_Klootwijk.jpg").unlink()
        truncated = library_dir / "Dragonfly_by_Bolly.jpg"
        truncated.write_bytes(truncated.read_bytes()[:2000])
        replaced = library_dir / "Fossa_by_Jasper_Roks.jpg"
        Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").resize((50, 75)).save(replaced)
        report = library.embed()
        assert (report.embedded, report.failed) == (6, 2)
        failures = dict(library.status().failures)
        assert "disappeared" in failures["Bridge_by_Sander_Klootwijk.jpg"]
        assert "damaged" in failures["Dragonfly_by_Bolly.jpg"]
        fossa = library.catalog.image_by_path("Fossa_by_Jasper_Roks.jpg")
        assert (fossa.width, fossa.height, fossa.size) == (50, 75, replaced.stat().st_size)
        summary = library.update()
        assert summary.removed == 1 and summary.changed == 1


NAMES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=12).filter(
    lambda name: name not in (".", "..") and not name.startswith(".") and len(name.encode()) < 200
)
TREES = st.dictionaries(
    st.lists(NAMES, min_size=1, max_size=3).map(tuple), st.sampled_from([".jpg", ".PNG", ".txt", ".webp"]), max_size=12
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, st.data())
def test_scan_diff_is_right_for_any_tree(tree: dict[tuple[str, ...], str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "root"
        root.mkdir()
        files: dict[str, Path] = {}
        for parts, suffix in tree.items():
            target = root.joinpath(*parts[:-1], parts[-1] + suffix)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    continue
                target.write_bytes(b"x" * (len(parts) + 1))
            except OSError:
                continue
            if suffix != ".txt":
                files[target.relative_to(root).as_posix()] = target
        catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
        first = scan_library(catalog, root, allow_mass_removal=True)
        assert first.new == len(files) and {image.path for image in catalog.images()} == set(files)
        names = sorted(files)
        removed = data.draw(st.sets(st.sampled_from(names))) if names else set()
        kept = [n for n in names if n not in removed]
        changed = data.draw(st.sets(st.sampled_from(kept))) if kept else set()
        for name in removed:
            files[name].unlink()
        for name in changed:
            files[name].write_bytes(b"changed content, longer than before")
        (root / "added.jpg").write_bytes(b"a new file, longer than any file of the tree")
        allow = data.draw(st.booleans())
        # The unmounted-drive rule in numbers: all of them gone, or over half of 100 or more.
        whole = bool(removed) and len(removed) == len(names)
        if not allow and (whole or (len(names) >= 100 and 2 * len(removed) > len(names))):
            with pytest.raises(MassRemovalError):
                scan_library(catalog, root, allow_mass_removal=False)
            assert {image.path for image in catalog.images()} == set(files)  # refused: nothing changed
        second = scan_library(catalog, root, allow_mass_removal=True)
        assert (second.new, second.changed, second.removed) == (1, len(changed), len(removed))
        live = {image.path for image in catalog.images() if image.state != "gone"}
        assert live == (set(files) - removed) | {"added.jpg"}
        catalog.close()


def test_status_json_schema_and_integrity_check(imrec: Runner, library_dir: Path) -> None:
    imrec("index", library_dir, "-q")
    status = json.loads(imrec("status", library_dir, "--json").stdout)
    assert set(status) == {
        "root",
        "catalog",
        "counts",
        "models",
        "model",
        "index",
        "failures",
        "integrity",
        "text_model",
        "text",
        "videos",
        "partial",
        "faces",
    }
    assert status["videos"] == 0 and status["partial"] == []
    assert status["faces"] == {"looked": 0, "total": 8, "faces": 0, "failed": 0, "people": 0, "on": False}
    assert status["text_model"] == "tiny-clip's own"
    assert status["text"] == {"read": 0, "total": 8, "with_text": 0, "failed": 0, "on": False, "failures": []}
    assert status["integrity"] is None
    assert "check: ok" in imrec("status", library_dir, "--check").stdout
    assert set(status["counts"]) == {"pending", "ok", "failed", "gone"}
    assert set(status["index"]) >= {"exists", "count", "live", "stale", "unindexed", "current", "kind"}


def test_a_v12_catalog_keeps_its_faces_and_people_on_the_way_to_faces_in_videos(tmp_path: Path) -> None:
    from image_recommender.catalog.faces import Face

    catalog = Catalog.open(tmp_path / "catalog.sqlite3", create=True)
    face = Face((0.1, 0.2, 0.3, 0.4), ((0.15, 0.25),), 1.2, 80, 55.0, np.arange(128, dtype=np.float32) / 128)
    catalog.store_faces([("f" * 32, "ok", [face, face], None)], "dlib")
    person = catalog.new_person()
    catalog.assign_faces([(1, person), (2, person)], by_user=True)
    catalog.name_person(person, "Eileen")
    catalog.close()
    with sqlite3.connect(tmp_path / "catalog.sqlite3") as db:  # the catalog as schema 12 left it
        db.execute("DROP INDEX faces_fingerprint")
        db.execute("DROP INDEX faces_person")
        db.execute("ALTER TABLE faces DROP COLUMN seconds")
        db.execute("CREATE INDEX faces_fingerprint ON faces(fingerprint)")
        db.execute("CREATE INDEX faces_person ON faces(person_id)")
        db.execute("PRAGMA user_version=12")
    catalog = Catalog.open(tmp_path / "catalog.sqlite3")
    kept = [catalog.face(1), catalog.face(2)]
    assert all(row is not None and row.person_id == person and row.by_user and row.seconds is None for row in kept)
    assert kept[0] is not None and np.array_equal(kept[0].vector, face.vector) and kept[0].box == face.box
    named = catalog.person(person)
    assert named is not None and named.name == "Eileen"
    catalog.close()
