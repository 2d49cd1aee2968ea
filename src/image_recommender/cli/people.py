"""``imrec people``: the people the faces were grouped into; name, merge, hide, move a face, regroup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from image_recommender.cli.app import PlainArguments, app, err, friendly, out
from image_recommender.cli.options import JsonOpt, LibraryOpt, _root, open_library
from image_recommender.cli.render import emit_json
from image_recommender.errors import SettingsError, echoed

USAGE = (
    "imrec people [ROOT] | show ID | name ID NAME | unname ID | merge ID OTHER | hide ID | unhide ID"
    " | move FACE ID|new|none | regroup | find"
)
# Each action and how many words follow it (None: one or more).
ACTIONS: dict[str, int | None] = {
    "list": 0, "show": 1, "name": None, "unname": 1, "merge": 2, "hide": 1, "unhide": 1, "move": 2,
    "regroup": 0, "find": 0,
}  # fmt: skip


@app.command(cls=PlainArguments)
@friendly
def people(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None, typer.Argument(metavar="[ROOT | ACTION ...]", help=USAGE, show_default=False)
    ] = None,
    library: LibraryOpt = None,
    with_hidden: Annotated[bool, typer.Option("--hidden", help="List hidden people too.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """The people in the library's pictures (faces grouped by likeness), most faces first; name,
    merge, hide them, move a face, group all faces anew. A named person keeps its name and faces."""
    given = list(words or [])
    root = None
    if given and given[0] not in ACTIONS and Path(given[0]).is_dir():
        root = Path(given.pop(0))
    action, rest = (given[0], given[1:]) if given else ("list", [])
    if action not in ACTIONS:
        raise SettingsError(f"people: {echoed(action)} is no action; {USAGE}")
    wanted = ACTIONS[action]
    if (wanted is None and len(rest) < 2) or (wanted is not None and len(rest) != wanted):
        raise SettingsError(f"people {action}: {USAGE}")
    with open_library(_root(root, library), ctx) as opened:
        if action == "list":
            listed = opened.people(with_hidden)
            if json_output:
                emit_json({"people": [person.as_json() for person in listed]})
                return
            if listed:
                out.print(f"{'id':>5}  {'faces':>5}  name  (pictures)", markup=False)
            for person in listed:
                name = person.name or "(unnamed)"
                hidden = " [hidden]" if person.hidden else ""
                out.print(
                    f"{person.id:>5}  {person.faces:>5}  {name}{hidden}  ({', '.join(person.paths)})", markup=False
                )
            if not listed:
                err.print("no people: no faces grouped yet ('imrec index' finds them)", markup=False)
            return
        if action == "find":
            report = opened.find_faces()
            result: dict[str, object] = report.as_json()
        elif action == "regroup":
            result = vars(opened.regroup_people())
        elif action == "show":
            person = opened.person(_number(rest[0], "ID"))
            faces = opened.person_faces(person.id)
            if json_output:
                emit_json({**person.as_json(), "face_list": [
                    {"id": face.id, "path": path, "box": list(face.box), "side": face.side, "by_user": face.by_user,
                     "seconds": face.seconds}
                    for face, path in faces
                ]})  # fmt: skip
                return
            out.print(f"person {person.id} {person.name or '(unnamed)'}: {person.faces} face(s)", markup=False)
            out.print(f"{'face':>6}  {'side':>5}  path", markup=False)
            for face, path in faces:
                moment = (
                    f" @ {int(face.seconds) // 60}:{int(face.seconds) % 60:02d}" if face.seconds is not None else ""
                )
                out.print(f"{face.id:>6}  {face.side:>5}  {path}{moment}", markup=False)
            return
        elif action in ("name", "unname"):
            named = opened.name_person(_number(rest[0], "ID"), " ".join(rest[1:]) if action == "name" else None)
            result = named.as_json()
        elif action == "merge":
            result = opened.merge_people(_number(rest[0], "ID"), _number(rest[1], "OTHER")).as_json()
        elif action in ("hide", "unhide"):
            result = opened.hide_person(_number(rest[0], "ID"), action == "hide").as_json()
        else:
            target = rest[1].lower()
            to: int | str | None = None if target == "none" else "new" if target == "new" else _number(target, "ID")
            result = {"face": _number(rest[0], "FACE"), "person": opened.move_face(_number(rest[0], "FACE"), to)}
    if json_output:
        emit_json(result)
    else:
        out.print(_said(action, result), markup=False)


def _said(action: str, result: dict[str, object]) -> str:
    if action == "find":
        return f"looked at {result['looked']} picture(s) and video(s), found {result['faces']} face(s), {result['new_people']} new people"
    if action == "regroup":
        return f"{result['joined']} face(s) joined named people, {result['new_people']} people made, {result['left']} left to nobody"
    if action == "move":
        person = result["person"]
        return f"face {result['face']} is now with {'nobody' if person is None else f'person {person}'}"
    name = result.get("name") or "(unnamed)"
    return f"person {result['id']} {name}: {result['faces']} face(s){' [hidden]' if result.get('hidden') else ''}"


def _number(word: str, what: str) -> int:
    if not word.isdigit():
        raise SettingsError(f"people: {what} {echoed(word)}: give a number ('imrec people' lists them)")
    return int(word)
