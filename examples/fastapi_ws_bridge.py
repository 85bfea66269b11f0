"""Bridge a browser's WebSocket to a SageMaker bidirectional stream, with FastAPI.

``/bidi`` accepts a WebSocket and opens one InvokeEndpointWithBidirectionalStream session for
it: binary messages from the browser go to the model as BINARY parts, text messages as UTF8
parts, and the model's answers come back as they arrive (whole messages: fragments joined).
When the browser leaves, the input is ended and the session closed; when the model fails, the
WebSocket closes with code 1011 and the typed error's name as the reason. One client for the
whole app (the lifespan), so every socket shares its HTTP/2 connections.

Against the test kit's echo and transcriber endpoints, in one command::

    .venv/bin/python examples/fastapi_ws_bridge.py --fake      # ws://127.0.0.1:8000/bidi

Against a real endpoint::

    SAGEMAKER_ENDPOINT_NAME=my-voice-endpoint uvicorn examples.fastapi_ws_bridge:app
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from sagemaker_rt_async import BidiSession, SageMakerRuntimeClient, SageMakerRuntimeError


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One client for the app's lifetime (it reads region, credentials and URL from the env)."""
    async with SageMakerRuntimeClient() as rt:
        app.state.rt = rt
        yield


app = FastAPI(lifespan=lifespan)


async def browser_to_model(websocket: WebSocket, session: BidiSession) -> None:
    """Forward the browser's messages until it leaves; then end the model's input."""
    # A session error raised here is raised by the iteration in bidi() too: handled there.
    with contextlib.suppress(SageMakerRuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await session.send(message["bytes"])
            elif message.get("text"):
                await session.send(message["text"])
        await session.end_input()


@app.websocket("/bidi")
async def bidi(websocket: WebSocket, endpoint: str | None = None) -> None:
    """One browser socket = one bidirectional session with the model."""
    await websocket.accept()
    rt: SageMakerRuntimeClient = websocket.app.state.rt
    name = endpoint or os.environ.get("SAGEMAKER_ENDPOINT_NAME", "echo")
    try:
        async with rt.invoke_endpoint_with_bidirectional_stream(name) as session:
            failure: Exception | None = None
            async with anyio.create_task_group() as group:
                group.start_soon(browser_to_model, websocket, session)
                try:
                    async for message in session.messages():
                        if isinstance(message, str):
                            await websocket.send_text(message)
                        else:
                            await websocket.send_bytes(message)
                except (SageMakerRuntimeError, WebSocketDisconnect) as exc:
                    failure = exc  # raised below, outside the task group (no ExceptionGroup)
                finally:
                    group.cancel_scope.cancel()  # stop reading the browser
            if failure is not None:
                raise failure
        await websocket.close()
    except WebSocketDisconnect:
        pass  # the browser left while we were answering; the session was closed on the way out
    except SageMakerRuntimeError as exc:
        with contextlib.suppress(RuntimeError):  # the socket may be gone already
            await websocket.close(code=1011, reason=type(exc).__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake", action="store_true", help="serve the test kit's endpoints")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    import uvicorn

    if not args.fake:
        uvicorn.run(app, host="127.0.0.1", port=args.port)
        return
    from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer

    with FakeBidiServer() as server:
        os.environ.update(
            AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=server.url,
            AWS_REGION=server.region,
            AWS_ACCESS_KEY_ID=TEST_CREDENTIALS.access_key_id,
            AWS_SECRET_ACCESS_KEY=TEST_CREDENTIALS.secret_access_key,
        )
        uvicorn.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
