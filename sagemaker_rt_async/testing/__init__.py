"""Test kit: a fake SageMaker Runtime endpoint, in-process or on a real loopback socket.

```python
from sagemaker_rt_async.testing import FakeSageMakerRuntime, ModelFailure

fake = FakeSageMakerRuntime()
fake.add_endpoint("my-endpoint", lambda inv: {"echo": inv.json()})
async with fake.client() as rt:                      # in-process transport
    r = await rt.invoke_endpoint("my-endpoint", json={"x": 1})
with fake.serve() as server:                         # a real server on 127.0.0.1
    async with fake.client(endpoint_url=server.url) as rt: ...
```

``route_to_fake(respx_router, fake)`` answers an app's respx-mocked SageMaker calls from a fake;
``chat_model()`` is a toy container speaking OpenAI Chat Completions (SSE or LMI JSON lines) for
the fake's OpenAI-compatible route. The pytest plugin (``sagemaker_rt_async.testing.plugin``,
loaded automatically) provides the
``sagemaker_fake``, ``sagemaker_server``, ``sagemaker_client`` and ``sagemaker_loopback_client``
fixtures.
"""

from ._bidi import FakeBidiServer, FakeBidiSession, ReceivedPart, RecordedSession
from ._chat import chat_model
from ._fake import (
    NO_CAPACITY_MESSAGE,
    RESET,
    TEST_CREDENTIALS,
    FakeResponse,
    FakeSageMakerRuntime,
    InternalStreamFault,
    Invocation,
    ModelFailure,
    ModelResponse,
    ModelStream,
    ModelStreamFailure,
    RecordedRequest,
    ResetConnection,
    ServiceFailure,
    StreamFault,
)
from ._respx import route_to_fake
from ._s3 import FakeS3
from ._server import LoopbackServer
from ._transport import FakeTransport

__all__ = [
    "NO_CAPACITY_MESSAGE",
    "RESET",
    "TEST_CREDENTIALS",
    "FakeBidiServer",
    "FakeBidiSession",
    "FakeResponse",
    "FakeS3",
    "FakeSageMakerRuntime",
    "FakeTransport",
    "InternalStreamFault",
    "Invocation",
    "LoopbackServer",
    "ModelFailure",
    "ModelResponse",
    "ModelStream",
    "ModelStreamFailure",
    "ReceivedPart",
    "RecordedRequest",
    "RecordedSession",
    "ResetConnection",
    "ServiceFailure",
    "StreamFault",
    "chat_model",
    "route_to_fake",
]
