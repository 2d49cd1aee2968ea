"""``imrec places``: where the library's photos were taken, by name, with how many from each."""

from __future__ import annotations

import typer

from image_recommender.cli.app import PlainArguments, app, err, friendly, out
from image_recommender.cli.options import JsonOpt, LibraryOpt, RootArg, _root, open_library
from image_recommender.cli.render import emit_json


@app.command(cls=PlainArguments)
@friendly
def places(ctx: typer.Context, root: RootArg = None, library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """Places the photos were taken (from their GPS positions, named offline), most photos first; any
    of their names works with --place and in a query ("Strand Sylt", "beach in Lisbon")."""
    with open_library(_root(root, library), ctx) as opened:
        opened.fill_places()
        listed = opened.places()
    if json_output:
        emit_json([row.as_json() for row in listed])
        return
    if listed:
        out.print(f"{'photos':>7}  place", markup=False)
    for row in listed:
        out.print(f"{row.photos:>7}  {row.label}", markup=False)
        for quarter in row.quarters:
            out.print(f"{quarter.photos:>7}    {quarter.town}", markup=False)
    if not listed:
        err.print("no places: no photo of the library has a GPS position near a town", markup=False)
