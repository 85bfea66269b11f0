"""An aiohttp.web service streaming an LLM endpoint's tokens to the browser as Server-Sent Events.

``POST /generate`` calls InvokeEndpointWithResponseStream and writes each token as it arrives
(``data: {"token": "..."}``, then ``event: done``) with a ``web.StreamResponse``; ``POST /invoke``
is the one-shot InvokeEndpoint. The app's one ``SageMakerRuntimeClient`` lives in a
``cleanup_ctx``: created at startup, closed at cleanup. Errors before the first token become HTTP
statuses (a middleware maps them); errors after it become an ``event: error``.

Against the local fake, in one command (starts the fake in this process, then the app on :8080)::

    .venv/bin/python examples/aiohttp_sse.py --fake
    curl -N localhost:8080/generate -d '{"inputs": "tell me a story", "max_new_tokens": 20}'

or with ``sagemaker-rt serve-fake`` running in another terminal and its variables exported::

    .venv/bin/python examples/aiohttp_sse.py

Against a real endpoint (credentials and region from the usual AWS places)::

    SAGEMAKER_ENDPOINT_NAME=my-llm-endpoint AWS_REGION=us-east-1 python examples/aiohttp_sse.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from aiohttp import web

from sagemaker_rt_async import (
    AccessDeniedError,
    AuthenticationError,
    CredentialsError,
    ModelError,
    ModelNotReadyException,
    ParamValidationError,
    RequestTimeout,
    SageMakerRuntimeClient,
    SageMakerRuntimeError,
    ServiceError,
    ServiceUnavailable,
    ThrottlingError,
    ValidationError,
)

logger = logging.getLogger("aiohttp_sse")

DEFAULT_ENDPOINT = "toy-llm"  # the LLM `sagemaker-rt serve-fake` (and --fake) serves
MAX_NEW_TOKENS = 4096

SAGEMAKER = web.AppKey("sagemaker", SageMakerRuntimeClient)
ENDPOINT_NAME = web.AppKey("endpoint_name", str)


async def sagemaker_client(app: web.Application) -> AsyncIterator[None]:
    """A ``cleanup_ctx``: the one client of the app, closed (with its pool) at cleanup."""
    # No arguments: region, credentials and endpoint URL come from the environment exactly as
    # boto3 reads them (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, ...).
    async with SageMakerRuntimeClient() as rt:
        app[SAGEMAKER] = rt
        yield


# -- errors ---------------------------------------------------------------------------------------


def error_status(exc: SageMakerRuntimeError) -> int:
    """The HTTP status our API answers when SageMaker failed before any token was sent."""
    if isinstance(exc, ModelError):
        return 502  # the model container failed
    if isinstance(exc, ValidationError | ParamValidationError):
        return 400
    if isinstance(exc, ThrottlingError | ModelNotReadyException | ServiceUnavailable):
        return 503  # temporary, still after the client's retries
    if isinstance(exc, RequestTimeout):
        return 504
    if isinstance(exc, CredentialsError | AccessDeniedError | AuthenticationError):
        return 500  # our deployment is misconfigured
    return 502


@web.middleware
async def sagemaker_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer a SageMaker error raised before a response started with a JSON HTTP error."""
    try:
        return await handler(request)
    except SageMakerRuntimeError as exc:
        status = error_status(exc)
        if isinstance(exc, ModelError):
            message = exc.original_message or exc.message  # what the container said
        elif status == 500:
            message = "the server cannot reach the model; see its logs"
        else:
            message = getattr(exc, "message", None) or str(exc)
        headers: dict[str, str] = {}
        if status == 503:
            hint = exc.headers.get("retry-after") if isinstance(exc, ServiceError) else None
            headers["Retry-After"] = hint or "1"
        logger.warning("SageMaker call failed: %s", exc)
        code = getattr(exc, "error_code", None) or type(exc).__name__
        error = {"code": code, "message": message, "request_id": getattr(exc, "request_id", None)}
        return web.json_response({"error": error}, status=status, headers=headers)


# -- handlers -------------------------------------------------------------------------------------


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with the same JSON error shape as the SageMaker errors."""
    body = json.dumps({"error": {"code": "BadRequest", "message": message, "request_id": None}})
    return web.HTTPBadRequest(text=body, content_type="application/json")


async def read_request(request: web.Request) -> dict[str, Any]:
    """The model's request body (TGI / DJL-LMI style) from ours; 400 when ours is malformed."""
    try:
        data = await request.json()
    except ValueError:
        raise bad_request("the body must be JSON") from None
    prompt = data.get("inputs") if isinstance(data, dict) else None
    max_new_tokens = data.get("max_new_tokens", 200) if isinstance(data, dict) else None
    if not isinstance(prompt, str) or not prompt:
        raise bad_request('expected {"inputs": "<prompt>", "max_new_tokens": <int>}')
    if type(max_new_tokens) is not int or not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise bad_request(f"max_new_tokens must be an int in 1..{MAX_NEW_TOKENS}")
    return {"inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens}}


def sse(data: Mapping[str, Any], *, event: str | None = None) -> bytes:
    """One Server-Sent Event. JSON never contains a raw newline, so one ``data:`` line is enough."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def generate(request: web.Request) -> web.StreamResponse:
    """Stream the model's tokens as Server-Sent Events."""
    payload = await read_request(request)
    rt = request.app[SAGEMAKER]
    stream = rt.invoke_endpoint_with_response_stream(
        request.app[ENDPOINT_NAME], json={**payload, "stream": True}
    )
    tokens = stream.tokens()  # TGI, OpenAI-compatible and LMI formats are detected
    # Wait for the first token before answering: until then any failure (a 424 ModelError,
    # throttling, a stream that breaks at once) still becomes an HTTP status, in the middleware.
    # The first iteration sends the request; on an error or cancellation the stream closes itself.
    token = await anext(tokens, None)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",  # nothing in between may store a live stream
            "X-Accel-Buffering": "no",  # nginx would otherwise deliver the events in bursts
        }
    )
    sent = 0
    finish_reason: str | None = None
    try:
        await response.prepare(request)
        try:
            while token is not None:
                finish_reason = token.finish_reason or finish_reason
                # The answer's text: TGI's "</s>" is markup, reasoning and tool calls are not text.
                if token.kind == "text" and token.text and not token.special:
                    await response.write(sse({"token": token.text}))
                    sent += 1
                token = await anext(tokens, None)
        except SageMakerRuntimeError as exc:
            # The 200 and some tokens are out: the error can only travel as an event.
            logger.warning("stream failed after %d tokens: %s", sent, exc)
            code = getattr(exc, "error_code", None) or type(exc).__name__
            error = {"code": code, "message": getattr(exc, "message", None) or str(exc)}
            error["request_id"] = getattr(exc, "request_id", None)
            await response.write(sse(error, event="error"))
        else:
            # An event with no data is never dispatched by EventSource, hence the data line.
            done = {"tokens": sent, "finish_reason": finish_reason}
            await response.write(sse(done, event="done"))
        await response.write_eof()
    except ConnectionResetError:
        # The browser went away and a write noticed it. (With handler_cancellation=True, as
        # in main(), aiohttp cancels this handler at once instead; the finally covers both.)
        logger.info("client disconnected after %d tokens", sent)
    finally:
        await stream.aclose()  # the SageMaker stream and its connection go back, always
    return response


async def invoke(request: web.Request) -> web.Response:
    """The whole answer in one response (InvokeEndpoint), passed through with its media type."""
    payload = await read_request(request)
    result = await request.app[SAGEMAKER].invoke_endpoint(
        request.app[ENDPOINT_NAME], json={**payload, "stream": False}, accept="application/json"
    )
    headers: dict[str, str] = {}
    if result.content_type:
        headers["Content-Type"] = result.content_type
    if result.request_id:
        headers["X-SageMaker-Request-Id"] = result.request_id
    return web.Response(body=result.body, headers=headers)


def create_app() -> web.Application:
    """The application: routes, the error middleware and the client's lifetime."""
    app = web.Application(middlewares=[sagemaker_errors])
    app[ENDPOINT_NAME] = os.environ.get("SAGEMAKER_ENDPOINT_NAME", DEFAULT_ENDPOINT)
    app.cleanup_ctx.append(sagemaker_client)
    app.router.add_post("/generate", generate)
    app.router.add_post("/invoke", invoke)
    return app


# -- running it -----------------------------------------------------------------------------------


@contextlib.contextmanager
def local_fake() -> Iterator[str]:
    """Serve ``sagemaker-rt serve-fake``'s toy endpoints on 127.0.0.1 and point this process there.

    It sets the variables ``serve-fake`` asks you to export, so the app runs its production code
    path (``SageMakerRuntimeClient()`` reading the environment) against the fake.
    """
    from sagemaker_rt_async.cli import demo_fake

    fake = demo_fake()
    with fake.serve() as server:
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(server.environ())  # what serve-fake prints; public test keys
        yield server.url


def main(argv: list[str] | None = None) -> None:
    """Run the app; ``--fake`` first starts the local fake endpoint."""
    parser = argparse.ArgumentParser(description="Stream SageMaker tokens as Server-Sent Events.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--fake", action="store_true", help="serve the toy endpoints locally")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with contextlib.ExitStack() as stack:
        if args.fake:
            print(f"fake SageMaker Runtime on {stack.enter_context(local_fake())}", flush=True)
        # handler_cancellation: a browser that disconnects cancels its handler right away, so
        # the SageMaker stream closes even while the model is between tokens.
        web.run_app(create_app(), host=args.host, port=args.port, handler_cancellation=True)


if __name__ == "__main__":
    main()
