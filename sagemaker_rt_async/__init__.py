"""sagemaker-rt-async: an asyncio-native (and trio-capable) client for Amazon SageMaker Runtime.

```python
from sagemaker_rt_async import SageMakerRuntimeClient

async with SageMakerRuntimeClient(region="us-east-1") as rt:
    r = await rt.invoke_endpoint("my-endpoint", json={"inputs": "hi"})
    print(r.json(), r.request_id)
```
"""

from contextlib import suppress as _suppress

from ._async_inference import AsyncInferenceJob, AsyncInferenceResult
from ._batch import MapInvokeIter
from ._bearer import BearerToken
from ._bidi import BidiMessages, BidiSession
from ._client import SageMakerRuntimeClient
from ._config import ClientConfig
from ._engines import Engine, EngineResponse
from ._errors import (
    AccessDeniedError,
    AsyncInferenceFailure,
    AsyncInferenceTimeout,
    AuthenticationError,
    ClientClosedError,
    ContainerError,
    CredentialsError,
    EndpointNotFoundError,
    EventStreamProtocolError,
    FramingError,
    InputValidationError,
    InternalDependencyException,
    InternalFailure,
    InternalServerError,
    InternalStreamFailure,
    ModelError,
    ModelNotReadyException,
    ModelStreamError,
    NoCapacityError,
    ParamValidationError,
    ProtocolNegotiationError,
    RequestTimeout,
    RequestTimeoutError,
    ResponseTooLarge,
    S3Error,
    SageMakerRuntimeError,
    ServiceError,
    ServiceUnavailable,
    ServiceUnavailableError,
    SessionClosedError,
    StreamError,
    StreamTruncated,
    ThrottlingError,
    TransportError,
    ValidationError,
)
from ._framing import SSEEvent
from ._hooks import (
    CallEnded,
    CallInfo,
    CallStarted,
    Event,
    EventHook,
    FirstPart,
    FirstToken,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
)
from ._models import (
    BidiPayloadPart,
    ChatCompletionResult,
    Credentials,
    InvokeEndpointResult,
    NewSession,
    Timeout,
)
from ._retry import Retry
from ._sessions import Session
from ._streaming import ChatCompletionStream, ResponseStream, TokenStream
from ._tokens import Token, TokenFormat, ToolCall, ToolCallDelta, Usage
from ._version import __version__

__all__ = [
    "AccessDeniedError",
    "AsyncInferenceFailure",
    "AsyncInferenceJob",
    "AsyncInferenceResult",
    "AsyncInferenceTimeout",
    "AuthenticationError",
    "BearerToken",
    "BidiMessages",
    "BidiPayloadPart",
    "BidiSession",
    "CallEnded",
    "CallInfo",
    "CallStarted",
    "ChatCompletionResult",
    "ChatCompletionStream",
    "ClientClosedError",
    "ClientConfig",
    "ContainerError",
    "Credentials",
    "CredentialsError",
    "EndpointNotFoundError",
    "Engine",
    "EngineResponse",
    "Event",
    "EventHook",
    "EventStreamProtocolError",
    "FirstPart",
    "FirstToken",
    "FramingError",
    "InputValidationError",
    "InternalDependencyException",
    "InternalFailure",
    "InternalServerError",
    "InternalStreamFailure",
    "InvokeEndpointResult",
    "MapInvokeIter",
    "ModelError",
    "ModelNotReadyException",
    "ModelStreamError",
    "NewSession",
    "NoCapacityError",
    "ParamValidationError",
    "ProtocolNegotiationError",
    "RequestSent",
    "RequestTimeout",
    "RequestTimeoutError",
    "ResponseReceived",
    "ResponseStream",
    "ResponseTooLarge",
    "Retry",
    "RetryScheduled",
    "S3Error",
    "SSEEvent",
    "SageMakerRuntimeClient",
    "SageMakerRuntimeError",
    "ServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableError",
    "Session",
    "SessionClosedError",
    "StreamError",
    "StreamTruncated",
    "ThrottlingError",
    "Timeout",
    "Token",
    "TokenFormat",
    "TokenStream",
    "ToolCall",
    "ToolCallDelta",
    "TransportError",
    "Usage",
    "ValidationError",
    "__version__",
]

# Public names say where users import them from (as httpx's do): ``sagemaker_rt_async.ModelError``
# in reprs, tracebacks and docs, never the private module that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        with _suppress(AttributeError, TypeError):  # e.g. a typing alias
            _obj.__module__ = __name__
del _name, _obj
