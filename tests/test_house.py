"""The house's seams: every command option maps to a setting or is CLI-only, errors carry their
exit code and HTTP status, and a damaged catalog is the project's own error everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from conftest import Runner

from image_recommender import Library
from image_recommender.cli import COMMAND_GROUPS, GROUPS, app, load_commands
from image_recommender.cli.options import CLI_ONLY, FILTER_NAMES, SETTING_NAMES
from image_recommender.errors import CatalogDamagedError, ImrecError, LibraryError, QueryError, UnknownImageError


def test_every_command_option_is_a_setting_a_filter_or_cli_only() -> None:
    load_commands([])
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert not CLI_ONLY & SETTING_NAMES
    for name, command in commands.items():
        stray = [p.name for p in command.params if p.name not in SETTING_NAMES | set(FILTER_NAMES) | CLI_ONLY]
        assert not stray, f"imrec {name}: {stray} is neither a setting nor CLI-only: it would silently do nothing"


def test_every_command_that_uses_a_model_s_vectors_takes_the_same_model_options(
    imrec: Runner, library_dir: Path, model_env: dict[str, str]
) -> None:
    load_commands([])
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    album = commands["album"].commands  # type: ignore[attr-defined]
    using = {
        **{name: commands[name] for name in ("index", "embed", "build-index", "watch", "search", "recommend")},
        **{name: commands[name] for name in ("duplicates", "themes", "serve")},
        "album save": album["save"], "album show": album["show"],
    }  # fmt: skip
    for name, command in using.items():
        flags = {flag for param in command.params for flag in param.opts}
        assert {"--model", "--pretrained", "--model-config"} <= flags, name
    imrec("index", library_dir, "-q")
    env = {key: value for key, value in model_env.items() if key not in ("IMREC_MODEL_CONFIG", "IMREC_PRETRAINED")}
    for args in (("themes", library_dir), ("album", "save", "a", "--text", "x", "-l", library_dir)):
        refused = imrec(*args, "--model", "ViT-B-32", "--pretrained", "openai", expect=2, env=env)
        assert "indexed with tiny-clip" in refused.stderr, args  # the flag reached the command's model choice


def test_each_command_is_found_in_the_group_that_defines_it_and_help_keeps_the_groups_order() -> None:
    load_commands(["search"])  # one group first, as a cold 'imrec search' loads it
    load_commands(["--help"])
    defined = {
        info.name or str(getattr(info.callback, "__name__", "")).replace("_", "-"): str(
            getattr(info.callback, "__module__", "")
        ).rpartition(".")[2]
        for info in app.registered_commands
    }
    order = [GROUPS.index(group) for group in defined.values()]
    assert order == sorted(order)
    defined.update({str(info.name): "albums" for info in app.registered_groups})
    assert defined == COMMAND_GROUPS


def test_a_setting_given_as_a_flag_applies(imrec: Runner, library_dir: Path) -> None:
    (library_dir / ".hidden").mkdir()
    (library_dir / "Wine_by_Jakkub_Mede.jpg").rename(library_dir / ".hidden" / "wine.jpg")
    plain = imrec("scan", library_dir, "--json").stdout
    assert '"new": 7' in plain
    hidden = imrec("scan", library_dir, "--include-hidden", "--json").stdout
    assert '"new": 1' in hidden


def test_errors_carry_their_exit_code_and_http_status() -> None:
    assert (ImrecError().exit_code, ImrecError().http_status) == (2, 400)
    assert QueryError().http_status == 400 and UnknownImageError().http_status == 404
    assert LibraryError().http_status == 409 and CatalogDamagedError().http_status == 503


def test_a_damaged_catalog_is_one_line_in_the_cli_and_a_503_on_the_web(
    imrec: Runner, library_dir: Path, model_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from fastapi.testclient import TestClient

    from image_recommender.catalog import Catalog
    from image_recommender.web.app import create_app

    with Library.open(library_dir, create=True, **model_settings) as library:
        library.scan()
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        assert client.get("/api/status").status_code == 200
        monkeypatch.setattr(library.catalog, "state_counts", lambda: (_ for _ in ()).throw(CatalogDamagedError("x")))
        assert client.get("/api/status").status_code == 503  # the error's own status, no isinstance chain
        path = library.catalog.path
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as handle:  # the header survives, the pages do not
        handle.seek(100)
        handle.write(b"\xff" * 20000)
    with pytest.raises(CatalogDamagedError, match="the catalog is damaged"):
        Catalog.open(path, create=False).state_counts()
    result = imrec("status", library_dir, expect=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the catalog is damaged" in lines[0]


def _module_imports() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports, at the top or inside a function."""
    import ast

    source = Path(__file__).resolve().parent.parent / "src"
    modules = {}
    for path in source.rglob("*.py"):
        parts = list(path.relative_to(source).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges[name] |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if target in modules or node.module in modules:
                        edges[name].add(target if target in modules else node.module)
    return edges


def test_no_module_imports_itself_back_through_any_chain() -> None:
    edges = _module_imports()
    circles = []
    for start in edges:
        seen, todo = set(), list(edges[start])
        while todo:
            name = todo.pop()
            if name == start:
                circles.append(start)
                break
            if name not in seen:
                seen.add(name)
                todo.extend(edges[name])
    assert not circles, f"modules that import themselves back: {sorted(circles)}"
