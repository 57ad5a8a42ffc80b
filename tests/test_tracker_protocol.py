"""Parsing and encoding of WebTorrent tracker messages (planktos.tracker.protocol)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from planktos.errors import InputError, PlanktosError
from planktos.tracker.protocol import (
    AnnounceRequest,
    Answer,
    Event,
    Offer,
    ScrapeRequest,
    TrackerLimits,
    TrackerProtocolError,
    announce_reply,
    answer_message,
    encode_message,
    encode_message_utf8,
    failure_message,
    offer_message,
    parse_request,
    scrape_reply,
)

LIMITS = TrackerLimits()
INFO_HASH = bytes(range(0xE0, 0xF4))  # high bytes: travel as two UTF-8 bytes each
PEER_ID = b"-WW0300-" + bytes(range(12))
OTHER_PEER = b"-WW0300-" + bytes(range(100, 112))


def binary(value: bytes) -> str:
    return value.decode("latin-1")


def sdp_offer(n: int = 0) -> dict[str, str]:
    return {"type": "offer", "sdp": f"v=0\r\no=- {n} 2 IN IP4 127.0.0.1\r\n"}


def announce(**fields: Any) -> str:
    message: dict[str, Any] = {
        "action": "announce",
        "info_hash": binary(INFO_HASH),
        "peer_id": binary(PEER_ID),
        "numwant": 2,
        "uploaded": 0,
        "downloaded": 0,
        "left": 100,
        "event": "started",
        "offers": [{"offer": sdp_offer(i), "offer_id": f"offer-{i}"} for i in range(2)],
    }
    message.update(fields)
    return json.dumps({k: v for k, v in message.items() if v is not ...})


def parse_announce(text: str, limits: TrackerLimits = LIMITS) -> AnnounceRequest:
    request = parse_request(text, limits)
    assert isinstance(request, AnnounceRequest)
    return request


def failure(text: str, limits: TrackerLimits = LIMITS) -> TrackerProtocolError:
    with pytest.raises(TrackerProtocolError) as caught:
        parse_request(text, limits)
    return caught.value


# -- announce ---------------------------------------------------------------------------


def test_announce_as_webtorrent_sends_it() -> None:
    request = parse_announce(announce())
    assert request == AnnounceRequest(
        info_hash=INFO_HASH,
        peer_id=PEER_ID,
        event=Event.STARTED,
        left=100.0,
        numwant=2,
        offers=(
            Offer("offer-0", sdp_offer(0)["sdp"]),
            Offer("offer-1", sdp_offer(1)["sdp"]),
        ),
        answer=None,
    )


def test_announce_answer() -> None:
    text = announce(
        event=...,
        offers=...,
        numwant=...,
        left=...,
        answer={"type": "answer", "sdp": "v=0\r\n"},
        offer_id="offer-0",
        to_peer_id=binary(OTHER_PEER),
    )
    request = parse_announce(text)
    assert request.answer == Answer(OTHER_PEER, "offer-0", "v=0\r\n")
    assert request.event is Event.UPDATE
    assert request.left is None
    assert request.offers == ()
    assert request.numwant == 0


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("started", Event.STARTED),
        ("stopped", Event.STOPPED),
        ("completed", Event.COMPLETED),
        ("update", Event.UPDATE),
        ("empty", Event.UPDATE),
        ("", Event.UPDATE),
        (None, Event.UPDATE),
        (..., Event.UPDATE),
    ],
)
def test_announce_events(event: object, expected: Event) -> None:
    assert parse_announce(announce(event=event)).event is expected


def test_announce_stopped_ignores_offers() -> None:
    assert parse_announce(announce(event="stopped", offers="garbage")).offers == ()


@pytest.mark.parametrize(
    ("left", "expected"), [(0, 0.0), (12.5, 12.5), (None, None), (..., None), (1e999, 1e999)]
)
def test_announce_left(left: object, expected: float | None) -> None:
    assert parse_announce(announce(left=left)).left == expected


def test_announce_left_nan_is_unknown() -> None:
    text = announce().replace('"left": 100', '"left": NaN')
    assert parse_announce(text).left is None


@pytest.mark.parametrize(
    ("numwant", "offers", "expected"),
    [(..., 2, 2), (None, 2, 2), (1, 2, 1), (0, 2, 0), (7, 2, 7), (10**9, 2, 50)],
)
def test_announce_numwant_is_clamped(numwant: object, offers: int, expected: int) -> None:
    offer_list = [{"offer": sdp_offer(i), "offer_id": f"o{i}"} for i in range(offers)]
    request = parse_announce(announce(numwant=numwant, offers=offer_list))
    assert request.numwant == expected


def test_announce_without_offers() -> None:
    request = parse_announce(announce(offers=..., numwant=...))
    assert request.offers == ()
    assert request.numwant == 0


def test_announce_offers_up_to_the_limit() -> None:
    limits = TrackerLimits(max_offers_per_announce=3)
    offers = [{"offer": sdp_offer(i), "offer_id": f"o{i}"} for i in range(3)]
    assert len(parse_announce(announce(offers=offers), limits).offers) == 3
    error = failure(announce(offers=[*offers, offers[0]]), limits)
    assert str(error) == "offers: more than 3 in one announce"
    assert error.action == "announce"
    assert error.info_hash == INFO_HASH


def test_announce_sdp_size_limit() -> None:
    limits = TrackerLimits(max_sdp_chars=10)
    ok = [{"offer": {"type": "offer", "sdp": "x" * 10}, "offer_id": "o"}]
    assert parse_announce(announce(offers=ok), limits).offers[0].sdp == "x" * 10
    big = [{"offer": {"type": "offer", "sdp": "x" * 11}, "offer_id": "o"}]
    assert str(failure(announce(offers=big), limits)) == (
        "offers[0].offer.sdp: longer than 10 characters"
    )


@pytest.mark.parametrize(
    ("fields", "subject"),
    [
        ({"event": "paused"}, "event"),
        ({"event": 3}, "event"),
        ({"left": "0"}, "left"),
        ({"left": True}, "left"),
        ({"numwant": -1}, "numwant"),
        ({"numwant": 2.5}, "numwant"),
        ({"numwant": "5"}, "numwant"),
        ({"numwant": True}, "numwant"),
        ({"offers": {"offer": 1}}, "offers"),
        ({"offers": ["x"]}, "offers[0]"),
        ({"offers": [{"offer_id": "o"}]}, "offers[0].offer"),
        (
            {"offers": [{"offer": {"type": "answer", "sdp": ""}, "offer_id": "o"}]},
            "offers[0].offer",
        ),
        ({"offers": [{"offer": {"type": "offer"}, "offer_id": "o"}]}, "offers[0].offer.sdp"),
        (
            {"offers": [{"offer": {"type": "offer", "sdp": 1}, "offer_id": "o"}]},
            "offers[0].offer.sdp",
        ),
        ({"offers": [{"offer": sdp_offer()}]}, "offers[0].offer_id"),
        ({"offers": [{"offer": sdp_offer(), "offer_id": ""}]}, "offers[0].offer_id"),
        ({"offers": [{"offer": sdp_offer(), "offer_id": "x" * 65}]}, "offers[0].offer_id"),
        ({"answer": {"type": "answer", "sdp": ""}, "offer_id": "o"}, "to_peer_id"),
        ({"answer": {"type": "answer", "sdp": ""}, "to_peer_id": "short"}, "to_peer_id"),
        ({"answer": {"type": "answer", "sdp": ""}, "to_peer_id": binary(OTHER_PEER)}, "offer_id"),
        ({"answer": {"sdp": ""}, "to_peer_id": binary(OTHER_PEER), "offer_id": "o"}, "answer"),
    ],
)
def test_announce_bad_fields(fields: dict[str, object], subject: str) -> None:
    error = failure(announce(**fields))
    assert error.subject == subject
    assert error.action == "announce"
    assert error.info_hash == INFO_HASH
    assert isinstance(error, PlanktosError)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (..., "must be a 20-byte binary string, got null"),
        (None, "must be a 20-byte binary string, got null"),
        (12, "must be a 20-byte binary string, got a number"),
        (["a"], "must be a 20-byte binary string, got an array"),
        ("a" * 19, "must be 20 bytes as a binary string, got 19 characters"),
        ("a" * 21, "must be 20 bytes as a binary string, got 21 characters"),
        ("a" * 40, "must be 20 bytes as a binary string, got 40 characters"),
        ("a" * 19 + "\u0100", "must be a binary string: every character U+0000..U+00FF"),
        ("a" * 19 + "\u20ac", "must be a binary string: every character U+0000..U+00FF"),
    ],
)
def test_announce_bad_info_hash(value: object, problem: str) -> None:
    error = failure(announce(info_hash=value))
    assert error.subject == "info_hash"
    assert error.problem == problem
    assert error.action == "announce"
    assert error.info_hash is None


def test_announce_bad_peer_id_names_the_info_hash() -> None:
    error = failure(announce(peer_id="x"))
    assert error.subject == "peer_id"
    assert error.info_hash == INFO_HASH


def test_every_byte_value_round_trips() -> None:
    for start in range(0, 256, 20):
        raw = bytes((start + i) % 256 for i in range(20))
        assert parse_announce(announce(info_hash=binary(raw))).info_hash == raw


# -- scrape -----------------------------------------------------------------------------


def test_scrape_one_hash() -> None:
    text = json.dumps({"action": "scrape", "info_hash": binary(INFO_HASH)})
    assert parse_request(text, LIMITS) == ScrapeRequest((INFO_HASH,))


def test_scrape_several_hashes_deduplicated_in_order() -> None:
    hashes = [binary(OTHER_PEER), binary(INFO_HASH), binary(OTHER_PEER)]
    text = json.dumps({"action": "scrape", "info_hash": hashes})
    assert parse_request(text, LIMITS) == ScrapeRequest((OTHER_PEER, INFO_HASH))


@pytest.mark.parametrize("value", [..., None, [], 5, ["x"], [binary(INFO_HASH), 3]])
def test_scrape_bad_info_hash(value: object) -> None:
    message = {"action": "scrape", "info_hash": value}
    error = failure(json.dumps({k: v for k, v in message.items() if v is not ...}))
    assert error.subject == "info_hash"
    assert error.action == "scrape"


def test_scrape_hash_limit() -> None:
    limits = TrackerLimits(max_scrape_hashes=2)
    text = json.dumps({"action": "scrape", "info_hash": [binary(INFO_HASH)] * 3})
    assert str(failure(text, limits)) == "info_hash: more than 2 in one scrape"


# -- whole messages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "message: not valid JSON"),
        ("", "message: not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "message: not valid JSON"),
        ('{"action": "announce", "numwant": ' + "9" * 5000 + "}", "message: not valid JSON"),
        ("[1, 2]", "message: must be a JSON object, got an array"),
        ('"announce"', "message: must be a JSON object, got a string"),
        ("null", "message: must be a JSON object, got null"),
        ("{}", "action: missing; expected 'announce' or 'scrape'"),
        ('{"action": "connect"}', "action: unknown; expected 'announce' or 'scrape'"),
        ('{"action": ["announce"]}', "action: unknown; expected 'announce' or 'scrape'"),
    ],
)
def test_malformed_messages(text: str, reason: str) -> None:
    error = failure(text, TrackerLimits(max_message_bytes=1_000_000))
    assert str(error) == reason
    assert error.action is None
    assert failure_message(error) == {"failure reason": reason}


def test_message_size_limit() -> None:
    limits = TrackerLimits(max_message_bytes=len(announce()))
    assert parse_announce(announce(), limits).info_hash == INFO_HASH
    error = failure(announce() + " ", limits)
    assert error.subject == "message"


@pytest.mark.parametrize(
    "fields",
    [
        {"max_message_bytes": 0},
        {"max_offers_per_announce": -1},
        {"idle_timeout_s": 0.0},
        {"interval_s": True},
        {"max_numwant": "5"},
    ],
)
def test_limits_must_be_positive(fields: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        TrackerLimits(**fields)


# -- outgoing messages ------------------------------------------------------------------


def test_announce_reply() -> None:
    assert announce_reply(INFO_HASH, 1, 2, 120) == {
        "action": "announce",
        "interval": 120,
        "info_hash": binary(INFO_HASH),
        "complete": 1,
        "incomplete": 2,
    }


def test_relayed_offer_and_answer_name_the_sender() -> None:
    offer = offer_message(INFO_HASH, PEER_ID, Offer("o1", "sdp-o"))
    assert offer == {
        "action": "announce",
        "offer": {"type": "offer", "sdp": "sdp-o"},
        "offer_id": "o1",
        "peer_id": binary(PEER_ID),
        "info_hash": binary(INFO_HASH),
    }
    answer = answer_message(INFO_HASH, OTHER_PEER, Answer(PEER_ID, "o1", "sdp-a"))
    assert answer == {
        "action": "announce",
        "answer": {"type": "answer", "sdp": "sdp-a"},
        "offer_id": "o1",
        "peer_id": binary(OTHER_PEER),
        "info_hash": binary(INFO_HASH),
    }


def test_scrape_reply() -> None:
    assert scrape_reply({INFO_HASH: (1, 2, 3)}, 120) == {
        "action": "scrape",
        "files": {binary(INFO_HASH): {"complete": 1, "incomplete": 2, "downloaded": 3}},
        "flags": {"min_request_interval": 120},
    }


def test_failure_message_carries_action_and_info_hash() -> None:
    error = TrackerProtocolError("info_hash", "nope", action="scrape", info_hash=INFO_HASH)
    assert failure_message(error) == {
        "failure reason": "info_hash: nope",
        "action": "scrape",
        "info_hash": binary(INFO_HASH),
    }


def test_encoded_messages_are_ascii_json_that_decodes_to_the_same_bytes() -> None:
    text = encode_message(announce_reply(INFO_HASH, 0, 1, 120))
    assert text.isascii()
    assert " " not in text
    assert json.loads(text)["info_hash"].encode("latin-1") == INFO_HASH


def test_lone_surrogate_in_sdp_is_relayed_safely() -> None:
    text = announce(offers=[{"offer": sdp_offer(), "offer_id": "o"}])
    text = text.replace("v=0", "v=0\\ud800")
    request = parse_announce(text)
    encoded = encode_message(offer_message(INFO_HASH, PEER_ID, request.offers[0]))
    encoded.encode("utf-8")  # must not raise
    assert json.loads(encoded)["offer"]["sdp"] == request.offers[0].sdp


@pytest.mark.parametrize("numwant", [2**63, 10**30])
def test_announce_numwant_beyond_64_bits_is_clamped(numwant: int) -> None:
    assert parse_announce(announce(numwant=numwant)).numwant == LIMITS.max_numwant


def test_announce_numwant_huge_float_is_refused() -> None:
    with pytest.raises(TrackerProtocolError, match="numwant"):
        parse_announce(announce().replace('"numwant": 2', '"numwant": 1e30'))


def test_utf8_encoding_is_the_same_json_value_as_the_ascii_one() -> None:
    request = parse_announce(announce(offers=[{"offer": sdp_offer(), "offer_id": "o"}]))
    message = offer_message(INFO_HASH, PEER_ID, request.offers[0])
    encoded = encode_message_utf8(message)
    assert json.loads(encoded.decode("utf-8")) == json.loads(encode_message(message))
    assert json.loads(encoded)["info_hash"].encode("latin-1") == INFO_HASH


def test_utf8_encoding_of_a_lone_surrogate_falls_back_to_escapes() -> None:
    text = announce(offers=[{"offer": sdp_offer(), "offer_id": "o"}]).replace("v=0", "v=0\\ud800")
    request = parse_announce(text)
    encoded = encode_message_utf8(offer_message(INFO_HASH, PEER_ID, request.offers[0]))
    assert json.loads(encoded.decode("ascii"))["offer"]["sdp"] == request.offers[0].sdp


@pytest.mark.parametrize("digits", [309, 400, 4000])
def test_announce_left_too_large_for_a_float_is_refused_naming_left(digits: int) -> None:
    text = announce().replace('"left": 100', f'"left": {"9" * digits}')
    with pytest.raises(TrackerProtocolError) as caught:
        parse_announce(text)
    assert str(caught.value).startswith("left: ")
    assert caught.value.action == "announce"


@pytest.mark.parametrize("field", ["numwant", "uploaded", "downloaded"])
def test_announce_other_numbers_of_400_digits_parse(field: str) -> None:
    request = parse_announce(announce(**{field: int("9" * 400)}))
    assert request.numwant == (LIMITS.max_numwant if field == "numwant" else 2)
