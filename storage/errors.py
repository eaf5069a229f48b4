"""The exceptions of citevault, each HTTP-facing one carrying its status.

They live at the bottom of the dependency graph (storage) so that every layer can raise them,
with MAX_ROW_ID, past which an id is refused (the CLI's arguments, the web's paths and forms).

    CitevaultError                  base; status 500
    +-- BadInput                    400: a URL, timestamp, option or document we cannot take
    |   +-- UnsupportedURL          400: malformed URL or scheme other than http(s)
    +-- NotFound                    404: unknown source, snapshot, capture or URL
    +-- Unauthorized                401: a write (or read, if closed) without a valid token
    +-- Forbidden                   403: a request the service refuses whoever sends it (CSRF)
    +-- StorageError                500: the home directory, the database or a WARC file failed
    +-- CaptureFailed               the seed page itself could not be captured (CLI exit 1)
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "CaptureFailed",
    "CitevaultError",
    "Forbidden",
    "MAX_ROW_ID",
    "NotFound",
    "StorageError",
    "Unauthorized",
    "UnsupportedURL",
    "is_busy",
]

# Row ids are 64-bit signed integers in SQLite and PostgreSQL alike: a larger number names no row,
# and binding one fails in the driver (OverflowError), so the interfaces refuse it as bad input.
# Here, not in models.py: the CLI's arguments check it, and `citevault --help` imports no SQLAlchemy.
MAX_ROW_ID = 2**63 - 1

# How SQLite and PostgreSQL say that a write could not get its lock or its turn in time: the
# server was reached and the statement was valid; another writer was in the way.
_BUSY = ("database is locked", "database is busy", "deadlock detected", "could not serialize",
         "lock timeout")


def is_busy(exc: BaseException) -> bool:
    """Whether a database error says the database was busy (locked, deadlocked, serialization),
    not that the statement, the schema or the connection is wrong."""
    text = str(exc).lower()
    return any(m in text for m in _BUSY)


class CitevaultError(Exception):
    status_code = 500


class BadInput(CitevaultError):
    status_code = 400


class UnsupportedURL(BadInput):
    pass


class NotFound(CitevaultError):
    status_code = 404


class Unauthorized(CitevaultError):
    status_code = 401


class Forbidden(CitevaultError):
    status_code = 403


class StorageError(CitevaultError):
    status_code = 500


class CaptureFailed(CitevaultError):
    status_code = 502
