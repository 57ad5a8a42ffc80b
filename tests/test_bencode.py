"""Bencode round trips and strict rejection of non-canonical input."""

from __future__ import annotations

import pytest

from planktos.bencode import decode, encode
from planktos.errors import BencodeError


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"i0e"),
        (-42, b"i-42e"),
        (b"", b"0:"),
        ("é", b"2:\xc3\xa9"),
        ([1, b"a"], b"li1e1:ae"),
        ({"b": 1, "a": [b"x"]}, b"d1:al1:xe1:bi1ee"),
        ({b"\xff": 1, b"a": 2}, b"d1:ai2e1:\xffi1ee"),
    ],
)
def test_encode_and_decode(value: object, encoded: bytes) -> None:
    assert encode(value) == encoded  # type: ignore[arg-type]
    assert encode(decode(encoded)) == encoded


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"i01e",
        b"i-0e",
        b"ie",
        b"i1",
        b"3:ab",
        b"-1:a",
        b"01:a",
        b"i1ei2e",
        b"l",
        b"d1:ae",
        b"d1:bi1e1:ai2ee",
        b"d1:ai1e1:ai2ee",
        b"di1ei2ee",
        b"x",
    ],
)
def test_decode_rejects(bad: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(bad)


def test_encode_rejects_bool_and_float() -> None:
    with pytest.raises(BencodeError):
        encode(True)
    with pytest.raises(BencodeError):
        encode(1.5)  # type: ignore[arg-type]
