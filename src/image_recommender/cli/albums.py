"""``imrec album``: queries kept under a name, shown on demand, mirrored into folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from image_recommender.cli.app import PlainArguments, app, err, friendly, out
from image_recommender.cli.options import (
    AfterOpt,
    AllCopiesOpt,
    BeforeOpt,
    CameraOpt,
    IncludeUndatedOpt,
    JsonOpt,
    KindOpt,
    LikeIdOpt,
    LikeOpt,
    MinScoreOpt,
    NearOpt,
    NotTextOpt,
    Paths0Opt,
    PathsOpt,
    PersonOpt,
    PlaceOpt,
    PreviewOpt,
    RadiusOpt,
    RootArg,
    SearchLibraryOpt,
    ShowOpt,
    SortOpt,
    TakenOnOpt,
    TermsArg,
    TextModelOpt,
    TextOpt,
    ThemeOpt,
    TopKOpt,
    UnderOpt,
    UnlikeOpt,
    _root,
    model_options,
    open_library,
    result_filters,
)
from image_recommender.cli.render import ResultOutputs, emit_json, render
from image_recommender.cli.searching import query_terms
from image_recommender.errors import SettingsError

album_app = typer.Typer(
    help="Smart albums: a query kept under a name, run again on demand, optionally mirrored into a folder.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(album_app, name="album")

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The album's name.", show_default=False)]


@album_app.command("save", cls=PlainArguments)
@friendly
@model_options
def album_save(
    ctx: typer.Context,
    name: NameArg,
    terms: TermsArg = None,
    library: SearchLibraryOpt = None,
    like: LikeOpt = None,
    like_id: LikeIdOpt = None,
    text: TextOpt = None,
    unlike: UnlikeOpt = None,
    not_text: NotTextOpt = None,
    top_k: TopKOpt = None,
    under: UnderOpt = None,
    theme: ThemeOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    taken_on: TakenOnOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    place: PlaceOpt = None,
    person: PersonOpt = None,
    kind: KindOpt = None,
    include_undated: IncludeUndatedOpt = False,
    radius: RadiusOpt = None,
    sort: SortOpt = "score",
    min_score: MinScoreOpt = None,
    all_copies: AllCopiesOpt = False,
    link_to: Annotated[
        Path | None,
        typer.Option("--link-to", metavar="DIR", help="Keep links to the album's pictures in DIR, after every index."),
    ] = None,
    copy_to: Annotated[
        Path | None,
        typer.Option("--copy-to", metavar="DIR", help="Keep copies of the album's pictures in DIR, after every index."),
    ] = None,
    text_model: TextModelOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Keep a query as an album (its terms, filters and -k); run once now, so a query that cannot run is refused."""
    if link_to is not None and copy_to is not None:
        raise SettingsError("--link-to and --copy-to both mirror the album; choose one")
    parsed = query_terms(terms, like, like_id, text, unlike, not_text)
    if not parsed:
        raise typer.BadParameter("give an image, --like-id or --text for the album's query")
    filters = {key: value for key, value in result_filters(ctx).items() if value not in (None, False, "score")}
    with open_library(library, ctx) as opened:
        album, response, mirrored = opened.save_album(
            name, parsed, k=top_k, mirror=link_to or copy_to, mode="copy" if copy_to else "link", **filters
        )
    if json_output:
        emit_json(
            {"album": album.name, "query": response.query, "results": len(response.results), "mirror": album.mirror}
        )
        return
    if response.understood is not None and response.understood.anything:
        err.print(f"imrec: {response.understood.describe()}", markup=False)
    where = f"; {len(mirrored.made)} {album.mode}(s) made in {album.mirror}" if mirrored is not None else ""
    out.print(
        f"album {album.name}: {' '.join(response.query)}, {len(response.results)} picture(s){where}", markup=False
    )
    for note in mirrored.left_alone if mirrored is not None else []:
        err.print(f"imrec: warning: album {album.name}: {note}", markup=False)


@album_app.command("show", cls=PlainArguments)
@friendly
@model_options
def album_show(
    ctx: typer.Context,
    name: NameArg,
    root: RootArg = None,
    library: SearchLibraryOpt = None,
    text_model: TextModelOpt = None,
    json_output: JsonOpt = False,
    paths: PathsOpt = False,
    paths0: Paths0Opt = False,
    preview: PreviewOpt = None,
    show: ShowOpt = False,
) -> None:
    """Run the album's query now and show its pictures, like a search."""
    outputs = ResultOutputs(json_output, paths, paths0, preview, show)
    outputs.check()
    with open_library(_root(root, library), ctx) as opened:
        render(opened.album_results(name), opened, outputs)


@album_app.command("list", cls=PlainArguments)
@friendly
def album_list(
    ctx: typer.Context, root: RootArg = None, library: SearchLibraryOpt = None, json_output: JsonOpt = False
) -> None:
    """The albums, with their queries and mirror folders."""
    with open_library(_root(root, library), ctx) as opened:
        albums = [(album, opened.album_query(album.name)) for album in opened.albums()]
    if json_output:
        emit_json([{"name": a.name, "query": query, "mirror": a.mirror, "mode": a.mode} for a, query in albums])
        return
    for album, query in albums:
        mirror = f"  -> {album.mirror} ({album.mode}s)" if album.mirror else ""
        out.print(f"{album.name}: {' '.join(query)}{mirror}", markup=False)
    if not albums:
        err.print("no albums yet: 'imrec album save NAME QUERY...' keeps one", markup=False)


@album_app.command("delete", cls=PlainArguments)
@friendly
def album_delete(ctx: typer.Context, name: NameArg, root: RootArg = None, library: SearchLibraryOpt = None) -> None:
    """Forget an album; the links or copies its mirror made stay where they are."""
    with open_library(_root(root, library), ctx) as opened:
        opened.delete_album(name)
    out.print(f"album {name} deleted (its mirror folder, if any, is left as it is)", markup=False)
