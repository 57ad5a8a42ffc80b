"""The WebTorrent WebSocket tracker protocol: one raw text message in, one typed request out.

No I/O. :func:`parse_request` is the single entry point for every message a browser sends;
it either returns an :class:`AnnounceRequest` / :class:`ScrapeRequest` with every field
checked and normalized, or raises :class:`TrackerProtocolError`, whose text becomes the
``failure reason`` sent back. The ``*_message`` functions build the JSON objects the tracker
sends, and :func:`encode_message` turns one into text.

Wire format, as spoken by the npm package bittorrent-tracker (server:
``lib/server/parse-websocket.js``, ``server.js`` ``_onWebSocketRequest``; client:
``lib/client/websocket-tracker.js``), which WebTorrent uses in browsers:

- Messages are JSON objects in text frames. ``info_hash``, ``peer_id`` and ``to_peer_id`` are
  20-byte values sent as "binary strings": a JSON string of 20 characters, each one byte
  (U+0000..U+00FF). We keep them as :class:`bytes`.
- ``announce`` carries ``event`` (``started``, ``stopped``, ``completed``, or nothing for an
  update; bittorrent-tracker also maps ``"empty"`` and ``"update"`` to an update), ``left``
  (a number, or ``null`` when the client does not know yet), ``numwant`` and up to
  ``numwant`` ``offers`` ``[{"offer": {"type": "offer", "sdp": ...}, "offer_id": ...}]``;
  or, to answer an offer it received, ``answer`` ``{"type": "answer", "sdp": ...}``,
  ``offer_id`` and ``to_peer_id``.
- ``scrape`` carries ``info_hash``: one binary string or a list of them.

Where we are stricter than bittorrent-tracker, the difference is a bound on what a client
may make us hold or forward (message size, offers per announce, SDP size, hashes per
scrape), or a type check whose failure bittorrent-tracker would only notice later. A
``scrape`` without ``info_hash`` is refused: bittorrent-tracker answers it with every swarm
it knows, which lists every info hash an open tracker has seen.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, fields

import orjson

from planktos.errors import InputError, PlanktosError

HASH_LENGTH = 20
"""Bytes in an info hash and in a peer id (BEP 3)."""

_MAX_OFFER_ID_CHARS = 64  # WebTorrent sends 20; anything much longer is not an id
_ACTIONS = ("announce", "scrape")
_EVENTS_FOR_UPDATE = (None, "", "empty", "update")


@dataclass(frozen=True, slots=True)
class TrackerLimits:
    """Bounds on what one client may make the tracker parse, hold or forward.

    ``idle_timeout_s``: a socket from which nothing (not even a pong) arrived for this long
    is closed. ``interval_s``: announce interval told to clients; bittorrent-tracker tells
    WebSocket clients its HTTP interval / 5, i.e. 120 s by default.
    ``handshake_timeout_s``: the standalone tracker cuts a connection whose HTTP request
    (the WebSocket handshake) is not complete this long after it opened, however steadily
    its bytes trickle in. ``peer_id_grace_s``: after a connection closes, its peer ids are
    kept this long for connections from its address (its browser reconnecting).
    """

    max_message_bytes: int = 64 * 1024
    max_offers_per_announce: int = 10
    max_numwant: int = 50
    idle_timeout_s: float = 120.0
    interval_s: int = 120
    max_sdp_chars: int = 16 * 1024
    max_scrape_hashes: int = 100
    max_swarms_per_connection: int = 256
    handshake_timeout_s: float = 10.0
    peer_id_grace_s: float = 60.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InputError(f"tracker limit {field.name}", f"must be > 0, got {value!r}")


class TrackerProtocolError(PlanktosError):
    """A tracker message is malformed or not allowed; its text is the ``failure reason``.

    ``action`` and ``info_hash`` are echoed in the failure message when they are known:
    WebTorrent's client only reads failures that carry the action and its own info hash, and
    treats any other message as a broken socket.
    """

    def __init__(
        self,
        subject: object,
        problem: str,
        *,
        action: str | None = None,
        info_hash: bytes | None = None,
    ) -> None:
        super().__init__(subject, problem)
        self.action = action
        self.info_hash = info_hash


class Event(enum.Enum):
    """The ``event`` of an announce (BEP 3); no event at all is an update."""

    STARTED = "started"
    STOPPED = "stopped"
    COMPLETED = "completed"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class Offer:
    """A WebRTC offer to forward to one other peer of the swarm."""

    offer_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A WebRTC answer to forward to the peer whose offer ``offer_id`` it answers."""

    to_peer_id: bytes
    offer_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class AnnounceRequest:
    """One announce. ``numwant`` is already clamped; ``left`` is None when unknown."""

    info_hash: bytes
    peer_id: bytes
    event: Event
    left: float | None
    numwant: int
    offers: tuple[Offer, ...]
    answer: Answer | None


@dataclass(frozen=True, slots=True)
class ScrapeRequest:
    """A scrape of one or more swarms, without duplicates, in the order asked."""

    info_hashes: tuple[bytes, ...]


TrackerRequest = AnnounceRequest | ScrapeRequest


def parse_request(text: str, limits: TrackerLimits) -> TrackerRequest:
    """Parse one text message from a client into a request, or raise TrackerProtocolError."""
    if len(text) > limits.max_message_bytes:
        raise TrackerProtocolError(
            "message", f"longer than {limits.max_message_bytes} bytes; send a smaller one"
        )
    message = _decode(text)
    if not isinstance(message, dict):
        raise TrackerProtocolError("message", f"must be a JSON object, got {_kind(message)}")
    action = message.get("action")
    if action == "announce":
        return _parse_announce(message, limits)
    if action == "scrape":
        return _parse_scrape(message, limits)
    if action is None:
        raise TrackerProtocolError("action", "missing; expected 'announce' or 'scrape'")
    raise TrackerProtocolError("action", "unknown; expected 'announce' or 'scrape'")


_INT64_LIMIT = float(1 << 63)


def _decode(text: str) -> object:
    """JSON text to Python values, exactly as :func:`json.loads` decodes it, but faster.

    orjson decodes valid, ordinary messages about four times faster than the standard
    library. What it refuses and the standard library takes (NaN, Infinity, 1e999, lone
    surrogate escapes) goes to the standard library; an integer beyond 64 bits, which orjson
    turns into a float, too, where it matters (``numwant`` must be an integer).
    """
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        numwant = message.get("numwant") if type(message) is dict else None
        if type(numwant) is not float or abs(numwant) < _INT64_LIMIT:
            return message
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers beyond Python's digit limit.
        raise TrackerProtocolError("message", "not valid JSON") from None


_EVENTS = {"started": Event.STARTED, "stopped": Event.STOPPED, "completed": Event.COMPLETED}


def _parse_announce(message: dict[str, object], limits: TrackerLimits) -> AnnounceRequest:
    info_hash = _binary_id(message.get("info_hash"), "info_hash", "announce", None)
    peer_id = _binary_id(message.get("peer_id"), "peer_id", "announce", info_hash)

    raw_event = message.get("event")
    if raw_event in _EVENTS_FOR_UPDATE:
        event = Event.UPDATE
    elif isinstance(raw_event, str) and raw_event in _EVENTS:
        event = _EVENTS[raw_event]
    else:
        raise _fail(info_hash, "event", "must be 'started', 'stopped', 'completed' or absent")

    raw_left = message.get("left")
    left: float | None
    if raw_left is None:
        left = None  # JSON has no Infinity: WebTorrent sends null before it knows the size
    elif isinstance(raw_left, int | float) and not isinstance(raw_left, bool):
        try:
            left = None if math.isnan(raw_left) else float(raw_left)
        except OverflowError:  # an integer of some 310 digits or more
            problem = "must be a number of bytes below 1e308, or null"
            raise _fail(info_hash, "left", problem) from None
    else:
        raise _fail(info_hash, "left", "must be a number or null")

    offers: tuple[Offer, ...] = ()
    if event is not Event.STOPPED:  # bittorrent-tracker's client sends no offers then
        raw_offers = message.get("offers")
        if raw_offers is not None:
            offers = _parse_offers(raw_offers, limits, info_hash)

    raw_numwant = message.get("numwant")
    if raw_numwant is None:
        numwant = len(offers)
    elif isinstance(raw_numwant, int) and not isinstance(raw_numwant, bool) and raw_numwant >= 0:
        numwant = raw_numwant
    else:
        raise _fail(info_hash, "numwant", "must be a non-negative integer")
    numwant = min(numwant, limits.max_numwant)

    answer = None
    if message.get("answer"):  # bittorrent-tracker tests truthiness too
        to_peer_id = message.get("to_peer_id")
        if to_peer_id is None:
            raise _fail(info_hash, "to_peer_id", "required with an answer")
        answer = Answer(
            _binary_id(to_peer_id, "to_peer_id", "announce", info_hash),
            _offer_id(message.get("offer_id"), info_hash),
            _signal(message.get("answer"), "answer", limits, info_hash),
        )

    return AnnounceRequest(info_hash, peer_id, event, left, numwant, offers, answer)


def _fail(info_hash: bytes, subject: str, problem: str) -> TrackerProtocolError:
    """An announce failure that carries the action and the info hash."""
    return TrackerProtocolError(subject, problem, action="announce", info_hash=info_hash)


def _parse_offers(raw: object, limits: TrackerLimits, info_hash: bytes) -> tuple[Offer, ...]:
    if not isinstance(raw, list):
        raise _fail(info_hash, "offers", "must be a list")
    if len(raw) > limits.max_offers_per_announce:
        raise _fail(
            info_hash, "offers", f"more than {limits.max_offers_per_announce} in one announce"
        )
    offers = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _fail(
                info_hash, f"offers[{index}]", "must be an object with 'offer' and 'offer_id'"
            )
        # Subjects name the offer only on failure: formatting them for every offer costs.
        offer_id = item.get("offer_id")
        if not isinstance(offer_id, str) or not 0 < len(offer_id) <= _MAX_OFFER_ID_CHARS:
            offer_id = _offer_id(offer_id, info_hash, f"offers[{index}].offer_id")
        offers.append(
            Offer(offer_id, _signal(item.get("offer"), "offer", limits, info_hash, index))
        )
    return tuple(offers)


def _offer_id(raw: object, info_hash: bytes, subject: str = "offer_id") -> str:
    if not isinstance(raw, str) or not 0 < len(raw) <= _MAX_OFFER_ID_CHARS:
        raise _fail(
            info_hash, subject, f"must be a string of 1 to {_MAX_OFFER_ID_CHARS} characters"
        )
    return raw


def _signal(
    raw: object, kind: str, limits: TrackerLimits, info_hash: bytes, index: int | None = None
) -> str:
    """Return the SDP of an ``{"type": kind, "sdp": ...}`` session description.

    ``index``: the place of the offer in ``offers``, for the failure's subject.
    """
    if isinstance(raw, dict) and raw.get("type") == kind:
        sdp = raw.get("sdp")
        if isinstance(sdp, str) and len(sdp) <= limits.max_sdp_chars:
            return sdp
    subject = kind if index is None else f"offers[{index}].{kind}"
    if not isinstance(raw, dict) or raw.get("type") != kind:
        raise _fail(info_hash, subject, f"must be an object with type '{kind}' and an sdp string")
    if not isinstance(raw.get("sdp"), str):
        raise _fail(info_hash, f"{subject}.sdp", "must be a string")
    raise _fail(info_hash, f"{subject}.sdp", f"longer than {limits.max_sdp_chars} characters")


def _parse_scrape(message: dict[str, object], limits: TrackerLimits) -> ScrapeRequest:
    raw = message.get("info_hash")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise TrackerProtocolError(
            "info_hash", "must be a binary string or a non-empty list of them", action="scrape"
        )
    if len(raw) > limits.max_scrape_hashes:
        raise TrackerProtocolError(
            "info_hash", f"more than {limits.max_scrape_hashes} in one scrape", action="scrape"
        )
    hashes = dict.fromkeys(_binary_id(item, "info_hash", "scrape", None) for item in raw)
    return ScrapeRequest(info_hashes=tuple(hashes))


def _binary_id(raw: object, subject: str, action: str, info_hash: bytes | None) -> bytes:
    """Decode a 20-byte id sent as a binary string (one character per byte)."""
    if not isinstance(raw, str):
        problem = f"must be a {HASH_LENGTH}-byte binary string, got {_kind(raw)}"
    elif len(raw) != HASH_LENGTH:
        problem = f"must be {HASH_LENGTH} bytes as a binary string, got {len(raw)} characters"
    else:
        try:
            return raw.encode("latin-1")
        except UnicodeEncodeError:
            problem = "must be a binary string: every character U+0000..U+00FF"
    raise TrackerProtocolError(subject, problem, action=action, info_hash=info_hash)


def _kind(value: object) -> str:
    """Name a JSON value's type the way a JavaScript developer would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def binary_string(value: bytes) -> str:
    """Encode a 20-byte id the way it travels in JSON: one character per byte."""
    return value.decode("latin-1")


def announce_reply(
    info_hash: bytes, complete: int, incomplete: int, interval_s: int
) -> dict[str, object]:
    """The tracker's answer to an announce (bittorrent-tracker sends no peer list over WS)."""
    return {
        "action": "announce",
        "interval": interval_s,
        "info_hash": binary_string(info_hash),
        "complete": complete,
        "incomplete": incomplete,
    }


def offer_message(info_hash: bytes, from_peer_id: bytes, offer: Offer) -> dict[str, object]:
    """An offer as forwarded to another peer, naming the offering peer."""
    return {
        "action": "announce",
        "offer": {"type": "offer", "sdp": offer.sdp},
        "offer_id": offer.offer_id,
        "peer_id": binary_string(from_peer_id),
        "info_hash": binary_string(info_hash),
    }


def answer_message(info_hash: bytes, from_peer_id: bytes, answer: Answer) -> dict[str, object]:
    """An answer as forwarded to the offering peer, naming the answering peer."""
    return {
        "action": "announce",
        "answer": {"type": "answer", "sdp": answer.sdp},
        "offer_id": answer.offer_id,
        "peer_id": binary_string(from_peer_id),
        "info_hash": binary_string(info_hash),
    }


def scrape_reply(counts: dict[bytes, tuple[int, int, int]], interval_s: int) -> dict[str, object]:
    """Scrape answer: ``counts`` maps info hash to (complete, incomplete, downloaded)."""
    return {
        "action": "scrape",
        "files": {
            binary_string(info_hash): {
                "complete": complete,
                "incomplete": incomplete,
                "downloaded": downloaded,
            }
            for info_hash, (complete, incomplete, downloaded) in counts.items()
        },
        "flags": {"min_request_interval": interval_s},
    }


def failure_message(error: TrackerProtocolError) -> dict[str, object]:
    """A ``failure reason``, with the action and info hash when the error knows them."""
    message: dict[str, object] = {"failure reason": str(error)}
    if error.action is not None:
        message["action"] = error.action
    if error.info_hash is not None:
        message["info_hash"] = binary_string(error.info_hash)
    return message


# ensure_ascii: a JSON escape such as "\ud800" decodes to a lone surrogate, which cannot be
# encoded as UTF-8; escaping everything non-ASCII on the way out makes relaying it safe.
_ENCODER = json.JSONEncoder(ensure_ascii=True, check_circular=False, separators=(",", ":"))


def encode_message(message: dict[str, object]) -> str:
    """Serialize one outgoing message as compact, ASCII-only JSON text."""
    return _ENCODER.encode(message)


def encode_message_utf8(message: dict[str, object]) -> bytes:
    """Serialize one outgoing message as compact JSON in UTF-8, the payload of a text frame.

    The same JSON value as :func:`encode_message` (non-ASCII characters travel as UTF-8
    instead of escapes), about ten times faster: orjson. A lone surrogate, which only the
    standard library's decoder lets in and which UTF-8 cannot carry, takes the escaped way.
    """
    try:
        return orjson.dumps(message)
    except TypeError:
        return _ENCODER.encode(message).encode("ascii")
