"""InvokeEndpointWithBidirectionalStream against the fake HTTP/2 endpoint over real sockets.

Every test runs on asyncio and trio; those marked with ``scheme`` also on h2c and TLS (a trustme
CA). The fake checks the initial SigV4 signature and every event's chained signature with its
own hashlib code, so a session that completes proves the chain. Leak checks: after each client
closes, the server holds no connection and no stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from sagemaker_rt_async import (
    BidiPayloadPart,
    CallEnded,
    CallStarted,
    Event,
    FirstPart,
    InputValidationError,
    ModelError,
    ModelStreamError,
    ParamValidationError,
    ProtocolNegotiationError,
    RequestTimeout,
    SageMakerRuntimeClient,
    StreamError,
    Timeout,
    TransportError,
)
from sagemaker_rt_async._endpoints import resolve_bidi_endpoint
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer, FakeBidiSession

pytestmark = pytest.mark.anyio

WAIT_S = 10.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


@pytest.fixture(params=["h2c", "tls"])
def scheme(request: pytest.FixtureRequest) -> str:
    """Cleartext HTTP/2 with prior knowledge, and TLS with ALPN h2."""
    return str(request.param)


@pytest.fixture
def server(scheme: str) -> Iterator[FakeBidiServer]:
    """The fake endpoint on 127.0.0.1 (h2c or TLS)."""
    with FakeBidiServer(tls=scheme == "tls") as fake:
        yield fake


@pytest.fixture
async def rt(server: FakeBidiServer) -> AsyncIterator[SageMakerRuntimeClient]:
    """A client pointed at the fake, trusting its CA; the server holds nothing after it closes."""
    client = SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=TEST_CREDENTIALS,
        ssl_context=server.client_ssl_context() if server.tls else None,
        retry=False,
    )
    async with client:
        yield client
    await wait_until(lambda: server.open_connections == 0, "a connection stayed open")


async def wait_until(condition: Any, what: str) -> None:
    """Poll ``condition`` (owned by the server's thread) for at most WAIT_S."""
    with anyio.move_on_after(WAIT_S):
        while not condition():
            await anyio.sleep(0.01)
    assert condition(), what


def open_streams(rt: SageMakerRuntimeClient) -> int:
    """Streams the client's HTTP/2 engine still tracks (0 when every session released its)."""
    engine = rt._h2
    if engine is None:
        return 0
    return sum(len(conn.streams) for pool in engine._pools.values() for conn in pool)


# -- duplex, parts, messages ---------------------------------------------------------------------


async def test_duplex_echo_arrives_before_the_input_ends(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """The echo of a part is read while the input is still open (true duplex); str goes as
    UTF8 and bytes as BINARY; counters, request id and variant are set; the signed end frame
    ends the input and the answer ends cleanly; every event's chained signature verified."""
    async with rt.invoke_endpoint_with_bidirectional_stream(
        "echo", target_variant="VariantA"
    ) as session:
        await session.send(b"\x00\x01audio")
        first = await session.__anext__()
        assert first == BidiPayloadPart(b"\x00\x01audio", "BINARY", "COMPLETE")
        assert not session.input_ended
        await session.send("héllo ☕")
        second = await session.__anext__()
        assert (second.text, second.data_type) == ("héllo ☕", "UTF8")
        await session.end_input()
        assert [part async for part in session] == []
    assert (session.parts_sent, session.parts_received) == (2, 2)
    assert (
        session.bytes_sent
        == session.bytes_received
        == len(b"\x00\x01audio") + len("héllo ☕".encode())
    )
    assert session.status_code == 200
    assert session.request_id == "fake-1"
    assert session.invoked_production_variant == "VariantA"
    record = server.sessions[-1]
    assert record.signature_error is None
    assert record.input_ended and record.finished and not record.reset_by_client
    assert record.headers["x-amzn-sagemaker-target-variant"] == "VariantA"
    assert record.headers["x-amz-content-sha256"] == "STREAMING-AWS4-HMAC-SHA256-EVENTS"
    assert "content-length" not in record.headers
    assert [p.date_ms % 1000 for p in record.parts] == [0, 0]  # :date in whole seconds
    assert open_streams(rt) == 0


async def test_sending_and_receiving_from_two_tasks(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """One task streams 200 parts while another reads the answers: everything arrives, in
    order, and the fake verified the whole chain of 201 signatures (parts and end frame)."""
    sent = [f"part {i}".encode() * 50 for i in range(200)]
    received: list[bytes] = []
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:

        async def produce() -> None:
            for data in sent:
                await session.send(data)
            await session.end_input()

        async with anyio.create_task_group() as group:
            group.start_soon(produce)
            with anyio.fail_after(WAIT_S * 3):
                async for part in session:
                    received.append(part.data)
    assert received == sent
    assert server.sessions[-1].signature_error is None
    assert server.sessions[-1].input_ended


async def test_transcriber_answers_audio_chunks_live(rt: SageMakerRuntimeClient) -> None:
    """Binary audio chunks get a UTF8 line each as they go, a command part an ack, and the
    input's end the transcript."""
    async with rt.invoke_endpoint_with_bidirectional_stream("transcriber") as session:
        lines = []
        for size in (640, 640, 320):
            await session.send(b"\x01" * size)
            lines.append((await session.__anext__()).text)
        await session.send('{"type": "KeepAlive"}')
        lines.append((await session.__anext__()).text)
        await session.end_input()
        lines += [part.text async for part in session]
    assert lines == [
        "heard chunk 1 (640 bytes)",
        "heard chunk 2 (640 bytes)",
        "heard chunk 3 (320 bytes)",
        'command: {"type": "KeepAlive"}',
        "transcript: 3 chunks, 1600 bytes",
    ]


async def test_messages_join_fragments_and_decode_utf8_across_parts(
    rt: SageMakerRuntimeClient,
) -> None:
    """PARTIAL…COMPLETE runs come back as one message each; characters cut between parts
    are decoded whole."""
    async with rt.invoke_endpoint_with_bidirectional_stream("fragmented") as session:
        await session.send("añb€c ☕")
        await session.send("second", completion_state="COMPLETE")
        await session.end_input()
        messages = [message async for message in session.messages()]
    assert messages == ["got: añb€c ☕", "got: second"]
    assert session.parts_received > 2  # they did arrive in pieces


# -- errors --------------------------------------------------------------------------------------


async def test_model_stream_error_after_the_parts_before_it(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """The part before the error is delivered, then ModelStreamError with ErrorCode verbatim;
    every later send raises the same error; the connection serves the next session."""
    async with rt.invoke_endpoint_with_bidirectional_stream("stream-error") as session:
        await session.send(b"one")
        parts = []
        with pytest.raises(ModelStreamError) as caught:
            async for part in session:
                parts.append(part.data)
        assert parts == [b"one"]
        assert caught.value.error_code == "1011"
        assert caught.value.parts_received == 1
        with pytest.raises(ModelStreamError) as again:
            await session.send(b"two")
        assert again.value is caught.value
    await check_connection_survives(rt, server)


@pytest.mark.parametrize("name", ["model-error", "model-error-open"])
async def test_initial_424_raises_while_still_sending(
    rt: SageMakerRuntimeClient, server: FakeBidiServer, name: str
) -> None:
    """A 424 is raised by the next send as soon as its HEADERS arrive, with its fields and the
    body's ErrorCode, also when the server keeps its side open (the official SDK hangs there,
    spec §11.3); the stream is reset and the connection reused."""
    start = anyio.current_time()
    with pytest.raises(ModelError) as caught:
        async with rt.invoke_endpoint_with_bidirectional_stream(name) as session:
            with anyio.fail_after(WAIT_S):
                while True:  # the input stays open: the error must not wait for it
                    await session.send(b"audio")
                    await anyio.sleep(0.01)
    assert anyio.current_time() - start < WAIT_S / 2
    error = caught.value
    assert error.status_code == 424
    assert error.original_status_code == 400
    assert error.reason_code == "ModelError"
    assert error.request_id is not None
    await check_connection_survives(rt, server)


async def test_initial_error_from_iteration_and_unknown_endpoint(
    rt: SageMakerRuntimeClient,
) -> None:
    """The error status is also raised by the iteration; an unknown endpoint is the service's
    InputValidationError (a ValidationError)."""
    with pytest.raises(InputValidationError, match="not found"):
        async with rt.invoke_endpoint_with_bidirectional_stream("no-such-endpoint") as session:
            async for _ in session:
                pass


async def test_error_nobody_looked_at_is_raised_at_exit(rt: SageMakerRuntimeClient) -> None:
    """A block that neither sends nor reads still learns of the error status when it ends."""
    with pytest.raises(ModelError):
        async with rt.invoke_endpoint_with_bidirectional_stream("model-error"):
            await anyio.sleep(0.3)


async def test_broken_chain_is_rejected(rt: SageMakerRuntimeClient, server: FakeBidiServer) -> None:
    """An event whose signature does not follow the previous one is refused by the fake (an
    error message, then END_STREAM): the client raises it as a StreamError."""
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        await session.send(b"fine")
        assert (await session.__anext__()).data == b"fine"
        assert session._signer is not None
        session._signer._prior = "0" * 64  # as if a frame had been lost
        await session.send(b"orphan")
        with pytest.raises(StreamError) as caught:
            await session.__anext__()
    assert caught.value.error_code == "InvalidSignatureException"
    assert server.sessions[-1].signature_error == "event 2: broken chain"


async def test_wrong_secret_is_refused_before_any_event(
    server: FakeBidiServer,
) -> None:
    """Credentials the service does not know: the initial signature fails (HTTP 403)."""
    from sagemaker_rt_async import AuthenticationError

    async with SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=(TEST_CREDENTIALS.access_key_id, "not-the-secret"),
        ssl_context=server.client_ssl_context() if server.tls else None,
    ) as client:
        with pytest.raises(AuthenticationError) as caught:
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as session:
                await session.send(b"x")
                await session.__anext__()
    assert caught.value.error_code == "InvalidSignatureException"


# -- leaving the block ---------------------------------------------------------------------------


async def check_connection_survives(rt: SageMakerRuntimeClient, server: FakeBidiServer) -> None:
    """The next session runs on the same connection; no stream is left behind."""
    before = server.total_connections
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        await session.send(b"again")
        await session.end_input()
        assert [p.data async for p in session] == [b"again"]
    assert server.total_connections == before == 1
    assert open_streams(rt) == 0


async def test_break_ends_input_drains_and_keeps_the_connection(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """Leaving by ``break`` ends the input (signed end frame), drains the rest and releases
    the stream; the connection serves the next session."""
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        for i in range(5):
            await session.send(f"{i}")
        async for _ in session:
            break
    await wait_until(lambda: server.sessions[-1].finished, "the server never finished")
    assert server.sessions[-1].input_ended
    assert not server.sessions[-1].reset_by_client
    await check_connection_survives(rt, server)


async def test_exception_resets_the_stream_at_once(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """An exception in the block propagates unchanged; the stream is reset (RST_STREAM) with
    no drain, and the connection survives."""
    with pytest.raises(LookupError, match="mine"):
        async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
            await session.send(b"x")
            raise LookupError("mine")
    await wait_until(
        lambda: bool(server.sessions) and server.sessions[-1].reset_by_client, "no RST_STREAM"
    )
    await check_connection_survives(rt, server)


async def test_cancellation_resets_and_releases(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """A cancel scope expiring while the session waits for a silent model ends the session:
    RST_STREAM(CANCEL), nothing left open, the client still usable."""
    with anyio.move_on_after(0.3) as scope:
        async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
            await session.send(b"x")
            async for _ in session:  # the echo, then silence: the model waits for input
                pass
    assert scope.cancelled_caught
    await wait_until(
        lambda: bool(server.sessions) and server.sessions[-1].reset_by_client, "no RST_STREAM"
    )
    await check_connection_survives(rt, server)


async def test_container_closes_first(rt: SageMakerRuntimeClient) -> None:
    """When the model ends its answer first, iteration ends cleanly; ending the input after it
    is still fine (nothing written to a finished stream raises)."""
    async with rt.invoke_endpoint_with_bidirectional_stream("closes-first") as session:
        await session.send(b"hello")
        assert [p.data async for p in session] == [b"hello"]
        await session.send(b"late")  # the server still takes input
        await session.end_input()


# -- flow control --------------------------------------------------------------------------------


async def test_slow_reader_holds_the_sender_back(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """The model reads one part every 20 ms: ``send`` waits for window, so the server never
    holds more than its 64 KiB window unread, and every part is answered."""
    async with rt.invoke_endpoint_with_bidirectional_stream("slow-reader") as session:
        answers: list[str] = []

        async def read() -> None:
            async for part in session:
                answers.append(part.text)

        async with anyio.create_task_group() as group:
            group.start_soon(read)
            for _ in range(24):
                await session.send(b"\x02" * 16_000)
            await session.end_input()
    assert answers == ["16000"] * 24
    record = server.sessions[-1]
    assert 16_000 < record.max_unread_bytes <= 65_535 + 16_384


async def test_large_answers_acknowledged_as_read(rt: SageMakerRuntimeClient) -> None:
    """More than the protocol's initial 64 KiB window comes back: received DATA is
    acknowledged (WINDOW_UPDATE) or the answer would stall."""
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        total = 0

        async def read() -> None:
            nonlocal total
            async for part in session:
                total += len(part.data)

        async with anyio.create_task_group() as group:
            group.start_soon(read)
            for _ in range(40):
                await session.send(b"\x03" * 65_000)
            await session.end_input()
    assert total == 40 * 65_000


async def test_sessions_multiplex_up_to_the_server_limit(scheme: str) -> None:
    """Twelve sessions at once share connections, at most the server's
    SETTINGS_MAX_CONCURRENT_STREAMS (4) per connection: three connections."""
    with FakeBidiServer(tls=scheme == "tls", max_concurrent_streams=4) as server:
        async with SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=TEST_CREDENTIALS,
            ssl_context=server.client_ssl_context() if server.tls else None,
        ) as client:
            ready = anyio.Event()
            opened = 0

            async def one(i: int) -> None:
                nonlocal opened
                async with client.invoke_endpoint_with_bidirectional_stream("echo") as session:
                    opened += 1
                    if opened == 12:
                        ready.set()
                    with anyio.fail_after(WAIT_S):
                        await ready.wait()
                    await session.send(f"{i}")
                    await session.end_input()
                    assert [p.text async for p in session] == [f"{i}"]

            async with anyio.create_task_group() as group:
                for i in range(12):
                    group.start_soon(one, i)
            assert client._h2 is not None and client._h2.connections_opened == 3
        await wait_until(lambda: server.open_connections == 0, "a connection stayed open")


# -- deadlines -----------------------------------------------------------------------------------


async def test_idle_timeout_bounds_the_gap_between_parts(rt: SageMakerRuntimeClient) -> None:
    """With ``idle_timeout``, a silent model raises RequestTimeout('idle'); off by default."""
    with pytest.raises(RequestTimeout) as caught:
        async with rt.invoke_endpoint_with_bidirectional_stream(
            "echo", idle_timeout=0.2
        ) as session:
            async for _ in session:
                pass
    assert caught.value.timeout == "idle"


async def test_total_deadline(rt: SageMakerRuntimeClient) -> None:
    """``timeout.total`` bounds the whole session."""
    with pytest.raises(RequestTimeout) as caught:
        async with rt.invoke_endpoint_with_bidirectional_stream(
            "echo", timeout=Timeout(total=0.3)
        ) as session:
            async for _ in session:
                pass
    assert caught.value.timeout == "total"


# -- before any I/O ------------------------------------------------------------------------------

BAD_CALLS: list[tuple[dict[str, Any], str]] = [
    ({"endpoint_name": "bad_name"}, "endpoint_name"),
    ({"endpoint_name": "x" * 64}, "endpoint_name"),
    ({"target_variant": "-v"}, "target_variant"),
    ({"model_invocation_path": "/v1/listen"}, "model_invocation_path"),
    ({"model_invocation_path": "v1//listen"}, "model_invocation_path"),
    ({"model_invocation_path": "a" * 101}, "model_invocation_path"),
    ({"model_query_string": "model="}, "model_query_string"),
    ({"model_query_string": "a=b c"}, "model_query_string"),
    ({"model_query_string": "_a=b"}, "model_query_string"),
    ({"idle_timeout": 0}, "idle_timeout"),
    ({"max_part_bytes": 0}, "max_part_bytes"),
]


@pytest.mark.parametrize(("kwargs", "param"), BAD_CALLS)
async def test_members_validated_before_io(
    rt: SageMakerRuntimeClient, server: FakeBidiServer, kwargs: dict[str, Any], param: str
) -> None:
    """Every member is checked against the model's constraints when the call is made."""
    call: dict[str, Any] = {"endpoint_name": "echo", **kwargs}
    with pytest.raises(ParamValidationError) as caught:
        rt.invoke_endpoint_with_bidirectional_stream(**call)
    assert caught.value.param == param
    assert server.total_connections == 0


async def test_good_members_travel_in_their_headers(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """ModelInvocationPath and ModelQueryString are sent (and signed) as given."""
    async with rt.invoke_endpoint_with_bidirectional_stream(
        "echo", model_invocation_path="v1/listen", model_query_string="model=nova-3&x=%20"
    ) as session:
        await session.end_input()
    headers = server.sessions[-1].headers
    assert headers["x-amzn-sagemaker-model-invocation-path"] == "v1/listen"
    assert headers["x-amzn-sagemaker-model-query-string"] == "model=nova-3&x=%20"
    assert "x-amzn-sagemaker-model-invocation-path" in headers["authorization"]


BAD_PARTS: list[tuple[Any, dict[str, Any], str]] = [
    (b"", {}, "data"),
    ("text", {"data_type": "BINARY"}, "data_type"),
    (b"x", {"data_type": "TEXT"}, "data_type"),
    (b"x", {"completion_state": "DONE"}, "completion_state"),
    (b"x" * (1024 * 1024 + 1), {}, "data"),
    (123, {}, "data"),
]


@pytest.mark.parametrize(("data", "kwargs", "param"), BAD_PARTS)
async def test_bad_parts_refused_before_io(
    rt: SageMakerRuntimeClient,
    server: FakeBidiServer,
    data: Any,
    kwargs: dict[str, Any],
    param: str,
) -> None:
    """A part that cannot be sent raises ParamValidationError and writes nothing; the session
    goes on; sending after end_input() is refused too."""
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        with pytest.raises(ParamValidationError) as caught:
            await session.send(data, **kwargs)
        assert caught.value.param == param
        await session.send(b"ok")
        await session.end_input()
        with pytest.raises(ParamValidationError, match="end_input"):
            await session.send(b"late")
        assert [p.data async for p in session] == [b"ok"]
    assert server.sessions[-1].signature_error is None


async def test_session_used_outside_its_block(rt: SageMakerRuntimeClient) -> None:
    """Sending before entering or after leaving the block is a clear error."""
    session = rt.invoke_endpoint_with_bidirectional_stream("echo")
    with pytest.raises(ParamValidationError, match="not open"):
        await session.send(b"x")
    async with session:
        await session.end_input()
    with pytest.raises(ParamValidationError, match="not open"):
        await session.send(b"x")


# -- TLS -----------------------------------------------------------------------------------------


async def test_server_refusing_h2_is_a_typed_error() -> None:
    """A TLS server that picks http/1.1 in ALPN gets ProtocolNegotiationError (not retried)."""
    with FakeBidiServer(tls=True, alpn=["http/1.1"]) as server:
        async with SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=TEST_CREDENTIALS,
            ssl_context=server.client_ssl_context(),
        ) as client:
            with pytest.raises(ProtocolNegotiationError, match="ALPN"):
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
            assert not ProtocolNegotiationError("x").retryable


async def test_untrusted_certificate_is_refused() -> None:
    """The default context verifies certificates: the fake's private CA is not trusted."""
    with FakeBidiServer(tls=True) as server:
        async with SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=TEST_CREDENTIALS,
            retry=False,
        ) as client:
            with pytest.raises(TransportError, match="could not connect") as caught:
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
            assert caught.value.request_sent is False


# -- hooks ---------------------------------------------------------------------------------------


async def test_hooks_see_opened_first_part_and_ended(server: FakeBidiServer) -> None:
    """The session emits CallStarted, FirstPart and CallEnded (with its counters)."""
    events: list[Event] = []
    async with (
        SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=TEST_CREDENTIALS,
            ssl_context=server.client_ssl_context() if server.tls else None,
            event_hooks=[events.append],
        ) as client,
        client.invoke_endpoint_with_bidirectional_stream("echo") as session,
    ):
        await session.send(b"abc")
        await session.end_input()
        async for _ in session:
            pass
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "CallStarted" and "FirstPart" in kinds and kinds[-1] == "CallEnded"
    started, ended = events[0], events[-1]
    assert isinstance(started, CallStarted)
    assert started.call.operation == "InvokeEndpointWithBidirectionalStream"
    assert isinstance(ended, CallEnded)
    assert (ended.outcome, ended.parts_received, ended.bytes_received) == ("ok", 1, 3)
    assert any(isinstance(e, FirstPart) for e in events)


# -- endpoints (spec §1.3) -----------------------------------------------------------------------

ENDPOINTS = [
    ("us-east-1", False, False, "https://runtime.sagemaker.us-east-1.amazonaws.com:8443"),
    ("us-east-1", True, True, "https://runtime-fips.sagemaker.us-east-1.api.aws:8443"),
    ("fips-us-east-1", False, False, "https://runtime-fips.sagemaker.us-east-1.amazonaws.com:8443"),
    (
        "us-gov-west-1",
        True,
        False,
        "https://runtime-fips.sagemaker.us-gov-west-1.amazonaws.com:8443",
    ),
    (
        "cn-north-1",
        False,
        True,
        "https://runtime.sagemaker.cn-north-1.api.amazonwebservices.com.cn:8443",
    ),
    (
        "eusc-de-east-1",
        True,
        False,
        "https://runtime-fips.sagemaker.eusc-de-east-1.amazonaws.eu:8443",
    ),
    ("us-iso-east-1", False, True, "https://runtime.sagemaker.us-iso-east-1.api.aws.ic.gov:8443"),
    (
        "us-isob-east-1",
        True,
        False,
        "https://runtime-fips.sagemaker.us-isob-east-1.sc2s.sgov.gov:8443",
    ),
    (
        "us-isof-south-1",
        False,
        False,
        "https://runtime.sagemaker.us-isof-south-1.csp.hci.ic.gov:8443",
    ),
    ("eu-isoe-west-1", False, False, "https://runtime.sagemaker.eu-isoe-west-1.cloud.adc-e.uk"),
    (
        "eu-isoe-west-1",
        True,
        True,
        "https://runtime.sagemaker-fips.eu-isoe-west-1.api.cloud-aws.adc-e.uk",
    ),
]


@pytest.mark.parametrize(("region", "fips", "dualstack", "url"), ENDPOINTS)
def test_bidi_endpoint_rules(region: str, fips: bool, dualstack: bool, url: str) -> None:
    """The operation's own rule set: port 8443 in seven partitions, classic hosts in aws-iso-e."""
    resolved = resolve_bidi_endpoint(region=region, use_fips=fips, use_dualstack=dualstack)
    assert resolved.url == url
    assert resolved.host == url.split("://", 1)[1]


def test_custom_endpoint_used_as_given() -> None:
    """A custom endpoint_url is the base as given (path prefix kept, port kept)."""
    resolved = resolve_bidi_endpoint(region="us-east-1", endpoint_url="http://localhost:8081/p")
    assert (resolved.url, resolved.host) == ("http://localhost:8081/p", "localhost:8081")
    with pytest.raises(ParamValidationError):
        resolve_bidi_endpoint(region="us-east-1", use_fips=True, endpoint_url="http://h:1")


async def test_fake_session_handler_type() -> None:
    """A custom handler receives verified parts (FakeBidiSession is public)."""
    seen: list[bytes] = []

    async def record(session: FakeBidiSession) -> None:
        async for part in session:
            seen.append(part.data)

    with FakeBidiServer() as server:
        server.add_endpoint("recorder", record)
        async with (
            SageMakerRuntimeClient(
                region="us-east-1", endpoint_url=server.url, credentials=TEST_CREDENTIALS
            ) as client,
            client.invoke_endpoint_with_bidirectional_stream("recorder") as session,
        ):
            await session.send(b"a")
            await session.send(b"b")
            await session.end_input()
            assert [p async for p in session] == []
    assert seen == [b"a", b"b"]
