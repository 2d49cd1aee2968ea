"""What the concepts of an open library share: settings, catalog, the write lock, models, indexes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from image_recommender.catalog.rows import ModelRow
from image_recommender.catalog.store import Catalog
from image_recommender.errors import IndexMismatchError, LibraryBusyError, LibraryError, ModelError, QueryError
from image_recommender.index.milvus import MilvusIndex, lite_uri, uses_milvus
from image_recommender.index.storage import sidecar_path
from image_recommender.index.sync import IndexSettings, LibraryIndex
from image_recommender.models.openvino_engine import default_engine_cache
from image_recommender.models.recommended import missing_weights
from image_recommender.models.spec import ModelSpec
from image_recommender.paths import is_inside
from image_recommender.settings import Settings

if TYPE_CHECKING:
    from image_recommender.models.cached_engine import CachedImageModel, CachedTextModel
    from image_recommender.models.openvino_text import OpenVinoTextTower
    from image_recommender.models.text_tower import TextTower
    from image_recommender.models.torch_model import EngineOptions, LoadedModel


# Vectors compared between index and catalog: all of a small index, a sample of a large one
# (status --check looks at this many, every index update at a quarter of it).
INDEX_CHECK_SAMPLE = 256


class Shared:
    """What every concept of an open library shares: its settings and catalog, the one write
    lock, the models loaded (once per process, for every concept) and each model's index."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._model: LoadedModel | None = None
        self._texts: CachedTextModel | None = None
        self._tower: tuple[str, TextTower | OpenVinoTextTower] | None = None
        self._lock_depth = 0
        self._indexes: dict[Path, LibraryIndex] = {}

    @property
    def root(self) -> Path:
        return self.settings.root

    def close(self) -> None:
        for index in self._indexes.values():
            if isinstance(index, MilvusIndex):
                index.close()
        self.catalog.close()

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
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

    def image_model(self, spec: ModelSpec) -> LoadedModel | CachedImageModel:
        """The model for embedding images: a conversion cached for OpenVINO runs without torch
        (about 3.5 s less per run on 2 cores), anything else is the full model."""
        if self._model is not None and self._model.spec == spec:
            return self._model
        s = self.settings
        if s.compile:
            return self.load_model(spec)
        from image_recommender.models.cached_engine import cached_image_model  # Pillow: not for a search by id

        cache = s.engine_cache or default_engine_cache()
        cached = cached_image_model(spec, s.engine, s.device, s.precision, s.openvino_device, cache)
        return cached if cached is not None else self.load_model(spec)

    def load_model(self, spec: ModelSpec) -> LoadedModel:
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
        names = ", ".join(spec_of(m).describe() for m in held)
        raise IndexMismatchError(
            f"this library was indexed with {names}, not {spec.describe()}: "
            f"leave out --model/--pretrained, or run 'imrec index --add-model' with this model first"
        )

    def encoder(self, row: ModelRow) -> LoadedModel:
        model = self.load_model(spec_of(row))
        if model.dim != row.dim:
            raise IndexMismatchError(f"model {row.name} now gives {model.dim}-d vectors, the index holds {row.dim}-d")
        return model

    def text_encoder(self, row: ModelRow) -> LoadedModel | CachedTextModel:
        """The model's own text side: the loaded model when there is one, else its converted text
        tower with the saved tokenizer (a cold text query without torch), else the full model."""
        spec = spec_of(row)
        if self._model is not None and self._model.spec == spec:
            return self._model
        if self._texts is None or self._texts.spec != spec:
            from image_recommender.models.cached_engine import cached_text_model

            s = self.settings
            cache = s.engine_cache or default_engine_cache()
            self._texts = cached_text_model(spec, s.engine, s.device, s.precision, s.openvino_device, cache)
        if self._texts is None:
            return self.encoder(row)
        if self._texts.dim != row.dim:
            raise IndexMismatchError(
                f"model {row.name} now gives {self._texts.dim}-d vectors, the index holds {row.dim}-d"
            )
        return self._texts

    def text_tower(self, row: ModelRow) -> TextTower | OpenVinoTextTower | None:
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
        self.encoder(row)
        tower = self.text_tower(row)
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

    def folder_prefix(self, under: str) -> str:
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


def spec_of(row: ModelRow) -> ModelSpec:
    """How to load a catalogued model again: its architecture, weights (tag or file) and config."""
    return ModelSpec(row.name, row.weights, Path(row.config) if row.config else None)


def engine_options(settings: Settings) -> EngineOptions:
    """What runs the model, as the settings choose it (one place builds it from them)."""
    from image_recommender.models.torch_model import EngineOptions

    return EngineOptions(settings.engine, settings.openvino_device, settings.engine_cache)


class Part:
    """A concept's share of an open library: the settings, the catalog and the root it works on."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    @property
    def settings(self) -> Settings:
        return self.shared.settings

    @property
    def catalog(self) -> Catalog:
        return self.shared.catalog

    @property
    def root(self) -> Path:
        return self.shared.root
