"""Range parsing, Content-Range, validators and HTTP-dates: RFC 9110 §5.6.7, §13, §14."""

from __future__ import annotations

import pytest

from planktos.httprange import (
    ByteRange,
    EntityTag,
    IgnoredRange,
    MultipleRanges,
    RangeDecision,
    UnsatisfiableRange,
    content_range,
    format_http_date,
    if_match_matches,
    if_none_match_matches,
    if_range_matches,
    parse_entity_tags,
    parse_http_date,
    parse_range,
    unsatisfied_content_range,
)

IGNORED = IgnoredRange
UNSAT = UnsatisfiableRange()


@pytest.mark.parametrize(
    ("value", "length", "expected"),
    [
        # int-range: first-last, clipped at the end
        ("bytes=0-0", 10, ByteRange(0, 0)),
        ("bytes=0-9", 10, ByteRange(0, 9)),
        ("bytes=2-5", 10, ByteRange(2, 5)),
        ("bytes=9-9", 10, ByteRange(9, 9)),
        ("bytes=5-100", 10, ByteRange(5, 9)),
        ("bytes=0-99999999999999999999999999999999", 10, ByteRange(0, 9)),
        ("bytes=0-0", 1, ByteRange(0, 0)),
        ("bytes=16383-16384", 16384, ByteRange(16383, 16383)),
        ("bytes=16383-16384", 16385, ByteRange(16383, 16384)),
        # first- : to the end
        ("bytes=0-", 10, ByteRange(0, 9)),
        ("bytes=9-", 10, ByteRange(9, 9)),
        ("bytes=0-", 1, ByteRange(0, 0)),
        ("bytes=007-", 10, ByteRange(7, 9)),
        # suffix: the last n bytes, the whole when n >= length
        ("bytes=-1", 10, ByteRange(9, 9)),
        ("bytes=-10", 10, ByteRange(0, 9)),
        ("bytes=-11", 10, ByteRange(0, 9)),
        ("bytes=-1", 1, ByteRange(0, 0)),
        ("bytes=-999999999999999999999999999", 10, ByteRange(0, 9)),
        # unsatisfiable: 416
        ("bytes=10-", 10, UNSAT),
        ("bytes=10-20", 10, UNSAT),
        ("bytes=99999999999999999999999-", 10, UNSAT),
        ("bytes=-0", 10, UNSAT),
        ("bytes=0-", 0, UNSAT),
        ("bytes=0-0", 0, UNSAT),
        ("bytes=10-,20-", 10, UNSAT),
        # a suffix of an empty representation is satisfiable yet selects nothing: 200
        ("bytes=-1", 0, IGNORED),
        # several ranges: 200 with everything
        ("bytes=0-1,5-6", 10, MultipleRanges(2)),
        ("bytes=0-1,50-60", 10, MultipleRanges(2)),
        ("bytes=0-0,-1,3-", 10, MultipleRanges(3)),
        # list syntax: OWS and empty elements (§5.6.1), case-insensitive unit (§14.1)
        ("bytes=0-1, ", 10, ByteRange(0, 1)),
        ("bytes=, 0-1", 10, ByteRange(0, 1)),
        ("bytes=0-1 ,\t5-6", 10, MultipleRanges(2)),
        ("Bytes=0-1", 10, ByteRange(0, 1)),
        ("BYTES=-2", 10, ByteRange(8, 9)),
        # invalid: ignored, 200
        ("bytes=5-2", 10, IGNORED),
        ("bytes=0-1,5-2", 10, IGNORED),
        ("items=0-1", 10, IGNORED),
        ("bytes 0-1", 10, IGNORED),
        ("bytes=", 10, IGNORED),
        ("bytes=,", 10, IGNORED),
        ("bytes=-", 10, IGNORED),
        ("bytes=--1", 10, IGNORED),
        ("bytes=1", 10, IGNORED),
        ("bytes=a-b", 10, IGNORED),
        ("bytes=+1-2", 10, IGNORED),
        ("bytes=1 - 2", 10, IGNORED),
        ("bytes =0-1", 10, IGNORED),
        ("bytes=0x1-2", 10, IGNORED),
        ("bytes=\u0661-\u0662", 10, IGNORED),  # Arabic-Indic digits are not DIGIT
        ("bytes=1_0-2_0", 10, IGNORED),
        ("", 10, IGNORED),
    ],
)
def test_parse_range(value: str, length: int, expected: RangeDecision | type) -> None:
    decision = parse_range(value, length)
    if isinstance(expected, type):
        assert isinstance(decision, expected)
    else:
        assert decision == expected


def test_ignored_range_says_why() -> None:
    assert parse_range("bytes=5-2", 10) == IgnoredRange("last position before first in '5-2'")
    assert parse_range("items=0-1", 10) == IgnoredRange("unknown range unit 'items'")


@pytest.mark.parametrize(
    ("byte_range", "length", "expected"),
    [
        (ByteRange(0, 0), 1, "bytes 0-0/1"),
        (ByteRange(0, 16383), 16384, "bytes 0-16383/16384"),
        (ByteRange(16384, 16384), 16385, "bytes 16384-16384/16385"),
    ],
)
def test_content_range(byte_range: ByteRange, length: int, expected: str) -> None:
    assert content_range(byte_range, length) == expected


def test_byte_range_length() -> None:
    assert ByteRange(0, 0).length == 1
    assert ByteRange(5, 9).length == 5


def test_unsatisfied_content_range() -> None:
    assert unsatisfied_content_range(0) == "bytes */0"
    assert unsatisfied_content_range(16385) == "bytes */16385"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"a"', [EntityTag(False, '"a"')]),
        ('W/"a"', [EntityTag(True, '"a"')]),
        (
            '"a", W/"b" ,"c"',
            [EntityTag(False, '"a"'), EntityTag(True, '"b"'), EntityTag(False, '"c"')],
        ),
        (' , "a",, ', [EntityTag(False, '"a"')]),
        ('""', [EntityTag(False, '""')]),
        ("", []),
        ("a", None),
        ('"a', None),
        ('"a" "b"', None),
        ('w/"a"', None),
        ('"a b"', None),
        ('"a"b', None),
    ],
)
def test_parse_entity_tags(value: str, expected: list[EntityTag] | None) -> None:
    assert parse_entity_tags(value) == expected


ETAG = '"4000-17a"'


@pytest.mark.parametrize(
    ("value", "none_match", "match"),
    [
        (ETAG, True, True),
        (f"W/{ETAG}", True, False),  # weak comparison for If-None-Match only
        (f'"x", {ETAG}', True, True),
        ('"x", "y"', False, False),
        ("*", True, True),
        (" * ", True, True),
        ('"4000-17b"', False, False),
        ("garbage", False, False),
        (f"{ETAG}, garbage", False, False),
    ],
)
def test_etag_conditions(value: str, none_match: bool, match: bool) -> None:
    assert if_none_match_matches(value, ETAG) is none_match
    assert if_match_matches(value, ETAG) is match


LAST_MODIFIED = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ETAG, True),
        (f" {ETAG} ", True),
        (f"W/{ETAG}", False),  # weak entity-tags never match
        ('"4000-17b"', False),
        (f"{ETAG}, {ETAG}", False),
        ("Sun, 06 Nov 1994 08:49:37 GMT", True),
        ("Sunday, 06-Nov-94 08:49:37 GMT", True),
        ("Sun Nov  6 08:49:37 1994", True),
        ("Sun, 06 Nov 1994 08:49:36 GMT", False),  # must be equal, not earlier
        ("Sun, 06 Nov 1994 08:49:38 GMT", False),  # nor later
        ("garbage", False),
        ("", False),
    ],
)
def test_if_range(value: str, expected: bool) -> None:
    assert if_range_matches(value, ETAG, LAST_MODIFIED) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", LAST_MODIFIED),
        ("Sunday, 06-Nov-94 08:49:37 GMT", LAST_MODIFIED),
        ("Sun Nov  6 08:49:37 1994", LAST_MODIFIED),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000),
        ("Sat, 31 Dec 2016 23:59:60 GMT", 1483228799),  # leap second
        ("Sun, 06 Nov 1994 08:49:37 UTC", None),
        ("Sun, 6 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 8:49:37 GMT", None),
        ("Sun, 31 Feb 1994 08:49:37 GMT", None),
        ("Sun, 06 Foo 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 24:00:00 GMT", None),
        ("Sun, 06 Nov 1994 08:60:00 GMT", None),
        ("Xyz, 06 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 0000 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT x", None),
        ("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", None),
        ("1994-11-06T08:49:37Z", None),
        ("", None),
    ],
)
def test_parse_http_date(value: str, expected: int | None) -> None:
    assert parse_http_date(value) == expected


def test_rfc850_two_digit_year_is_never_more_than_50_years_ahead() -> None:
    now = parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT")
    assert now is not None
    in_2074 = parse_http_date("Monday, 01-Jan-74 00:00:00 GMT", now=now)
    in_1975 = parse_http_date("Wednesday, 01-Jan-75 00:00:00 GMT", now=now)
    assert in_2074 == parse_http_date("Mon, 01 Jan 2074 00:00:00 GMT")
    assert in_1975 == parse_http_date("Wed, 01 Jan 1975 00:00:00 GMT")


@pytest.mark.parametrize(
    "seconds", [0, 1, LAST_MODIFIED, 1709208000, 1_700_000_000, 4102444800, 253402300799]
)
def test_format_http_date_round_trips(seconds: int) -> None:
    assert parse_http_date(format_http_date(seconds)) == seconds


def test_format_http_date() -> None:
    assert format_http_date(LAST_MODIFIED) == "Sun, 06 Nov 1994 08:49:37 GMT"
