"""A FastAPI service that streams an LLM endpoint's tokens to the browser as Server-Sent Events.

``POST /generate`` calls InvokeEndpointWithResponseStream and forwards each token as it
arrives (``data: {"token": "..."}``, then ``event: done``); ``POST /invoke`` is the one-shot
InvokeEndpoint. One ``SageMakerRuntimeClient`` serves the whole app: created at startup, closed at
shutdown. Errors before the first token become HTTP statuses (424 ModelError -> 502, validation
-> 400, throttling / model not ready -> 503 with Retry-After); errors after it become an
``event: error``, since the 200 has already been sent.

Against the local fake, in one command (starts the fake in this process, then the app on :8000)::

    .venv/bin/python examples/fastapi_sse.py --fake
    curl -N localhost:8000/generate -H 'content-type: application/json' \\
         -d '{"inputs": "tell me a story", "max_new_tokens": 20}'

or with the fake in another terminal (``sagemaker-rt serve-fake``, then export what it prints)::

    .venv/bin/uvicorn examples.fastapi_sse:app

Against a real endpoint (credentials and region from the usual AWS places)::

    SAGEMAKER_ENDPOINT_NAME=my-llm-endpoint AWS_REGION=us-east-1 uvicorn examples.fastapi_sse:app

A browser cannot POST with ``EventSource``; read the stream with ``fetch()`` and a
``ReadableStream`` (or a library such as ``@microsoft/fetch-event-source``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from sagemaker_rt_async import (
    AccessDeniedError,
    AuthenticationError,
    CredentialsError,
    ModelError,
    ModelNotReadyException,
    ParamValidationError,
    RequestTimeout,
    ResponseStream,
    SageMakerRuntimeClient,
    SageMakerRuntimeError,
    ServiceError,
    ServiceUnavailable,
    ThrottlingError,
    Token,
    TokenStream,
    ValidationError,
)

logger = logging.getLogger("fastapi_sse")

DEFAULT_ENDPOINT = "toy-llm"  # the LLM `sagemaker-rt serve-fake` (and --fake) serves


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the one client of the app at startup and close it (and its pool) at shutdown."""
    # No arguments: region, credentials and endpoint URL come from the environment exactly as
    # boto3 reads them (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, ...).
    async with SageMakerRuntimeClient() as rt:
        app.state.sagemaker = rt
        app.state.endpoint_name = os.environ.get("SAGEMAKER_ENDPOINT_NAME", DEFAULT_ENDPOINT)
        yield


app = FastAPI(title="SageMaker token streaming", lifespan=lifespan)


def sagemaker(request: Request) -> SageMakerRuntimeClient:
    """The app's client, as a dependency (tests can swap it with ``app.dependency_overrides``)."""
    rt: SageMakerRuntimeClient = request.app.state.sagemaker
    return rt


def endpoint_name(request: Request) -> str:
    """The SageMaker endpoint this app calls (``SAGEMAKER_ENDPOINT_NAME``)."""
    name: str = request.app.state.endpoint_name
    return name


SageMaker = Annotated[SageMakerRuntimeClient, Depends(sagemaker)]
EndpointName = Annotated[str, Depends(endpoint_name)]


class GenerateRequest(BaseModel):
    """What the browser sends: a prompt and how many tokens to generate at most."""

    inputs: str = Field(min_length=1, max_length=100_000)
    max_new_tokens: int = Field(default=200, ge=1, le=4096)

    def payload(self, *, stream: bool) -> dict[str, Any]:
        """The model's request body, as Hugging Face TGI and DJL-LMI containers expect it."""
        return {
            "inputs": self.inputs,
            "parameters": {"max_new_tokens": self.max_new_tokens},
            "stream": stream,  # TGI streams only when asked, even on the streaming API
        }


# -- errors ---------------------------------------------------------------------------------------


def error_status(exc: SageMakerRuntimeError) -> int:
    """The HTTP status our API answers when SageMaker failed before any token was sent."""
    if isinstance(exc, ModelError):
        return 502  # the model container failed: a bad gateway from the browser's point of view
    if isinstance(exc, ValidationError | ParamValidationError):
        return 400
    if isinstance(exc, ThrottlingError | ModelNotReadyException | ServiceUnavailable):
        return 503  # temporary: the client already retried; the browser may try again later
    if isinstance(exc, RequestTimeout):
        return 504
    if isinstance(exc, CredentialsError | AccessDeniedError | AuthenticationError):
        return 500  # our deployment is misconfigured; nothing the caller can fix
    return 502  # the service failed, the connection broke, or the stream failed at once


def error_body(exc: SageMakerRuntimeError) -> dict[str, Any]:
    """A JSON error for the caller: the error's code and a message safe to show."""
    code = getattr(exc, "error_code", None) or type(exc).__name__
    if isinstance(exc, ModelError):
        message = exc.original_message or exc.message  # what the container said
    elif error_status(exc) == 500:
        message = "the server cannot reach the model; see its logs"  # no config details out
    else:
        message = getattr(exc, "message", None) or str(exc)
    return {"error": {"code": code, "message": message, "request_id": _request_id(exc)}}


def _request_id(exc: SageMakerRuntimeError) -> str | None:
    request_id = getattr(exc, "request_id", None)
    return request_id if isinstance(request_id, str) else None


@app.exception_handler(SageMakerRuntimeError)
async def sagemaker_error(request: Request, exc: Exception) -> JSONResponse:
    """Turn an error raised before the response started into an HTTP error response."""
    assert isinstance(exc, SageMakerRuntimeError)  # registered for this class only
    status = error_status(exc)
    headers: dict[str, str] = {}
    if status == 503:
        # Pass on the service's hint when it gave one; else a short pause.
        hint = exc.headers.get("retry-after") if isinstance(exc, ServiceError) else None
        headers["Retry-After"] = hint or "1"
    logger.warning("SageMaker call failed: %s", exc)  # exc's str never contains secrets
    return JSONResponse(error_body(exc), status_code=status, headers=headers)


# -- Server-Sent Events ---------------------------------------------------------------------------


def sse(data: Mapping[str, Any], *, event: str | None = None) -> str:
    """One Server-Sent Event. JSON never contains a raw newline, so one ``data:`` line is enough."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def token_events(
    stream: ResponseStream, tokens: TokenStream, first: Token | None
) -> AsyncGenerator[str, None]:
    """The SSE body: the tokens (the first one already read), then ``done`` or ``error``."""
    sent = 0
    finish_reason: str | None = None
    try:
        token = first
        while token is not None:
            finish_reason = token.finish_reason or finish_reason
            # Special tokens (TGI's "</s>") are markup, not text for a reader.
            if token.kind == "text" and token.text and not token.special:  # the answer's text
                yield sse({"token": token.text})
                sent += 1
            token = await anext(tokens, None)
    except SageMakerRuntimeError as exc:
        # The 200 and some tokens are already out: the error can only travel as an event.
        # (The stream closed itself when it raised; nothing is retried after the first token.)
        logger.warning("stream failed after %d tokens: %s", sent, exc)
        yield sse(error_body(exc)["error"], event="error")
        return
    finally:
        # Runs on every exit, including the browser going away (cancellation) and this
        # generator being closed at a `yield`: the SageMaker stream and its connection go back.
        await stream.aclose()
    # An event with no data is never dispatched by EventSource, hence the data line.
    yield sse({"tokens": sent, "finish_reason": finish_reason}, event="done")


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that always closes its body generator.

    Starlette stops iterating the body when the browser disconnects, but leaves the generator
    to the garbage collector if it was paused at a ``yield``; closing it here runs its
    ``finally`` (which closes the SageMaker stream) at once, whatever happened.
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[str, None]) -> None:
        # no-cache: nothing in between may store a live stream; X-Accel-Buffering: nginx
        # would otherwise buffer the events and deliver them in bursts.
        super().__init__(events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the events; close the generator however sending ended."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._events.aclose()


# -- routes ---------------------------------------------------------------------------------------


@app.post("/generate")
async def generate(body: GenerateRequest, rt: SageMaker, endpoint: EndpointName) -> Response:
    """Stream the model's tokens as Server-Sent Events."""
    stream = rt.invoke_endpoint_with_response_stream(endpoint, json=body.payload(stream=True))
    tokens = stream.tokens()  # TGI, OpenAI-compatible and LMI formats are detected
    # Wait for the first token before answering: until then any failure (a 424 ModelError,
    # throttling, a stream that breaks at once) can still be a proper HTTP status, raised to
    # sagemaker_error above. The first iteration sends the request; on an error, or if this
    # request is cancelled, the stream closes itself.
    first = await anext(tokens, None)
    return EventStreamResponse(token_events(stream, tokens, first))


@app.post("/invoke")
async def invoke(body: GenerateRequest, rt: SageMaker, endpoint: EndpointName) -> Response:
    """The whole answer in one response (InvokeEndpoint), passed through with its media type."""
    result = await rt.invoke_endpoint(
        endpoint, json=body.payload(stream=False), accept="application/json"
    )
    headers = {"X-SageMaker-Request-Id": result.request_id} if result.request_id else None
    return Response(result.body, media_type=result.content_type, headers=headers)


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
    """Run the app with uvicorn; ``--fake`` first starts the local fake endpoint."""
    parser = argparse.ArgumentParser(description="Stream SageMaker tokens as Server-Sent Events.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--fake", action="store_true", help="serve the toy endpoints locally")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.fake:
            print(f"fake SageMaker Runtime on {stack.enter_context(local_fake())}", flush=True)
        uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
