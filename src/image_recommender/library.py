"""The public Python API: one ``Library`` per image folder.

    lib = Library.open("~/Pictures")
    lib.update()                                  # scan, embed, index (incremental)
    lib.search(image="query.jpg", k=10)           # -> SearchResponse
    lib.search(text="a red bicycle")
    lib.recommend([12, 40], disliked=[7])
    lib.duplicates(threshold=0.95)

Torch is imported only when a model has to run (a new image, a text, an out-of-library
file): queries by stored vectors, ``status`` and ``duplicates`` stay light.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_recommender.albums import MODES, KeptQuery, MirrorReport, check_album_name, check_mirror, sync_mirror
from image_recommender.answers import StatusReport, UpdateSummary
from image_recommender.catalog.faces import FaceRow
from image_recommender.catalog.rows import AlbumRow, ImageRow, ModelRow, ThemeRow
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import MIN_WORD, fold, query_words
from image_recommender.duplicates.finding import DuplicateGroup, find_duplicates
from image_recommender.duplicates.moves import Move, MoveReport, apply_moves, plan_moves, undo_moves
from image_recommender.errors import (
    ImageDecodeError,
    ImrecError,
    IndexMismatchError,
    LibraryBusyError,
    LibraryError,
    ModelError,
    QueryError,
    SettingsError,
    UnknownImageError,
    UnknownPersonError,
)
from image_recommender.faces import people as faces_people
from image_recommender.faces.detecting import FACES_EXTRA_HINT, FaceFinder, faces_available
from image_recommender.faces.grouping import GroupReport, regroup
from image_recommender.faces.people import Person
from image_recommender.faces.reading import FaceReport, find_faces
from image_recommender.filters import PhotoFilter, check_kind, check_sort
from image_recommender.images.media import is_video
from image_recommender.index.milvus import MilvusIndex, lite_uri, milvus_sidecar, uses_milvus
from image_recommender.index.storage import sidecar_path
from image_recommender.index.sync import IndexReport, IndexSettings, LibraryIndex
from image_recommender.models.cached_engine import (
    CachedImageModel,
    CachedTextModel,
    cached_image_model,
    cached_text_model,
)
from image_recommender.models.openvino_engine import default_engine_cache
from image_recommender.models.recommended import missing_weights
from image_recommender.models.spec import ModelSpec
from image_recommender.paths import catalog_name, is_inside
from image_recommender.places.listing import CityPlaces, by_city
from image_recommender.query.places import resolve_place
from image_recommender.query.plan import SearchPlan, SearchResponse, described, run_plan, understood_terms
from image_recommender.query.understanding import KINDS
from image_recommender.query.words import rank_words_only, word_hits
from image_recommender.scan import ScanReport, scan_library
from image_recommender.search import (
    Crop,
    SearchKnobs,
    Term,
    combine,
    parse_crop,
    parse_file_or_id,
    parse_term,
    sort_results,
)
from image_recommender.settings import MAX_EF_SEARCH, MAX_TOP_K, Settings, load_settings, user_language
from image_recommender.text.reading import TextGate, TextProgress, TextReport, read_texts
from image_recommender.text.recognise import OCR_EXTRA_HINT, TextReader, ocr_available
from image_recommender.themes.computing import compute_themes, join_themes, needs_computing
from image_recommender.themes.vocabulary import subject_words

if TYPE_CHECKING:
    from image_recommender.embed.pipeline import EmbedReport, ProgressCallback
    from image_recommender.models.openvino_text import OpenVinoTextTower
    from image_recommender.models.text_tower import TextTower
    from image_recommender.models.torch_model import EngineOptions, LoadedModel
    from image_recommender.video.embedding import VideoReport


# Vectors compared between index and catalog: all of a small index, a sample of a large one
# (status --check looks at this many, every index update at a quarter of it).
INDEX_CHECK_SAMPLE = 256
# The web page's "move the others" moves one group: at most this many files, and only for a
# threshold at which a group is one picture (0.9 keeps re-encodes and resizes, 0.0001 would be everything).
MAX_RESOLVE_MOVES = 50
MIN_MOVE_THRESHOLD = 0.9


class Library:
    """A folder of images with its catalog, vectors and index."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._model: LoadedModel | None = None
        self._texts: CachedTextModel | None = None
        self._tower: tuple[str, TextTower | OpenVinoTextTower] | None = None
        self._reader: TextReader | None = None
        self._face_finder: FaceFinder | None = None
        self._lock_depth = 0
        self._indexes: dict[Path, LibraryIndex] = {}

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None, *, create: bool = False, **overrides: Any) -> Library:
        """Open the library at ``root``; ``create`` makes its catalog if there is none yet.

        ``overrides`` are settings (``model=``, ``batch_size=``, ``ef_search=`` ...), taking
        precedence over the environment and ``ROOT/.imrec/config.toml``.
        """
        settings = load_settings(root, overrides)
        if not settings.root.is_dir():
            raise LibraryError(f"{settings.root}: library folder does not exist or is not mounted")
        return cls(settings, Catalog.open(settings.catalog_path, create=create))

    def close(self) -> None:
        for index in self._indexes.values():
            if isinstance(index, MilvusIndex):
                index.close()
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def root(self) -> Path:
        return self.settings.root

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """One writer per library; a second waits ``lock_timeout`` seconds, then gives up clearly."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        if not self.root.is_dir():  # never re-create a deleted or unmounted library's folder
            raise LibraryError(f"{self.root}: library folder does not exist or is not mounted")
        self.settings.state_dir.mkdir(exist_ok=True)
        handle = open(self.settings.state_dir / "lock", "a+")  # noqa: SIM115 - held across the yield
        deadline = time.monotonic() + self.settings.lock_timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    handle.close()
                    raise LibraryBusyError(
                        f"{self.root}: another imrec ({holder}) is updating this library; try again when it is done"
                    ) from None
                time.sleep(0.1)
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock_depth = 1
        try:
            yield
        finally:
            self._lock_depth = 0
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def scan(self) -> ScanReport:
        """Bring the catalog's file list up to date with the folder."""
        with self._write_lock():
            s = self.settings
            return scan_library(self.catalog, self.root, s.include_hidden, s.follow_symlinks, s.allow_mass_removal)

    def fill_metadata(self, chunk: int = 256) -> int:
        """Read the metadata of images catalogued before it was recorded, from their headers only.

        A file that cannot be opened now keeps empty fields until its next change; returns how
        many images were filled.
        """
        from image_recommender.errors import ImageDecodeError
        from image_recommender.images.decode import open_regular_file
        from image_recommender.images.metadata import PhotoMetadata, read_metadata

        filled = 0
        with self._write_lock():
            while rows := self.catalog.images_without_metadata(chunk):
                found = []
                for row in rows:
                    metadata = PhotoMetadata(taken_from="unreadable")
                    try:
                        handle, info = open_regular_file(
                            row.location(self.root), None if self.settings.follow_symlinks else self.root
                        )
                        with handle:
                            metadata = read_metadata(handle, info.st_mtime_ns)
                    except (OSError, ImageDecodeError):
                        pass
                    found.append((row.id, metadata))
                self.catalog.write_metadata(found)
                filled += len(found)
        return filled

    def fill_places(self, chunk: int = 2048) -> int:
        """Name the place of every photo whose position was not named yet (offline GeoNames; no
        re-embedding); returns how many photos were looked up."""
        named = 0
        with self._write_lock():
            while rows := self.catalog.positions_without_place(chunk):
                from image_recommender.places.geocoding import locate

                found = locate([(latitude, longitude) for _, latitude, longitude in rows])
                self.catalog.write_places([(row[0], place) for row, place in zip(rows, found, strict=True)])
                named += len(rows)
        return named

    def places(self) -> list[CityPlaces]:
        """Where the library's photos were taken: towns and cities, quarters under their city,
        most photos first."""
        return by_city(self.catalog.place_counts())

    def embed(
        self, retry_failed: bool = False, progress: ProgressCallback | None = None, add_model: bool = False
    ) -> EmbedReport:
        """Embed every new or changed image and video with the library's model(s); no model load if nothing is new.

        The library's models are those it was indexed with; a model named in the settings is
        used when the library holds it, and added beside them only with ``add_model``.
        """
        with self._write_lock():
            self._check_ray()
            models = self.models_to_update(add_model)
            report = self._embed_models(models, retry_failed, progress)
            videos = self._embed_videos(models)  # a video counts once, whatever its frames
            report.embedded += videos.videos
            report.reused += videos.reused
            report.failed += videos.failed
            report.seconds += videos.seconds
            return report

    def _embed_models(
        self,
        models: list[tuple[ModelSpec, ModelRow | None]],
        retry_failed: bool,
        progress: ProgressCallback | None,
        gate: TextGate | None = None,
    ) -> EmbedReport:
        from image_recommender.embed.pipeline import EmbedReport

        if retry_failed:
            self.catalog.retry_failed()
        report = EmbedReport()
        for spec, row in models:
            report += self._embed_with(spec, row, progress, gate)
        return report

    def _embed_with(
        self, spec: ModelSpec, row: ModelRow | None, progress: ProgressCallback | None, gate: TextGate | None
    ) -> EmbedReport:
        """Embed the work of one model; its weights are looked at only when there is work. With a
        ``gate``, the text detector looks at each picture the workers decode (text/reading.py)."""
        from image_recommender.embed.pipeline import EmbedOptions, EmbedReport, embed_pending

        work = self.catalog.work_for_model(row.id if row is not None else -1)
        if not work:
            return EmbedReport()
        key = spec.catalog_key()
        if row is not None and key != (row.name, row.pretrained):
            raise ModelError(
                f"{spec.weights_file}: this checkpoint changed since the library was indexed with it; restore it,"
                " or pass it with --pretrained and --add-model to embed the library again as a new model"
            )
        spec.check_weights_file()  # a bad checkpoint fails here, before torch is even imported
        model = self._image_model(spec) if not self.settings.ray_address else self._load_model(spec)
        row = self._model_row(spec, model.dim)
        s = self.settings
        options = EmbedOptions(
            s.batch_size,
            s.model_batch_size or model.default_batch_size,
            s.worker_count,
            s.decode,
            progress,
            s.follow_symlinks,
            look=gate,
        )
        if s.ray_address:
            from image_recommender.embed.ray import embed_on_ray
            from image_recommender.models.torch_model import load_model

            engine = engine_options(s)
            loader = functools.partial(load_model, spec, s.device, s.precision, s.compile, engine)
            full = self._load_model(spec)  # the model loaded above: Ray ships torch models to its actors
            return embed_on_ray(self.catalog, self.root, full, loader, row.id, work, options, s.ray_address)
        return embed_pending(self.catalog, self.root, model, row.id, work, options)

    def embed_videos(self) -> VideoReport:
        """The video pass alone (``update`` runs it after the pictures): frames of new or changed videos."""
        with self._write_lock():
            return self._embed_videos(self.models_to_update())

    def _embed_videos(self, models: list[tuple[ModelSpec, ModelRow | None]]) -> VideoReport:
        """The video pass for each model (video/embedding.py); the model loads only for videos to embed."""
        from image_recommender.video.embedding import VideoReport, embed_videos

        report = VideoReport()
        for spec, known in models:
            row = known or self.catalog.find_model(*spec.catalog_key())
            work = self.catalog.videos_to_embed(row.id if row is not None else -1)  # -1: a model new here
            if not work:
                continue
            spec.check_weights_file()
            model = self._image_model(spec)
            row = self._model_row(spec, model.dim)
            s = self.settings
            batch = s.model_batch_size or model.default_batch_size
            report += embed_videos(self.catalog, self.root, row.id, work, model.encode_pil, batch, s.follow_symlinks)
        return report

    def _model_row(self, spec: ModelSpec, dim: int) -> ModelRow:
        """The catalog's row for the model about to embed (made the first time it does)."""
        config = str(spec.config) if spec.config else None
        return self.catalog.ensure_model(*spec.catalog_key(), dim=dim, weights=spec.pretrained, config=config)

    def _check_ray(self) -> None:
        """With a Ray address set, Ray must be installed: said before any work starts."""
        if self.settings.ray_address:
            from image_recommender.embed.ray import require_ray

            require_ray(self.settings.ray_address)

    def models_to_update(self, add_model: bool = False) -> list[tuple[ModelSpec, ModelRow | None]]:
        """The models ``index``/``embed`` keep current: the one named, else every model the library holds.

        A new library gets the configured model (ViT-L-14 unless named). Naming a model the
        library does not hold is refused unless ``add_model``, so a forgotten flag never
        embeds a whole library a second time.
        """
        held = self.catalog.models()
        if not self.settings.model_chosen:
            return [(_spec_of(row), row) for row in held] or [(self.settings.model_spec, None)]
        spec = self.settings.model_spec
        row = self.catalog.find_model(*spec.catalog_key())
        if not held or add_model or row is not None:
            return [(spec, row)]
        names = ", ".join(_spec_of(other).describe() for other in held)
        raise IndexMismatchError(
            f"this library is indexed with {names}, not {spec.describe()}: leave out --model/--pretrained to use"
            " the library's model, or pass --add-model to embed every image with this one too"
        )

    def _indexed_models(self) -> list[ModelRow]:
        """The models whose index ``build_index`` keeps current: the one named, else all held."""
        if self.settings.model_chosen:
            return [self.query_model()]
        return self.catalog.models()

    def build_index(self, rebuild: bool = False) -> IndexReport:
        """Bring each model's index up to date; returns the report of the first (the library's own)."""
        with self._write_lock():
            reports = [self._sync_index(row, rebuild) for row in self._indexed_models()]
        return reports[0] if reports else IndexReport()

    def _sync_index(self, row: ModelRow, rebuild: bool) -> IndexReport:
        """Sync the model's index; a FAISS kind named after Milvus takes the vectors back from Milvus."""
        index = self.index_for(row)
        if not isinstance(index, MilvusIndex) and milvus_sidecar(index.sidecar).is_file():
            uri = self.settings.milvus_uri or lite_uri(self.settings.state_dir)
            leaving = MilvusIndex(self.catalog, index.sidecar, row, index.settings, uri, False)
            try:
                leaving.drop()
            finally:
                leaving.close()
        return index.sync(rebuild, INDEX_CHECK_SAMPLE // 4)

    def update(
        self,
        retry_failed: bool = False,
        progress: ProgressCallback | None = None,
        add_model: bool = False,
        text_progress: TextProgress | None = None,
    ) -> UpdateSummary:
        """The main job: scan, embed what is new or changed, update the index, then read the text
        in pictures not read yet (searchable by image before that pass ends)."""
        started = time.perf_counter()
        with self._write_lock():
            self._check_ray()
            models = self.models_to_update(add_model)  # a refused model is refused before the scan changes anything
            waiting = self.catalog.state_counts()["pending"]
            scanned = self.scan()
            gate = self._text_gate()
            embedded = self._embed_models(models, retry_failed, progress, gate)
            videos = self._embed_videos(models)
            self.fill_metadata()
            self.fill_places()
            self.catalog.purge_gone()
            indexed = self.build_index()
            text, skipped = self._read_texts(text_progress, gate=gate)
            faces, faces_skipped = self._find_faces()
            self._join_themes()
            mirrored = self._mirror_albums()
            counts = self.catalog.state_counts()
            videos_held = self.catalog.video_count()
        seconds = time.perf_counter() - started
        return UpdateSummary(
            albums_mirrored=len(mirrored),
            album_notes=[f"album {name}: {note}" for name, report in mirrored for note in report.left_alone],
            videos=videos.videos,
            video_frames=videos.frames,
            video_frames_decoded=videos.decoded,
            videos_reused=videos.reused,
            videos_failed=videos.failed,
            files=counts["ok"],
            videos_held=videos_held,
            failed_in_library=counts["failed"],
            faces_looked=faces.looked,
            faces_found=faces.faces,
            faces_failed=faces.failed,
            faces_ruled_out=faces.ruled_out,
            faces_seconds=faces.seconds,
            people_new=faces.new_people,
            faces_skipped=faces_skipped,
            text_read=text.read,
            text_found=text.with_text,
            text_ruled_out_while_embedding=text.ruled_out_while_embedding,
            text_seconds=text.seconds,
            text_seconds_while_embedding=text.asked_while_embedding,
            text_failed=text.failed,
            text_skipped=skipped,
            scanned=scanned.scanned,
            new=scanned.new,
            changed=scanned.changed,
            reused=embedded.reused,
            embedded=embedded.embedded,
            failed=embedded.failed,
            removed=scanned.removed,
            indexed=indexed.count,
            rebuilt=indexed.rebuilt,
            seconds=seconds,
            images_per_second=(embedded.embedded + embedded.reused) / seconds if seconds > 0 else 0.0,
            unreadable=scanned.unreadable,
            ray_nodes=embedded.ray_nodes,
            ray_actors=embedded.ray_actors,
            waiting=waiting,
            embedding_images_per_second=_rate(
                embedded.embedded + embedded.reused, embedded.seconds - text.asked_while_embedding
            ),
        )

    def read_texts(self, progress: TextProgress | None = None) -> TextReport:
        """Read the text in every picture whose content has none recorded yet (the text pass)."""
        with self._write_lock():
            return self._read_texts(progress, required=True)[0]

    def _read_texts(
        self, progress: TextProgress | None, required: bool = False, gate: TextGate | None = None
    ) -> tuple[TextReport, str]:
        """The text pass when the ``ocr`` setting asks for it; (its report, why it was skipped).
        ``gate``: the one the embedding pass just asked (what it found is not asked again)."""
        if not self.settings.ocr and not required:
            return TextReport(), ""
        done, total, _, _ = self.catalog.text_progress()
        if done == total and gate is None:
            return TextReport(), ""
        if not ocr_available() and not required:
            return TextReport(), f"rapidocr is not installed ({OCR_EXTRA_HINT})"
        reader = self._text_reader()
        return read_texts(self.catalog, self.root, reader, progress, counts=(done, total), gate=gate), ""

    # -- people ----------------------------------------------------------------------------

    def _find_faces(self, required: bool = False) -> tuple[FaceReport, str]:
        """The face pass when the ``faces`` setting asks for it; (its report, why it was skipped)."""
        if not self.settings.faces and not required:
            return FaceReport(), ""
        looked, total, _, _ = self.catalog.face_progress()
        if looked == total:
            return FaceReport(), ""
        if not faces_available():
            if required:
                raise ModelError(f"finding faces needs dlib and its models: {FACES_EXTRA_HINT}")
            return FaceReport(), f"dlib is not installed ({FACES_EXTRA_HINT})"
        if self._face_finder is None:
            self._face_finder = FaceFinder()
        return find_faces(self.catalog, self.root, self._face_finder), ""

    def find_faces(self) -> FaceReport:
        """Look for faces in every picture not looked at yet, and group them (the face pass)."""
        with self._write_lock():
            return self._find_faces(required=True)[0]

    def people(self, include_hidden: bool = False) -> list[Person]:
        """The people, most faces first (hidden ones too with ``include_hidden``)."""
        return faces_people.listed(self.catalog, include_hidden)

    def person(self, person_id: int) -> Person:
        return faces_people.person(self.catalog, person_id)

    def name_person(self, person_id: int, name: str | None) -> Person:
        """Give a person a name (None or "": unnamed again); a named person keeps it across regroupings."""
        found = self.person(person_id)
        with self._write_lock():
            self.catalog.name_person(found.id, faces_people.check_name(name) if name else None)
        return self.person(found.id)

    def merge_people(self, kept: int, merged: int) -> Person:
        """``merged``'s faces join ``kept``, which keeps its name (or takes ``merged``'s)."""
        into, other = self.person(kept), self.person(merged)
        if into.id == other.id:
            raise QueryError(f"person {kept}: merging a person with itself changes nothing")
        with self._write_lock():
            self.catalog.merge_people(into.id, other.id)
            if into.name is None and other.name is not None:
                self.catalog.name_person(into.id, other.name)
        return self.person(into.id)

    def hide_person(self, person_id: int, hidden: bool = True) -> Person:
        found = self.person(person_id)
        with self._write_lock():
            self.catalog.hide_person(found.id, hidden)
        return self.person(found.id)

    def move_face(self, face_id: int, to: int | str | None) -> int | None:
        """Put a face with person ``to`` (an id), with a new person ("new") or with nobody (None);
        kept so by every regrouping. Returns the person's id."""
        face = self.catalog.face(face_id)
        if face is None:
            raise UnknownPersonError(f"face {face_id}: there is no such face ('imrec people show ID' lists a person's)")
        with self._write_lock():
            target = self.catalog.new_person() if to == "new" else None if to is None else self.person(int(to)).id
            self.catalog.assign_faces([(face.id, target)], by_user=True)
        return target

    def regroup_people(self) -> GroupReport:
        """Group every face anew; named people, and faces the user moved, stay as they are."""
        with self._write_lock():
            return regroup(self.catalog)

    def person_images(self, person_id: int, k: int = 50, offset: int = 0) -> list[ImageRow]:
        """The pictures showing a person, newest first."""
        return self.catalog.person_images(self.person(person_id).id, k, offset)

    def person_faces(self, person_id: int) -> list[tuple[FaceRow, str]]:
        """A person's faces with a path of the picture each is in."""
        found = self.person(person_id)
        return [(face, self.catalog.path_of_content(face.fingerprint) or "") for face in self.catalog.faces(found.id)]

    def _text_reader(self) -> TextReader:
        if self._reader is None:
            self._reader = TextReader(self.settings.device)
        return self._reader

    def _text_gate(self) -> TextGate | None:
        """The text detector for the embedding pass to ask, when a text pass follows it (``ocr``
        on, rapidocr installed, its models set up: a failure there is the text pass's to report)
        and there are pictures to embed (the models load only then)."""
        if not self.settings.ocr or not ocr_available() or not self.catalog.state_counts()["pending"]:
            return None
        try:
            return TextGate(self.catalog, self._text_reader())
        except ModelError:
            return None

    # -- themes ----------------------------------------------------------------------------

    def themes(self, count: int | None = None, recompute: bool = False) -> list[ThemeRow]:
        """The library's themes, computed from the stored vectors when there are none yet, when
        asked (``recompute``, another ``count``), or when the library grew or shrank by a tenth
        (naming them loads the text tower); images added since join the nearest theme."""
        row = self.query_model()
        themes = self.catalog.themes(row.id)
        images = len(self.catalog.live_labels(row.id))
        if recompute or needs_computing(themes, images, count):
            tower = self._text_tower(row)
            encoder = tower if tower is not None else self._text_encoder(row)
            compute_themes(self.catalog, row.id, encoder.encode_texts, count)
        elif join_themes(self.catalog, row.id, themes) == 0:
            return themes
        return self.catalog.themes(row.id)

    def _join_themes(self) -> None:
        """After an update: new images join the nearest existing theme (a full computation waits
        until the themes are asked for and the library grew by a tenth)."""
        for model in self.catalog.models():
            themes = self.catalog.themes(model.id)
            if themes:
                join_themes(self.catalog, model.id, themes)

    def theme(self, name: str) -> ThemeRow:
        """A theme by id, by the user's name or by its German or English name (any case)."""
        themes = self.catalog.themes(self.query_model().id)
        if not themes:
            raise QueryError("this library has no themes yet: run 'imrec themes' first")
        wanted = fold(name.strip().lstrip("#"))
        found = [
            theme
            for theme in themes
            if wanted in (str(theme.id), *(fold(n) for n in (theme.user_name, theme.name_de, theme.name_en) if n))
        ]
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(f"#{theme.id} {theme.name}" for theme in found[:6])
            raise QueryError(f"theme {name!r} names several themes: {listed}; give its number")
        known = ", ".join(theme.name for theme in themes[:8])
        raise QueryError(
            f"theme {name!r}: no theme of that name or number (themes: {known}{', …' if len(themes) > 8 else ''})"
        )

    def theme_images(self, theme: str | ThemeRow, k: int = 48, offset: int = 0) -> list[tuple[ImageRow, float]]:
        """A theme's images (by name or number, or one already found), closest to its centre first."""
        found = theme if isinstance(theme, ThemeRow) else self.theme(theme)
        return self.catalog.theme_images(found.id, k, offset)

    def rename_theme(self, name: str, new_name: str | None) -> ThemeRow:
        """Give a theme the user's own name (None or "": back to its computed one); it is kept
        when the themes are computed again and the theme still matches."""
        theme = self.theme(name)
        cleaned = (new_name or "").strip() or None
        if cleaned is not None and (len(cleaned) > 100 or not cleaned.isprintable()):
            raise QueryError(f"theme name {new_name!r}: use 1-100 characters without control characters")
        self.catalog.rename_theme(theme.id, cleaned)
        return self.theme(str(theme.id))

    # -- smart albums ----------------------------------------------------------------------

    def save_album(
        self,
        name: str,
        terms: Sequence[Term | str],
        *,
        k: int | None = None,
        mirror: str | os.PathLike[str] | None = None,
        mode: str = "link",
        **filters: Any,
    ) -> tuple[AlbumRow, SearchResponse, MirrorReport | None]:
        """Keep a query under ``name`` (run once now, so a query that cannot run is refused);
        with ``mirror``, its results are linked (or copied) into that folder now and after
        every update."""
        check_album_name(name)
        if mode not in MODES:
            raise SettingsError(f"album mode {mode!r}: choose link or copy")
        parsed = [term if isinstance(term, Term) else parse_term(term) for term in terms]
        response = self.search(parsed, k=k, **filters)
        existing = self.catalog.album(name)
        folder = None
        if mirror is not None:
            folder = str(check_mirror(Path(mirror), self.root, existing.mirror if existing else None))
        kept_mode = mode if folder else None
        if existing is not None and (existing.mirror, existing.mode) != (folder, kept_mode):
            # Another folder (or none, or the other mode): what was made in the old one stays there, unrecorded.
            self.catalog.record_album_files(
                existing.id, [], [made.name for made in self.catalog.album_files(existing.id)]
            )
        album = self.catalog.save_album(name, KeptQuery(parsed, filters, k).to_json(), folder, kept_mode)
        report = self._mirror(album, response) if folder is not None else None
        return album, response, report

    def album_results(self, name: str) -> SearchResponse:
        """The album's query, run now."""
        album = self._album(name)
        kept = KeptQuery.from_json(album.query)
        return self.search(kept.terms, k=kept.k, **kept.filters)

    def albums(self) -> list[AlbumRow]:
        return self.catalog.albums()

    def album_query(self, name: str) -> list[str]:
        """The album's query as a search describes its terms (no model is loaded)."""
        return [term.describe() for term in KeptQuery.from_json(self._album(name).query).terms]

    def delete_album(self, name: str) -> None:
        """Forget the album; the files its mirror made stay where they are."""
        if not self.catalog.delete_album(name):
            raise QueryError(f"album {name!r}: there is no album of that name ('imrec album list' shows them)")

    def _album(self, name: str) -> AlbumRow:
        album = self.catalog.album(name)
        if album is None:
            raise QueryError(f"album {name!r}: there is no album of that name ('imrec album list' shows them)")
        return album

    def _mirror(self, album: AlbumRow, response: SearchResponse) -> MirrorReport:
        assert album.mirror is not None and album.mode is not None
        report = sync_mirror(
            Path(album.mirror), album.mode, self.root, response.results, self.catalog.album_files(album.id)
        )
        self.catalog.record_album_files(album.id, report.made, report.forgotten)
        return report

    def _mirror_albums(self) -> list[tuple[str, MirrorReport]]:
        """Bring every album's mirror folder up to date; an album whose query no longer runs is
        reported, never a reason for the update to fail."""
        done = []
        for album in self.catalog.albums():
            if album.mirror is None:
                continue
            try:
                done.append((album.name, self._mirror(album, self.album_results(album.name))))
            except ImrecError as exc:
                done.append((album.name, MirrorReport(left_alone=[f"not mirrored: {exc}"])))
        return done

    # -- models --------------------------------------------------------------------------

    def _image_model(self, spec: ModelSpec) -> LoadedModel | CachedImageModel:
        """The model for embedding images: a conversion cached for OpenVINO runs without torch
        (about 3.5 s less per run on 2 cores), anything else is the full model."""
        if self._model is not None and self._model.spec == spec:
            return self._model
        s = self.settings
        if s.compile:
            return self._load_model(spec)
        cache = s.engine_cache or default_engine_cache()
        cached = cached_image_model(spec, s.engine, s.device, s.precision, s.openvino_device, cache)
        return cached if cached is not None else self._load_model(spec)

    def _load_model(self, spec: ModelSpec) -> LoadedModel:
        if self._model is None or self._model.spec != spec:
            s = self.settings
            if spec.weights_file is None and spec.pretrained:  # before torch is imported: under 2 s
                converted = None if s.engine == "torch" else s.engine_cache or default_engine_cache()
                problem = missing_weights(spec.architecture, spec.pretrained, converted)
                if problem is not None:
                    raise ModelError(problem)
            from image_recommender.models.torch_model import load_model

            engine = engine_options(s)
            self._model = load_model(spec, s.device, s.precision, s.compile, engine)
        return self._model

    def query_model(self) -> ModelRow:
        """The catalogued model queries use: the one named, else the library's first."""
        held = self.catalog.models()
        if not held:
            raise LibraryError(f"{self.root}: nothing is indexed yet; run 'imrec index {self.root}' first")
        if not self.settings.model_chosen:
            return held[0]
        spec = self.settings.model_spec
        row = self.catalog.find_model(*spec.catalog_key())
        if row is not None:
            return row
        names = ", ".join(_spec_of(m).describe() for m in held)
        raise IndexMismatchError(
            f"this library was indexed with {names}, not {spec.describe()}: "
            f"leave out --model/--pretrained, or run 'imrec index --add-model' with this model first"
        )

    def _encoder(self, row: ModelRow) -> LoadedModel:
        model = self._load_model(_spec_of(row))
        if model.dim != row.dim:
            raise IndexMismatchError(f"model {row.name} now gives {model.dim}-d vectors, the index holds {row.dim}-d")
        return model

    def _text_encoder(self, row: ModelRow) -> LoadedModel | CachedTextModel:
        """The model's own text side: the loaded model when there is one, else its converted text
        tower with the saved tokenizer (a cold text query without torch), else the full model."""
        spec = _spec_of(row)
        if self._model is not None and self._model.spec == spec:
            return self._model
        if self._texts is None or self._texts.spec != spec:
            s = self.settings
            cache = s.engine_cache or default_engine_cache()
            self._texts = cached_text_model(spec, s.engine, s.device, s.precision, s.openvino_device, cache)
        if self._texts is None:
            return self._encoder(row)
        if self._texts.dim != row.dim:
            raise IndexMismatchError(
                f"model {row.name} now gives {self._texts.dim}-d vectors, the index holds {row.dim}-d"
            )
        return self._texts

    def _text_tower(self, row: ModelRow) -> TextTower | OpenVinoTextTower | None:
        """The configured multilingual text tower (``text_model``), or None for the image model's
        own. A tower made for another image model is refused before it is built."""
        source = self.settings.text_model
        if not source:
            return None
        if self._tower is None or self._tower[0] != source:
            from image_recommender.models.text_tower import load_text_tower, tower_facts

            facts = tower_facts(source)
            if not facts.fits(row.name, row.pretrained, row.dim):
                raise ModelError(
                    f"text model {source} was trained for the image model {facts.describe()}, but this library's"
                    f" images are {row.name}/{row.pretrained} ({row.dim}-d); leave out --text-model, or use a tower"
                    " made for this image model"
                )
            s = self.settings
            cache = s.engine_cache or default_engine_cache()
            tower = load_text_tower(facts, s.device, s.precision, s.engine, s.openvino_device, cache)
            self._tower = (source, tower)
        return self._tower[1]

    def text_tower_name(self) -> str | None:
        """Which text tower answers text queries: the configured one, else the model's own."""
        if self.settings.text_model:
            return self.settings.text_model
        models = self.catalog.models()
        return f"{self.query_model().name}'s own" if models else None

    def warm_up(self) -> None:
        """Load the query model (and text tower) now, so the first query is fast (web server)."""
        row = self.query_model()
        self._encoder(row)
        tower = self._text_tower(row)
        if tower is not None:  # OpenVINO's first inference of a shape costs about 0.4 s more than later ones
            tower.encode_texts(["warm up"])

    def index_for(self, row: ModelRow) -> LibraryIndex:
        """The model's index, kept per library so a kept-open server loads each committed index
        once, not once per query."""
        sidecar = sidecar_path(self.settings.state_dir, row.name, row.pretrained)
        index = self._indexes.get(sidecar)
        if index is None:
            s = self.settings
            wanted = IndexSettings(
                s.index_kind,
                "index_kind" in s.explicit,
                s.hnsw_m,
                s.ef_construction,
                s.index_memory_budget,
                s.rebuild_share,
            )
            if uses_milvus(sidecar, wanted):
                uri = s.milvus_uri or lite_uri(s.state_dir)
                index = MilvusIndex(self.catalog, sidecar, row, wanted, uri, "milvus_uri" in s.explicit)
            else:
                index = LibraryIndex(self.catalog, sidecar, row, wanted)
            self._indexes[sidecar] = index
        committed = index.committed()
        if committed is not None and (committed.meta.model, committed.meta.pretrained) != (row.name, row.pretrained):
            raise IndexMismatchError(
                f"index was built for {committed.meta.model} ({committed.meta.pretrained}), not {row.name};"
                " run 'imrec index'"
            )
        return index

    # -- queries -------------------------------------------------------------------------

    def _library_image(self, path: Path) -> ImageRow | None:
        """The catalogued, unchanged image at ``path``, if the file lies inside the library."""
        if not is_inside(path, self.root):
            return None
        try:
            relative = Path(os.path.relpath(os.path.realpath(path), os.path.realpath(self.root))).as_posix()
            info = path.stat()
        except OSError:
            return None
        image = self.catalog.image_by_path(*catalog_name(relative))
        if image is None or image.state != "ok" or (image.size, image.mtime_ns) != (info.st_size, info.st_mtime_ns):
            return None
        return image

    def _term_vector(
        self, term: Term, row: ModelRow, exclude: list[int], images: list[tuple[Path, bool]]
    ) -> np.ndarray:
        """A term's vector: stored where the image is indexed (no model), else computed; a
        region of a picture (``term.crop``) is always computed from its file."""
        if term.crop is not None and term.kind != "text":
            return self._region_vector(term, term.crop, row, exclude, images)
        if term.kind == "text":
            tower = self._text_tower(row)
            encoder = tower if tower is not None else self._text_encoder(row)
            return encoder.encode_texts([term.value])[0]
        if term.kind == "id":
            image = self.catalog.image(int(term.value))
            stored = self.catalog.vector_of_image(int(term.value), row.id, term.at) if image else None
            if image is None or stored is None:
                raise UnknownImageError(f"image id {term.value}: no indexed image with that id")
            exclude += [image.id, *self._same_content(image.fingerprint)]
            images.append((image.location(self.root), term.negative))
            return stored[1]
        path = Path(term.value)
        images.append((path, term.negative))
        image = self._library_image(path)
        if image is not None:
            stored = self.catalog.vector_of_image(image.id, row.id)
            if stored is not None:
                exclude += [image.id, *self._same_content(image.fingerprint)]
                return stored[1]
        from image_recommender.images.decode import decode, read_file

        encoder = self._encoder(row)
        try:
            content = read_file(path)
            picture = decode(content.data, encoder.image_size, resize_to=encoder.image_size).image
        except ImageDecodeError as exc:
            raise QueryError(f"{path}: {exc}") from None
        exclude += self._same_content(content.fingerprint)
        return encoder.encode_pil([picture])[0]

    def _region_vector(
        self, term: Term, crop: Crop, row: ModelRow, exclude: list[int], images: list[tuple[Path, bool]]
    ) -> np.ndarray:
        """The vector of a region of an image term's picture (the upright full-size decode, cut,
        then the model's own preprocessing); the picture and its copies leave the results."""
        from image_recommender.images.decode import decode, read_file

        if term.kind == "id":
            image = self.catalog.image(int(term.value))
            if image is None or image.state != "ok":
                raise UnknownImageError(f"image id {term.value}: no indexed image with that id")
            if is_video(image.path):
                raise QueryError(f"image id {term.value} is a video: search by a region of a picture")
            path, root = image.location(self.root), self.root
            exclude += [image.id, *self._same_content(image.fingerprint)]
        else:
            path, root = Path(term.value), None
        images.append((path, term.negative))
        try:
            content = read_file(path, root)
            region = crop.cut(decode(content.data).image)
        except ImageDecodeError as exc:
            raise QueryError(f"{path}: {exc}") from None
        exclude += self._same_content(content.fingerprint)
        return self._encoder(row).encode_pil([region])[0]

    def _same_content(self, fingerprint: str | None) -> list[int]:
        """Ids of live images holding exactly this content: a query's copies, left out of its results."""
        return [copy.id for copy in self.catalog.images_with_fingerprint(fingerprint)] if fingerprint else []

    def search(
        self,
        terms: Sequence[Term | str] = (),
        *,
        image: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        text: str | Sequence[str] | None = None,
        k: int | None = None,
        under: str | None = None,
        min_score: float | None = None,
        include_query: bool = False,
        ef_search: int | None = None,
        after: str | None = None,
        before: str | None = None,
        taken_on: str | None = None,
        camera: str | None = None,
        near: str | None = None,
        radius: str | None = None,
        sort: str = "score",
        all_copies: bool = False,
        words: str | None = None,
        use_words: bool = True,
        crop: str | Crop | None = None,
        theme: str | None = None,
        place: str | None = None,
        literal: bool | Collection[str] = False,
        kind: str | None = None,
        include_undated: bool = False,
        person: str | Sequence[str] | None = None,
    ) -> SearchResponse:
        """Images most like the weighted sum of the terms (files, ids, texts; +/-).

        A text term also asks the text read in pictures (query/words.py: word matches first,
        CLIP fills the rest) unless ``use_words`` is False; ``words`` asks that text alone,
        with no model loaded. ``crop`` ("X,Y,W,H", pixels or fractions) searches by a region of
        the one query image (a file or an id; the region is embedded from the file).

        A text term's dates, places and negations are understood (query/understanding.py:
        "Strand Sylt Juli 2019") and shown in ``understood``; ``literal`` (True, or some of
        "date", "place", "negative") keeps them words. A filter given explicitly wins over words.

        ``under``, ``after``/``before`` (YYYY, YYYY-MM or YYYY-MM-DD), ``taken_on`` (a day) and
        ``kind`` ("image" or "video"), ``camera`` (part of its name), ``place`` (a town, region or country by any of its names)
        and ``near`` ("LAT,LON" within ``radius``, default 1 km)
        restrict the results, inside the index search; a date filter matches only pictures with a
        date taken (``include_undated`` adds those dated by the file's time alone; how many were
        left out is ``undated_left_out``); ``sort="date"`` orders them by date taken
        (the file's time where the photo has no EXIF date: ``taken_from`` says which). Exact
        copies are one result listing the others, unless ``all_copies``.
        """
        photo_filter = PhotoFilter.from_options(
            self._folder_prefix(under) if under else None, after, before, taken_on, camera, near, radius
        )
        if theme is not None:
            photo_filter = replace(photo_filter, theme=self.theme(theme).id)
        if place is not None:
            photo_filter = replace(photo_filter, places=resolve_place(self.catalog, place).ids)
        if kind is not None:
            check_kind(kind)
            photo_filter = replace(photo_filter, kind=kind)
        named = [faces_people.resolve(self.catalog, one) for one in _as_list(person)]
        photo_filter = replace(photo_filter, include_undated=include_undated, people=tuple(named))
        check_sort(sort)  # refused before any work
        if k is not None and not 1 <= k <= MAX_TOP_K:
            raise QueryError(f"k={k}: ask for 1 to {MAX_TOP_K} results")
        if ef_search is not None and not 1 <= ef_search <= MAX_EF_SEARCH:
            raise QueryError(f"ef_search={ef_search}: the search beam must be 1 to {MAX_EF_SEARCH}")
        if words is not None:
            return self._search_words(words, k or self.settings.top_k, photo_filter, sort, all_copies)
        parsed = [term if isinstance(term, Term) else parse_term(term) for term in terms]
        for one in _as_list(image):
            parsed.append(parse_term(os.fspath(one), kind="file"))
        for one in _as_list(text):
            parsed.append(parse_term(one, kind="text"))
        if any(term.kind == "text" and not term.value.strip() for term in parsed):
            raise QueryError("empty text query")
        if not any(not term.negative for term in parsed):
            raise QueryError("a query needs at least one positive term (an image, an id or a text)")
        if crop is not None:
            parsed = _with_crop(parsed, parse_crop(crop) if isinstance(crop, str) else crop)
        ignore = set(KINDS if literal is True else literal or ())
        ignore |= {"place"} if place is not None else set()
        ignore |= {"person"} if person else set()
        ignore |= {"date"} if after or before or taken_on else set()
        parsed, photo_filter, understood = understood_terms(
            self.catalog,
            parsed,
            photo_filter,
            frozenset(ignore),
            subject_words(),
            user_language(self.settings.language),
        )
        s = self.settings
        plan = SearchPlan(
            parsed, photo_filter, understood, k or s.top_k, SearchKnobs(ef_search or s.ef_search, s.nprobe, s.rerank),
            min_score, include_query, all_copies, sort, use_words,
        )  # fmt: skip
        row = self.query_model()
        exclude: list[int] = []
        images: list[tuple[Path, bool]] = []
        query = combine([self._term_vector(term, row, exclude, images) for term in plan.terms], plan.terms)
        index = self.index_for(row)

        def clip_score(picture: ImageRow) -> float:
            stored = self.catalog.vector_of_image(picture.id, row.id)
            return float(stored[1] @ query) if stored is not None else 0.0

        results = run_plan(plan, self.catalog, index, query, exclude, clip_score)
        ranked = described(self.catalog, results, row.id, s.raw_pairs == "group")
        asked = [word for text in plan.texts for word in query_words(text)]
        return SearchResponse(
            [term.describe() for term in plan.terms], row.name, ranked, images, index.status().current, asked,
            understood, self.catalog.undated_left_out(photo_filter),
        )  # fmt: skip

    def _search_words(
        self, words: str, k: int, photo_filter: PhotoFilter, sort: str, all_copies: bool
    ) -> SearchResponse:
        """The text read in pictures alone: no model, no index."""
        if not query_words(words):
            raise QueryError(f"--words {words!r}: give a word of at least {MIN_WORD} letters or digits")
        results = rank_words_only(word_hits(self.catalog, words, photo_filter), k, all_copies)
        model_id = self.query_model().id if self.catalog.models() else None
        ranked = described(self.catalog, sort_results(results, sort), model_id, self.settings.raw_pairs == "group")
        undated = self.catalog.undated_left_out(photo_filter)
        return SearchResponse(
            [f"words {words!r}"], "text in pictures", ranked, words=query_words(words), undated_left_out=undated
        )

    def _folder_prefix(self, under: str) -> str:
        """``under`` as the catalog's path prefix ("" for the whole library, else "a/b/").

        A folder may be named relative to the root (as in results) or by any path to it,
        absolute or from the current folder. Names relative to the root are normalised
        lexically, so a linked folder inside the library keeps the name its images have.
        """
        given = Path(os.path.expanduser(under))
        lexical = os.path.normpath(given)
        climbs_out = lexical == os.pardir or lexical.startswith(os.pardir + os.sep)
        if not given.is_absolute() and not climbs_out and (self.root / lexical).is_dir():
            relative = lexical
        elif given.is_dir():
            if not is_inside(given, self.root):
                raise QueryError(f"{under}: not a folder in the library {self.root}")
            relative = os.path.relpath(os.path.realpath(given), os.path.realpath(self.root))
        else:
            raise QueryError(f"{under}: not a folder in the library {self.root}")
        return "" if relative == os.curdir else Path(relative).as_posix() + "/"

    def recommend(
        self,
        liked: Sequence[str | int | os.PathLike[str]],
        disliked: Sequence[str | int | os.PathLike[str]] = (),
        **options: Any,
    ) -> SearchResponse:
        """More like the liked images (files or ids), less like the disliked; inputs never returned."""
        if not liked:
            raise QueryError("recommend needs at least one liked image")
        terms = [parse_file_or_id(_term_text(item)) for item in liked]
        terms += [parse_file_or_id(_term_text(item), negative=True) for item in disliked]
        return self.search(terms, include_query=False, **options)

    def duplicates(self, threshold: float = 0.95, keep_under: str | None = None) -> list[DuplicateGroup]:
        """Exact copies, near duplicates (cosine >= threshold) and bursts among the library's images.

        ``keep_under`` (a folder of the library) is where a group's keeper is taken from first.
        """
        if not 0 < threshold <= 1:
            raise QueryError(f"--threshold {threshold}: must be above 0 and at most 1")
        prefer = self._folder_prefix(keep_under) if keep_under else None
        models = self.catalog.models()
        row = self.query_model() if models else None
        index = self.index_for(row) if row else None
        return find_duplicates(
            self.catalog, index, threshold, self.settings.ef_search, prefer_folder=prefer,
            raw_pairs=self.settings.raw_pairs == "group",
        )  # fmt: skip

    def not_embedded(self) -> int:
        """Catalogued images without a vector yet (duplicates and searches cannot see them)."""
        return self.catalog.state_counts()["pending"]

    def move_duplicates(
        self, groups: Sequence[DuplicateGroup], target: Path, apply: bool, confirmed: bool = False
    ) -> tuple[list[Move], MoveReport | None]:
        """The moves that resolve ``groups`` into ``target``; with ``apply``, done, with a manifest.

        A plan that would move more than half of the library (a model whose vectors group
        everything, a threshold set too low) is applied only ``confirmed`` (``--yes``).

        The plan is checked again under the write lock against the catalog as it is then (a
        second resolve that ran meanwhile has moved its files out of the live set) and each file
        on disk as it is then. Moved images leave the catalog's live set at once (their rows wait
        as 'gone', so an undo before the next ``index`` brings them back with their vectors).
        """
        moves = plan_moves(groups, self.root, target.absolute())
        if not apply:
            return moves, None
        if self.moves_most(moves) and not confirmed:
            raise SettingsError(
                f"the plan moves {len(moves)} of the library's {self.catalog.state_counts()['ok']} files, more than"
                " half: check it without --apply (a model with poor vectors groups everything), then add --yes"
            )
        with self._write_lock():
            current = self.catalog.images_by_ids([i for m in moves for i in (m.image_id, m.keeper.id)])
            report = apply_moves(moves, self.root, target.absolute(), current)
            self.catalog.move_out(report.moved_ids)
        return moves, report

    def moves_most(self, moves: Sequence[Move]) -> bool:
        """Whether ``moves`` would take more than half of the library's files out of it."""
        return len(moves) * 2 > self.catalog.state_counts()["ok"]

    def resolve_group(self, image_ids: Sequence[int], keeper_id: int, threshold: float) -> MoveReport:
        """Move every image of one duplicate group but ``keeper_id`` to ``duplicates_dir`` (the web page's
        "move the others"); the group must be one ``duplicates(threshold)`` finds, and not a burst.

        The group is found again under the write lock, so two resolves at once cannot each move
        "the other" copy; at most ``MAX_RESOLVE_MOVES`` files move, and never at a threshold
        below ``MIN_MOVE_THRESHOLD``.
        """
        if threshold < MIN_MOVE_THRESHOLD:
            raise QueryError(f"threshold {threshold}: files are moved only for groups at {MIN_MOVE_THRESHOLD} or above")
        wanted = set(image_ids)
        if len(wanted) - 1 > MAX_RESOLVE_MOVES:
            raise QueryError(f"a group of {len(wanted)} images: one resolve moves at most {MAX_RESOLVE_MOVES} files")
        with self._write_lock():
            group = next((g for g in self.duplicates(threshold) if {i.id for i in g.images} == wanted), None)
            if group is None or keeper_id not in wanted:
                raise QueryError("these images are no longer one duplicate group; look for duplicates again")
            if group.kind == "burst":
                raise QueryError("a burst is similar shots, not duplicates: nothing is moved")
            chosen = replace(group, keeper=next(i for i in group.images if i.id == keeper_id))
            _, report = self.move_duplicates([chosen], self.settings.moved_duplicates_dir, apply=True)
            assert report is not None and report.manifest is not None
            self._last_move_file().write_text(str(report.manifest), encoding="utf-8")
        return report

    def undo_last_move(self) -> MoveReport:
        """Undo the web page's last "move the others"."""
        try:
            manifest = Path(self._last_move_file().read_text(encoding="utf-8").strip())
        except FileNotFoundError:
            raise QueryError("no move to undo") from None
        report = self.undo_moves(manifest)
        self._last_move_file().unlink(missing_ok=True)
        return report

    def _last_move_file(self) -> Path:
        return self.settings.state_dir / "last-move"

    def undo_moves(self, manifest: Path) -> MoveReport:
        """Put back what a manifest moved out of this library, then rescan so the catalog follows."""
        with self._write_lock():
            report = undo_moves(manifest, self.root)
            self.scan()
        return report

    def image(self, image_id: int) -> ImageRow | None:
        return self.catalog.image(image_id)

    def status(self, check: bool = False) -> StatusReport:
        """Counts, models, index freshness and failures.

        ``check`` first runs SQLite's integrity check (a damaged catalog is reported, not read
        further), then compares every index's stored vectors and row files with the catalog's.
        """
        if check:
            catalog_integrity = self.catalog.integrity_check()
            if catalog_integrity != "ok":
                report = StatusReport(str(self.root), str(self.catalog.path), {}, [], None, None, [])
                report.integrity = (
                    f"catalog damaged: {catalog_integrity}; restore a backup or move .imrec away and re-index"
                )
                return report
        counts = self.catalog.state_counts()
        vector_counts = self.catalog.vector_counts()
        models = [
            {"name": m.name, "pretrained": m.pretrained, "dim": m.dim, "vectors": vector_counts.get(m.id, 0)}
            for m in self.catalog.models()
        ]
        index_status = None
        model_name = None
        if models:
            row = self.query_model()
            model_name = row.name
            index_status = self.index_for(row).status()
        failures = [(image.path, image.error or "") for image in self.catalog.failures()]
        integrity = self._check_indexes() if check else None
        read, total, with_text, text_failed = self.catalog.text_progress()
        text = {
            "read": read,
            "total": total,
            "with_text": with_text,
            "failed": text_failed,
            "on": self.settings.ocr,
            "failures": [{"path": path, "error": error} for path, error in self.catalog.text_failures()],
        }
        return StatusReport(
            str(self.root),
            str(self.catalog.path),
            counts,
            models,
            model_name,
            index_status,
            failures,
            integrity,
            self.text_tower_name(),
            text,
            self.catalog.video_count(),
            [(image.path, image.error or "") for image in self.catalog.read_in_part()],
            self._face_status(),
        )

    def _face_status(self) -> dict[str, Any]:
        looked, total, faces, failed = self.catalog.face_progress()
        return {
            "looked": looked, "total": total, "faces": faces, "failed": failed,
            "people": len(self.catalog.people(include_hidden=True)), "on": self.settings.faces,
        }  # fmt: skip

    def _check_indexes(self) -> str:
        """ "ok", or which index holds vectors that differ from the catalog's."""
        for row in self.catalog.models():
            if self.index_for(row).damage_everywhere(INDEX_CHECK_SAMPLE):
                return f"index of {row.name} differs from the catalog (damaged file); 'imrec index' rebuilds it"
        return "ok"


def _with_crop(terms: list[Term], crop: Crop) -> list[Term]:
    """The terms with ``crop`` on their one positive picture; one line when there is not exactly one."""
    pictures = [number for number, term in enumerate(terms) if term.kind in ("file", "id") and not term.negative]
    if len(pictures) != 1:
        raise QueryError("--crop needs exactly one query image to cut the region from (a file or an id)")
    return [replace(term, crop=crop) if number == pictures[0] else term for number, term in enumerate(terms)]


def _rate(done: int, seconds: float) -> float:
    return done / seconds if seconds > 0 else 0.0


def _spec_of(row: ModelRow) -> ModelSpec:
    """How to load a catalogued model again: its architecture, weights (tag or file) and config."""
    return ModelSpec(row.name, row.weights, Path(row.config) if row.config else None)


def _term_text(item: str | int | os.PathLike[str]) -> str:
    return str(item) if isinstance(item, int) else os.fspath(item)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [value]
    return list(value)


def engine_options(settings: Settings) -> EngineOptions:
    """What runs the model, as the settings choose it (one place builds it from them)."""
    from image_recommender.models.torch_model import EngineOptions

    return EngineOptions(settings.engine, settings.openvino_device, settings.engine_cache)
