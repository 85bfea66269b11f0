"""``make demo``: the client against a local SageMaker-compatible endpoint, no AWS, no network.

Starts the test kit's fake SageMaker Runtime on 127.0.0.1 with a small toy model, then calls
it through the real client (real SigV4 signing, real HTTP on loopback) and prints what a user
would want to see: the answer, the response members, the request id, latency, and what the typed
errors look like.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from . import (
    ModelError,
    ParamValidationError,
    SageMakerRuntimeClient,
    ValidationError,
)
from .testing import FakeSageMakerRuntime, Invocation, ModelFailure, ModelResponse

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


async def main() -> None:
    """Run the demo."""
    fake = FakeSageMakerRuntime(region="us-east-1")
    fake.add_endpoint("toy-sentiment", sentiment_model, variant="variant-a")
    with fake.serve() as server:
        print(f"fake SageMaker Runtime listening on {server.url} (SigV4 verified)\n")
        async with SageMakerRuntimeClient(
            region="us-east-1", endpoint_url=server.url, credentials=fake.credentials
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
        print(f"\nrequests the fake received: {len(fake.requests)}")


if __name__ == "__main__":
    asyncio.run(main())
