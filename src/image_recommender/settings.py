"""Every tunable of the tool in one place, resolved as defaults < config file < env < flags.

The seed's parameters live here under these names:

| seed              | setting            | config key / env var                        |
|-------------------|--------------------|---------------------------------------------|
| BASE_DIR          | ``root``           | positional ROOT / ``IMREC_ROOT``            |
| db_path           | ``db_path``        | ``db_path`` / ``IMREC_DB_PATH``             |
| batch_size        | ``batch_size``     | rows per catalog transaction                |
| model_batch_size  | ``model_batch_size`` | images per forward pass (0: by device)    |
| hnsw_M            | ``hnsw_m``         | HNSW graph degree                           |
| efConstruction    | ``ef_construction``| HNSW build beam                             |
| efSearch          | ``ef_search``      | HNSW query beam (0: 64, or 128 past 200k)   |
| (index type)      | ``index_kind``     | auto, hnsw, hnsw-sq8, ivf-pq, ivf-disk, flat, milvus |
| (Milvus address)  | ``milvus_uri``     | "" = Milvus Lite in ``.imrec/milvus.db``    |
| (index memory)    | ``memory_budget``  | index RAM cap for auto (0: a quarter of RAM)|
| TOP_K             | ``top_k``          | results per query                           |
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from image_recommender.errors import SettingsError
from image_recommender.models.spec import ModelSpec

STATE_DIR_NAME = ".imrec"


CONFIG_FILE_NAME = "config.toml"


ENV_PREFIX = "IMREC_"


DEVICES = ("auto", "cpu", "cuda", "mps")


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


DECODE_MODES = ("auto", "workers", "device")


ENGINES = ("auto", "torch", "openvino")


INDEX_KINDS = ("auto", "hnsw", "hnsw-sq8", "ivf-pq", "ivf-disk", "flat", "milvus")


# Bounds on what one query may cost: efSearch beyond a few thousand adds no recall, and
# each unit of it holds memory per query.
MAX_EF_SEARCH = 4096


MAX_TOP_K = 10_000


MAX_MODEL_BATCH = 4096


MAX_NPROBE = 65_536


MAX_RERANK = 100_000


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one library; immutable so every module sees the same values."""

    root: Path = field(default_factory=Path.cwd)
    db_path: Path | None = None
    model: str = "ViT-L-14"
    pretrained: str = "openai"
    model_config: Path | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 256
    model_batch_size: int = 0
    workers: int = -1
    decode: str = "auto"
    compile: bool = False
    engine: str = "auto"
    openvino_device: str = "CPU"
    engine_cache: Path | None = None
    index_kind: str = "auto"
    memory_budget: int = 0
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 0
    nprobe: int = 0
    rerank: int = 0
    # Where the milvus index kind keeps its vectors: "" for Milvus Lite in the state folder, else
    # a server or cluster ("http://host:19530"); its token only from IMREC_MILVUS_TOKEN.
    milvus_uri: str = ""
    top_k: int = 10
    # A multilingual text tower for text queries (M-CLIP: a hub name or a folder); "" = the
    # image model's own text tower.
    text_model: str = ""
    # Read the text in pictures after embedding (rapidocr), for word search; off: no text pass.
    ocr: bool = True
    # Find the faces in pictures after the text pass (dlib), group them into people; off: no face pass.
    faces: bool = True
    # The language of what imrec says about a query ("verstanden: ..."): de, en, or auto (from
    # LC_ALL / LC_MESSAGES / LANG), never switching with the words of each query.
    language: str = "auto"
    # A RAW and a JPEG/HEIC of the same name in one folder: one photo in results and never each
    # other's duplicates ("group"), or two files like any others ("separate").
    raw_pairs: str = "group"
    rebuild_share: float = 0.10
    include_hidden: bool = False
    follow_symlinks: bool = False
    allow_mass_removal: bool = False
    lock_timeout: float = 5.0
    allowed_hosts: str = ""
    duplicates_dir: Path | None = None
    ray_address: str = ""
    explicit: frozenset[str] = field(default=frozenset(), compare=False)
    # The folder asked for, when it lies inside this library and holds no catalog of its own.
    asked_for: Path | None = field(default=None, compare=False)

    @property
    def model_spec(self) -> ModelSpec:
        return ModelSpec(self.model, self.pretrained, self.model_config)

    @property
    def model_chosen(self) -> bool:
        """Whether the user named a model (flag, env or config) rather than taking the default."""
        return bool(self.explicit & {"model", "pretrained", "model_config"})

    @property
    def state_dir(self) -> Path:
        """Folder holding the catalog, indexes, thumbnails and lock; never scanned."""
        return self.root / STATE_DIR_NAME

    @property
    def moved_duplicates_dir(self) -> Path:
        """Where the web page moves resolved duplicates: the setting, else a sibling ROOT-duplicates folder."""
        return self.duplicates_dir or self.root.with_name(self.root.name + "-duplicates")

    @property
    def catalog_path(self) -> Path:
        return self.db_path if self.db_path is not None else self.state_dir / "catalog.sqlite3"

    @property
    def index_memory_budget(self) -> int:
        """Bytes an index may take in memory when ``index_kind`` is auto: the setting, else a
        quarter of this machine's RAM (16 GB of RAM: 4 GB, ten million images as IVF-PQ)."""
        if self.memory_budget:
            return self.memory_budget
        try:
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
        except (OSError, ValueError):
            return 4 << 30

    @property
    def worker_count(self) -> int:
        """Decode worker processes; -1 means one per core (measured best on 2 and 16 cores).

        With a model slower than decoding, prefetch fills and the extra workers sleep; with a
        faster one, every core decodes.
        """
        if self.workers >= 0:
            return self.workers
        return max(1, min(32, os.cpu_count() or 2))


_FIELDS = {f.name: f for f in fields(Settings)}


_PATH_FIELDS = {"root", "db_path", "model_config", "engine_cache", "duplicates_dir"}


_CHOICES = {
    "device": DEVICES,
    "precision": PRECISIONS,
    "decode": DECODE_MODES,
    "engine": ENGINES,
    "index_kind": INDEX_KINDS,
    "raw_pairs": ("group", "separate"),
    "language": ("auto", "de", "en"),
}


_POSITIVE_INT = {"batch_size", "hnsw_m", "ef_construction", "top_k"}


# Whole numbers where 0 means automatic, else 1 up to a bound.
_AUTO_OR_UP_TO = {
    "model_batch_size": MAX_MODEL_BATCH,
    "ef_search": MAX_EF_SEARCH,
    "nprobe": MAX_NPROBE,
    "rerank": MAX_RERANK,
}


_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Turn a raw value from a file, env var or flag into the field's type, or explain why not."""
    kind = _FIELDS[name].type
    try:
        if name in _PATH_FIELDS:
            return None if value in (None, "") else Path(os.path.expanduser(str(value)))
        if "bool" in kind:
            if isinstance(value, bool):
                return value
            return _BOOL_WORDS[str(value).strip().lower()]
        if name == "memory_budget":
            return parse_size(value)
        if "int" in kind:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
            if name in _POSITIVE_INT and number < 1:
                raise ValueError
            if (name == "workers" and number < -1) or (name == "top_k" and number > MAX_TOP_K):
                raise ValueError
            if name in _AUTO_OR_UP_TO and not 0 <= number <= _AUTO_OR_UP_TO[name]:
                raise ValueError
            return number
        if "float" in kind:
            amount = float(value)
            if amount < 0:
                raise ValueError
            if name == "rebuild_share" and amount > 1:
                raise ValueError
            return amount
        text = str(value)
        if name in _CHOICES and text not in _CHOICES[name]:
            raise SettingsError(f"{origin}: {name} must be one of {', '.join(_CHOICES[name])}, not {text!r}")
        return text
    except (KeyError, ValueError, TypeError):
        raise SettingsError(f"{origin}: invalid value {value!r} for {name} ({_describe(name)})") from None


def _describe(name: str) -> str:
    kind = _FIELDS[name].type
    if name == "top_k":
        return f"a whole number from 1 to {MAX_TOP_K}"
    if name in _POSITIVE_INT:
        return "a whole number >= 1"
    if name == "workers":
        return "a whole number >= 0, or -1 for automatic"
    if name in _AUTO_OR_UP_TO:
        return f"a whole number from 1 to {_AUTO_OR_UP_TO[name]}, or 0 for automatic"
    if name == "rebuild_share":
        return "a number between 0 and 1"
    if name == "memory_budget":
        return "a size such as 4GB or 512MB, or 0 for a quarter of the RAM"
    if "bool" in kind:
        return "true or false"
    if "float" in kind:
        return "a number >= 0"
    return "text"


def parse_size(value: Any) -> int:
    """A byte count from 4294967296, "4GB", "512 MB" or "1.5gb" (binary units)."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        number, unit = float(value), ""
    else:
        text = str(value).strip().lower().replace(" ", "")
        digits = text.rstrip("kmgtb")
        number, unit = float(digits), text[len(digits) :]
    if unit not in _SIZE_UNITS or not math.isfinite(number) or number < 0:
        raise ValueError
    return int(number * _SIZE_UNITS[unit])


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read config file: {exc}") from None
    section = data.get("imrec", data)
    unknown = sorted(set(section) - set(_FIELDS) - {"root"})
    if unknown:
        raise SettingsError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_FIELDS))})")
    return {key: _coerce(key, value, str(path)) for key, value in section.items() if key != "root"}


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in _FIELDS:
            values[name] = _coerce(name, raw, key)
    return values


def load_settings(
    root: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings for ``root``: defaults < ROOT/.imrec/config.toml < IMREC_* < overrides.

    ``overrides`` holds explicit flags or keyword arguments; ``None`` values mean "not given".
    """
    environ = os.environ if environ is None else environ
    env_values = _read_env(environ)
    chosen_root = root if root is not None else env_values.pop("root", None)
    env_values.pop("root", None)
    root_path = Path(os.path.expanduser(str(chosen_root))) if chosen_root is not None else Path.cwd()
    root_path = root_path.absolute()
    if root_path.exists() and not root_path.is_dir():
        raise SettingsError(f"{root_path}: is a file; give the library's folder")
    asked_for = None
    if not (overrides or {}).get("db_path") and (enclosing := enclosing_library(root_path)) is not None:
        asked_for, root_path = root_path, enclosing
    values: dict[str, Any] = {}
    values.update(_read_config_file(root_path / STATE_DIR_NAME / CONFIG_FILE_NAME))
    values.update(env_values)
    for name, raw in (overrides or {}).items():
        if name not in _FIELDS:
            raise SettingsError(f"unknown setting {name!r}")
        if raw is not None:
            values[name] = _coerce(name, raw, f"--{name.replace('_', '-')}")
    for name in ("db_path", "model_config", "engine_cache", "duplicates_dir"):
        if values.get(name) is not None:
            values[name] = Path(values[name]).absolute()
    config = values.get("model_config")
    if config is not None and values.get("model") not in (None, config.stem):
        raise SettingsError(
            f"model {values['model']!r} and model config {config} name different architectures"
            f" (a config registers its file name, {config.stem!r}); give one of them"
        )
    weights = ModelSpec("", values.get("pretrained", "")).weights_file
    if weights is not None:
        values["pretrained"] = str(weights.absolute())
    return dataclasses.replace(Settings(root=root_path), explicit=frozenset(values), asked_for=asked_for, **values)


def enclosing_library(folder: Path) -> Path | None:
    """The library that ``folder`` lies inside when ``folder`` holds no catalog itself, found as git
    finds its repository (the nearest folder above with ``.imrec/catalog.sqlite3``); None otherwise."""
    if not folder.is_dir() or (folder / STATE_DIR_NAME / "catalog.sqlite3").exists():
        return None
    for above in folder.parents:
        if (above / STATE_DIR_NAME / "catalog.sqlite3").is_file():
            return above
    return None


def user_language(setting: str = "auto") -> str:
    """ "de" or "en": the setting, else the locale the user runs in (``LANG=de_DE.UTF-8`` is German)."""
    if setting in ("de", "en"):
        return setting
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "de" if value.lower().startswith("de") else "en"
    return "en"
