"""boto3 and aiobotocore as oracles for InvokeEndpointWithResponseStream: request and stream.

Every peer (boto3 on a worker thread, aiobotocore on asyncio, our client on each engine and
backend) calls the same loopback ``FakeSageMakerRuntime``, which records what it received and
sends the same event-stream bytes to each. Four sides:

* request: method, path, body, header names and values, ``SignedHeaders=`` equal to boto3's, and
  botocore's ``SigV4Auth`` recomputes our ``Authorization`` (spec §2.3, §5.1).
* stream: the PayloadPart bytes botocore's ``EventStream`` (boto3 and aiobotocore) yields are
  exactly our parts, and the header members are equal (spec §2.3, §4.4).
* in-stream failures: where botocore is right we agree with it; where it is wrong on purpose
  (spec §4.5, STYLE §8: a truncated stream ends silently, ``ModelStreamError.ErrorCode`` is
  dropped, a CRC failure is an untyped ``ChecksumMismatch``) each test asserts both sides and
  says which difference it pins.
* errors before the stream: the same 424 ``ModelError`` fields as boto3's ``ClientError``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import botocore.eventstream
import botocore.exceptions
import botocore.session
import pytest
from _oracles import (
    BOTO_MEMBER,
    EVERY_MEMBER,
    REGION,
    TOKEN_CREDENTIALS,
    Call,
    Peer,
    RecordingFake,
    assert_same_request,
    boto3_client,
    botocore_authorization,
    compact_json,
    members_of,
)

import sagemaker_rt_async as sm
from sagemaker_rt_async._eventstream import encode_message, payload_part
from sagemaker_rt_async.testing import (
    TEST_CREDENTIALS,
    InternalStreamFault,
    Invocation,
    ModelFailure,
    ModelStream,
    ModelStreamFailure,
    RecordedRequest,
    ServiceFailure,
    StreamFault,
)

OPERATION = "InvokeEndpointWithResponseStream"
ECHO = "echo"  # Call's default endpoint
STREAM = "stream"
# The echo endpoint answers the request body in parts of this size (several parts for the
# larger bodies, none for an empty body).
ECHO_PART = 64 * 1024


# ---------------------------------------------------------------------------------------------
# The peers: one loopback fake per credential set, each with a boto3 client bound to it.


async def _echo_parts(inv: Invocation) -> AsyncIterator[bytes]:
    view = memoryview(inv.body)
    for start in range(0, len(view), ECHO_PART):
        yield bytes(view[start : start + ECHO_PART])


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[bool, Peer]]:
    """Two served fakes with a streaming echo endpoint, keyed by "uses a session token"."""
    with ExitStack() as stack:
        out: dict[bool, Peer] = {}
        for with_token, creds in ((False, TEST_CREDENTIALS), (True, TOKEN_CREDENTIALS)):
            fake = RecordingFake(credentials=creds)
            fake.add_endpoint(ECHO, _echo_parts)
            server = stack.enter_context(fake.serve())
            boto = boto3_client(server.url, creds)
            stack.callback(boto.close)
            out[with_token] = Peer(fake, server.url, creds, boto)
        yield out


@pytest.fixture
def peer(peers: dict[bool, Peer]) -> Peer:
    """The token-less peer, with its recordings cleared."""
    p = peers[False]
    p.reset()
    return p


@pytest.fixture(scope="module")
def aio_session() -> Any:
    """One aiobotocore session for the module (it caches the loaded service model)."""
    import aiobotocore.session

    return aiobotocore.session.get_session()


# ---------------------------------------------------------------------------------------------
# Running one call on each peer, reduced to the same shape.


@dataclass
class Outcome:
    """What one peer saw: the parts, the header members, and how it ended.

    ``error`` is the exception the call or the iteration raised (None: the stream ended
    normally); ``started`` says whether a 200 stream was opened before it.
    """

    parts: list[bytes] = field(default_factory=list)
    content_type: str | None = None
    invoked_production_variant: str | None = None
    custom_attributes: str | None = None
    request_id: str | None = None
    error: BaseException | None = None
    started: bool = False

    def members(self) -> tuple[str | None, str | None, str | None]:
        return (self.content_type, self.invoked_production_variant, self.custom_attributes)


def _payload_parts(events: list[Any]) -> list[bytes]:
    """botocore's parsed events as PayloadPart bytes; any other event shape fails the test."""
    parts: list[bytes] = []
    for event in events:
        assert list(event) == ["PayloadPart"], event
        assert list(event["PayloadPart"]) == ["Bytes"], event
        data = event["PayloadPart"]["Bytes"]
        assert isinstance(data, bytes)
        parts.append(data)
    return parts


def _botocore_outcome(response: Any, events: list[Any], error: BaseException | None) -> Outcome:
    return Outcome(
        parts=_payload_parts(events),
        content_type=response.get("ContentType"),
        invoked_production_variant=response.get("InvokedProductionVariant"),
        custom_attributes=response.get("CustomAttributes"),
        request_id=response["ResponseMetadata"].get("RequestId"),
        error=error,
        started=True,
    )


def _client_error_outcome(exc: Any) -> Outcome:
    """The call itself failed (an HTTP error response): no stream was opened."""
    return Outcome(request_id=exc.response["ResponseMetadata"].get("RequestId"), error=exc)


async def boto3_stream(peer: Peer, args: dict[str, Any]) -> Outcome:
    """boto3's call, iterated to its end (or its exception) and closed, on a worker thread."""

    def call() -> Outcome:
        try:
            response = peer.boto.invoke_endpoint_with_response_stream(**args)
        except botocore.exceptions.ClientError as exc:
            return _client_error_outcome(exc)
        except botocore.exceptions.BotoCoreError as exc:  # no HTTP response at all
            return Outcome(error=exc)
        body = response["Body"]
        events: list[Any] = []
        error: BaseException | None = None
        try:
            for event in body:
                events.append(event)
        except Exception as exc:  # the oracle's own exception types are part of the answer
            error = exc
        finally:
            body.close()
        return _botocore_outcome(response, events, error)

    return await anyio.to_thread.run_sync(call)


async def aiobotocore_stream(session: Any, peer: Peer, args: dict[str, Any]) -> Outcome:
    """aiobotocore's call with the same credentials, iterated with ``async for`` and closed."""
    from aiobotocore.config import AioConfig

    creds = peer.credentials
    async with session.create_client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=peer.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=AioConfig(retries={"total_max_attempts": 1}),
    ) as client:
        try:
            response = await client.invoke_endpoint_with_response_stream(**args)
        except botocore.exceptions.ClientError as exc:
            return _client_error_outcome(exc)
        body = response["Body"]
        events: list[Any] = []
        error: BaseException | None = None
        try:
            async for event in body:
                events.append(event)
        except Exception as exc:  # the oracle's own exception types are part of the answer
            error = exc
        finally:
            # AioEventStream's ``async for`` leaves its inner chunk generator suspended when an
            # event raises; close it here rather than leave it to the garbage collector.
            inner = getattr(body, "_event_generator", None)
            if inner is not None:
                await inner.aclose()
            body.close()
        return _botocore_outcome(response, events, error)


async def our_stream(
    peer: Peer,
    transport: str,
    endpoint: str,
    body: bytes | bytearray | memoryview | str | None = b"q",
    **kwargs: Any,
) -> Outcome:
    """Our call, iterated with ``async with`` + ``async for``; a SageMakerRuntimeError is kept."""
    out = Outcome()
    async with peer.fake.client(endpoint_url=peer.url, transport=transport, retry=False) as rt:
        stream = rt.invoke_endpoint_with_response_stream(endpoint, body, **kwargs)
        try:
            async with stream as s:
                out.started = True
                async for part in s:
                    out.parts.append(part)
        except sm.SageMakerRuntimeError as exc:
            out.error = exc
        assert stream.closed
    out.content_type = stream.content_type
    out.invoked_production_variant = stream.invoked_production_variant
    out.custom_attributes = stream.custom_attributes
    out.request_id = stream.request_id
    return out


@dataclass(frozen=True)
class Oracle:
    """One botocore-family peer: boto3 (any backend) or aiobotocore (asyncio only)."""

    name: str
    session: Any = None

    async def stream(self, peer: Peer, args: dict[str, Any]) -> Outcome:
        if self.name == "boto3":
            return await boto3_stream(peer, args)
        return await aiobotocore_stream(self.session, peer, args)


@pytest.fixture(params=["boto3", "aiobotocore"])
def oracle(request: pytest.FixtureRequest, anyio_backend: str, aio_session: Any) -> Oracle:
    """Each botocore-family oracle; aiobotocore runs on asyncio only (it is built on aiohttp)."""
    if request.param == "aiobotocore" and anyio_backend != "asyncio":
        pytest.skip("aiobotocore runs on asyncio only")
    return Oracle(str(request.param), aio_session)


async def _both(peer: Peer, oracle: Oracle, transport: str, stream: Any) -> tuple[Outcome, Outcome]:
    """Serve ``stream`` (a handler's answer or a handler) and call it from the oracle, then us."""
    peer.fake.add_endpoint(STREAM, stream if callable(stream) else (lambda _inv: stream))
    theirs = await oracle.stream(peer, {"EndpointName": STREAM, "Body": b"q"})
    ours = await our_stream(peer, transport, STREAM)
    # One answer per call, and each peer reports the request id the fake sent it.
    sent = peer.fake.sent_request_ids
    assert sent == [theirs.request_id, ours.request_id], "the fake did not answer each call"
    return theirs, ours


# ---------------------------------------------------------------------------------------------
# Request side


# Our keyword -> botocore member of InvokeEndpointWithResponseStream (spec §2.3).


JSON_VALUE = {"inputs": "héllo ☃ 🦀", "parameters": {"max_new_tokens": 8, "stream": True}}
MAX_BODY = 6_291_456  # spec §2.3: the body is at most 6 MiB
SLICED_BODY = 2**20 + 1  # above 1 MiB our client hands the engine the body in slices

REQUEST_CASES = [
    pytest.param(Call({"body": b""}), id="empty-body"),
    pytest.param(
        Call({"body": bytes(range(256)), "content_type": "application/octet-stream"}),
        id="binary-body-all-256-byte-values",
    ),
    pytest.param(
        Call({"body": "héllo wörld ☃ 🦀\u00a0", "content_type": "text/plain; charset=utf-8"}),
        id="str-body-non-ascii-utf8",
    ),
    pytest.param(Call({"body": bytearray(b"\x00bytearray\xff")}), id="bytearray-body"),
    pytest.param(Call({"body": memoryview(b"memoryview body")}), id="memoryview-body"),
    pytest.param(
        Call(
            {"json": JSON_VALUE},
            boto_override={"Body": compact_json(JSON_VALUE), "ContentType": "application/json"},
        ),
        id="json-keyword",
    ),
    pytest.param(Call(EVERY_MEMBER["InvokeEndpointWithResponseStream"]), id="every-member"),
    pytest.param(
        Call({"body": b"x", "accept": "application/jsonlines"}),
        id="accept-as-x-amzn-sagemaker-accept",
    ),
    pytest.param(
        Call({"body": b"x", "accept": "application/json, text/csv;q=0.5"}), id="accept-list"
    ),
    pytest.param(Call({"body": b"x", "custom_attributes": ""}), id="custom-attributes-empty"),
    pytest.param(
        Call({"body": b"x", "custom_attributes": "  a=1,   b=2  "}),
        id="custom-attributes-whitespace",
    ),
    pytest.param(Call({"body": b"x", "session_id": "sess-1-2-3"}), id="existing-session"),
    pytest.param(
        Call({"body": b"x", "inference_id": "id:1 with spaces&symbols~!"}),
        id="inference-id-printable",
    ),
    pytest.param(
        Call({"body": b"x", "inference_component_name": "ic-1"}), id="inference-component"
    ),
    pytest.param(Call({"body": b"x", "prefix_aware_id": "conv-42/turn 3"}), id="prefix-aware-id"),
    pytest.param(Call({"body": b"x", "target_variant": "v-2"}), id="target-variant"),
    pytest.param(
        Call({"body": b"x", "target_container_hostname": "c-3"}), id="target-container-hostname"
    ),
    pytest.param(Call({"body": b"x"}, endpoint="e" + "-1" * 31), id="endpoint-name-63-chars"),
    pytest.param(
        Call({"body": b"b" * SLICED_BODY, "content_type": "text/plain"}), id="body-over-1-mib"
    ),
    pytest.param(
        Call({"body": b"a" * MAX_BODY, "content_type": "text/plain"}), id="body-at-6-mib-limit"
    ),
    pytest.param(
        Call({"body": b'{"x":1}', "content_type": "application/json"}, session_token=True),
        id="session-token",
    ),
]


async def _exchange(p: Peer, call: Call, transport: str) -> tuple[RecordedRequest, RecordedRequest]:
    """boto3's call, then ours, to the streaming echo endpoint: (boto3's request, ours).

    Both streams are consumed fully; each must echo its own request body back.
    """
    p.reset()
    p.fake.add_endpoint(call.endpoint, _echo_parts)
    theirs = await boto3_stream(p, call.boto_args())
    kwargs = dict(call.ours)
    body = kwargs.pop("body", None)
    ours = await our_stream(p, transport, call.endpoint, body, **kwargs)
    for outcome in (theirs, ours):
        assert outcome.error is None
        assert b"".join(outcome.parts) == call.body_bytes()
    theirs_req, ours_req = p.fake.requests
    return theirs_req, ours_req


@pytest.mark.anyio
@pytest.mark.parametrize("call", REQUEST_CASES)
async def test_stream_request_matches_boto3(
    call: Call, peers: dict[bool, Peer], transport: str
) -> None:
    """Same arguments → same method, path, body, headers and signed headers as boto3."""
    p = peers[call.session_token]
    theirs, ours = await _exchange(p, call, transport)
    assert ours.path == f"/endpoints/{call.endpoint}/invocations-response-stream"
    assert_same_request(ours, theirs, p.credentials)
    if call.session_token:
        assert ours.header("x-amz-security-token") == TOKEN_CREDENTIALS.session_token


@pytest.mark.anyio
@pytest.mark.parametrize("call", REQUEST_CASES)
async def test_botocore_recomputes_our_stream_signature(
    call: Call, peers: dict[bool, Peer], transport: str
) -> None:
    """botocore's SigV4Auth at our X-Amz-Date reproduces our Authorization header exactly.

    The same re-signing applied to boto3's own request reproduces boto3's header, which shows
    the oracle rebuilds the request as it was at signing time.
    """
    p = peers[call.session_token]
    theirs, ours = await _exchange(p, call, transport)
    assert botocore_authorization(theirs, p.credentials) == theirs.header("authorization")
    assert botocore_authorization(ours, p.credentials) == ours.header("authorization")


def _stream_operation() -> Any:
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    return model.operation_model(OPERATION)


def test_cases_cover_every_stream_member() -> None:
    """The request table sets every input member of the operation in botocore's model, each
    member maps to one of our keywords, and our method takes no keyword the operation lacks
    (no TargetModel, no EnableExplanations)."""
    members = set(_stream_operation().input_shape.members)
    used: set[str] = set()
    for param in REQUEST_CASES:
        call = param.values[0]
        assert isinstance(call, Call)
        used |= set(call.boto_args())
    assert members == used
    assert members == {"EndpointName", *members_of("InvokeEndpointWithResponseStream").values()}
    assert not members & {"TargetModel", "EnableExplanations"}
    method = sm.SageMakerRuntimeClient.invoke_endpoint_with_response_stream
    keywords = set(inspect.signature(method).parameters) - {"self", "endpoint_name"}
    assert keywords - {"json", "timeout", "retry"} == set(
        members_of("InvokeEndpointWithResponseStream")
    )


@pytest.mark.anyio
async def test_every_member_travels_in_its_modeled_header(peer: Peer, transport: str) -> None:
    """Each header member goes out under the wire name botocore's model gives it (Accept as
    X-Amzn-SageMaker-Accept, and no plain Accept header at all), with the value verbatim."""
    _, ours = await _exchange(
        peer, Call(EVERY_MEMBER["InvokeEndpointWithResponseStream"]), transport
    )
    shapes = _stream_operation().input_shape.members
    for key, value in EVERY_MEMBER["InvokeEndpointWithResponseStream"].items():
        if key == "body":
            continue
        serialization = shapes[BOTO_MEMBER[key]].serialization
        assert serialization["location"] == "header"
        assert ours.header(serialization["name"]) == value
    assert shapes["Accept"].serialization["name"] == "X-Amzn-SageMaker-Accept"
    assert ours.header("accept") is None


@pytest.mark.anyio
async def test_new_session_is_rejected_locally_unlike_boto3(peer: Peer, transport: str) -> None:
    """Deliberate difference (spec §2.3): SessionId=NEW_SESSION is not allowed on this operation.
    botocore does not check the pattern and sends it; we raise ParamValidationError before any
    I/O, so the fake only ever sees boto3's request."""
    theirs = await boto3_stream(
        peer, {"EndpointName": ECHO, "Body": b"x", "SessionId": "NEW_SESSION"}
    )
    assert theirs.error is None
    async with peer.fake.client(endpoint_url=peer.url, transport=transport, retry=False) as rt:
        with pytest.raises(sm.ParamValidationError):
            rt.invoke_endpoint_with_response_stream(ECHO, b"x", session_id="NEW_SESSION")
    (sent,) = peer.fake.requests
    assert sent.header("x-amzn-sagemaker-session-id") == "NEW_SESSION"


# ---------------------------------------------------------------------------------------------
# Stream side: parts and header members


# An event of a union member this client does not know (a future addition to ResponseStream).
FUTURE_EVENT = encode_message({":message-type": "event", ":event-type": "FutureEvent"}, b"{}")
# A PayloadPart without ``:message-type``: both sides must treat it as an event (spec §4.5).
BARE_PAYLOAD_PART = encode_message({":event-type": "PayloadPart"}, b"bare")
# Sent as two HTTP chunks, cut inside the prelude.
SPLIT_PART = payload_part(b"split in two")


def _case(stream: ModelStream, case_id: str, expected: list[bytes] | None = None) -> Any:
    """A table row: the handler's answer and the parts every peer must yield for it.

    ``expected`` defaults to the answer's parts as bytes; rows with raw wire messages spell it
    out, since what those decode to is exactly what is under test.
    """
    if expected is None:
        assert not any(isinstance(item, StreamFault) for item in stream.parts)
        expected = [item.encode() if isinstance(item, str) else item for item in stream.parts]
    return pytest.param(stream, expected, id=case_id)


STREAM_CASES = [
    _case(
        ModelStream(
            [b"Hel", b"lo", " wörld ☃", b"\n", b'{"token": {"text": "!"}}'],
            content_type="text/event-stream",
            custom_attributes="trace=abc, k=v",
            invoked_production_variant="blue-1",
        ),
        "several-parts-every-member",
    ),
    _case(ModelStream([], content_type="application/jsonlines"), "empty-stream"),
    _case(ModelStream([b"x"]), "defaults-no-custom-attributes"),
    _case(ModelStream([b"x"], custom_attributes=""), "custom-attributes-empty"),
    _case(ModelStream([bytes(range(256))]), "part-with-all-256-byte-values"),
    _case(ModelStream([b"a", b"", b"b"]), "empty-part-between"),
    _case(ModelStream([f"tok{i} ".encode() for i in range(500)]), "500-small-parts"),
    _case(ModelStream([bytes(range(256)) * 4096]), "one-1-mib-part"),
    _case(
        ModelStream([b"before", StreamFault.raw(FUTURE_EVENT), b"after"]),
        "unknown-event-type-between",
        [b"before", b"after"],
    ),
    _case(
        ModelStream([StreamFault.raw(FUTURE_EVENT), b"after"]), "unknown-event-first", [b"after"]
    ),
    _case(
        ModelStream([b"a", StreamFault.raw(BARE_PAYLOAD_PART), b"b"]),
        "payload-part-without-message-type",
        [b"a", b"bare", b"b"],
    ),
    _case(
        ModelStream([StreamFault.raw(payload_part(b"first") + payload_part(b"second"))]),
        "two-messages-in-one-chunk",
        [b"first", b"second"],
    ),
    _case(
        ModelStream([StreamFault.raw(SPLIT_PART[:7]), StreamFault.raw(SPLIT_PART[7:])]),
        "message-split-across-chunks",
        [b"split in two"],
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("stream", "expected"), STREAM_CASES)
async def test_stream_matches_oracle(
    stream: ModelStream, expected: list[bytes], peer: Peer, oracle: Oracle, transport: str
) -> None:
    """botocore's EventStream (boto3's and aiobotocore's) yields exactly our parts, unknown event
    types skipped by both; ContentType, InvokedProductionVariant, CustomAttributes and the
    request id are equal; both streams end without an error."""
    theirs, ours = await _both(peer, oracle, transport, stream)
    assert theirs.error is None
    assert ours.error is None
    assert theirs.parts == expected
    assert ours.parts == theirs.parts
    assert ours.members() == theirs.members()
    assert ours.content_type == (stream.content_type or "application/octet-stream")
    assert ours.custom_attributes == stream.custom_attributes


@pytest.mark.anyio
async def test_non_ascii_custom_attributes_decode_like_botocore(peer: Peer, transport: str) -> None:
    """A container's CustomAttributes carrying the UTF-8 bytes of "é" (outside the modeled
    ``\\p{ASCII}*``, but a container can send it) reads the same as boto3 reads it.

    boto3 (http.client) decodes header bytes as ISO-8859-1: "Ã©". httpx guesses one encoding per
    response from all its headers, so our value is "é" here and would turn into "Ã©" if some
    other header were not valid UTF-8.
    """
    on_the_wire = "é".encode().decode("latin-1")  # the fake writes header values as latin-1
    stream = ModelStream([b"x"], custom_attributes=on_the_wire)
    theirs, ours = await _both(peer, Oracle("boto3"), transport, stream)
    assert theirs.custom_attributes == on_the_wire
    assert ours.custom_attributes == theirs.custom_attributes


# ---------------------------------------------------------------------------------------------
# Stream side: failures inside a 200 stream


PARTS_BEFORE = [b"one", b"two"]


def _fails_after(*before: bytes, then: Exception | StreamFault) -> Any:
    """A streaming handler: ``before``, then ``then`` (raised, or yielded as a wire fault)."""

    async def handler(_inv: Invocation) -> AsyncIterator[bytes | StreamFault]:
        for part in before:
            yield part
        if isinstance(then, StreamFault):
            yield then
            yield b"never delivered"
        else:
            raise then

    return handler


def _assert_ours_after_parts(ours: Outcome, cls: type[sm.StreamError]) -> sm.StreamError:
    """Our error is a ``cls`` raised after the parts before it were all handed out."""
    err = ours.error
    assert isinstance(err, cls)
    assert type(err) is cls, err
    assert ours.started
    assert ours.parts == PARTS_BEFORE
    assert err.parts_received == len(PARTS_BEFORE)
    assert err.bytes_received == sum(map(len, PARTS_BEFORE))
    assert err.request_id == ours.request_id is not None
    return err


@pytest.mark.anyio
async def test_truncated_stream_is_silent_in_botocore_and_an_error_for_us(
    peer: Peer, oracle: Oracle, transport: str
) -> None:
    """Deliberate difference (spec §4.5): the body ends halfway through a message.

    botocore's EventStream drops the partial bytes and ends normally; we deliver the same parts
    and then raise EventStreamProtocolError(error_code="Truncated"), because a silently short
    answer is indistinguishable from a complete one.
    """
    handler = _fails_after(*PARTS_BEFORE, then=StreamFault.truncate(b"three, cut in half"))
    theirs, ours = await _both(peer, oracle, transport, handler)
    assert theirs.error is None
    assert theirs.parts == PARTS_BEFORE
    err = _assert_ours_after_parts(ours, sm.EventStreamProtocolError)
    assert err.error_code == "Truncated"


MODEL_STREAM_ERRORS = [
    pytest.param("ModelInvocationTimeExceeded", "Model took too long", id="invocation-time"),
    pytest.param("StreamBroken", "Connection to the model was reset", id="stream-broken"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "message"), MODEL_STREAM_ERRORS)
async def test_model_stream_error_code_is_dropped_by_botocore_and_kept_by_us(
    code: str, message: str, peer: Peer, oracle: Oracle, transport: str
) -> None:
    """Deliberate difference (spec §3.1, §4.5): a ModelStreamError event carries ErrorCode.

    Both sides raise after the same parts with the same message. botocore raises EventStreamError
    with Code "ModelStreamError" and no ErrorCode anywhere in its response; our ModelStreamError
    exposes it as ``error_code``.
    """
    handler = _fails_after(*PARTS_BEFORE, then=ModelStreamFailure(message, error_code=code))
    theirs, ours = await _both(peer, oracle, transport, handler)
    assert theirs.parts == PARTS_BEFORE
    assert isinstance(theirs.error, botocore.exceptions.EventStreamError)
    assert theirs.error.response["Error"] == {"Code": "ModelStreamError", "Message": message}
    assert "ErrorCode" not in theirs.error.response
    err = _assert_ours_after_parts(ours, sm.ModelStreamError)
    assert err.message == theirs.error.response["Error"]["Message"]
    assert err.error_code == code


@pytest.mark.anyio
async def test_internal_stream_failure_matches_oracle(
    peer: Peer, oracle: Oracle, transport: str
) -> None:
    """An InternalStreamFailure event: both raise after the same parts, with the same message
    (botocore: EventStreamError with Code "InternalStreamFailure"; us: InternalStreamFailure)."""
    handler = _fails_after(*PARTS_BEFORE, then=InternalStreamFault("service fell over"))
    theirs, ours = await _both(peer, oracle, transport, handler)
    assert theirs.parts == PARTS_BEFORE
    assert isinstance(theirs.error, botocore.exceptions.EventStreamError)
    assert theirs.error.response["Error"]["Code"] == "InternalStreamFailure"
    err = _assert_ours_after_parts(ours, sm.InternalStreamFailure)
    assert err.message == theirs.error.response["Error"]["Message"] == "service fell over"
    assert err.error_code == "InternalStreamFailure"


@pytest.mark.anyio
async def test_unmodeled_error_message_matches_oracle(
    peer: Peer, oracle: Oracle, transport: str
) -> None:
    """A ``:message-type error`` message: both raise after the same parts, with code and message
    from its ``:error-code`` / ``:error-message`` headers."""
    handler = _fails_after(*PARTS_BEFORE, then=StreamFault.error("SomethingNew", "went wrong"))
    theirs, ours = await _both(peer, oracle, transport, handler)
    assert theirs.parts == PARTS_BEFORE
    assert isinstance(theirs.error, botocore.exceptions.EventStreamError)
    err = _assert_ours_after_parts(ours, sm.StreamError)
    assert theirs.error.response["Error"] == {"Code": err.error_code, "Message": err.message}
    assert (err.error_code, err.message) == ("SomethingNew", "went wrong")


@pytest.mark.anyio
async def test_corrupt_crc_is_checksum_mismatch_in_botocore_and_protocol_error_for_us(
    peer: Peer, oracle: Oracle, transport: str
) -> None:
    """Deliberate difference (spec §4.1, §4.5): a message whose CRC does not match.

    Both stop there, after the same parts, and deliver nothing after it. botocore raises its
    untyped ``ChecksumMismatch`` (a ParserError, not a ClientError); we raise
    EventStreamProtocolError(error_code="MessageChecksumMismatch"), a StreamError like every
    other in-stream failure.
    """
    handler = _fails_after(*PARTS_BEFORE, then=StreamFault.corrupt_crc(b"three"))
    theirs, ours = await _both(peer, oracle, transport, handler)
    assert theirs.parts == PARTS_BEFORE
    assert type(theirs.error) is botocore.eventstream.ChecksumMismatch
    err = _assert_ours_after_parts(ours, sm.EventStreamProtocolError)
    assert err.error_code == "MessageChecksumMismatch"


@pytest.mark.anyio
async def test_model_stream_failure_before_first_part(peer: Peer, transport: str) -> None:
    """ModelStreamFailure raised before any part ends the stream with a ModelStreamError event
    (the test kit's documented contract): boto3 and we both open a 200 stream, see no parts, and
    raise ModelStreamError with the same message."""

    async def handler(_inv: Invocation) -> AsyncIterator[bytes]:
        raise ModelStreamFailure("timed out", error_code="ModelInvocationTimeExceeded")
        yield b""  # makes this an async generator, as a streaming model is

    theirs, ours = await _both(peer, Oracle("boto3"), transport, handler)
    assert theirs.started
    assert ours.started
    assert theirs.parts == ours.parts == []
    assert isinstance(theirs.error, botocore.exceptions.EventStreamError)
    assert isinstance(ours.error, sm.ModelStreamError)
    assert ours.error.message == theirs.error.response["Error"]["Message"] == "timed out"
    assert ours.error.error_code == "ModelInvocationTimeExceeded"


# ---------------------------------------------------------------------------------------------
# Errors before the stream


BEFORE_STREAM_FAILURES = [
    pytest.param(ModelFailure(400, "bad"), sm.ModelError, id="424-model-error-400"),
    pytest.param(
        ModelFailure(500, "crashed", log_stream_arn="arn:aws:logs:us-east-1:1:log-group:/x"),
        sm.ModelError,
        id="424-model-error-500-with-log-stream",
    ),
    pytest.param(
        ServiceFailure(400, "ValidationError", "bad input"),
        sm.ValidationError,
        id="400-validation-error",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("failure", "ours_cls"), BEFORE_STREAM_FAILURES)
async def test_error_before_first_part_matches_oracle(
    failure: Exception,
    ours_cls: type[sm.ServiceError],
    peer: Peer,
    oracle: Oracle,
    transport: str,
) -> None:
    """A model that fails before its first part gets an HTTP error, never a stream (spec §2.3):
    the oracle's ClientError and our typed error (raised on entering ``async with``) have the
    same code, message, status, request id and ModelError fields."""

    async def handler(_inv: Invocation) -> AsyncIterator[bytes]:
        raise failure
        yield b""  # makes this an async generator, as a streaming model is

    theirs, ours = await _both(peer, oracle, transport, handler)
    assert not theirs.started
    assert not ours.started
    assert isinstance(theirs.error, botocore.exceptions.ClientError)
    err = ours.error
    assert isinstance(err, ours_cls)
    assert type(err) is ours_cls, err
    response = theirs.error.response
    assert type(theirs.error).__name__ == response["Error"]["Code"]
    assert err.error_code == response["Error"]["Code"]
    assert err.message == response["Error"]["Message"]
    assert err.status_code == response["ResponseMetadata"]["HTTPStatusCode"]
    # Each side's request id is the one the fake sent it (checked in _both); both carried one.
    assert err.request_id == ours.request_id is not None
    assert theirs.request_id is not None
    if isinstance(err, sm.ModelError):
        assert isinstance(failure, ModelFailure)
        assert err.status_code == 424
        assert err.original_status_code == response["OriginalStatusCode"]
        assert err.original_status_code == failure.original_status_code
        assert err.original_message == response["OriginalMessage"]
        assert err.log_stream_arn == response.get("LogStreamArn")
