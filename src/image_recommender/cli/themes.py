"""``imrec themes``: the library grouped by what its pictures show, named, renamed, browsed."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from image_recommender.cli.app import PlainArguments, app, err, friendly, out
from image_recommender.cli.options import JsonOpt, LibraryOpt, RootArg, TextModelOpt, _root, model_options, open_library
from image_recommender.cli.render import emit_json

REPRESENTATIVES = 4


@app.command(cls=PlainArguments)
@friendly
@model_options
def themes(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    count: Annotated[
        int | None, typer.Option("--count", metavar="N", help="How many themes (default: from the library's size).")
    ] = None,
    recompute: Annotated[bool, typer.Option("--recompute", help="Compute the themes anew now.")] = False,
    rename: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--rename", metavar="THEME NAME", help="Give a theme (name or number) your own name; '' undoes it."
        ),
    ] = None,
    show: Annotated[
        str | None,
        typer.Option("--show", metavar="THEME", help="List a theme's pictures, closest to its centre first."),
    ] = None,
    top_k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=10_000, help="Pictures --show lists.")] = 24,
    text_model: TextModelOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Themes from the stored vectors (no picture is decoded), each named from everyday subjects in German and English."""
    with open_library(_root(root, library), ctx) as opened:
        if rename is not None:
            opened.themes(count, recompute)
            renamed = opened.rename_theme(*rename)
            out.print(f"theme #{renamed.id} is now {renamed.name}", markup=False)
            return
        listed = opened.themes(count, recompute)
        if show is not None:
            theme = opened.theme(show)
            pictures = opened.theme_images(theme, top_k)
            if json_output:
                emit_json({"theme": theme.id, "name": theme.name, "images": [
                    {"id": image.id, "path": image.path, "closeness": round(closeness, 6)} for image, closeness in pictures
                ]})  # fmt: skip
                return
            out.print(f"theme #{theme.id} {theme.name}: {theme.size} picture(s), closest first", markup=False)
            if pictures:
                out.print(f"{'closeness':>9}  {'id':>6}  path", markup=False)
            for image, closeness in pictures:
                out.print(f"{closeness:>9.4f}  {image.id:>6}  {image.path}", markup=False)
            return
        representatives = {theme.id: opened.theme_images(theme, REPRESENTATIVES) for theme in listed}
    if json_output:
        emit_json([
            {
                "id": theme.id, "name": theme.name, "name_de": theme.name_de, "name_en": theme.name_en,
                "user_name": theme.user_name, "named": theme.name_de is not None, "confidence": round(theme.confidence, 3),
                "runners_up": json.loads(theme.runners_up), "size": theme.size,
                "representatives": [image.id for image, _ in representatives[theme.id]],
            }
            for theme in listed
        ])  # fmt: skip
        return
    if listed:
        out.print(f"{'theme':<5} {'photos':>6}  name  (how sure; the next names)", markup=False)
    for theme in listed:
        others = ", ".join(f"{runner['de']} {runner['share']:.2f}" for runner in json.loads(theme.runners_up)[:3])
        out.print(
            f"#{theme.id:<4} {theme.size:>6}  {theme.name}  (sure {theme.confidence:.2f}; also: {others})", markup=False
        )
    if not listed:
        err.print("no themes: the library has no indexed images yet", markup=False)
