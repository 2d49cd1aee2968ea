"""Commands that show and serve: status, serve, models."""

from __future__ import annotations

import socket
from typing import Annotated, Any

import typer

from image_recommender.cli.app import WEB_EXTRA_HINT, PlainArguments, app, err, friendly, out
from image_recommender.cli.options import (
    DbOpt,
    DeviceOpt,
    EngineOpt,
    JsonOpt,
    LibraryOpt,
    ModelConfigOpt,
    PrecisionOpt,
    RootArg,
    TextModelOpt,
    _root,
    model_options,
    open_library,
)
from image_recommender.cli.render import emit_json
from image_recommender.errors import CatalogDamagedError, ImrecError, LibraryError, SettingsError
from image_recommender.settings import Settings, load_settings


@app.command(cls=PlainArguments)
@friendly
def status(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    text_model: TextModelOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Also verify the catalog file and the index against the catalog.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Counts per state, models, index freshness, and every failed file with its reason."""
    try:
        opened = open_library(_root(root, library), ctx)
    except CatalogDamagedError as exc:
        if not check:
            raise
        # Too damaged to open (its table of tables is unreadable): --check still reports, as it does
        # for a catalog whose damage SQLite's own integrity check finds.
        damaged = f"catalog damaged: {exc}"
        if json_output:
            emit_json({"integrity": damaged})
        else:
            out.print(f"check: {damaged}", markup=False)
        raise typer.Exit(1) from None
    with opened:
        report = opened.status(check)
    if json_output:
        emit_json(report.as_json())
    else:
        _print_status(report)
    if report.integrity not in (None, "ok"):
        raise typer.Exit(1)


def _print_status(report: Any) -> None:
    counts = report.counts
    out.print(f"library {report.root}", markup=False)
    out.print(", ".join(f"{state} {counts[state]}" for state in counts), markup=False)
    for held in report.models:
        out.print(
            f"model {held['name']} ({held['pretrained']}), {held['dim']}-d, {held['vectors']} vectors", markup=False
        )
    if report.index is None:
        out.print("index: none yet", markup=False)
    else:
        state = "current" if report.index.current else "out of date: run 'imrec index'"
        out.print(
            f"index: {report.index.kind or 'missing'}, {report.index.count} vectors, {state}"
            f" ({report.index.stale} stale, {report.index.unindexed} not yet indexed)",
            markup=False,
        )
    if report.text_model is not None:
        out.print(f"text queries: {report.text_model}", markup=False)
    text = report.text
    if text:
        tail = _pass_tail(text["read"], text["total"], text["failed"], text["on"], "ocr")
        out.print(
            f"text in pictures: read {text['read']} of {text['total']} ({text['with_text']} with text{tail[0]}){tail[1]}",
            markup=False,
        )
        for failure in text["failures"]:
            out.print(f"text not read: {failure['path']}: {failure['error']}", markup=False)
    faces = report.faces
    if faces:
        tail = _pass_tail(faces["looked"], faces["total"], faces["failed"], faces["on"], "faces")
        out.print(
            f"faces: looked at {faces['looked']} of {faces['total']} pictures and videos, {faces['faces']} faces,"
            f" {faces['people']} people{tail[0]}{tail[1]}",
            markup=False,
        )
    if report.videos:
        out.print(f"videos: {report.videos} (a vector per kept frame)", markup=False)
    for path, note in report.partial:
        out.print(f"read in part: {path}: {note}", markup=False)
    for path, error in report.failures:
        out.print(f"failed: {path}: {error}", markup=False)
    if report.integrity is not None:
        out.print(f"check: {report.integrity}", markup=False)


def _pass_tail(done: int, total: int, failed: int, on: bool, setting: str) -> tuple[str, str]:
    """What a pass's status line says after its counts: (failures and what waits, whether it is off)."""
    waiting = f", {total - done} waiting: run 'imrec index'" if done < total and on else ""
    return (f", {failed} failed" if failed else "") + waiting, "" if on else f"; off ({setting} = false)"


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command(cls=PlainArguments)
@friendly
@model_options
def serve(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on; only this machine by default.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to listen on.")] = 8765,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            "--allowed-hosts",
            metavar="NAMES",
            help="Comma-separated extra host names the page may be reached by (besides localhost, "
            "127.0.0.1 and --host).",
        ),
    ] = None,
    db_path: DbOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    text_model: TextModelOpt = None,
) -> None:
    """Browse, search and refine ROOT in a local web page (JSON API and docs at /docs)."""
    try:
        import uvicorn

        from image_recommender.web.app import create_app
    except ImportError as exc:
        raise LibraryError(f"the web page needs the web extra ({exc.name} is missing): {WEB_EXTRA_HINT}") from None

    if not 0 < port < 65536:
        raise SettingsError(f"--port {port}: not a port number (1-65535)")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise LibraryError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port") from None
    if host not in LOOPBACK:
        err.print(f"imrec: warning: listening on {host}: anyone who can reach it can browse this library", markup=False)
    with open_library(_root(root, library), ctx) as opened:
        try:
            opened.warm_up()
        except ImrecError as exc:
            err.print(f"imrec: warning: {exc}; text and new-image queries will fail until this is fixed", markup=False)
        err.print(f"serving {opened.root} on http://{_url_host(host)}:{port}/ (Ctrl-C stops)", markup=False)
        config = uvicorn.Config(
            create_app(opened, served_host=host),
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        uvicorn.Server(config).run()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@app.command(cls=PlainArguments)
@friendly
def models(
    all_models: Annotated[
        bool, typer.Option("--all", help="List every architecture and tag OpenCLIP knows (slow: loads OpenCLIP).")
    ] = False,
    bench: Annotated[
        bool,
        typer.Option(
            "--bench",
            help="Also measure each architecture's images/s here (random weights, model alone, ~10 s each;"
            " the first run with OpenVINO converts each model once).",
        ),
    ] = False,
    seconds: Annotated[
        float, typer.Option("--seconds", metavar="S", min=0.5, max=600, help="Measuring time per model.")
    ] = 10.0,
    model: Annotated[
        str | None, typer.Option("--model", metavar="NAME", help="With --bench: measure this architecture only.")
    ] = None,
    model_config: ModelConfigOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="de|en",
            help="The ways to search in this language (multilingual models and text towers), best first by MS-COCO recall.",
        ),
    ] = None,
) -> None:
    """The recommended models with their published quality, which are cached here, and (--bench) their speed."""
    if lang is not None:
        _print_languages(lang)
        return
    if all_models:
        from image_recommender.models.torch_model import available_models

        out.print("architecture\tpretrained", markup=False)
        for name, tag in available_models():
            out.print(f"{name}\t{tag}", markup=False)
        return
    from image_recommender.models.recommended import RECOMMENDED, RESULTS_SOURCE

    if (model or model_config) and not bench:
        raise SettingsError("--model and --model-config name the architecture to measure with --bench")
    chosen = load_settings(
        None, {"device": device, "engine": engine, "precision": precision, "model": model, "model_config": model_config}
    )
    named = (chosen.model_spec.architecture,) if model or model_config else ()
    speeds = _bench_models(named or tuple(dict.fromkeys(c.name for c in RECOMMENDED)), seconds, chosen) if bench else {}
    columns = "{:<22}{:<24}{:>5}{:>7}{:>10}{:>8}  {:<7}{:>8}  {}"
    out.print(
        columns.format(
            "model", "pretrained", "dim", "top-1", "COCO R@1", "GFLOPs", "cached", "img/s" if bench else "", "note"
        ),
        markup=False,
    )
    rows = [
        (
            c.name,
            c.pretrained,
            c.dim,
            f"{c.imagenet_top1:.3f}",
            f"{c.coco_image_r1:.3f}",
            f"{c.gflops:g}",
            "yes" if c.cached() else "no",
            c.note,
        )
        for c in RECOMMENDED
        if not named or c.name in named
    ]
    if named and not rows:
        rows = [(named[0], "(random)", "", "", "", "", "", "")]  # type: ignore[list-item]  # blanks for a row
    for name, pretrained, dim, top1, recall, gflops, cached, note in rows:
        out.print(
            columns.format(name, pretrained, dim, top1, recall, gflops, cached, speeds.get(name, ""), note),
            markup=False,
        )
    out.print(
        f"top-1: ImageNet zero-shot accuracy; COCO R@1: a caption finds its image first; {RESULTS_SOURCE}."
        " 'imrec models --all' lists every model",
        markup=False,
    )
    if speeds:
        out.print(f"img/s: {speeds['']}", markup=False)


def _print_languages(language: str) -> None:
    from image_recommender.models.recommended import MULTILINGUAL_SOURCES, by_language

    if language not in ("de", "en"):
        raise SettingsError(f"--lang {language!r}: published figures exist here for de and en")

    def shown(value: float | None) -> str:
        return f"{value:.3f}" if value is not None else "-"

    columns = "{:<46}{:>12}{:>10}  {:<18}{}"
    out.print(columns.format("model or text tower", "XM3600 R@10", "COCO R@10", "keeps ViT-L-14", "how"), markup=False)
    for choice in by_language(language):
        keeps = "yes" if choice.keeps_vit_l14 else "re-embed"
        line = columns.format(
            choice.name, shown(choice.c3600[language]), shown(choice.coco[language]), keeps, choice.choose
        )
        out.print(line, markup=False)
    out.print(
        f"R@10: a {language} caption finds its image among the first ten; 'keeps ViT-L-14': an existing"
        f" ViT-L-14/openai library needs no new embedding; {MULTILINGUAL_SOURCES}",
        markup=False,
    )


def _bench_models(names: tuple[str, ...], seconds: float, settings: Settings) -> dict[str, str]:
    """images/s of each recommended architecture here, by name; '' says what was measured, and on what."""
    import os

    from image_recommender.library import engine_options
    from image_recommender.models.recommended import cpu_flags
    from image_recommender.models.spec import ModelSpec
    from image_recommender.models.torch_model import LoadedModel, load_model, measure_speed

    engine = engine_options(settings)
    speeds: dict[str, str] = {}
    runtime = settings.engine
    model: LoadedModel | None = None
    for name in names:
        err.print(f"imrec: measuring {name} for {seconds:g} s", markup=False)
        spec = ModelSpec(name, "", settings.model_config if name == settings.model_spec.architecture else None)
        try:
            model = load_model(spec, settings.device, settings.precision, engine=engine)
            runtime = model.describe()
            speeds[name] = f"{measure_speed(model, seconds):.1f}"
        except ImrecError as exc:
            speeds[name] = "failed"
            err.print(f"imrec: {name}: {exc}", markup=False)
        finally:
            model = None  # one model in memory at a time
    speeds[""] = (
        f"model alone, random weights, batch 8, {runtime}; CPU flags: {' '.join(cpu_flags()) or 'none of note'},"
        f" {os.cpu_count()} cores"
    )
    return speeds
