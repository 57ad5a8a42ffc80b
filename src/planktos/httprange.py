"""Range requests and the validators they depend on, per RFC 9110 §13 and §14. No I/O.

The service worker mirrors this module in JavaScript, so every rule is spelled out here:

``parse_range(value, length)`` reads one ``Range`` field value (RFC 9110 §14.2) against a
representation of ``length`` bytes and returns exactly one of

- :class:`ByteRange` — one satisfiable range, already clipped to the length: answer 206 with
  ``Content-Range: bytes start-end/length`` (§14.4);
- :class:`IgnoredRange` — the field is invalid (unknown unit, bad syntax, ``last < first``)
  or cannot be expressed as a 206: answer 200 with the whole representation (§14.2 lets a
  server ignore ``Range``);
- :class:`UnsatisfiableRange` — valid, but no range overlaps the representation: answer 416
  with ``Content-Range: bytes */length`` (§15.5.17);
- :class:`MultipleRanges` — valid, more than one range, at least one satisfiable: we answer
  200 with the whole representation rather than ``multipart/byteranges`` (§14.2 allows
  ignoring ``Range``; browsers and WebTorrent only ever ask for one range).

Details a mirror must keep:

- The unit is case-insensitive (``Bytes=0-1`` is valid); positions are ASCII digits only; a
  list element may be surrounded by spaces or tabs and empty elements are skipped (§5.6.1).
- ``a-b`` with ``b`` at or beyond the end is clipped to ``length - 1``; ``a-`` runs to the
  end; ``-n`` is the last ``n`` bytes, the whole representation when ``n >= length``.
- ``a-`` is satisfiable iff ``a < length``; ``-n`` iff ``n > 0`` (§14.1.1). On an empty
  representation ``-n`` with ``n > 0`` is therefore satisfiable yet selects no byte, which no
  ``Content-Range`` can express: that is :class:`IgnoredRange` (200 with an empty body).
- Positions of more than 20 digits exceed any length and are treated as infinite.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

_SPEC = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")
_HUGE = 1 << 66  # bigger than any representation length; stands for "more than 20 digits"
_OWS = " \t"


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One satisfiable range: first and last byte offsets, both inclusive (§14.1.2)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """Number of bytes the range selects (the 206 response's Content-Length)."""
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class IgnoredRange:
    """The Range field must be ignored: serve the whole representation with 200."""

    reason: str


@dataclass(frozen=True, slots=True)
class UnsatisfiableRange:
    """No requested range overlaps the representation: answer 416 (§15.5.17)."""


@dataclass(frozen=True, slots=True)
class MultipleRanges:
    """Several ranges were asked for; we serve the whole representation with 200."""

    count: int


RangeDecision = ByteRange | IgnoredRange | UnsatisfiableRange | MultipleRanges


def parse_range(value: str, length: int) -> RangeDecision:
    """Decide how to answer a ``Range: value`` request for ``length`` bytes (RFC 9110 §14.2)."""
    unit, equals, range_set = value.strip(_OWS).partition("=")
    if not equals:
        return IgnoredRange("no '=' after the range unit")
    if unit.lower() != "bytes":
        return IgnoredRange(f"unknown range unit {unit!r}")
    specs: list[tuple[int, int | None] | int] = []  # (first, last) or a suffix length
    for element in range_set.split(","):
        element = element.strip(_OWS)
        if not element:
            continue
        match = _SPEC.fullmatch(element)
        if match is None:
            return IgnoredRange(f"malformed range {element!r}")
        first, last, suffix = match.groups()
        if suffix is not None:
            specs.append(_position(suffix))
            continue
        first_pos = _position(first)
        last_pos = _position(last) if last else None
        if last_pos is not None and last_pos < first_pos:
            return IgnoredRange(f"last position before first in {element!r}")
        specs.append((first_pos, last_pos))
    if not specs:
        return IgnoredRange("no range in the range set")
    satisfiable = [spec for spec in specs if _satisfiable(spec, length)]
    if not satisfiable:
        return UnsatisfiableRange()
    if len(specs) > 1:
        return MultipleRanges(len(specs))
    spec = specs[0]
    if isinstance(spec, int):
        if length == 0:
            return IgnoredRange("suffix range of an empty representation")
        return ByteRange(max(0, length - spec), length - 1)
    first_pos, last_pos = spec
    end = length - 1 if last_pos is None else min(last_pos, length - 1)
    return ByteRange(first_pos, end)


def _position(digits: str) -> int:
    """A byte position or suffix length; anything over 20 digits is beyond every length."""
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > 20 else int(digits)


def _satisfiable(spec: tuple[int, int | None] | int, length: int) -> bool:
    """RFC 9110 §14.1.1: ``first < length`` for ``first-[last]``, ``n > 0`` for ``-n``."""
    if isinstance(spec, int):
        return spec > 0
    return spec[0] < length


def content_range(byte_range: ByteRange, length: int) -> str:
    """The ``Content-Range`` value of a 206 response (RFC 9110 §14.4), e.g. ``bytes 0-0/5``."""
    return f"bytes {byte_range.start}-{byte_range.end}/{length}"


def unsatisfied_content_range(length: int) -> str:
    """The ``Content-Range`` value of a 416 response (RFC 9110 §14.4), e.g. ``bytes */5``."""
    return f"bytes */{length}"


# --- Validators (RFC 9110 §8.8, §13.1) ------------------------------------------------------

_ETAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\U0010ffff]*)"')


@dataclass(frozen=True, slots=True)
class EntityTag:
    """One entity-tag: ``opaque`` is the quoted string, quotes included (§8.8.3)."""

    weak: bool
    opaque: str


def parse_entity_tags(value: str) -> list[EntityTag] | None:
    """The entity-tags of an ``If-Match``/``If-None-Match`` list; None when malformed.

    ``*`` is not an entity-tag: callers test for it first (see :func:`if_none_match_matches`).
    """
    tags: list[EntityTag] = []
    pos, end = 0, len(value)
    while True:
        while pos < end and value[pos] in " \t,":
            pos += 1
        if pos == end:
            return tags
        match = _ETAG.match(value, pos)
        if match is None:
            return None
        tags.append(EntityTag(weak=match.group(1) is not None, opaque=f'"{match.group(2)}"'))
        pos = match.end()
        while pos < end and value[pos] in _OWS:
            pos += 1
        if pos < end and value[pos] != ",":
            return None


def if_none_match_matches(value: str, etag: str) -> bool:
    """Whether ``If-None-Match: value`` matches our strong ``etag`` (RFC 9110 §13.1.2).

    Uses the weak comparison (``W/"x"`` matches ``"x"``); ``*`` matches any current
    representation. A malformed field matches nothing, so the full response is sent.
    """
    if value.strip(_OWS) == "*":
        return True
    tags = parse_entity_tags(value)
    return tags is not None and any(tag.opaque == etag for tag in tags)


def if_match_matches(value: str, etag: str) -> bool:
    """Whether ``If-Match: value`` matches our strong ``etag`` (RFC 9110 §13.1.1).

    Uses the strong comparison: weak entity-tags never match. ``*`` matches any current
    representation; a malformed field matches nothing (the request then fails with 412).
    """
    if value.strip(_OWS) == "*":
        return True
    tags = parse_entity_tags(value)
    return tags is not None and any(not tag.weak and tag.opaque == etag for tag in tags)


def if_range_matches(value: str, etag: str, last_modified: int) -> bool:
    """Whether ``If-Range: value`` lets the ``Range`` field apply (RFC 9110 §13.1.5).

    An entity-tag must equal our strong ``etag`` by the strong comparison, so a weak one
    never matches. Otherwise the value must be an HTTP-date exactly equal to
    ``last_modified`` (seconds since the epoch, as sent in ``Last-Modified``); we do not
    apply §8.8.2.2's rule that a date within a second of the response is weak. Anything
    else, including garbage, does not match: the whole representation is sent.
    """
    value = value.strip(_OWS)
    if value.startswith(("W/", '"')):
        match = _ETAG.fullmatch(value)
        return match is not None and match.group(1) is None and value == etag
    return parse_http_date(value) == last_modified


# --- HTTP-date (RFC 9110 §5.6.7) ------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NAME, _D2, _D4 = "([A-Za-z]{3})", "([0-9]{2})", "([0-9]{4})"
_TIME = f"{_D2}:{_D2}:{_D2}"
_IMF_FIXDATE = re.compile(f"{_NAME}, {_D2} {_NAME} {_D4} {_TIME} GMT")
_RFC850_DATE = re.compile(f"([A-Za-z]+), {_D2}-{_NAME}-{_D2} {_TIME} GMT")
_ASCTIME_DATE = re.compile(f"{_NAME} {_NAME} ([ 0-9][0-9]) {_TIME} {_D4}")


def format_http_date(seconds: int) -> str:
    """An IMF-fixdate such as ``Sun, 06 Nov 1994 08:49:37 GMT``, independent of locale."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Seconds since the epoch of an HTTP-date in any of its three forms; None if invalid.

    The obsolete RFC 850 form has a two-digit year, read as the latest matching year that is
    not more than 50 years after ``now`` (default: the current time), as §5.6.7 requires.
    The day name is checked for spelling only, as recipients need not check it.
    """
    value = value.strip(_OWS)
    if match := _IMF_FIXDATE.fullmatch(value):
        day_name, day, month, year, hour, minute, second = match.groups()
        if day_name not in _DAYS:
            return None
    elif match := _RFC850_DATE.fullmatch(value):
        day_name, day, month, short_year, hour, minute, second = match.groups()
        if day_name not in _LONG_DAYS:
            return None
        this_year = time.gmtime(time.time() if now is None else now).tm_year
        full_year = this_year - this_year % 100 + int(short_year)
        if full_year > this_year + 50:
            full_year -= 100
        year = str(full_year)
    elif match := _ASCTIME_DATE.fullmatch(value):
        day_name, month, day, hour, minute, second, year = match.groups()
        if day_name not in _DAYS:
            return None
    else:
        return None
    if month not in _MONTHS or int(year) < 1:
        return None
    fields = (int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute))
    seconds = int(second)
    if not (1 <= fields[2] <= calendar.monthrange(fields[0], fields[1])[1]):
        return None
    if fields[3] > 23 or fields[4] > 59 or seconds > 60:  # 60: a leap second (§5.6.7)
        return None
    return calendar.timegm((*fields, min(seconds, 59), 0, 0, 0))
