"""The OpenAI-compatible route through the client, against the fake (spec openai-compatible.md):
bearer auth through the exchange seam, the request as sent, streams framed by the shared helpers,
truncation as an error, the route's error shapes typed, 401/403 re-minted once."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async._bearer import TokenClaims, verify_token
from sagemaker_rt_async._errors import chat_error_from_response
from sagemaker_rt_async.testing import (
    TEST_CREDENTIALS,
    FakeSageMakerRuntime,
    Invocation,
    ModelFailure,
    ModelStream,
    ServiceFailure,
    StreamFault,
    chat_model,
)

pytestmark = pytest.mark.anyio

REQUEST = {"messages": [{"role": "user", "content": "hello there"}]}


def _fake() -> FakeSageMakerRuntime:
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("llm", chat_model())
    fake.add_endpoint("lmi", chat_model(style="jsonlines"))
    fake.add_inference_component("shared", "ic-a", chat_model("from component a"))
    return fake


async def test_non_streaming_request_as_sent_and_answer() -> None:
    """POST …/openai/v1/chat/completions with a bearer token the service accepts, model "" added,
    no SigV4 and no X-Amzn-SageMaker-* header; the container's JSON comes back as is."""
    fake = _fake()
    async with fake.client() as rt:
        result = await rt.chat_completions("llm", json=REQUEST)
    assert result.status_code == 200
    assert result.json()["choices"][0]["message"]["content"] == "You said: hello there"
    assert result.content_type == "application/json"
    assert result.request_id
    (sent,) = fake.requests
    assert sent.method == "POST"
    assert sent.path == "/endpoints/llm/openai/v1/chat/completions"
    assert json.loads(sent.body) == {**REQUEST, "model": ""}
    names = {k.lower() for k, _ in sent.headers}
    assert not {n for n in names if n.startswith(("x-amzn-sagemaker", "x-amz-"))}
    auth = sent.header("Authorization")
    assert auth is not None and auth.startswith("Bearer sagemaker-api-key-")
    checked = verify_token(
        auth[7:],
        credentials=TEST_CREDENTIALS,
        region="us-east-1",
        now=datetime.now(timezone.utc).timestamp(),
    )
    assert isinstance(checked, TokenClaims)
    assert checked.expires_in == 43_200
    assert sent.header("Content-Type") == "application/json"
    assert sent.header("Accept") == "application/json"
    assert "sagemaker-api-key-***" in repr(sent)
    assert auth[30:60] not in repr(sent)


async def test_model_given_is_kept_and_component_goes_in_the_path() -> None:
    """A caller's "model" is passed through; the inference component is a path segment."""
    fake = _fake()
    async with fake.client() as rt:
        result = await rt.chat_completions(
            "shared", json={**REQUEST, "model": "m"}, inference_component_name="ic-a"
        )
        assert await rt.openai_base_url("shared", inference_component_name="ic-a") == (
            "http://sagemaker.fake/endpoints/shared/inference-components/ic-a/openai/v1"
        )
    assert result.json()["choices"][0]["message"]["content"] == "from component a"
    assert result.json()["model"] == "m"
    assert fake.requests[0].path == (
        "/endpoints/shared/inference-components/ic-a/openai/v1/chat/completions"
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_streams_over_a_real_socket_with_every_framing(transport: str) -> None:
    """SSE (vLLM) and JSON lines (LMI) through tokens(); raw chunks, sse() and json_lines()
    see the same body; the stream ends cleanly at [DONE] / the finish_reason chunk."""
    fake = _fake()
    with fake.serve() as server:
        async with fake.client(endpoint_url=server.url, transport=transport) as rt:
            async with rt.chat_completions_stream("llm", json=REQUEST) as stream:
                tokens = [t async for t in stream.tokens()]
            assert "".join(t.text for t in tokens) == "You said: hello there"
            assert tokens[-1].finish_reason == "stop"
            assert stream.content_type == "text/event-stream"
            assert stream.closed

            async with rt.chat_completions_stream("lmi", json=REQUEST) as stream:
                tokens = [t async for t in stream.tokens()]
            assert "".join(t.text for t in tokens) == "You said: hello there"

            async with rt.chat_completions_stream("llm", json=REQUEST) as stream:
                events = [e.data async for e in stream.sse()]
            assert events[-1] == "[DONE]"
            async with rt.chat_completions_stream("lmi", json=REQUEST) as stream:
                values = [v async for v in stream.json_lines()]
            assert values[-1]["choices"][0]["finish_reason"] == "stop"
            async with rt.chat_completions_stream("llm", json=REQUEST) as stream:
                raw = b"".join([c async for c in stream])
            assert raw.endswith(b"data: [DONE]\n\n")
            assert stream.bytes_received == len(raw)
        assert server.open_connections <= 1
    body = json.loads(fake.requests[0].body)
    assert body["stream"] is True
    assert body["model"] == ""
    assert fake.requests[0].header("Accept") == "text/event-stream"


def _cut(*parts: bytes, content_type: str = "text/event-stream") -> Callable[[Invocation], Any]:
    def handler(invocation: Invocation) -> ModelStream:
        async def wire() -> AsyncIterator[bytes | StreamFault]:
            for part in parts:
                yield part
            yield b""

        return ModelStream(wire(), content_type=content_type)

    return handler


def _chunk(delta: dict[str, Any], finish: str | None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"object": "chat.completion.chunk", "choices": [choice]}).encode()


_CHUNK = b"data: " + _chunk({"content": "Hi"}, None) + b"\n\n"
_FINAL = b"data: " + _chunk({}, "stop") + b"\n\n"
_LINE = _chunk({"content": "Hi"}, None) + b"\n"
_LAST = _chunk({}, "length")


@pytest.mark.parametrize(
    ("parts", "content_type", "error"),
    [
        ((_CHUNK, _FINAL), "text/event-stream", sm.StreamTruncated),  # no [DONE]
        ((_CHUNK, b"data: [DO"), "text/event-stream", sm.StreamTruncated),
        ((_CHUNK,), "application/jsonlines", sm.StreamTruncated),  # no finish_reason
        ((_LINE, _LAST), "application/jsonlines", None),  # the last line, unterminated, ends it
        ((_CHUNK, _FINAL, b"data:[DONE]"), "text/event-stream", None),
        (
            (_CHUNK, b'data: {"error": {"message": "CUDA out of memory", "type": "x"}}\n\n'),
            "text/event-stream",
            sm.ContainerError,
        ),
    ],
)
async def test_a_stream_must_end_properly(
    parts: tuple[bytes, ...], content_type: str, error: type[Exception] | None
) -> None:
    """EOF before [DONE] (SSE) or a finish_reason chunk (JSON lines) is an error, raw or framed."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("e", _cut(*parts, content_type=content_type))
    async with fake.client() as rt:
        for framed in (False, True):
            if error is None:
                async with rt.chat_completions_stream("e", json=REQUEST) as stream:
                    got = (
                        [t.text async for t in stream.tokens()]
                        if framed
                        else [c async for c in stream]
                    )
                assert got
                continue
            with pytest.raises(error) as caught:
                async with rt.chat_completions_stream("e", json=REQUEST) as stream:
                    if framed:
                        async for _ in stream.tokens():
                            pass
                    else:
                        async for _ in stream:
                            pass
            assert stream.closed
            assert caught.value.parts_received >= 1  # type: ignore[attr-defined]


async def test_a_reset_mid_stream_is_not_retried() -> None:
    """Once a chunk was handed out nothing is sent again: the break surfaces as TransportError."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("e", _cut(_CHUNK, StreamFault.reset()))  # type: ignore[arg-type]
    with fake.serve() as server:
        async with fake.client(endpoint_url=server.url) as rt:
            with pytest.raises(sm.TransportError) as caught:
                async with rt.chat_completions_stream("e", json=REQUEST) as stream:
                    async for _ in stream:
                        pass
    assert caught.value.bytes_received > 0
    assert len(fake.requests) == 1


async def test_tool_calls_pass_through() -> None:
    """tools go to the container untouched; its tool_calls come back (JSON and streamed)."""
    fake = _fake()
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    async with fake.client() as rt:
        result = await rt.chat_completions("llm", json={**REQUEST, "tools": tools})
        choice = result.json()["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["tool_calls"][0]["function"]["name"] == "lookup"
        async with rt.chat_completions_stream("llm", json={**REQUEST, "tools": tools}) as stream:
            tokens = [t async for t in stream.tokens()]
    assert tokens[-1].finish_reason == "tool_calls"
    assert json.loads(fake.requests[0].body)["tools"] == tools


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"json": [REQUEST]}, "json"),
        ({"json": "hi"}, "json"),
        ({"json": {**REQUEST, "stream": True}}, "json"),
        ({"json": {**REQUEST, "stream": "yes"}}, "json"),
        ({"json": {"x": float("nan")}}, "json"),
        ({"json": {"x": "y" * 6_291_456}}, "json"),
        ({"json": REQUEST, "inference_component_name": "bad/name"}, "inference_component_name"),
        ({"json": REQUEST, "inference_component_name": "-x"}, "inference_component_name"),
    ],
)
async def test_bad_input_is_refused_before_any_io(kwargs: dict[str, Any], param: str) -> None:
    """A body that is not a JSON object, a stream flag that disagrees, bad names: no request."""
    fake = _fake()
    async with fake.client() as rt:
        with pytest.raises(sm.ParamValidationError) as caught:
            await rt.chat_completions("llm", **kwargs)
        assert caught.value.param == param
        with pytest.raises(sm.ParamValidationError):
            await rt.chat_completions("bad name", json=REQUEST)
        with pytest.raises(sm.ParamValidationError, match="stream"):
            rt.chat_completions_stream("llm", json={**REQUEST, "stream": False})
        with pytest.raises(sm.ParamValidationError, match="expires_in"):
            await rt.bearer_token(expires_in=0.5)  # type: ignore[arg-type]
    assert fake.requests == []


def _failing(exc: Exception) -> Callable[[Invocation], Any]:
    def handler(invocation: Invocation) -> Any:
        raise exc

    return handler


async def test_errors_are_typed_from_the_route_shapes() -> None:
    """Unknown endpoint, a container's 400 quoted by the front door, the gateway's HTML."""
    fake = _fake()
    vllm = json.dumps({"object": "error", "message": "max_tokens is too large", "code": 400})
    fake.add_endpoint("refuses", _failing(ModelFailure(400, vllm)))
    fake.add_endpoint(
        "gateway", _failing(ServiceFailure(502, "BadGateway", raw_body=b"<html>502</html>"))
    )
    async with fake.client(retry=False) as rt:
        with pytest.raises(sm.EndpointNotFoundError) as missing:
            await rt.chat_completions("nope", json=REQUEST)
        assert missing.value.error_type == "invalid_request_error"
        assert missing.value.error_code == "validation_error"
        with pytest.raises(sm.ModelError) as refused:
            await rt.chat_completions("refuses", json=REQUEST)
        assert refused.value.original_status_code == 400
        assert refused.value.message == "max_tokens is too large"
        assert refused.value.original_message == vllm
        assert refused.value.raw_message.startswith("Received client error (400) from primary")
        assert "account 123456789012" in refused.value.raw_message
        assert refused.value.status_code == 400
        with pytest.raises(sm.ServiceError) as gateway:
            await rt.chat_completions("gateway", json=REQUEST)
        assert gateway.value.status_code == 502
        assert gateway.value.retryable
        with pytest.raises(sm.ModelError):  # the same on the streaming route, at entry
            async with rt.chat_completions_stream("refuses", json=REQUEST):
                pass


async def test_no_capacity_is_retried_and_waited_for() -> None:
    """A component scaled to zero answers 400 "has no capacity": retried by default, waited
    for within Retry(wait_for_capacity=...), raised as NoCapacityError without retries."""
    fake = FakeSageMakerRuntime()
    fake.add_inference_component("ep", "cold", chat_model("warm now"), no_capacity_for=1)
    async with fake.client() as rt:
        result = await rt.chat_completions("ep", json=REQUEST, inference_component_name="cold")
        assert result.json()["choices"][0]["message"]["content"] == "warm now"
        assert len(fake.requests) == 2
        fake.add_inference_component("ep", "colder", chat_model("finally"), no_capacity_for=4)
        with pytest.raises(sm.NoCapacityError) as caught:
            await rt.chat_completions(
                "ep", json=REQUEST, inference_component_name="colder", retry=False
            )
        assert caught.value.retryable
        assert isinstance(caught.value, sm.ModelNotReadyException)
        waited = sm.Retry(max_attempts=1, max_backoff=0.01, wait_for_capacity=10)
        async with rt.chat_completions_stream(
            "ep", json=REQUEST, inference_component_name="colder", retry=waited
        ) as stream:
            assert "".join([t.text async for t in stream.tokens()]) == "finally"
        with pytest.raises(sm.ValidationError, match="hosts inference components"):
            await rt.chat_completions("ep", json=REQUEST)


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (
            400,
            {
                "error": {
                    "message": "Inference Component has no capacity to process this request.",
                    "type": "invalid_request_error",
                    "code": "validation_error",
                }
            },
            sm.NoCapacityError,
            "Inference Component has no capacity to process this request.",
        ),
        (
            400,
            {
                "error": {
                    "message": "Endpoint my-ep has no capacity to process this request.",
                    "type": "invalid_request_error",
                    "code": "validation_error",
                }
            },
            sm.NoCapacityError,
            None,
        ),
        (  # a container echoing client text is never a cold start (spec §7)
            400,
            {
                "error": {
                    "message": "Received client error (400) from primary with message "
                    '"{\\"message\\": \\"Inference Component has no capacity\\"}". See x.',
                    "type": "server_error",
                    "code": "model_error",
                }
            },
            sm.ModelError,
            "Inference Component has no capacity",
        ),
        (
            400,
            {
                "error": {
                    "message": "bad input: Inference Component has no capacity",
                    "type": "BadRequestError",
                    "code": 400,
                    "param": "messages",
                }
            },
            sm.ValidationError,
            "bad input: Inference Component has no capacity",
        ),
        (
            400,
            {
                "error": {
                    "message": "Received client error (400) from i-0abc and could not load "
                    "the entire response body. See x.",
                    "type": "server_error",
                    "code": "model_error",
                }
            },
            sm.ValidationError,
            None,
        ),
        (
            403,
            {"message": "User is not authorized"},
            sm.AccessDeniedError,
            "sagemaker:CallWithBearerToken",
        ),
        (401, b"", sm.AuthenticationError, "sagemaker:InvokeEndpoint"),
        (
            429,
            {"error": {"message": "slow down", "type": "rate_limit", "code": 429}},
            sm.ThrottlingError,
            "slow down",
        ),
        (503, b"<html><body>Service Unavailable</body></html>", sm.ServiceUnavailable, None),
        (502, b"upstream connect error", sm.ServiceError, "upstream connect error"),
        (
            424,
            {
                "error": {
                    "message": 'Received server error (500) from primary with message "boom". '
                    "See x",
                    "type": "server_error",
                    "code": "model_error",
                }
            },
            sm.ModelError,
            "boom",
        ),
    ],
)
def test_error_shapes_table(
    status: int, body: Any, cls: type[Exception], message: str | None
) -> None:
    """Each §7 shape maps to its class; the no-capacity match is anchored on the service text."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    err = chat_error_from_response(status, {"x-amzn-RequestId": "r-1"}, raw)
    assert type(err) is cls
    assert err.status_code == status
    assert err.request_id == "r-1"
    if message is not None:
        assert message in err.message
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        assert err.error_type == body["error"]["type"]
        assert err.error_param == body["error"].get("param")


def test_a_token_in_an_error_body_is_masked() -> None:
    """A service that echoed the token back never gets it into our message or body."""
    token = "sagemaker-api-key-" + base64.b64encode(b"sagemaker.amazonaws.com/?x=1").decode()
    body = json.dumps({"error": {"message": f"bad token {token}", "type": "t", "code": "c"}})
    err = chat_error_from_response(401, {}, body.encode())
    assert token not in str(err) and token not in repr(err) and token.encode() not in err.body
    assert "sagemaker-api-key-***" in str(err)


import time  # noqa: E402 - the clock tests' own


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_an_expired_token_is_re_minted_once_then_an_auth_error() -> None:
    """A 401 re-mints and retries at once; still refused -> AuthenticationError naming the two
    IAM actions, after exactly two requests (the token never appears in the message)."""
    fake = _fake()
    async with fake.client() as rt:
        clock = _Clock(time.time() - 50_000)  # every token minted is already expired
        rt._clock = clock
        with pytest.raises(sm.AuthenticationError) as caught:
            await rt.chat_completions("llm", json=REQUEST)
        assert "sagemaker:CallWithBearerToken" in str(caught.value)
        assert "sagemaker:InvokeEndpoint" in str(caught.value)
        assert "expired" in str(caught.value)
        assert len(fake.requests) == 2
        assert rt._tokens.minted == 2
        # (The same clock reading signs the same bytes: minted twice, sent twice, refused twice.)
        tokens = {r.header("Authorization") for r in fake.requests}
        assert not any(t and t[7:40] in str(caught.value) for t in tokens)

        # The clock put right between the attempts: the re-minted token is accepted.
        readings = iter([time.time() - 50_000])
        rt._clock = lambda: next(readings, time.time())
        result = await rt.chat_completions("llm", json=REQUEST)
        assert result.status_code == 200
        assert len(fake.requests) == 4


async def test_tokens_are_cached_and_re_minted_before_expiry() -> None:
    """One token serves many calls; near its end (max(60 s, 10 %)) a new one is minted."""
    fake = _fake()
    async with fake.client(bearer_token_expires_in=600) as rt:
        clock = _Clock(time.time() - 545)
        rt._clock = clock
        for _ in range(3):
            await rt.chat_completions("llm", json=REQUEST)
        assert len({r.header("Authorization") for r in fake.requests}) == 1
        clock.now += 545  # 55 s left, inside the last 60 s: re-minted before it is sent
        await rt.chat_completions("llm", json=REQUEST)
        assert len({r.header("Authorization") for r in fake.requests}) == 2
        token = await rt.bearer_token()
        assert isinstance(token, sm.BearerToken)
        assert repr(token).startswith("BearerToken('sagemaker-api-key-***'")
        assert rt._tokens.minted == 2
        assert await rt.bearer_token(expires_in=60) != token


async def test_sigv4_on_the_route_is_refused_by_the_fake() -> None:
    """The fake, like the service, answers SigV4 on this route with 403 (spec §5.6)."""
    fake = _fake()
    async with fake.client() as rt:
        import httpx

        async with httpx.AsyncClient(transport=fake.transport()) as http:
            r = await http.post(
                "http://sagemaker.fake/endpoints/llm/openai/v1/chat/completions",
                json=REQUEST,
                headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"},
            )
            assert r.status_code == 403
            r = await http.post(
                "http://sagemaker.fake/endpoints/llm/openai/v1/models",
                headers={"Authorization": f"Bearer {await rt.bearer_token()}"},
            )
            assert r.status_code == 404


_SSE_WIRE = (
    b": keep-alive\r\n\r\n"
    + _CHUNK.replace(b"data: ", b"data:")
    + _FINAL
    + b'data: {"object":"chat.completion.chunk","choices":[],"usage":{"total_tokens":3}}\n\n'
    + b"data: [DONE]\n\n"
)
_LMI_WIRE = _LINE + _LAST + b"\n"


@pytest.mark.parametrize(
    ("wire", "content_type"),
    [(_SSE_WIRE, "text/event-stream"), (_LMI_WIRE, "application/jsonlines"), (_LMI_WIRE, None)],
)
def test_end_detection_at_every_split_and_every_cut(wire: bytes, content_type: str | None) -> None:
    """The end marker is found however the body is split; every shorter body is truncated."""
    from sagemaker_rt_async._streaming import _ChatEnd

    for split in range(len(wire) + 1):
        end = _ChatEnd(content_type)
        end.feed(wire[:split])
        end.feed(wire[split:])
        end.close()
        assert end.failure() is None, split
    last_line = wire.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_line):
        end = _ChatEnd(content_type)
        end.feed(wire[:cut])
        end.close()
        assert isinstance(end.failure(), sm.StreamTruncated), cut


async def test_hook_events_name_the_route_and_the_component() -> None:
    """CallStarted/CallEnded report ChatCompletions, the component and whether it streamed."""
    fake = _fake()
    events: list[sm.Event] = []
    async with fake.client(event_hooks=[events.append]) as rt:
        await rt.chat_completions("shared", json=REQUEST, inference_component_name="ic-a")
        async with rt.chat_completions_stream("llm", json=REQUEST) as stream:
            async for _ in stream.tokens():
                pass
    ended = [e for e in events if isinstance(e, sm.CallEnded)]
    assert [e.outcome for e in ended] == ["ok", "ok"]
    first, second = (e.call for e in ended)
    assert (first.operation, first.inference_component_name, first.streaming) == (
        "ChatCompletions",
        "ic-a",
        False,
    )
    assert (second.endpoint_name, second.streaming) == ("llm", True)
    assert any(isinstance(e, sm.FirstToken) for e in events)
