"""The stock OpenAI SDK (the real ``openai`` package) wired by ``sagemaker_rt_async.openai``,
against the fake's OpenAI-compatible route on a real loopback socket: chat, streaming, tool
calls, a refused token re-minted, and errors as the SDK reports them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

openai = pytest.importorskip("openai")

from openai.types.chat import (  # noqa: E402
    ChatCompletionFunctionToolParam,
    ChatCompletionUserMessageParam,
)

from sagemaker_rt_async import SageMakerRuntimeClient, Timeout  # noqa: E402
from sagemaker_rt_async._bearer import TokenClaims, decode_token  # noqa: E402
from sagemaker_rt_async.openai import async_openai  # noqa: E402
from sagemaker_rt_async.testing import (  # noqa: E402
    FakeSageMakerRuntime,
    LoopbackServer,
    ModelFailure,
    chat_model,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: under trio the SDK's own stream generators are left to the garbage
    collector after [DONE] (openai._streaming), which trio reports as a ResourceWarning."""
    return "asyncio"


MESSAGES: list[ChatCompletionUserMessageParam] = [{"role": "user", "content": "hi from the SDK"}]


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("llm", chat_model(delay=0.001))
    fake.add_inference_component("shared", "ic-b", chat_model("component b here"))

    @fake.endpoint("refuses")
    def refuses(invocation: object) -> None:
        raise ModelFailure(400, json.dumps({"object": "error", "message": "bad max_tokens"}))

    return fake


@pytest.fixture
def server(fake: FakeSageMakerRuntime) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    with fake.serve() as srv:
        yield srv


async def test_chat_non_streaming_and_the_request_as_sent(
    fake: FakeSageMakerRuntime, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """The SDK's request reaches the route with a valid token; its parsed answer is ours."""
    async with fake.client(endpoint_url=server.url) as rt:
        client = await async_openai(rt, "llm")
        async with client:
            answer = await client.chat.completions.create(model="", messages=MESSAGES)
            assert answer.choices[0].message.content == "You said: hi from the SDK"
            assert answer.choices[0].finish_reason == "stop"
            assert "sagemaker-api-key-***" in repr(client.api_key)
    (sent,) = fake.requests
    assert sent.path == "/endpoints/llm/openai/v1/chat/completions"
    auth = sent.header("Authorization")
    assert auth is not None
    assert isinstance(decode_token(auth[len("Bearer ") :]), TokenClaims)
    assert json.loads(sent.body)["model"] == ""


async def test_chat_streaming_and_components(
    fake: FakeSageMakerRuntime, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """stream=True: the SDK parses the container's SSE to [DONE]; a component by path."""
    async with fake.client(endpoint_url=server.url) as rt:
        async with await async_openai(rt, "llm") as client:
            stream = await client.chat.completions.create(
                model="",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            texts: list[str] = []
            finish = None
            usage = None
            async for chunk in stream:
                if chunk.choices:
                    texts.append(chunk.choices[0].delta.content or "")
                    finish = chunk.choices[0].finish_reason or finish
                usage = chunk.usage or usage
            assert "".join(texts) == "You said: hi from the SDK"
            assert finish == "stop"
            assert usage is not None and usage.completion_tokens > 0
        async with await async_openai(rt, "shared", inference_component_name="ic-b") as client:
            answer = await client.chat.completions.create(model="", messages=MESSAGES)
            assert answer.choices[0].message.content == "component b here"
    assert fake.requests[-1].path == (
        "/endpoints/shared/inference-components/ic-b/openai/v1/chat/completions"
    )


async def test_tool_calls(
    fake: FakeSageMakerRuntime, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """Tools go through; tool_calls come back parsed, whole and streamed."""
    tools: list[ChatCompletionFunctionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    async with (
        fake.client(endpoint_url=server.url) as rt,
        await async_openai(rt, "llm") as client,
    ):
        answer = await client.chat.completions.create(
            model="",
            messages=MESSAGES,
            tools=tools,
        )
        call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert call.function.name == "lookup"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"query": "hi from the SDK"}  # type: ignore[union-attr]
        assert answer.choices[0].finish_reason == "tool_calls"
        stream = await client.chat.completions.create(
            model="",
            messages=MESSAGES,
            tools=tools,
            stream=True,
        )
        names = [
            c.choices[0].delta.tool_calls[0].function.name  # type: ignore[union-attr]
            async for c in stream
            if c.choices and c.choices[0].delta.tool_calls
        ]
        assert names == ["lookup"]


async def test_a_refused_token_is_re_minted_and_the_request_retried(
    fake: FakeSageMakerRuntime, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """An expired token (401) -> a fresh one on the SDK's immediate retry; still refused ->
    the SDK's AuthenticationError after one retry, not a loop."""
    async with fake.client(endpoint_url=server.url) as rt:
        readings = iter([time.time() - 50_000])  # the first token is minted long expired
        rt._clock = lambda: next(readings, time.time())
        async with await async_openai(rt, "llm") as client:
            answer = await client.chat.completions.create(model="", messages=MESSAGES)
            assert answer.choices[0].message.content
            assert len(fake.requests) == 2
            first, second = (r.header("Authorization") for r in fake.requests)
            assert first != second
            # A later call reuses the good token from the cache.
            await client.chat.completions.create(model="", messages=MESSAGES)
            assert fake.requests[-1].header("Authorization") == second

            rt._clock = lambda: time.time() - 50_000  # every token expired: refused for good
            await rt.bearer_token(refresh=True)
            with pytest.raises(openai.AuthenticationError) as caught:
                await client.chat.completions.create(model="", messages=MESSAGES)
            assert caught.value.status_code == 401
            assert len(fake.requests) == 5


async def test_errors_as_the_sdk_reports_them(
    fake: FakeSageMakerRuntime, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """The route's OpenAI envelopes are parsed by the SDK: unknown endpoint, container 400."""
    async with fake.client(endpoint_url=server.url) as rt:
        async with await async_openai(rt, "nope", max_retries=0) as client:
            with pytest.raises(openai.BadRequestError) as missing:
                await client.chat.completions.create(model="", messages=MESSAGES)
            assert missing.value.code == "validation_error"
            assert "Endpoint nope of account" in missing.value.message
        async with await async_openai(rt, "refuses", max_retries=0) as client:
            with pytest.raises(openai.BadRequestError) as refused:
                await client.chat.completions.create(model="", messages=MESSAGES)
            assert refused.value.code == "model_error"
            assert "bad max_tokens" in refused.value.message


async def test_deadlines_follow_the_client() -> None:
    """The SDK's HTTP client takes our deadlines (and no settings from the environment)."""
    fake = FakeSageMakerRuntime()
    async with (
        SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            credentials=fake.credentials,
            timeout=Timeout(connect=3, read=40, write=5, pool=7, first_byte=90),
        ) as rt,
        await async_openai(rt, "llm") as client,
    ):
        assert str(client.base_url) == "http://127.0.0.1:9/endpoints/llm/openai/v1/"
        timeout = client.timeout
        assert timeout.connect == 3  # type: ignore[union-attr]
        assert timeout.read == 90  # type: ignore[union-attr]
        assert timeout.pool == 7  # type: ignore[union-attr]
