"""Recovering WARC files a crashed writer left open: truncate each `.open` file to its last complete
record, make it durable, and give it its final name (the one its index rows already use).

A live writer holds an exclusive lock on its `.open` file (see WarcStore); a file whose lock can
be taken has no writer any more. Every record is one gzip member, written whole, so a member
whose gzip trailer checks out is a complete record; whatever follows the last one is the torn
write of the crash. Index rows only ever point at records fsynced before their commit, so the
cut never removes a record a row points at.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import StorageError

__all__ = ["RecoveredFile", "complete_length", "recover_open_files", "writer_lock"]

OPEN_SUFFIX = ".open"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RecoveredFile:
    """One `.open` file closed by recovery."""

    name: str  # the final name it now has (or had, when nothing in it was complete)
    kept: int  # bytes kept: complete records
    cut: int  # bytes of a torn last record, removed
    removed: bool = False  # nothing complete (not even the warcinfo record): the file is gone


def writer_lock(fh: BinaryIO) -> bool:
    """Take the writer's lock on an open file without waiting; False when someone holds it."""
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def complete_length(fh: BinaryIO) -> int:
    """The length of the prefix of a gzip-per-record WARC file made of complete gzip members.
    Reads the file once in bounded chunks (nothing decompressed is kept)."""
    fh.seek(0)
    good = 0  # end of the last complete member
    pos = 0  # file position of `pending`'s start
    z = zlib.decompressobj(31)
    pending = b""
    while True:
        if not pending:
            pending = fh.read(_CHUNK)
            if not pending:
                return good
        try:
            # max_length bounds memory however much a member inflates (a stored bomb, say).
            z.decompress(pending, _CHUNK)
        except zlib.error:
            return good
        if z.eof:
            used = len(pending) - len(z.unused_data)
            pos += used
            good = pos
            pending = z.unused_data
            z = zlib.decompressobj(31)
            continue
        if z.unconsumed_tail:
            pos += len(pending) - len(z.unconsumed_tail)
            pending = z.unconsumed_tail
        else:
            pos += len(pending)
            pending = b""


def _open_files(directory: Path) -> Iterator[Path]:
    yield from sorted(directory.glob(f"*.warc.gz{OPEN_SUFFIX}"))


def recover_open_files(directory: Path) -> list[RecoveredFile]:
    """Close every `.open` WARC file in `directory` whose writer is gone; files a live writer
    holds are left alone."""
    if not directory.is_dir():
        return []
    out: list[RecoveredFile] = []
    for path in _open_files(directory):
        final = path.with_name(path.name.removesuffix(OPEN_SUFFIX))
        try:
            fh = open(path, "r+b")
        except FileNotFoundError:
            continue  # closed by its writer meanwhile
        except OSError as exc:
            raise StorageError(f"cannot recover {path.name}: {exc.strerror or exc}") from exc
        with fh:
            if not writer_lock(fh):
                continue
            if not path.exists():
                continue  # its writer closed and renamed it before we got the lock
            size = os.fstat(fh.fileno()).st_size
            kept = complete_length(fh)
            if kept != size:
                fh.truncate(kept)
            fh.flush()
            os.fsync(fh.fileno())
            if kept == 0:
                path.unlink()
                out.append(RecoveredFile(final.name, 0, size, removed=True))
                continue
            if final.exists():
                raise StorageError(f"cannot recover {path.name}: {final.name} exists already")
            os.replace(path, final)
        with contextlib.suppress(OSError):
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)  # the rename itself survives a power loss
            finally:
                os.close(dfd)
        out.append(RecoveredFile(final.name, kept, size - kept))
    return out
