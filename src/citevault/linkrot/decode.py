"""Decoding a live page's Content-Encoding with a bound on the decoded size, applied while the
body streams in, and a total deadline for reading it.

httpx 0.28 decodes each received chunk whole before handing it over: one 16 KB brotli chunk
that inflates to 10 GB drove `citevault check` to 4.6 GB and a MemoryError (issue 13), whatever
cap its caller applies afterwards. Here zlib's `max_length` and brotli's `output_buffer_limit`
stop inflating at the bound, so no more than the bound is ever held.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable

import brotli

__all__ = ["ACCEPT_ENCODING", "BodyTooSlow", "BoundedDecoder", "UnsupportedEncoding", "read_bounded"]

# What we ask servers for: exactly what BoundedDecoder can decode.
ACCEPT_ENCODING = "gzip, deflate, br"


class UnsupportedEncoding(ValueError):
    """A Content-Encoding we did not ask for and cannot decode."""


class BodyTooSlow(TimeoutError):
    """The body did not arrive within the check's total deadline."""


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self.d = zlib.decompressobj(wbits)
        self.wbits = wbits
        self.started = False

    def decode(self, data: bytes, room: int) -> tuple[bytes, bool]:
        """(decoded bytes, at most `room`; whether more output is left undecoded)."""
        if not self.started and self.wbits == zlib.MAX_WBITS and data:
            self.started = True
            # "deflate" is zlib-wrapped by the standard, raw by many servers: tell them apart.
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            if not zlib_header:
                self.d = zlib.decompressobj(-zlib.MAX_WBITS)
        self.started = True
        out = bytearray()
        buf = data
        while buf and len(out) < room and not self.d.eof:
            out += self.d.decompress(buf, room - len(out))
            buf = self.d.unconsumed_tail
        return bytes(out), bool(buf) and not self.d.eof


class _Brotli:
    def __init__(self) -> None:
        self.d = brotli.Decompressor()

    def decode(self, data: bytes, room: int) -> tuple[bytes, bool]:
        if room <= 0:
            return b"", True
        out = self.d.process(data, output_buffer_limit=room)
        more = not self.d.can_accept_more_data()
        if len(out) > room:
            return out[:room], True
        return out, more


class _Identity:
    def decode(self, data: bytes, room: int) -> tuple[bytes, bool]:
        return data[:room], len(data) > room


def _decoder(name: str) -> _Zlib | _Brotli | _Identity:
    name = name.strip().lower()
    if name in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if name == "br":
        return _Brotli()
    if name in ("identity", ""):
        return _Identity()
    raise UnsupportedEncoding(f"unsupported Content-Encoding {name!r}")


class BoundedDecoder:
    """Decodes a body of the given Content-Encoding (a list, applied in order) up to `limit`
    decoded bytes; `full` once the limit was reached with more to come."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        names = [n for n in (content_encoding or "").split(",") if n.strip()]
        # Encodings are listed in the order they were applied: undo them last first.
        self.stages = [_decoder(n) for n in reversed(names)] or [_Identity()]
        self.limit = limit
        self.size = 0
        self.full = False

    def feed(self, raw: bytes) -> bytes:
        if self.full:
            return b""
        data = raw
        for i, stage in enumerate(self.stages):
            # Inner stages may produce more than the final bound (compressed input), outer ones
            # never: the last stage is bounded by what is left of the limit.
            room = self.limit - self.size if i == len(self.stages) - 1 else self.limit
            data, more = stage.decode(data, room)
            if more:
                self.full = True
        self.size += len(data)
        if self.size >= self.limit:
            self.full = True
        return data


def read_bounded(chunks: Iterable[bytes], content_encoding: str | None, limit: int,
                 deadline: float) -> bytes:
    """The decoded body, at most `limit` bytes, read until `deadline` (time.monotonic())."""
    decoder = BoundedDecoder(content_encoding, limit)
    body = bytearray()
    for raw in chunks:
        body += decoder.feed(raw)
        if decoder.full:
            break
        if time.monotonic() > deadline:
            raise BodyTooSlow("the body did not arrive within the check's deadline")
    return bytes(body)
