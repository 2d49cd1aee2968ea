"""User-facing errors: each carries one line that names the file or value at fault.

The CLI prints ``imrec: error: <message>`` for these and exits with ``exit_code``; the web
app answers with ``http_status``. Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations


class ImrecError(Exception):
    """A problem the user can fix; ``exit_code`` is what the CLI returns for it, ``http_status``
    what the web app answers."""

    exit_code = 2
    http_status = 400


class SettingsError(ImrecError):
    """A bad flag, environment variable or config-file value."""


class LibraryError(ImrecError):
    """The library root or its catalog cannot be used as asked."""

    http_status = 409


class CatalogDamagedError(LibraryError):
    """SQLite cannot read the catalog file (a disk fault, a copy cut short)."""

    http_status = 503


class LibraryBusyError(ImrecError):
    """Another process holds the library's write lock."""

    exit_code = 75


class CatalogVersionError(LibraryError):
    """The catalog was written by a newer version of the tool."""


class MassRemovalError(LibraryError):
    """Most files vanished at once: likely an unmounted drive, so nothing is marked gone."""


class ModelError(ImrecError):
    """The model cannot be loaded (unknown name, missing weights, unreachable hub)."""


class IndexMismatchError(ImrecError):
    """The index and the query disagree (another model, another dimension)."""


class QueryError(ImrecError):
    """A query term cannot be used (missing file, unknown id, empty query)."""


class UnknownImageError(QueryError):
    """A query names an image id the catalog does not hold (or holds no vector for)."""

    http_status = 404


class UnknownPersonError(QueryError):
    """A person or face number the catalog does not hold."""

    http_status = 404


class ImageDecodeError(Exception):
    """A single file could not be read as an image; recorded in the catalog, never fatal."""


# A value shown back (a query, a name) is cut here: a 100 KB query once came back twice in full.
ECHO_LIMIT = 200


def echoed(value: str, limit: int = ECHO_LIMIT) -> str:
    """``value`` as shown back on one line: quoted and escaped like ``repr`` (a line break or a
    right-to-left override cannot rearrange the terminal), cut after ``limit`` characters."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value) - limit:,} more characters)"


def damaged_catalog_message(exc: Exception) -> str:
    """One line for a catalog SQLite cannot read (a disk fault, a copy cut short)."""
    return (
        f"the catalog is damaged and cannot be read ({exc}); run 'imrec status --check', then restore a backup"
        " of .imrec/catalog.sqlite3 or move .imrec away and run 'imrec index' to rebuild it"
    )
