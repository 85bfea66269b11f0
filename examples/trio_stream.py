"""Stream an LLM's tokens and call an endpoint under deadlines, on trio.

The client needs nothing special for trio: it notices it runs under trio and uses its httpx
engine. trio's cancel scopes (``move_on_after``, ``fail_after``) then bound any call or stream,
and the library closes the response (and returns its connection) when one fires.

Against the local fake, in one command::

    .venv/bin/python examples/trio_stream.py --fake
    .venv/bin/python examples/trio_stream.py --fake --deadline 0.3   # watch the deadline fire

or with ``sagemaker-rt serve-fake`` running in another terminal and its variables exported::

    .venv/bin/python examples/trio_stream.py

Against a real endpoint (credentials and region from the usual AWS places)::

    AWS_REGION=us-east-1 python examples/trio_stream.py --endpoint my-llm-endpoint
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import Any

import trio

from sagemaker_rt_async import InvokeEndpointResult, SageMakerRuntimeClient

DEFAULT_ENDPOINT = "toy-llm"  # the LLM `sagemaker-rt serve-fake` (and --fake) serves


def request_body(prompt: str, max_new_tokens: int, *, stream: bool) -> dict[str, Any]:
    """The model's request body, as Hugging Face TGI and DJL-LMI containers expect it."""
    return {"inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens}, "stream": stream}


async def stream_tokens(rt: SageMakerRuntimeClient, endpoint: str, body: dict[str, Any]) -> str:
    """Print the model's tokens as they arrive; return the whole text."""
    async with rt.invoke_endpoint_with_response_stream(endpoint, json=body) as stream:
        tokens = stream.tokens()  # TGI, OpenAI-compatible and LMI formats are detected
        async for token in tokens:
            if token.kind == "text" and not token.special:  # "</s>" is markup; no reasoning
                print(token.text, end="", flush=True)
        print()
        return tokens.text


async def invoke_within(
    rt: SageMakerRuntimeClient, endpoint: str, body: dict[str, Any], seconds: float
) -> InvokeEndpointResult | None:
    """``invoke_endpoint`` given up after ``seconds``: None when the deadline passed first."""
    # A cancel scope bounds every await inside, including connection setup and retries' backoff.
    # (The client's own per-call `timeout=Timeout(total=...)` would raise RequestTimeout instead.)
    with trio.move_on_after(seconds):
        return await rt.invoke_endpoint(endpoint, json=body, accept="application/json")
    return None


async def run(endpoint: str, prompt: str, max_new_tokens: int, deadline: float) -> None:
    """Stream once, then invoke once, each within ``deadline`` seconds."""
    # No arguments: region, credentials and endpoint URL come from the environment exactly as
    # boto3 reads them (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, ...).
    async with SageMakerRuntimeClient() as rt:
        print(f"stream from {endpoint!r}, at most {deadline:g} s:")
        try:
            with trio.fail_after(deadline):
                text = await stream_tokens(
                    rt, endpoint, request_body(prompt, max_new_tokens, stream=True)
                )
            print(f"[{len(text)} characters]")
        except trio.TooSlowError:
            print(f"\n[deadline passed after {deadline:g} s: the stream was cancelled and closed]")

        print(f"invoke {endpoint!r}, at most {deadline:g} s:")
        start = trio.current_time()
        result = await invoke_within(
            rt, endpoint, request_body(prompt, max_new_tokens, stream=False), deadline
        )
        elapsed = trio.current_time() - start
        if result is None:
            print(f"[no answer within {deadline:g} s: the call was cancelled]")
        else:
            print(
                f"[{len(result.body)} bytes of {result.content_type} in {elapsed:.2f} s, "
                f"request id {result.request_id}]"
            )


@contextlib.contextmanager
def local_fake() -> Iterator[str]:
    """Serve ``sagemaker-rt serve-fake``'s toy endpoints on 127.0.0.1 and point this process there.

    It sets the variables ``serve-fake`` asks you to export, so ``run`` takes its production code
    path (``SageMakerRuntimeClient()`` reading the environment) against the fake.
    """
    from sagemaker_rt_async.cli import demo_fake

    fake = demo_fake()
    with fake.serve() as server:  # a thread of its own: any event loop, trio's too, can call it
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(server.environ())  # what serve-fake prints; public test keys
        yield server.url


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run under ``trio.run``."""
    parser = argparse.ArgumentParser(description="Stream tokens and invoke with deadlines (trio).")
    parser.add_argument(
        "--endpoint", default=os.environ.get("SAGEMAKER_ENDPOINT_NAME", DEFAULT_ENDPOINT)
    )
    parser.add_argument("--prompt", default="Tell me a story about an async client.")
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds per call")
    parser.add_argument("--fake", action="store_true", help="serve the toy endpoints locally")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.fake:
            stack.enter_context(local_fake())
        trio.run(run, args.endpoint, args.prompt, args.max_new_tokens, args.deadline)


if __name__ == "__main__":
    main()
