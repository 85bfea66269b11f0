"""``make demo``: the client against a local SageMaker-compatible endpoint, no AWS, no network.

Starts the test kit's fake SageMaker Runtime on 127.0.0.1 with a small toy model, then calls
it through the real client (real SigV4 signing, real HTTP on loopback) and prints what a user
would want to see: the answer, the response members, the request id, latency, and what the typed
errors look like.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator

import anyio

from . import (
    AsyncInferenceFailure,
    ModelError,
    ModelStreamError,
    ParamValidationError,
    SageMakerRuntimeClient,
    ValidationError,
)
from .testing import (
    FakeSageMakerRuntime,
    Invocation,
    ModelFailure,
    ModelResponse,
    ModelStream,
    ModelStreamFailure,
    chat_model,
)

_POSITIVE = {"good", "great", "love", "excellent", "fast", "happy", "nice"}
_NEGATIVE = {"bad", "slow", "hate", "awful", "broken", "sad", "poor"}


def sentiment_model(invocation: Invocation) -> ModelResponse:
    """A toy sentiment classifier: counts positive and negative words."""
    payload = invocation.json()
    text = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        raise ModelFailure(400, 'expected {"inputs": "<text>"}')
    words = Counter(w.strip(".,!?").lower() for w in text.split())
    score = sum(words[w] for w in _POSITIVE) - sum(words[w] for w in _NEGATIVE)
    label = "POSITIVE" if score > 0 else "NEGATIVE" if score < 0 else "NEUTRAL"
    return ModelResponse(
        {"label": label, "score": score, "tokens": sum(words.values())},
        content_type="application/json",
        custom_attributes=f"model=toy-sentiment-v1,accept={invocation.accept}",
    )


_STORY = (
    "Once upon a time, a client waited in a thread for boto3. Then it learned to await, "
    "and every token arrived the moment the model wrote it. Café ☕ for everyone."
)
_toy_chat = chat_model(_STORY, delay=0.03, model="toy-llm")


def toy_llm(invocation: Invocation) -> ModelStream | ModelResponse:
    """A toy LLM speaking Hugging Face TGI's formats, streams cut at awkward places.

    InvokeEndpoint gets TGI's JSON answer (``[{"generated_text": ...}]``); the streaming
    operation gets its SSE token events; the OpenAI-compatible route gets Chat Completions
    (as TGI's Messages API answers), streamed as SSE chunks ended by ``[DONE]``.
    """
    if invocation.operation == "ChatCompletions":
        return _toy_chat(invocation)
    max_tokens = int(invocation.json().get("parameters", {}).get("max_new_tokens", 40))
    words = _STORY.split(" ")[:max_tokens]
    if invocation.operation != "InvokeEndpointWithResponseStream":
        answer = [{"generated_text": " ".join(words)}]
        return ModelResponse(json.dumps(answer).encode(), content_type="application/json")

    async def events() -> AsyncIterator[bytes]:
        wire = b""
        for i, word in enumerate(words):
            text = word if i == 0 else " " + word
            event: dict[str, object] = {"token": {"id": i, "text": text, "special": False}}
            if i == len(words) - 1:
                event["generated_text"] = " ".join(words)
                event["details"] = {"finish_reason": "length", "generated_tokens": len(words)}
            wire += b"data:" + json.dumps(event).encode() + b"\n\n"
            # Parts are cut wherever the container's writes fall: mid-line, mid-character.
            cut = max(1, len(wire) - 7)
            await anyio.sleep(0.03)
            yield wire[:cut]
            wire = wire[cut:]
        yield wire

    return ModelStream(events(), content_type="text/event-stream")


async def flaky_llm(invocation: Invocation) -> AsyncIterator[bytes]:
    """An LLM whose stream breaks after a few parts (as a model timeout would)."""
    for word in ("The", " answer", " is"):
        await anyio.sleep(0.02)
        yield word.encode()
    raise ModelStreamFailure(
        "Your model did not finish in time", error_code="ModelInvocationTimeExceeded"
    )


async def stream_demo(rt: SageMakerRuntimeClient) -> None:
    """Stream tokens live from the toy LLM, then show a typed mid-stream error."""
    print("\ninvoke_endpoint_with_response_stream('toy-llm') — tokens as they arrive:\n  ", end="")
    start = time.perf_counter()
    first: float | None = None
    finish: str | None = None
    request = {"inputs": "tell me a story", "parameters": {"max_new_tokens": 40}, "stream": True}
    async with rt.invoke_endpoint_with_response_stream("toy-llm", json=request) as stream:
        tokens = stream.tokens()  # format="auto": TGI detected from the content type and bytes
        async for token in tokens:
            first = first or time.perf_counter()
            print(token.text, end="", flush=True)
            finish = token.finish_reason
    elapsed = time.perf_counter() - start
    ttft = ((first or start) - start) * 1000
    print(f"\n  [{stream.parts_received} parts, first token after {ttft:.0f} ms, ", end="")
    print(f"total {elapsed * 1000:.0f} ms, finish_reason={finish}, request_id={stream.request_id}]")

    print("\na stream that breaks mid-way:")
    got: list[bytes] = []
    try:
        async for part in rt.invoke_endpoint_with_response_stream("flaky-llm", json={}):
            got.append(part)
    except ModelStreamError as exc:
        print(f"  received {b''.join(got)!r} ({exc.parts_received} parts), then")
        print(f"  ModelStreamError: error_code={exc.error_code} message={exc.message!r}")


def toy_summarizer(invocation: Invocation) -> dict[str, object]:
    """A slow 'batch' model for async inference: summarises a document by its first words."""
    document = invocation.json().get("document", "")
    if not document:
        raise ModelFailure(400, "empty document")
    words = document.split()
    return {"summary": " ".join(words[:6]) + " …", "words": len(words)}


async def async_demo(rt: SageMakerRuntimeClient) -> None:
    """Submit async inference jobs and await their results from (the fake's) S3."""
    print("\ninvoke_endpoint_async('toy-summarizer') — queued, result written to S3:")
    document = "Async inference queues requests and writes each result to S3 " * 3000
    start = time.perf_counter()
    job = await rt.invoke_endpoint_async(
        "toy-summarizer",
        json={"document": document},
        upload_to="s3://demo-inputs/staging/",  # ~190 KB: too large to inline, uploaded first
    )
    print(f"  submitted {job.inference_id}")
    print(f"    output  -> {job.output_location}")
    print(f"    failure -> {job.failure_location}")
    result = await job.result(timeout=30, poll_interval=0.1)
    print(f"  result after {time.perf_counter() - start:.2f} s: {result.json()}")
    failing = await rt.invoke_endpoint_async("toy-summarizer", json={"document": ""})
    try:
        await failing.result(timeout=30, poll_interval=0.1)
    except AsyncInferenceFailure as exc:
        print(f"  AsyncInferenceFailure for {exc.inference_id}: {exc.payload.decode()}")


async def main() -> None:
    """Run the demo."""
    fake = FakeSageMakerRuntime(region="us-east-1")
    fake.add_endpoint("toy-sentiment", sentiment_model, variant="variant-a")
    fake.add_endpoint("toy-llm", toy_llm)
    fake.add_endpoint("flaky-llm", flaky_llm)
    fake.add_endpoint(
        "toy-summarizer",
        toy_summarizer,
        async_output_path="s3://demo-results/summaries",
        async_failure_path="s3://demo-results/failures",
        processing_time=0.5,
    )
    with fake.serve() as server:
        print(f"fake SageMaker Runtime listening on {server.url} (SigV4 verified)\n")
        async with SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=server.url,
            s3_endpoint_url=server.url,  # the fake answers S3 too
            credentials=fake.credentials,
        ) as rt:
            for text in ("I love this library, it is fast", "the old client was slow and broken"):
                start = time.perf_counter()
                r = await rt.invoke_endpoint(
                    "toy-sentiment", json={"inputs": text}, accept="application/json"
                )
                ms = (time.perf_counter() - start) * 1000
                print(f"invoke_endpoint({text!r})")
                print(f"  -> {r.json()}  [{ms:.1f} ms]")
                print(f"     content_type={r.content_type} variant={r.invoked_production_variant}")
                print(f"     custom_attributes={r.custom_attributes!r} request_id={r.request_id}")

            print("\n50 concurrent calls:")
            start = time.perf_counter()
            results = await asyncio.gather(
                *(
                    rt.invoke_endpoint("toy-sentiment", json={"inputs": f"good call {i}"})
                    for i in range(50)
                )
            )
            elapsed = time.perf_counter() - start
            print(f"  {len(results)} answers in {elapsed * 1000:.0f} ms")

            print("\nTyped errors:")
            try:
                await rt.invoke_endpoint("toy-sentiment", json=["not", "a", "dict"])
            except ModelError as exc:
                print(f"  ModelError: original_status_code={exc.original_status_code}")
                print(f"    original_message={exc.original_message!r}")
            try:
                await rt.invoke_endpoint("no-such-endpoint", b"{}")
            except ValidationError as exc:
                print(f"  ValidationError: {exc.message}")
            try:
                await rt.invoke_endpoint("bad_name!", b"{}")
            except ParamValidationError as exc:
                print(f"  ParamValidationError (nothing sent): {exc}")

            await stream_demo(rt)
            await async_demo(rt)
        print(f"\nrequests the fake received: {len(fake.requests)}")


if __name__ == "__main__":
    asyncio.run(main())
