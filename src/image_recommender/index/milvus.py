"""Milvus as an index kind: one model's vectors in a Milvus collection instead of a FAISS file.

By default the collection lives in Milvus Lite, embedded, in the library's ``.imrec/milvus.db``;
``milvus_uri`` (``--milvus-uri``) points at a Milvus server or cluster instead, with its token
read from ``IMREC_MILVUS_TOKEN`` only (never from a settings file). Milvus then holds the one
searchable copy of the vectors and the local FAISS index is removed.

The catalog stays the authority, as for a FAISS index: the labels are the catalog's vector
ids, and the set of labels Milvus was last brought up to (``<index>.milvus-labels.npy``, 8
bytes an image, no vectors) tells at search time which labels went stale and which are not
in Milvus yet, without asking Milvus for all of its ids. Adds are upserts, so a sync killed
half-way and run again stores nothing twice; the label file and the small sidecar are
replaced atomically after Milvus has flushed, which is the commit.

Filters: dates, camera, places, people, themes and folders are decided by the catalog (dates
and people change as metadata is read and people named; a copy of them in Milvus would lag),
and reach Milvus as the list of allowed ids, in chunks of ``ID_LIST_LIMIT`` whose best are
merged: each chunk's search is restricted inside Milvus, so k results come back whenever k
pictures match. A filter matching up to ``EXACT_FILTER_LIMIT`` pictures is scored exactly from
the catalog, as with every kind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from image_recommender.catalog.rows import ModelRow
from image_recommender.catalog.store import Catalog
from image_recommender.errors import LibraryError
from image_recommender.index.kinds import BUILD_CHUNK, EXACT_FILTER_LIMIT, MAX_EXACT_UNINDEXED, default_ef_search
from image_recommender.index.storage import VectorIndex, remove_index
from image_recommender.index.sync import IndexReport, IndexSettings, IndexStatus, LibraryIndex, _Liveness

MILVUS_EXTRA_HINT = "pip install 'image-recommender[milvus]'"
TOKEN_VARIABLE = "IMREC_MILVUS_TOKEN"
LITE_FILE = "milvus.db"
# Ids in one "id in [...]" restriction, and results one Milvus search may return (its topk cap).
ID_LIST_LIMIT = 16_384
# Query vectors per search request when duplicates are looked for.
NEIGHBOUR_QUERIES = 256
# Vectors compared per request by the damage checks, and ids sent per delete.
CHECK_CHUNK = 1_000
# A stored vector further than this from the catalog's (any component) is damaged.
DAMAGE_TOLERANCE = 1e-4


def milvus_sidecar(sidecar: Path) -> Path:
    """Where the Milvus sidecar of the FAISS index ``sidecar`` would be: beside it, in the state folder."""
    return sidecar.with_name(sidecar.stem + ".milvus.json")


def uses_milvus(sidecar: Path, settings: IndexSettings) -> bool:
    """Milvus when it is the kind asked for now, or (kind not named) the kind the index was last built as."""
    if settings.kind_named:
        return settings.kind == "milvus"
    return milvus_sidecar(sidecar).is_file()


def lite_uri(state_dir: Path) -> str:
    return str(state_dir / LITE_FILE)


def shown_uri(uri: str) -> str:
    """The address without any password in it (``http://user:secret@host`` -> ``http://user:***@host``)."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", uri)


def _client(uri: str) -> Any:
    """A client of the Milvus at ``uri`` (a ``.db`` path: Milvus Lite, started here). pymilvus
    logs each failed request with a traceback of its own; imrec says the failure in one line."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise LibraryError(f"the milvus index needs pymilvus and milvus-lite: {MILVUS_EXTRA_HINT}") from None
    for name in ("pymilvus", "milvus_lite", "grpc"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    token = os.environ.get(TOKEN_VARIABLE, "")
    try:
        return MilvusClient(uri, token=token) if token else MilvusClient(uri)
    except Exception as exc:  # pymilvus raises its own exception types for every kind of failure
        if _held_elsewhere(uri):
            raise LibraryError(
                f"Milvus Lite in {uri} is open in another process (an 'imrec serve'?): Milvus Lite serves one"
                " process at a time; stop it and try again, or keep the index on a Milvus server (--milvus-uri)"
            ) from None
        raise LibraryError(f"Milvus at {shown_uri(uri)} could not be opened: {_reason(exc)}") from None


def _held_elsewhere(uri: str) -> bool:
    """Whether another process holds Milvus Lite's lock on this data folder (asked after a failed open)."""
    lock = Path(uri) / "LOCK"
    try:
        descriptor = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(descriptor)


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]


class MilvusIndex(LibraryIndex):
    """One model's vectors in a Milvus collection, kept in step with the catalog like a FAISS
    index: ``sync`` removes the stale and upserts the missing, ``nearest`` answers with exact
    inner products (Milvus's HNSW over float32 vectors; unsynced vectors from the catalog)."""

    def __init__(
        self, catalog: Catalog, sidecar: Path, model: ModelRow, settings: IndexSettings, uri: str, uri_named: bool
    ) -> None:
        super().__init__(catalog, sidecar, model, settings)
        self.meta_path = milvus_sidecar(sidecar)
        self.labels_path = sidecar.with_name(sidecar.stem + ".milvus-labels.npy")
        kept = self._meta()
        # The address it was built in, unless another is asked for: a search needs no flag.
        self.uri = uri if uri_named or not kept else str(kept.get("uri", uri))
        self._connection: Any = None
        self._loaded_collections: set[str] = set()
        self._held: tuple[tuple[int, int], np.ndarray] | None = None

    # -- what this side keeps --------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _collection(self) -> str:
        """The collection's name: the model's slug and a tag made once per library (a cluster holds many)."""
        tag = str(self._meta().get("tag") or uuid.uuid4().hex[:8])
        return "imrec_" + re.sub(r"[^A-Za-z0-9_]", "_", self.sidecar.stem.removeprefix("index-"))[:180] + "_" + tag

    def _labels(self) -> np.ndarray:
        """The labels Milvus was last brought up to, sorted (empty before the first sync)."""
        try:
            version = self.labels_path.stat()
        except FileNotFoundError:
            return np.zeros(0, np.int64)
        key = (version.st_mtime_ns, version.st_size)
        if self._held is None or self._held[0] != key:
            try:
                labels = np.load(self.labels_path, allow_pickle=False)
            except (OSError, ValueError):
                labels = np.zeros(0, np.int64)
            if labels.ndim != 1 or labels.dtype != np.int64:
                labels = np.zeros(0, np.int64)  # not a file this program wrote: resynced by the next index
            self._held = (key, np.sort(labels))
        return self._held[1]

    def _commit(self, labels: np.ndarray, generation: int, collection: str) -> None:
        """Replace the label file, then the sidecar (its rename is the commit)."""
        ahead = self.labels_path.with_name(self.labels_path.name + ".new")
        with open(ahead, "wb") as out:
            np.save(out, np.sort(labels).astype(np.int64))
            out.flush()
            os.fsync(out.fileno())
        os.replace(ahead, self.labels_path)
        meta = {
            "kind": "milvus",
            "uri": self.uri,
            "collection": collection,
            "tag": collection.rsplit("_", 1)[-1],
            "model": self.model.name,
            "pretrained": self.model.pretrained,
            "dim": self.model.dim,
            "generation": generation,
            "count": len(labels),
        }
        ahead = self.meta_path.with_name(self.meta_path.name + ".new")
        ahead.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(ahead, self.meta_path)

    # -- Milvus ------------------------------------------------------------------------------

    def _milvus(self) -> Any:
        if self._connection is None:
            self._connection = _client(self.uri)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
            self._loaded_collections.clear()

    def _ready(self, name: str) -> Any:
        """The client, with the collection loaded for reading (a new process finds it released)."""
        client = self._milvus()
        if name not in self._loaded_collections:
            if not self._call("looking for the collection", client.has_collection, name):
                raise LibraryError(
                    f"Milvus at {shown_uri(self.uri)}: the collection {name} is gone; 'imrec index' rebuilds it"
                )
            self._call("loading the collection", client.load_collection, name)
            self._loaded_collections.add(name)
        return client

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """One request, its failure said in a line naming the address."""
        try:
            return call(*args, **kwargs)
        except LibraryError:
            raise
        except Exception as exc:
            raise LibraryError(f"Milvus at {shown_uri(self.uri)}: {what} failed: {_reason(exc)}") from None

    def _create(self, name: str) -> None:
        from pymilvus import DataType

        client = self._milvus()
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.model.dim)
        params = client.prepare_index_params()
        params.add_index(
            field_name="vector",
            index_type="HNSW",
            metric_type="IP",
            params={"M": self.settings.hnsw_m, "efConstruction": self.settings.ef_construction},
        )
        self._call("creating the collection", client.create_collection, name, schema=schema, index_params=params)

    def drop(self) -> None:
        """Remove the collection and what this side keeps of it (the FAISS index takes over)."""
        meta = self._meta()
        if meta.get("collection"):
            client = self._milvus()
            if self._call("looking for the collection", client.has_collection, meta["collection"]):
                self._call("dropping the collection", client.drop_collection, meta["collection"])
            self._loaded_collections.discard(meta["collection"])
        for path in (self.meta_path, self.labels_path):
            path.unlink(missing_ok=True)
        self._held = None

    def stored_count(self) -> int:
        """The vectors the collection holds, as Milvus counts them."""
        name = self._meta().get("collection")
        client = self._milvus()
        if not name or not self._call("looking for the collection", client.has_collection, name):
            return 0
        rows = self._call("counting", self._ready(name).query, name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def stored_vectors(self, labels: np.ndarray) -> dict[int, np.ndarray]:
        """label -> the vector Milvus holds for it (labels it lacks are absent)."""
        name = self._meta().get("collection")
        found: dict[int, np.ndarray] = {}
        if not name or not len(labels):
            return found
        if not self._call("looking for the collection", self._milvus().has_collection, name):
            return found  # every vector missing: damage, which the next sync repairs
        client = self._ready(name)
        for start in range(0, len(labels), CHECK_CHUNK):
            chunk = [int(label) for label in labels[start : start + CHECK_CHUNK]]
            for row in self._call("reading vectors", client.get, name, ids=chunk, output_fields=["vector"]):
                found[int(row["id"])] = np.asarray(row["vector"], dtype=np.float32)
        return found

    # -- reading -----------------------------------------------------------------------------

    def committed(self) -> VectorIndex | None:
        """No FAISS index: what reads one directly (duplicates) scores from the catalog's vectors."""
        return None

    def _current(self) -> bool:
        meta = self._meta()
        return bool(meta) and meta.get("generation") == self.catalog.generation()

    def _state(self) -> _Liveness:
        """Stale labels (in Milvus, no longer live) and unsynced ones (live, not in Milvus yet)."""
        generation = self.catalog.generation()
        known = self._outdated
        if self._current():
            return _Liveness(np.zeros(0, np.int64), np.zeros(0, np.int64))
        if known is not None and known[0] == generation:
            return known[2]
        live, held = self.catalog.live_labels(self.model.id), self._labels()
        found = _Liveness(np.setdiff1d(held, live, assume_unique=True), np.setdiff1d(live, held, assume_unique=True))
        self._outdated = (generation, None, found)
        return found

    def status(self) -> IndexStatus:
        held = self._labels()
        found = self._state()
        exists = bool(self._meta())
        return IndexStatus(
            exists=exists,
            count=len(held),
            live=len(held) - len(found.stale) + len(found.unindexed),
            stale=len(found.stale),
            unindexed=len(found.unindexed),
            kind="milvus" if exists else None,
        )

    def nearest(
        self,
        query: np.ndarray,
        k: int,
        ef_search: int = 0,
        allowed: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
        nprobe: int = 0,
        rerank: int = 0,
        ties: int = 0,
    ) -> list[tuple[float, int]]:
        """(score, label) of the best live vectors, best first, k (and ``ties``) of them, as
        ``LibraryIndex.nearest``; ``nprobe`` and ``rerank`` have no meaning here."""
        found = self._state()
        excluded = np.zeros(0, np.int64) if excluded is None else excluded
        wanted = k + ties
        held = self._labels()
        candidates: list[tuple[float, int]] = []
        if allowed is not None:
            allowed = np.setdiff1d(allowed, excluded)
            if len(allowed) <= EXACT_FILTER_LIMIT:
                candidates = self._exact_scores(query, allowed, wanted)
                candidates.sort(key=lambda item: (-item[0], item[1]))
                return candidates[:wanted]
            in_milvus = np.intersect1d(allowed, np.setdiff1d(held, found.stale), assume_unique=True)
            for start in range(0, len(in_milvus), ID_LIST_LIMIT):
                chunk = in_milvus[start : start + ID_LIST_LIMIT]
                candidates += self._search(query, wanted, ef_search, "id in " + _id_list(chunk))
            scored_exactly = np.intersect1d(allowed, found.unindexed, assume_unique=True)
        else:
            dropped = np.intersect1d(np.union1d(found.stale, excluded), held)
            if len(dropped) > ID_LIST_LIMIT:
                raise LibraryError(f"{len(dropped)} vectors in Milvus are stale; run 'imrec build-index' first")
            if len(held):
                candidates += self._search(
                    query, wanted, ef_search, "id not in " + _id_list(dropped) if len(dropped) else ""
                )
            scored_exactly = np.setdiff1d(found.unindexed, excluded)
        if len(scored_exactly) > MAX_EXACT_UNINDEXED:
            raise LibraryError(f"{len(scored_exactly)} images are not in the index yet; run 'imrec build-index' first")
        candidates += self._exact_scores(query, scored_exactly, wanted)
        candidates.sort(key=lambda item: (-item[0], item[1]))
        return candidates[:wanted]

    def _search(self, query: np.ndarray, wanted: int, ef_search: int, restriction: str) -> list[tuple[float, int]]:
        name = self._meta().get("collection")
        if not name:
            return []
        limit = min(wanted, ID_LIST_LIMIT)
        beam = max(limit, ef_search or default_ef_search(len(self._labels())))
        hits = self._call(
            "searching",
            self._ready(name).search,
            name,
            data=[np.asarray(query, dtype=np.float32).reshape(-1).tolist()],
            limit=limit,
            filter=restriction,
            output_fields=[],
            search_params={"metric_type": "IP", "params": {"ef": beam}},
        )
        return [(float(hit["distance"]), int(hit["id"])) for hit in (hits[0] if hits else [])]

    def held(self) -> np.ndarray:
        """The labels Milvus was last brought up to, sorted."""
        return self._labels()

    def neighbours(
        self, vectors: np.ndarray, k: int, ef_search: int, others: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, labels) of each vector's ``k`` nearest in Milvus, padded with -1, leaving out
        ``others`` (inside Milvus up to ``ID_LIST_LIMIT`` of them, else after asking for more):
        how duplicates are found without holding the library's vectors in memory."""
        name = self._meta().get("collection")
        scores = np.zeros((len(vectors), k), np.float32)
        found = np.full((len(vectors), k), -1, np.int64)
        if not name or not len(vectors):
            return scores, found
        inside = len(others) <= ID_LIST_LIMIT
        restriction = "id not in " + _id_list(others) if inside and len(others) else ""
        limit = min(ID_LIST_LIMIT, k if inside else k + len(others))
        dropped = set() if inside else set(others.tolist())
        beam = max(limit, ef_search or default_ef_search(len(self._labels())))
        for start in range(0, len(vectors), NEIGHBOUR_QUERIES):
            batch = vectors[start : start + NEIGHBOUR_QUERIES]
            hits = self._call(
                "searching",
                self._ready(name).search,
                name,
                data=[np.asarray(vector, dtype=np.float32).tolist() for vector in batch],
                limit=limit,
                filter=restriction,
                output_fields=[],
                search_params={"metric_type": "IP", "params": {"ef": beam}},
            )
            for row, answer in enumerate(hits):
                kept = [(float(hit["distance"]), int(hit["id"])) for hit in answer if int(hit["id"]) not in dropped]
                for column, (score, label) in enumerate(kept[:k]):
                    scores[start + row, column], found[start + row, column] = score, label
        return scores, found

    # -- checks ------------------------------------------------------------------------------

    def damage(self, sample: int) -> int:
        """How many of a random sample of the synced live vectors Milvus lacks or holds differently."""
        held = np.setdiff1d(self._labels(), self._state().stale)
        if not len(held) or sample <= 0:
            return 0
        picks = np.sort(np.random.default_rng().choice(held, size=min(sample, len(held)), replace=False))
        return self._differing(picks)

    def damage_everywhere(self, sample: int) -> int:
        """Every synced live vector compared with the catalog's, and Milvus's count with the label file's."""
        held = self._labels()
        differing = abs(self.stored_count() - len(held))
        live = np.setdiff1d(held, self._state().stale)
        for start in range(0, len(live), BUILD_CHUNK):
            differing += self._differing(live[start : start + BUILD_CHUNK])
        return differing

    def _differing(self, labels: np.ndarray) -> int:
        found, vectors = self.catalog.vectors_by_labels(labels.tolist())
        stored = self.stored_vectors(found)
        differing = len(found) - len(stored)
        for label, vector in zip(found.tolist(), vectors, strict=True):
            held = stored.get(label)
            if held is not None and not (
                held.shape == vector.shape and float(np.abs(held - vector).max()) <= DAMAGE_TOLERANCE
            ):
                differing += 1
        return differing

    # -- writing -----------------------------------------------------------------------------

    def sync(self, rebuild: bool = False, check_sample: int = 64) -> IndexReport:
        """Bring the collection up to the catalog: stale labels deleted, missing ones upserted;
        a rebuild (asked, another address, another width, or damage found) starts it afresh."""
        started = time.perf_counter()
        generation = self.catalog.generation()
        meta = self._meta()
        fresh = (
            rebuild
            or not meta
            or meta.get("uri") != self.uri
            or meta.get("dim") != self.model.dim
            or (check_sample and self.damage(check_sample))
        )
        if not fresh and self._current():
            return IndexReport(len(self._labels()), 0, False, 0, "milvus")
        client = self._milvus()
        name = self._collection()
        if fresh:
            if meta.get("collection") and meta.get("uri") == self.uri:
                name = str(meta["collection"])
            if self._call("looking for the collection", client.has_collection, name):
                self._call("dropping the collection", client.drop_collection, name)
            self._loaded_collections.discard(name)
            held = np.zeros(0, np.int64)
        else:
            name = str(meta["collection"])
            held = self._labels()
        if not self._call("looking for the collection", client.has_collection, name):
            self._create(name)
            held = np.zeros(0, np.int64)
        client = self._ready(name)
        live = self.catalog.live_labels(self.model.id)
        stale = np.setdiff1d(held, live, assume_unique=True)
        missing = np.setdiff1d(live, held, assume_unique=True)
        for start in range(0, len(stale), CHECK_CHUNK):
            chunk = stale[start : start + CHECK_CHUNK]
            self._call("deleting", client.delete, name, ids=[int(label) for label in chunk])
        for start in range(0, len(missing), BUILD_CHUNK):
            found, vectors = self.catalog.vectors_by_labels(missing[start : start + BUILD_CHUNK].tolist())
            rows = [{"id": int(label), "vector": vector} for label, vector in zip(found.tolist(), vectors, strict=True)]
            if rows:
                self._call("storing vectors", client.upsert, name, rows)
        if len(stale) or len(missing):
            self._call("flushing", client.flush, name)
        self._commit(live, generation, name)
        remove_index(self.sidecar)  # one searchable copy: the FAISS index, if any, gives way
        seconds = time.perf_counter() - started
        return IndexReport(len(live), len(missing), bool(fresh), 0, "milvus", seconds)


def _id_list(labels: np.ndarray) -> str:
    return "[" + ",".join(str(int(label)) for label in labels) + "]"
