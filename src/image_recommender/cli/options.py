"""Options that several commands share, declared once so their names, metavars and help texts
cannot drift apart, and how a command's flags become the library's settings.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer

from image_recommender.cli.app import err
from image_recommender.errors import SettingsError
from image_recommender.library import Library
from image_recommender.settings import Settings

SETTING_NAMES = frozenset(Settings.__dataclass_fields__) - {"root", "explicit"}


LIBRARY_HELP = "Library folder (default: $IMREC_ROOT, else the current folder)."


RootArg = Annotated[Path | None, typer.Argument(metavar="ROOT", help=LIBRARY_HELP, show_default=False)]


LibraryOpt = Annotated[
    Path | None, typer.Option("--library", "-l", metavar="FOLDER", help=LIBRARY_HELP + " Same as ROOT.")
]


SearchLibraryOpt = Annotated[Path | None, typer.Option("--library", "-l", metavar="FOLDER", help=LIBRARY_HELP)]


DbOpt = Annotated[
    Path | None, typer.Option("--db", metavar="FILE", help="Catalog file [default: ROOT/.imrec/catalog.sqlite3].")
]


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", metavar="NAME", help="OpenCLIP architecture [default: the library's model; ViT-L-14 for a new one]."
    ),
]


PretrainedOpt = Annotated[
    str | None,
    typer.Option(
        "--pretrained",
        metavar="TAG|FILE",
        help="Pretrained weights: a tag, or a local checkpoint file [default: the library's own; openai for a new one].",
    ),
]


ModelConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-config", metavar="FILE", help="JSON config of a custom architecture (its name is the file's stem)."
    ),
]


# The options that choose a model, on every command that uses a model's vectors.
MODEL_OPTIONS = {"model": ModelOpt, "pretrained": PretrainedOpt, "model_config": ModelConfigOpt}
Command = TypeVar("Command", bound=Callable[..., Any])


def model_options(command: Command) -> Command:
    """Give a command --model, --pretrained and --model-config, declared here once: they are
    settings (open_library reads them from the context), so the command itself never sees them.
    Without them a command uses the library's remembered model."""
    signature = inspect.signature(command, eval_str=True)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in MODEL_OPTIONS.items()
    ]

    @functools.wraps(command)
    def with_options(*args: Any, **kwargs: Any) -> Any:
        for name in MODEL_OPTIONS:
            kwargs.pop(name, None)
        return command(*args, **kwargs)

    with_options.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *added])  # type: ignore[attr-defined]
    return cast(Command, with_options)


DeviceOpt = Annotated[
    str | None, typer.Option("--device", metavar="auto|cpu|cuda|mps", help="Where the model runs [default: auto].")
]


PrecisionOpt = Annotated[
    str | None,
    typer.Option(
        "--precision",
        metavar="auto|fp32|bf16|fp16",
        help="Model precision [default: auto = bf16 on CPUs with native bf16 and on CUDA, else fp32].",
    ),
]


EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        metavar="auto|torch|openvino",
        help="What runs the model [default: auto = OpenVINO on a CPU where it is installed, else torch].",
    ),
]


AddModelOpt = Annotated[
    bool,
    typer.Option(
        "--add-model", help="Embed the library with the named model too, beside the model(s) it already holds."
    ),
]


BatchSizeOpt = Annotated[
    int | None, typer.Option("--batch-size", metavar="N", help="Images per catalog transaction [default: 256].")
]


ModelBatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--model-batch-size", metavar="N", help="Images per forward pass [default: 0 = 256 on CUDA, 32 elsewhere]."
    ),
]


WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", metavar="N", help="Decode worker processes; 0 decodes in-process [default: one per core]."
    ),
]


DecodeOpt = Annotated[
    str | None,
    typer.Option(
        "--decode",
        metavar="auto|workers|device",
        help="Where JPEGs too small for a DCT draft are decoded [default: auto = nvJPEG on GPUs with hardware "
        "JPEG decoders, else the workers].",
    ),
]


CompileOpt = Annotated[
    bool | None,
    typer.Option("--compile", help="torch.compile the image tower (needs a C++ compiler; slow first batch)."),
]


RetryFailedOpt = Annotated[bool, typer.Option("--retry-failed", help="Try files that failed before again.")]


IndexKindOpt = Annotated[
    str | None,
    typer.Option(
        "--index",
        metavar="auto|hnsw|hnsw-sq8|ivf-pq|ivf-disk|flat|milvus",
        help="Index kind, kept until asked otherwise; auto picks by the library's size and --memory-budget"
        " [default: auto]; ivf-disk keeps its lists on disk (ivf-pq past the budget); milvus keeps the"
        " vectors in Milvus (Lite in .imrec/, or --milvus-uri).",
    ),
]


MilvusUriOpt = Annotated[
    str | None,
    typer.Option(
        "--milvus-uri",
        metavar="URI",
        help="The Milvus server or cluster of --index milvus (http://host:19530; its token from"
        " IMREC_MILVUS_TOKEN) [default: Milvus Lite in .imrec/milvus.db].",
    ),
]


RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Embed on a Ray cluster: host:port, or auto for the one RAY_ADDRESS names; alone, a local one."
        " ROOT must be the same path on every node. Needs the [ray] extra.",
    ),
]


MemoryBudgetOpt = Annotated[
    str | None,
    typer.Option(
        "--memory-budget", metavar="SIZE", help="RAM the index may use, e.g. 4GB [default: a quarter of the RAM]."
    ),
]


HnswMOpt = Annotated[int | None, typer.Option("--hnsw-m", metavar="M", help="HNSW graph degree M [default: 32].")]


EfConstructionOpt = Annotated[
    int | None, typer.Option("--ef-construction", metavar="N", help="HNSW build beam efConstruction [default: 200].")
]


EfSearchOpt = Annotated[
    int | None,
    typer.Option("--ef-search", metavar="N", help="HNSW query beam efSearch [default: 64, or 128 past 200k images]."),
]


TermsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="TERM",
        help="Image files or texts, optionally weighted as WEIGHT:TERM (e.g. 2:cat.jpg, -1:dog.jpg, 0.5:snow).",
        show_default=False,
    ),
]
LikeOpt = Annotated[list[str] | None, typer.Option("--like", metavar="FILE", help="An image file to find more like.")]
LikeIdOpt = Annotated[list[str] | None, typer.Option("--like-id", metavar="ID", help="An indexed image's id.")]
TextOpt = Annotated[list[str] | None, typer.Option("--text", metavar="TEXT", help="Words describing what you want.")]
UnlikeOpt = Annotated[
    list[str] | None, typer.Option("--unlike", metavar="FILE|ID", help="An image file or id to move away from.")
]
NotTextOpt = Annotated[list[str] | None, typer.Option("--not-text", metavar="TEXT", help="Words to move away from.")]
ThemeOpt = Annotated[
    str | None,
    typer.Option(
        "--theme", metavar="NAME", help="Only pictures of this theme ('imrec themes' lists them; name or number)."
    ),
]
OcrOpt = Annotated[
    bool | None,
    typer.Option(
        "--ocr/--no-ocr",
        help="Read the text in pictures after embedding, for word search (default: on; setting ocr).",
    ),
]
IncludeHiddenOpt = Annotated[
    bool | None,
    typer.Option("--include-hidden", help="Also catalog hidden files and folders (names starting with '.')."),
]


FollowSymlinksOpt = Annotated[
    bool | None, typer.Option("--follow-symlinks", help="Follow symbolic links that lead out of the library folder.")
]


AllowMassRemovalOpt = Annotated[
    bool | None,
    typer.Option(
        "--allow-mass-removal",
        help="Accept that most catalogued files vanished at once (else refused as an unmounted drive).",
    ),
]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]


def _root(root: Path | None, library: Path | None) -> Path | None:
    """The library folder, named positionally or with -l (not two different ones)."""
    if root is not None and library is not None and root.absolute() != library.absolute():
        raise SettingsError(f"two library folders given: {root} and --library {library}; give one")
    return root if root is not None else library


FILTER_NAMES = (
    "under",
    "theme",
    "min_score",
    "after",
    "before",
    "taken_on",
    "camera",
    "near",
    "radius",
    "place",
    "kind",
    "sort",
    "all_copies",
    "include_undated",
    "person",
)


# Parameters that steer a command itself. Every other parameter of a command is a setting (named
# like the setting, so it applies) or a result filter; tests/test_cli_options.py checks that no
# parameter is none of these, so renaming one can never silently stop it from applying.
CLI_ONLY = frozenset(
    {
        "root", "library", "json_output", "quiet", "retry_failed", "add_model", "metadata", "rebuild",
        "terms", "like", "like_id", "text", "unlike", "not_text", "liked", "include_query",
        "paths", "paths0", "preview", "show", "copy_to", "link_to", "open_results",
        "threshold", "keep_under", "move_to", "apply", "yes", "undo", "check", "debounce",
        "host", "port", "all_models", "bench", "seconds", "lang", "words", "no_words", "literal", "crop", "name", "count", "recompute", "rename",
        "with_hidden",
    }
)  # fmt: skip


def result_filters(ctx: typer.Context) -> dict[str, Any]:
    """The result filters a search command's flags gave, as ``Library.search`` keyword arguments."""
    return {name: ctx.params[name] for name in FILTER_NAMES}


def command_settings(ctx: typer.Context) -> dict[str, Any]:
    """The settings a command's flags gave (``None``: not given), by parameter name."""
    return {name: value for name, value in ctx.params.items() if name in SETTING_NAMES}


def open_library(root: Path | None, ctx: typer.Context, create: bool = False) -> Library:
    """Open the library with every setting the command's flags gave."""
    opened = Library.open(root, create=create, **command_settings(ctx))
    if opened.settings.asked_for is not None:
        err.print(f"imrec: using the library at {opened.root} ({opened.settings.asked_for} is inside it)", markup=False)
    return opened


CopyToOpt = Annotated[
    Path | None,
    typer.Option("--copy-to", metavar="DIR", help="Copy the results into DIR (new or empty) as 001-name.jpg, 002-..."),
]


LinkToOpt = Annotated[
    Path | None,
    typer.Option("--link-to", metavar="DIR", help="Like --copy-to, with symbolic links instead of copies."),
]


OpenOpt = Annotated[
    bool,
    typer.Option("--open", help="Open the results with the system's viewer (the folder, with --copy-to/--link-to)."),
]


ShowOpt = Annotated[bool, typer.Option("--show", help="Open the contact sheet in a window (needs a display).")]


PreviewOpt = Annotated[
    Path | None,
    typer.Option("--preview", metavar="FILE", help="Write a contact sheet here (.png, .pdf, .svg, .jpg ...)."),
]


PathsOpt = Annotated[bool, typer.Option("--paths", help="Print one absolute path per line.")]


Paths0Opt = Annotated[
    bool, typer.Option("--paths0", help="Print absolute paths separated by NUL bytes (for xargs -0).")
]


TopKOpt = Annotated[int | None, typer.Option("-k", "--top-k", metavar="N", help="Number of results [default: 10].")]


AfterOpt = Annotated[
    str | None,
    typer.Option("--after", metavar="DATE", help="Only photos taken on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD)."),
]


BeforeOpt = Annotated[
    str | None,
    typer.Option("--before", metavar="DATE", help="Only photos taken before DATE (YYYY, YYYY-MM or YYYY-MM-DD)."),
]


TakenOnOpt = Annotated[
    str | None, typer.Option("--taken-on", metavar="DATE", help="Only photos taken on that day (or month, or year).")
]


CameraOpt = Annotated[
    str | None, typer.Option("--camera", metavar="NAME", help="Only photos from a camera whose name contains NAME.")
]


NearOpt = Annotated[
    str | None,
    typer.Option(
        "--near", metavar="LAT,LON", help="Only photos taken near this place (decimal degrees, from EXIF GPS)."
    ),
]


IncludeUndatedOpt = Annotated[
    bool,
    typer.Option(
        "--include-undated",
        help="With a date filter, also pictures dated only by the file's time (no date taken in them).",
    ),
]


KindOpt = Annotated[
    str | None,
    typer.Option(
        "--kind",
        metavar="image|video",
        help="Only pictures, or only videos (a video is one result, at its best moment).",
    ),
]


PersonOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--person",
        metavar="NAME",
        help="Only pictures showing this person (a name or number; 'imrec people' lists them; repeat: all of them).",
    ),
]
FacesOpt = Annotated[
    bool | None,
    typer.Option(
        "--faces/--no-faces",
        help="Find the faces in pictures after the text pass and group them into people (default: on; setting faces).",
    ),
]
PlaceOpt = Annotated[
    str | None,
    typer.Option(
        "--place",
        metavar="NAME",
        help="Only photos taken in this town, region or country, by any of its names ('Lisbon', 'München',"
        " 'Essen, Germany'; 'imrec places' lists them).",
    ),
]


RadiusOpt = Annotated[
    str | None, typer.Option("--radius", metavar="DISTANCE", help="How near, for --near: 5km, 500m [default: 1km].")
]


SortOpt = Annotated[
    str,
    typer.Option(
        "--sort",
        metavar="score|date",
        help="Order results by score or by date taken (EXIF, else the file's date, marked ~) [default: score].",
        show_default=False,
    ),
]


UnderOpt = Annotated[
    str | None, typer.Option("--under", metavar="FOLDER", help="Only results inside this folder of the library.")
]


MinScoreOpt = Annotated[
    float | None, typer.Option("--min-score", metavar="X", help="Only results with at least this cosine score.")
]


TextModelOpt = Annotated[
    str | None,
    typer.Option(
        "--text-model",
        metavar="NAME|DIR",
        help="A multilingual text tower for text queries (M-CLIP; e.g. M-CLIP/XLM-Roberta-Large-Vit-L-14)"
        " [default: the image model's own].",
        show_default=False,
    ),
]
AllCopiesOpt = Annotated[
    bool,
    typer.Option("--all-copies", help="Show exact copies of a file as results of their own (default: one, +N copies)."),
]
