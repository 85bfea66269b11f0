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
    EventStreamProtocolError,
    FramingError,
    InternalDependencyException,
    InternalFailure,
    InternalStreamFailure,
    ModelError,
    ModelNotReadyException,
    ModelStreamError,
    ParamValidationError,
    RequestTimeout,
    RequestTimeoutError,
    ResponseTooLarge,
    S3Error,
    SageMakerRuntimeError,
    ServiceError,
    ServiceUnavailable,
    SessionClosedError,
    StreamError,
    ThrottlingError,
    TransportError,
    ValidationError,
)
from ._framing import SSEEvent, Token
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
from ._models import Credentials, InvokeEndpointResult, NewSession, Timeout
from ._retry import Retry
from ._sessions import Session
from ._streaming import ResponseStream, TokenStream
from ._version import __version__

__all__ = [
    "AccessDeniedError",
    "AsyncInferenceFailure",
    "AsyncInferenceJob",
    "AsyncInferenceResult",
    "AsyncInferenceTimeout",
    "AuthenticationError",
    "CallEnded",
    "CallInfo",
    "CallStarted",
    "ClientClosedError",
    "ClientConfig",
    "ContainerError",
    "Credentials",
    "CredentialsError",
    "Engine",
    "EngineResponse",
    "Event",
    "EventHook",
    "EventStreamProtocolError",
    "FirstPart",
    "FirstToken",
    "FramingError",
    "InternalDependencyException",
    "InternalFailure",
    "InternalStreamFailure",
    "InvokeEndpointResult",
    "ModelError",
    "ModelNotReadyException",
    "ModelStreamError",
    "NewSession",
    "ParamValidationError",
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
    "Session",
    "SessionClosedError",
    "StreamError",
    "ThrottlingError",
    "Timeout",
    "Token",
    "TokenStream",
    "TransportError",
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
