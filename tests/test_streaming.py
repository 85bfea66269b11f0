"""InvokeEndpointWithResponseStream: parts as they arrive, typed in-stream errors, sure close."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async._eventstream import encode_message
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    FakeTransport,
    InternalStreamFault,
    Invocation,
    LoopbackServer,
    ModelFailure,
    ModelStream,
    ModelStreamFailure,
    StreamFault,
)

pytestmark = pytest.mark.anyio

PARTS = [b"Hel", b"lo", b" w\xc3", b"\xa9rld\n", b"line two"]


def _fake() -> FakeSageMakerRuntime:
    fake = FakeSageMakerRuntime()

    @fake.endpoint("llm")
    async def llm(inv: Invocation) -> AsyncIterator[bytes]:
        for part in PARTS:
            await anyio.lowlevel.checkpoint()
            yield part

    @fake.endpoint("members")
    def members(inv: Invocation) -> ModelStream:
        return ModelStream([b"x"], content_type="text/event-stream", custom_attributes="ca=1")

    @fake.endpoint("slow")
    async def slow(inv: Invocation) -> AsyncIterator[bytes]:
        delay = float(inv.body or b"0.05")
        for i in range(1000):
            yield f"tok{i} ".encode()
            await anyio.sleep(delay)

    @fake.endpoint("refuses")
    async def refuses(inv: Invocation) -> AsyncIterator[bytes]:
        raise ModelFailure(400, "bad prompt")
        yield b""  # pragma: no cover - makes this an async generator

    return fake


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """A fake with an LLM-like streaming endpoint, a slow one and failing ones."""
    return _fake()


@pytest.fixture
def server(fake: FakeSageMakerRuntime) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """The fake on loopback."""
    with fake.serve() as srv:
        yield srv


@pytest.fixture(params=["inprocess", "aiohttp", "httpx"])
def client_kwargs(
    request: pytest.FixtureRequest, anyio_backend: str, server: LoopbackServer[FakeSageMakerRuntime]
) -> dict[str, Any]:
    """Each way of reaching the fake: in-process transport, or each engine over loopback."""
    if request.param == "inprocess":
        return {}
    if request.param == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("the aiohttp engine runs on asyncio only")
    return {"endpoint_url": server.url, "transport": request.param}


async def test_parts_arrive_in_order_with_members(
    fake: FakeSageMakerRuntime, client_kwargs: dict[str, Any]
) -> None:
    """Each PayloadPart's bytes come out unchanged and in order; headers become attributes."""
    async with fake.client(**client_kwargs) as rt:
        async with rt.invoke_endpoint_with_response_stream("llm", json={"inputs": "hi"}) as s:
            parts = [p async for p in s]
            assert s.request_id
            assert s.invoked_production_variant == "AllTraffic"
        assert parts == PARTS
        assert s.closed
        assert (s.parts_received, s.bytes_received) == (len(PARTS), sum(map(len, PARTS)))
        async with rt.invoke_endpoint_with_response_stream("members", b"") as s:
            assert s.content_type == "text/event-stream"
            assert s.custom_attributes == "ca=1"
            assert [p async for p in s] == [b"x"]


STREAM_MEMBERS = [
    ("content_type", "application/json", "Content-Type"),
    ("accept", "text/event-stream", "X-Amzn-SageMaker-Accept"),
    ("custom_attributes", "a=b", "X-Amzn-SageMaker-Custom-Attributes"),
    ("target_variant", "v2", "X-Amzn-SageMaker-Target-Variant"),
    ("target_container_hostname", "c1", "X-Amzn-SageMaker-Target-Container-Hostname"),
    ("inference_id", "id 1", "X-Amzn-SageMaker-Inference-Id"),
    ("inference_component_name", "ic-1", "X-Amzn-SageMaker-Inference-Component"),
    ("session_id", "sess-1", "X-Amzn-SageMaker-Session-Id"),
    ("prefix_aware_id", "p1", "X-Amzn-SageMaker-Prefix-Aware-Id"),
]


@pytest.mark.parametrize(("param", "value", "header"), STREAM_MEMBERS)
async def test_stream_members_travel_in_their_headers(
    fake: FakeSageMakerRuntime, param: str, value: str, header: str
) -> None:
    """Every request member goes in the header this operation's model names (Accept differs)."""
    async with fake.client() as rt:
        kwargs: dict[str, Any] = {param: value}
        async with rt.invoke_endpoint_with_response_stream("llm", b"{}", **kwargs) as s:
            async for _ in s:
                pass
    sent = fake.requests[-1]
    assert sent.path == "/endpoints/llm/invocations-response-stream"
    assert sent.header(header) == value
    if param == "accept":
        assert sent.header("accept") is None


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"session_id": "NEW_SESSION"}, "session_id"),
        ({"accept": "a\r\nb"}, "accept"),
        ({"target_variant": "x_y"}, "target_variant"),
    ],
)
async def test_stream_validation_is_immediate(
    fake: FakeSageMakerRuntime, kwargs: dict[str, Any], param: str
) -> None:
    """Bad arguments raise at the call, before any I/O (NEW_SESSION is InvokeEndpoint's only)."""
    async with fake.client() as rt:
        with pytest.raises(sm.ParamValidationError) as info:
            rt.invoke_endpoint_with_response_stream("llm", b"", **kwargs)
    assert info.value.param == param
    assert fake.requests == []


async def test_error_before_stream_raises_on_enter(
    fake: FakeSageMakerRuntime, client_kwargs: dict[str, Any]
) -> None:
    """A model failing before its first part gives HTTP 424: ModelError on entering the block."""
    async with fake.client(**client_kwargs) as rt:
        with pytest.raises(sm.ModelError) as info:
            async with rt.invoke_endpoint_with_response_stream("refuses", b"{}"):
                raise AssertionError("the block must not run")
        assert info.value.original_status_code == 400
        with pytest.raises(sm.ValidationError):
            async for _ in rt.invoke_endpoint_with_response_stream("no-such-endpoint", b"{}"):
                pass


def _faulty(*tail: Any) -> Any:
    async def handler(inv: Invocation) -> AsyncIterator[Any]:
        yield b"one"
        yield b"two"
        for item in tail:
            if isinstance(item, BaseException):
                raise item
            yield item

    return handler


UNKNOWN_EVENT = encode_message(
    {":message-type": "event", ":event-type": "FutureEvent", ":content-type": "application/json"},
    b"{}",
)

FAULTS = [
    pytest.param(
        (ModelStreamFailure("too slow", error_code="ModelInvocationTimeExceeded"),),
        sm.ModelStreamError,
        "ModelInvocationTimeExceeded",
        id="model-timeout",
    ),
    pytest.param(
        (ModelStreamFailure("socket closed", error_code="StreamBroken"),),
        sm.ModelStreamError,
        "StreamBroken",
        id="stream-broken",
    ),
    pytest.param(
        (InternalStreamFault("oops"),),
        sm.InternalStreamFailure,
        "InternalStreamFailure",
        id="internal",
    ),
    pytest.param(
        (StreamFault.error("ThrottlingException", "slow down"),),
        sm.StreamError,
        "ThrottlingException",
        id="error-message",
    ),
    pytest.param(
        (StreamFault.corrupt_crc(b"three"),),
        sm.EventStreamProtocolError,
        "MessageChecksumMismatch",
        id="bad-crc",
    ),
    pytest.param(
        (StreamFault.truncate(b"three-and-more"),),
        sm.EventStreamProtocolError,
        "Truncated",
        id="truncated",
    ),
    pytest.param((StreamFault.reset(),), sm.TransportError, None, id="reset"),
    pytest.param(
        (StreamFault.raw(b"\x00\x00\x00\x05garbage-bytes"),),
        sm.EventStreamProtocolError,
        "PreludeChecksumMismatch",
        id="garbage",
    ),
]


@pytest.mark.parametrize(("tail", "cls", "code"), FAULTS)
async def test_in_stream_faults_raise_typed_errors_after_the_parts(
    fake: FakeSageMakerRuntime,
    client_kwargs: dict[str, Any],
    tail: tuple[Any, ...],
    cls: type[Exception],
    code: str | None,
) -> None:
    """Parts before a fault are delivered; then a typed error (never a silent end) with counts."""
    fake.add_endpoint("faulty", _faulty(*tail))
    got: list[bytes] = []
    async with fake.client(**client_kwargs) as rt:
        stream = rt.invoke_endpoint_with_response_stream("faulty", b"{}")
        with pytest.raises(cls) as info:
            async with stream:
                async for part in stream:
                    got.append(part)
        assert stream.closed
        # The client is still usable, and nothing was retried.
        async with rt.invoke_endpoint_with_response_stream("llm", b"{}") as s:
            assert [p async for p in s] == PARTS
    assert got == [b"one", b"two"]
    err: Any = info.value
    assert err.parts_received == 2
    assert err.bytes_received == 6
    assert err.request_id == stream.request_id
    if code is not None:
        assert err.error_code == code
    assert (
        sum(1 for r in fake.requests if r.path.endswith("/faulty/invocations-response-stream")) == 1
    )


async def test_unknown_event_types_are_skipped(
    fake: FakeSageMakerRuntime, client_kwargs: dict[str, Any]
) -> None:
    """An event of a type we do not know is skipped (forward compatibility), not an error."""
    fake.add_endpoint("future", _faulty(StreamFault.raw(UNKNOWN_EVENT), b"three"))
    rt = fake.client(**client_kwargs)
    async with rt, rt.invoke_endpoint_with_response_stream("future", b"") as s:
        assert [p async for p in s] == [b"one", b"two", b"three"]


async def _exercise(rt: sm.SageMakerRuntimeClient, how: str) -> None:
    stream = rt.invoke_endpoint_with_response_stream("slow", b"0.01")
    if how == "break":
        async with stream:
            async for _ in stream:
                break
    elif how == "consumer-error":
        with pytest.raises(ZeroDivisionError):
            async with stream:
                async for _ in stream:
                    _ = 1 / 0
    elif how == "cancel":
        with anyio.move_on_after(0.05):
            async with stream:
                async for _ in stream:
                    pass
    elif how == "cancel-direct":
        with anyio.move_on_after(0.05):
            async for _ in stream:
                pass
    elif how == "direct-error":
        with pytest.raises(ZeroDivisionError):
            async for _ in stream:
                _ = 1 / 0
        await stream.aclose()  # what a user without `async with` must do after their own error
    assert stream.closed, how


@pytest.mark.parametrize(
    "how", ["break", "consumer-error", "cancel", "cancel-direct", "direct-error"]
)
async def test_every_exit_returns_the_connection(
    fake: FakeSageMakerRuntime, client_kwargs: dict[str, Any], how: str
) -> None:
    """With a pool of ONE connection, 10 streams abandoned this way, then a full one, all work.

    A leaked connection would exhaust the pool and the next call would hit the pool deadline.
    """
    async with fake.client(
        max_connections=1, timeout=sm.Timeout(pool=2, read=5), **client_kwargs
    ) as rt:
        for _ in range(10):
            await _exercise(rt, how)
        async with rt.invoke_endpoint_with_response_stream("llm", b"") as s:
            assert [p async for p in s] == PARTS
        transport: Any = rt._engine
        if isinstance(transport, FakeTransport):  # the in-process transport counts responses
            assert transport.open_streams == 0


async def test_loopback_server_sees_no_leftover_connections(
    fake: FakeSageMakerRuntime, server: LoopbackServer[FakeSageMakerRuntime], anyio_backend: str
) -> None:
    """After abandoned streams and client close, the server holds no connection open."""
    transport = "aiohttp" if anyio_backend == "asyncio" else "httpx"
    async with fake.client(endpoint_url=server.url, transport=transport) as rt:
        for how in ("break", "cancel", "consumer-error"):
            await _exercise(rt, how)
    with anyio.fail_after(5):
        while server.open_connections:
            await anyio.sleep(0.01)


async def test_idle_gap_between_parts_is_bounded(
    fake: FakeSageMakerRuntime, client_kwargs: dict[str, Any]
) -> None:
    """The read deadline bounds the gap between parts: a stalled stream raises RequestTimeout."""
    async with fake.client(**client_kwargs) as rt:
        if not client_kwargs:
            pytest.skip("the in-process transport has no socket deadlines")
        got = []
        with pytest.raises(sm.RequestTimeout) as info:
            async for part in rt.invoke_endpoint_with_response_stream(
                "slow", b"1.0", timeout=sm.Timeout(read=0.2)
            ):
                got.append(part)
    assert got == [b"tok0 "]
    assert info.value.timeout == "idle"
    assert info.value.parts_received == 1


TGI = [
    b'data:{"token":{"id":1,"text":"Caf","logprob":-0.1,"special":false}}\n\n',
    b'data:{"token":{"id":2,"text":"\xc3\xa9","logprob":-0.2,"special":false}}\n\ndata:{"tok',
    b'en":{"id":3,"text":" ok","logprob":-0.3,"special":false},"generated_text":"Caf\xc3\xa9 ok",'
    b'"details":{"finish_reason":"eos_token","generated_tokens":3}}',
]


async def test_framings_over_cut_parts(fake: FakeSageMakerRuntime) -> None:
    """lines/sse/json_lines/tokens reassemble across arbitrary part boundaries."""
    fake.add_endpoint("tgi", lambda inv: ModelStream(TGI, content_type="text/event-stream"))
    fake.add_endpoint("jsonl", lambda inv: [b'{"a":', b"1}\n", b'{"a":2}\n{"a"', b":3}"])
    async with fake.client() as rt:
        async with rt.invoke_endpoint_with_response_stream("tgi", b"") as s:
            token_stream = s.tokens()
            assert token_stream.format == "auto"  # nothing seen yet
            tokens = [t async for t in token_stream]
        assert token_stream.format == "tgi"  # what "auto" detected
        assert s.tokens("openai").format == "openai"
        assert [t.text for t in tokens] == ["Caf", "é", " ok"]
        assert tokens[-1].finish_reason == "eos_token"
        async with rt.invoke_endpoint_with_response_stream("tgi", b"") as s:
            events = [e async for e in s.sse()]
        assert [json.loads(e.data)["token"]["id"] for e in events] == [1, 2, 3]
        async with rt.invoke_endpoint_with_response_stream("jsonl", b"") as s:
            assert [v async for v in s.json_lines()] == [{"a": 1}, {"a": 2}, {"a": 3}]
        async with rt.invoke_endpoint_with_response_stream("llm", b"") as s:
            assert [line async for line in s.lines()] == ["Hello wérld", "line two"]


async def test_container_error_inside_200_stream(fake: FakeSageMakerRuntime) -> None:
    """A TGI error event mid-stream raises sm.ContainerError carrying the text already delivered."""
    fake.add_endpoint(
        "tgi-err",
        lambda inv: ModelStream(
            [
                TGI[0],
                b'data:{"error":"CUDA out of memory","error_type":"generation"}\n\n',
            ],
            content_type="text/event-stream",
        ),
    )
    async with fake.client() as rt:
        stream = rt.invoke_endpoint_with_response_stream("tgi-err", b"")
        texts = []
        with pytest.raises(sm.ContainerError) as info:
            async with stream:
                async for token in stream.tokens("tgi"):
                    texts.append(token.text)
    assert texts == ["Caf"]
    assert info.value.partial_text == "Caf"
    assert "CUDA out of memory" in str(info.value)
    assert info.value.request_id == stream.request_id
    assert stream.closed


async def test_closed_client_refuses_streams(fake: FakeSageMakerRuntime) -> None:
    """Starting a stream on a closed client raises ClientClosedError at once."""
    rt = fake.client()
    await rt.aclose()
    with pytest.raises(sm.ClientClosedError):
        rt.invoke_endpoint_with_response_stream("llm", b"")


async def test_reentering_a_finished_stream_is_an_error(fake: FakeSageMakerRuntime) -> None:
    """A stream is single-use: entering it again after it closed raises StreamError."""
    async with fake.client() as rt:
        stream = rt.invoke_endpoint_with_response_stream("llm", b"")
        async with stream:
            async for _ in stream:
                pass
        with pytest.raises(sm.StreamError, match="closed"):
            async with stream:
                pass
        assert [p async for p in stream] == []


async def test_a_cancelled_read_never_looks_like_the_end(fake: FakeSageMakerRuntime) -> None:
    """A read cancelled mid-stream (a heartbeat timeout) closes it; the next read says so.

    Returning StopAsyncIteration there would silently truncate the output: the botocore trap.
    """
    async with fake.client() as rt:
        stream = rt.invoke_endpoint_with_response_stream("slow", b"0.5")
        assert await stream.__anext__() == b"tok0 "
        with anyio.move_on_after(0.05):
            await stream.__anext__()
        assert stream.closed
        with pytest.raises(sm.StreamError) as info:
            await stream.__anext__()
        assert info.value.error_code == "StreamClosed"
        assert info.value.parts_received == 1


async def test_errors_are_sticky(fake: FakeSageMakerRuntime) -> None:
    """Catching a stream error and reading on raises it again instead of ending quietly."""
    fake.add_endpoint("faulty", _faulty(StreamFault.truncate(b"three-and-more")))
    async with fake.client() as rt:
        stream = rt.invoke_endpoint_with_response_stream("faulty", b"")
        got = []
        for _ in range(2):
            got.append(await stream.__anext__())
        with pytest.raises(sm.EventStreamProtocolError) as first:
            await stream.__anext__()
        with pytest.raises(sm.EventStreamProtocolError) as again:
            await stream.__anext__()
        assert again.value is first.value
        assert got == [b"one", b"two"]


@pytest.mark.parametrize(
    ("parts", "framing", "error"),
    [
        ([b"ok\n", b"\xff\xfe bad utf-8\n"], "lines", sm.FramingError),
        ([b'{"a": 1}\n', b"not json\n"], "json_lines", sm.FramingError),
        (
            [b'data:{"error":"boom","error_type":"x"}\n\n'],
            "tokens",
            sm.ContainerError,
        ),
    ],
)
async def test_framing_errors_close_the_stream_without_async_with(
    fake: FakeSageMakerRuntime, parts: list[bytes], framing: str, error: type[Exception]
) -> None:
    """A framing failure raises its typed error and closes the response, even without a block."""
    fake.add_endpoint("framed", lambda inv: ModelStream(parts, content_type="text/event-stream"))
    async with fake.client() as rt:
        stream = rt.invoke_endpoint_with_response_stream("framed", b"")
        with pytest.raises(error):
            async for _ in getattr(stream, framing)():
                pass
        assert stream.closed
        transport = rt._engine
        assert isinstance(transport, FakeTransport)
        assert transport.open_streams == 0


async def test_absurd_logprob_is_not_an_untyped_error(fake: FakeSageMakerRuntime) -> None:
    """A logprob written as a 400-digit integer is dropped, not an OverflowError."""
    event = b'data:{"token":{"id":1,"text":"x","logprob":1' + b"0" * 400 + b',"special":false}}\n\n'
    fake.add_endpoint("weird", lambda inv: ModelStream([event], content_type="text/event-stream"))
    rt = fake.client()
    async with rt, rt.invoke_endpoint_with_response_stream("weird", b"") as s:
        tokens = [t async for t in s.tokens("tgi")]
    assert [(t.text, t.logprob) for t in tokens] == [("x", None)]


async def test_tokens_see_the_content_type_without_async_with(fake: FakeSageMakerRuntime) -> None:
    """format='auto' uses the model's content type even when iteration opened the stream."""
    fake.add_endpoint("plain", lambda inv: ModelStream([b'{"a": 1}\n'], content_type="text/plain"))
    async with fake.client() as rt:
        tokens = rt.invoke_endpoint_with_response_stream("plain", b"").tokens()
        assert "".join([t.text async for t in tokens]) == '{"a": 1}\n'
        assert tokens.text == '{"a": 1}\n'
