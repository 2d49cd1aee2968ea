"""Bringing a library up to date: scan, embedding, the index, then the passes (the main job)."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from image_recommender.answers import UpdateSummary
from image_recommender.catalog.rows import ModelRow
from image_recommender.errors import ImageDecodeError, IndexMismatchError, ModelError
from image_recommender.index.milvus import MilvusIndex, lite_uri, milvus_sidecar
from image_recommender.index.sync import IndexReport
from image_recommender.library.albums import Albums
from image_recommender.library.passes import Passes
from image_recommender.library.shared import INDEX_CHECK_SAMPLE, Part, Shared, engine_options, spec_of
from image_recommender.library.themes import Themes
from image_recommender.models.spec import ModelSpec
from image_recommender.scan import ScanReport, scan_library

if TYPE_CHECKING:
    from image_recommender.embed.pipeline import EmbedReport, ProgressCallback
    from image_recommender.text.reading import TextGate, TextProgress
    from image_recommender.video.embedding import VideoReport


class Indexing(Part):
    """Bringing the library up to date: scan, embed pictures and videos, metadata and places,
    the index, then the passes, themes and album mirrors (``update``, the main job)."""

    def __init__(self, shared: Shared, passes: Passes, themes: Themes, albums: Albums) -> None:
        super().__init__(shared)
        self.passes = passes
        self.themes = themes
        self.albums = albums

    def scan(self) -> ScanReport:
        """Bring the catalog's file list up to date with the folder."""
        with self.shared.write_lock():
            s = self.settings
            return scan_library(self.catalog, self.root, s.include_hidden, s.follow_symlinks, s.allow_mass_removal)

    def fill_metadata(self, chunk: int = 256) -> int:
        """Read the metadata of images catalogued before it was recorded, from their headers only.

        A file that cannot be opened now keeps empty fields until its next change; returns how
        many images were filled.
        """
        from image_recommender.images.decode import open_regular_file
        from image_recommender.images.metadata import PhotoMetadata, read_metadata

        filled = 0
        with self.shared.write_lock():
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
        with self.shared.write_lock():
            while rows := self.catalog.positions_without_place(chunk):
                from image_recommender.places.geocoding import locate

                found = locate([(latitude, longitude) for _, latitude, longitude in rows])
                self.catalog.write_places([(row[0], place) for row, place in zip(rows, found, strict=True)])
                named += len(rows)
        return named

    def embed(
        self, retry_failed: bool = False, progress: ProgressCallback | None = None, add_model: bool = False
    ) -> EmbedReport:
        """Embed every new or changed image and video with the library's model(s); no model load if nothing is new.

        The library's models are those it was indexed with; a model named in the settings is
        used when the library holds it, and added beside them only with ``add_model``.
        """
        with self.shared.write_lock():
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
        model = self.shared.image_model(spec) if not self.settings.ray_address else self.shared.load_model(spec)
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
            full = self.shared.load_model(spec)  # the model loaded above: Ray ships torch models to its actors
            return embed_on_ray(self.catalog, self.root, full, loader, row.id, work, options, s.ray_address)
        return embed_pending(self.catalog, self.root, model, row.id, work, options)

    def embed_videos(self) -> VideoReport:
        """The video pass alone (``update`` runs it after the pictures): frames of new or changed videos."""
        with self.shared.write_lock():
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
            model = self.shared.image_model(spec)
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
            return [(spec_of(row), row) for row in held] or [(self.settings.model_spec, None)]
        spec = self.settings.model_spec
        row = self.catalog.find_model(*spec.catalog_key())
        if not held or add_model or row is not None:
            return [(spec, row)]
        names = ", ".join(spec_of(other).describe() for other in held)
        raise IndexMismatchError(
            f"this library is indexed with {names}, not {spec.describe()}: leave out --model/--pretrained to use"
            " the library's model, or pass --add-model to embed every image with this one too"
        )

    def _indexed_models(self) -> list[ModelRow]:
        """The models whose index ``build_index`` keeps current: the one named, else all held."""
        if self.settings.model_chosen:
            return [self.shared.query_model()]
        return self.catalog.models()

    def build_index(self, rebuild: bool = False) -> IndexReport:
        """Bring each model's index up to date; returns the report of the first (the library's own)."""
        with self.shared.write_lock():
            reports = [self._sync_index(row, rebuild) for row in self._indexed_models()]
        return reports[0] if reports else IndexReport()

    def _sync_index(self, row: ModelRow, rebuild: bool) -> IndexReport:
        """Sync the model's index; a FAISS kind named after Milvus takes the vectors back from Milvus."""
        index = self.shared.index_for(row)
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
        with self.shared.write_lock():
            self._check_ray()
            models = self.models_to_update(add_model)  # a refused model is refused before the scan changes anything
            waiting = self.catalog.state_counts()["pending"]
            scanned = self.scan()
            gate = self.passes.text_gate()
            embedded = self._embed_models(models, retry_failed, progress, gate)
            videos = self._embed_videos(models)
            self.fill_metadata()
            self.fill_places()
            self.catalog.purge_gone()
            indexed = self.build_index()
            text, skipped = self.passes.text_pass(text_progress, gate=gate)
            faces, faces_skipped = self.passes.face_pass()
            self.themes.join()
            mirrored = self.albums.mirror_all()
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


def _rate(done: int, seconds: float) -> float:
    return done / seconds if seconds > 0 else 0.0
