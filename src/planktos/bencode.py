"""Bencoding (BEP 3), typed and strict.

Our own ~80 lines rather than a PyPI package: torrents need only encoding of a few types, and
the tests need a decoder that rejects anything a strict client would (unsorted keys, leading
zeros, trailing data), which the maintained libraries do not all check.
"""

from __future__ import annotations

import itertools
from typing import TypeAlias

from planktos.errors import BencodeError


class Raw(bytes):
    """Bytes that are already bencoded, spliced into the output as they are."""


Bencodable: TypeAlias = "int | bytes | str | list[Bencodable] | dict[bytes | str, Bencodable]"
Decoded: TypeAlias = "int | bytes | list[Decoded] | dict[bytes, Decoded]"


def encode(value: Bencodable) -> bytes:
    """Encode ``value``; ``str`` is encoded as UTF-8 and dict keys are sorted as raw bytes."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Bencodable, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise BencodeError(value, "booleans have no bencoding")
    if isinstance(value, Raw):
        out.append(value)
    elif isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, bytes | str):
        raw = value.encode() if isinstance(value, str) else value
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, list):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        keyed = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        for (a, _), (b, _) in itertools.pairwise(keyed):
            if a == b:
                raise BencodeError(a, "duplicate dictionary key")
        out.append(b"d")
        for key, item in keyed:
            _encode(key, out)
            _encode(item, out)
        out.append(b"e")
    else:
        raise BencodeError(type(value).__name__, "type has no bencoding")


def decode(data: bytes) -> Decoded:
    """Decode one complete bencoded value, rejecting non-canonical or trailing data."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise BencodeError(f"offset {end}", "trailing data after the value")
    return value


def _decode(data: bytes, i: int) -> tuple[Decoded, int]:
    if i >= len(data):
        raise BencodeError(f"offset {i}", "unexpected end of data")
    c = data[i : i + 1]
    if c == b"i":
        end = data.find(b"e", i)
        digits = data[i + 1 : end]
        if end < 0 or not _canonical_int(digits):
            raise BencodeError(f"offset {i}", "invalid integer")
        return int(digits), end + 1
    if c.isdigit():
        colon = data.find(b":", i)
        digits = data[i:colon]
        if colon < 0 or not _canonical_int(digits) or digits.startswith(b"-"):
            raise BencodeError(f"offset {i}", "invalid string length")
        end = colon + 1 + int(digits)
        if end > len(data):
            raise BencodeError(f"offset {i}", "string runs past the end of data")
        return data[colon + 1 : end], end
    if c == b"l":
        items: list[Decoded] = []
        i += 1
        while data[i : i + 1] != b"e":
            item, i = _decode(data, i)
            items.append(item)
        return items, i + 1
    if c == b"d":
        result: dict[bytes, Decoded] = {}
        last: bytes | None = None
        i += 1
        while data[i : i + 1] != b"e":
            key, i = _decode(data, i)
            if not isinstance(key, bytes):
                raise BencodeError(f"offset {i}", "dictionary key is not a string")
            if last is not None and key <= last:
                raise BencodeError(key, "dictionary keys are not sorted or not unique")
            result[key], i = _decode(data, i)
            last = key
        return result, i + 1
    raise BencodeError(f"offset {i}", f"unexpected byte {c!r}")


def _canonical_int(digits: bytes) -> bool:
    body = digits[1:] if digits.startswith(b"-") else digits
    if not body.isdigit():
        return False
    return not (body.startswith(b"0") and (len(body) > 1 or digits.startswith(b"-")))
