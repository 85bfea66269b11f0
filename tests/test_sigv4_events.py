"""Event-chain signing (bidirectional-stream spec §4–§5) against the spec's §10 worked example.

Every byte string below is copied from the spec, which produced them with the official SDK's
signer and encoder under a frozen clock and re-derived them independently. Our signer must
reproduce them byte for byte; a second, hashlib-only implementation here checks a long chain.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from datetime import datetime, timedelta, timezone

import pytest

from sagemaker_rt_async import ParamValidationError
from sagemaker_rt_async._eventstream import EventStreamDecoder, HeaderType, encode_message
from sagemaker_rt_async._sigv4 import (
    STREAMING_EVENTS_PAYLOAD,
    EventSigner,
    build_header_signature,
    date_header_bytes,
    derive_key_chain,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HOST = "runtime.sagemaker.us-east-1.amazonaws.com:8443"
PATH = "/endpoints/my-endpoint/invocations-bidirectional-stream"
T0 = datetime(2025, 1, 15, 12, 0, 0, tzinfo=timezone.utc)

INNER_HEX = (
    "00000099" "00000084" "53e1dd31"
    "0d3a6d6573736167652d74797065" "07" "0005" "6576656e74"
    "0b3a6576656e742d74797065" "07" "000b" "5061796c6f616450617274"
    "084461746154797065" "07" "0004" "55544638"
    "0f436f6d706c6574696f6e5374617465" "07" "0008" "434f4d504c455445"
    "0d3a636f6e74656e742d74797065" "07" "0018" "6170706c69636174696f6e2f6f637465742d73747265616d"
    "68656c6c6f"
    "e1e69065"
)  # fmt: skip
OUTER_HEX = (
    "000000ec0000004367d3e59d053a64617465080000019469d5b5e8103a6368756e6b2d7369676e6174757265060020"
    "92350df3cec2798666171331bbc9697492873c50935a944a741a23510aee00e8" + INNER_HEX + "92c6d6b5"
)
END_HEX = (
    "0000005300000043f5447a58053a64617465080000019469d5b9d0103a6368756e6b2d7369676e6174757265060020"
    "2d19cc45611e0bd29dc0f02de065adaf5089de76e3210a312fceeec4a0160304b2347aca"
)


def inner_hello() -> bytes:
    """The PayloadPart ``hello`` (UTF8, COMPLETE) with the SDK's header order."""
    return encode_message(
        [
            (":message-type", HeaderType.STRING, "event"),
            (":event-type", HeaderType.STRING, "PayloadPart"),
            ("DataType", HeaderType.STRING, "UTF8"),
            ("CompletionState", HeaderType.STRING, "COMPLETE"),
            (":content-type", HeaderType.STRING, "application/octet-stream"),
        ],
        b"hello",
    )


def initial(host: str = HOST, token: str | None = None, variant: str | None = None) -> str:
    """The seed: the initial request's signature."""
    headers = [("host", host), ("content-type", "application/vnd.amazon.eventstream")]
    if variant:
        headers.append(("x-amzn-sagemaker-target-variant", variant))
    result = build_header_signature(
        method="POST",
        path=PATH,
        headers=headers,
        payload_hash=STREAMING_EVENTS_PAYLOAD,
        access_key="AKIDEXAMPLE",
        secret_key=SECRET,
        session_token=token,
        region="us-east-1",
        service="sagemaker",
        now=T0,
        add_content_sha256=True,
    )
    return result.signature


def test_key_chain_and_initial_request() -> None:
    """kDate..kSigning, the canonical request and the seed of §10, with the literal payload hash."""
    keys = derive_key_chain(SECRET, "20250115", "us-east-1", "sagemaker")
    assert [k.hex() for k in keys] == [
        "4805711a59bf57d56cf84f947b31c5d9ba1269cf362f51c593ae9c7df92f7035",
        "ecd8686c81a23a22de569c27606296437918d4f6a35b77dc49b92eed15305d99",
        "8ec593089a1f63ffcb9875a2549aab2f4bfc855cf52bde0fbc64e375745857c1",
        "ba21a7caf6a03b4c66687fb2f26428a0cead78488770a514a9850367e40bc247",
    ]
    result = build_header_signature(
        method="POST",
        path=PATH,
        headers=[("host", HOST), ("content-type", "application/vnd.amazon.eventstream")],
        payload_hash=STREAMING_EVENTS_PAYLOAD,
        access_key="AKIDEXAMPLE",
        secret_key=SECRET,
        session_token=None,
        region="us-east-1",
        service="sagemaker",
        now=T0,
        add_content_sha256=True,
    )
    assert result.canonical_request == (
        "POST\n"
        f"{PATH}\n"
        "\n"
        "content-type:application/vnd.amazon.eventstream\n"
        f"host:{HOST}\n"
        "x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-EVENTS\n"
        "x-amz-date:20250115T120000Z\n"
        "\n"
        "content-type;host;x-amz-content-sha256;x-amz-date\n"
        "STREAMING-AWS4-HMAC-SHA256-EVENTS"
    )
    assert result.string_to_sign.endswith(
        "4e928d0ae5ed2d2f57e7c429ff0b8c9b8be1744bda28efbafa34a23184492db2"
    )
    assert result.signature == "c6843d6e58131e55131bd2f325227465da4a0c8e068821fc875fc8b3dde673bf"
    assert dict(result.added)["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250115/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
        "Signature=c6843d6e58131e55131bd2f325227465da4a0c8e068821fc875fc8b3dde673bf"
    )


def test_event_and_end_frame_byte_for_byte() -> None:
    """The inner message, the signed envelope and the end frame are the spec's bytes; a
    sub-second clock is truncated (``:date`` and the string to sign name the same second)."""
    assert inner_hello().hex() == INNER_HEX
    assert date_header_bytes(1736942401000).hex() == "053a64617465080000019469d5b5e8"
    signer = EventSigner(seed=initial(), secret_key=SECRET, region="us-east-1", service="sagemaker")
    outer = signer.envelope(inner_hello(), T0 + timedelta(seconds=1, milliseconds=734))
    assert outer.hex() == OUTER_HEX
    end = signer.end_frame(T0 + timedelta(seconds=2))
    assert end.hex() == END_HEX
    assert signer.ended
    with pytest.raises(ParamValidationError):
        signer.envelope(inner_hello(), T0 + timedelta(seconds=3))


@pytest.mark.parametrize(
    ("host", "token", "variant", "seed", "event", "end"),
    [
        (
            HOST,
            "FQoGZXIvYXdzEXAMPLETOKEN",
            "AllTraffic",
            "6649662f129bad1498199350c64bb6aa8233d2aa3300a5f59bad8f9f01bd6769",
            "15cef28b2a963f73bff2f2c8ad8a3971a8cccc1292ee3964bb158fea0f946666",
            "d79a7494559b451e6076a33b66c0f221f883f8004fd841fc382b3075c14d0660",
        ),
        (
            "localhost:8443",
            None,
            None,
            "06435ef0aa1abbad8820c6bee062c34076ad6af864075eda9c2d44da89c743b1",
            "824f6bdc1b13dd58adb1aec90af5abed0dec162e96e235afbc310c90fba4d328",
            "a92c3db14314e067cfa2448e920d595d05d6755f2c5507f1d646e0361ba1d64b",
        ),
    ],
    ids=["token-and-variant", "loopback"],
)
def test_second_and_loopback_vectors(
    host: str, token: str | None, variant: str | None, seed: str, event: str, end: str
) -> None:
    """The token signs the initial request only; events chain from whatever seed it gives."""
    assert initial(host, token, variant) == seed
    signer = EventSigner(seed=seed, secret_key=SECRET, region="us-east-1", service="sagemaker")
    assert signer.sign(inner_hello(), T0 + timedelta(seconds=1))[1].hex() == event
    assert signer.sign(b"", T0 + timedelta(seconds=2))[1].hex() == end


def independent_signature(prior: str, date_ms: int, payload: bytes) -> bytes:
    """The event signature computed from the spec's text with hashlib and hmac only."""
    when = datetime.fromtimestamp(date_ms // 1000, timezone.utc)
    day = when.strftime("%Y%m%d")
    key = ("AWS4" + SECRET).encode()
    for part in (day, "us-east-1", "sagemaker", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sts = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            when.strftime("%Y%m%dT%H%M%SZ"),
            f"{day}/us-east-1/sagemaker/aws4_request",
            prior,
            hashlib.sha256(b"\x05:date\x08" + struct.pack(">q", date_ms)).hexdigest(),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    return hmac.new(key, sts.encode(), hashlib.sha256).digest()


def test_a_recorded_chain_verifies_independently_across_midnight() -> None:
    """300 envelopes decoded back from their bytes each verify against the one before, with
    the key switching at midnight UTC; the end frame closes the chain."""
    start = datetime(2025, 1, 15, 23, 59, 0, tzinfo=timezone.utc)
    seed = initial()
    signer = EventSigner(seed=seed, secret_key=SECRET, region="us-east-1", service="sagemaker")
    wire = b"".join(
        signer.envelope(inner_hello(), start + timedelta(seconds=i * 0.5)) for i in range(300)
    )
    wire += signer.end_frame(start + timedelta(seconds=200))
    messages = EventStreamDecoder().feed(wire)
    assert len(messages) == 301
    prior = seed
    days = set()
    for message in messages:
        date_ms = message.headers[":date"]
        signature = message.headers[":chunk-signature"]
        assert isinstance(date_ms, int) and isinstance(signature, bytes)
        assert message.header_types[":date"] is HeaderType.TIMESTAMP
        assert date_ms % 1000 == 0
        assert signature == independent_signature(prior, date_ms, message.payload)
        days.add(datetime.fromtimestamp(date_ms / 1000, timezone.utc).day)
        prior = signature.hex()
    assert days == {15, 16}
    assert messages[-1].payload == b""


def test_signer_refuses_a_bad_seed_and_hides_its_key() -> None:
    """The seed must be a signature; the signer's repr shows no secret."""
    with pytest.raises(ParamValidationError):
        EventSigner(seed="nope", secret_key=SECRET, region="us-east-1", service="sagemaker")
    signer = EventSigner(seed="a" * 64, secret_key=SECRET, region="us-east-1", service="sagemaker")
    assert SECRET not in repr(signer) and "a" * 64 not in repr(signer)
