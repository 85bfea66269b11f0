"""Scale-out on Ray Data: a callable class for ``Dataset.map_batches`` that invokes an endpoint.

``EndpointScorer`` runs in Ray Data's actors (an async ``__call__``, so Ray runs several batches
of one actor on that actor's event loop at once). Each actor holds ONE client, made on its first
batch, and at most ``concurrency`` calls of that actor are in flight whatever the number of
batches it is working on::

    import ray
    from sagemaker_rt_async.ray import EndpointScorer

    ds = ray.data.read_json("s3://bucket/requests/")        # a "body" column: str, bytes or JSON
    scored = ds.map_batches(
        EndpointScorer,
        fn_constructor_kwargs={"endpoint_name": "my-endpoint", "concurrency": 32},
        concurrency=8,                                       # actors: 8 clients, <= 256 calls
        batch_size=256,
    )
    scored.write_parquet("s3://bucket/scored/")

Each row gets ``output`` (the response body as text) and, when that row's call failed,
``error_type`` (the typed error's class name, e.g. ``ModelError``) and ``error`` (its message),
instead of failing the job. Retries follow the client's policy (``retry=``). Errors that would
fail every row alike (no credentials, a bad shared option) fail the batch, so Ray reports them
at once rather than writing them a million times. Credentials and the endpoint come from each
worker's environment (the default AWS chain: the instance role on a cluster, or
``runtime_env={"env_vars": ...}``), or from ``client_factory``, a picklable function that
returns a client.

The actor's client is never closed explicitly: Ray gives a ``map_batches`` class no teardown
hook, and its sockets end with the actor's process.

Needs the ``ray`` extra: ``pip install 'sagemaker-rt-async[ray]'`` (``ray[data]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

try:
    import numpy as np
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        "sagemaker_rt_async.ray needs ray[data]: pip install 'sagemaker-rt-async[ray]'"
    ) from exc

from ._batch import map_invoke_iter
from ._errors import ParamValidationError, SageMakerRuntimeError
from ._models import InvokeEndpointResult, Timeout
from ._retry import Retry

if TYPE_CHECKING:
    from ._client import SageMakerRuntimeClient

__all__ = ["EndpointScorer"]


class _Limited:
    """An ``Invoker`` sharing one actor-wide limit across the batches running at once."""

    def __init__(self, client: SageMakerRuntimeClient, limiter: anyio.CapacityLimiter) -> None:
        self._client = client
        self._limiter = limiter

    @property
    def invoke_endpoint(self) -> Callable[..., Awaitable[InvokeEndpointResult]]:
        return self._invoke

    async def _invoke(self, endpoint_name: str, **options: Any) -> InvokeEndpointResult:
        async with self._limiter:
            return await self._client.invoke_endpoint(endpoint_name, **options)


def _request_value(value: Any) -> Any:
    # Ray hands columns as numpy arrays: their scalars are not JSON values, so unwrap them
    # (np.str_ and np.bytes_ are str and bytes already and stay bodies).
    if isinstance(value, np.generic) and not isinstance(value, (str, bytes)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class EndpointScorer:
    """A ``Dataset.map_batches`` class: one InvokeEndpoint call per row, errors per row.

    ``input_column`` holds each row's body (str or bytes sent as is, any other value sent as
    JSON). Adds ``output_column`` (the body as UTF-8 text, undecodable bytes replaced), and
    ``error_type_column`` / ``error_column`` (None where the call succeeded). ``concurrency``
    bounds this actor's calls in flight. The invoke options are the snake_case AWS members;
    ``region``, ``endpoint_url``, ``retry``, ``timeout`` configure the actor's client unless
    ``client_factory`` makes it.
    """

    def __init__(
        self,
        endpoint_name: str,
        *,
        input_column: str = "body",
        output_column: str = "output",
        error_column: str = "error",
        error_type_column: str = "error_type",
        concurrency: int = 16,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        target_model: str | None = None,
        target_variant: str | None = None,
        target_container_hostname: str | None = None,
        inference_component_name: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        retry: Retry | int | bool | None = None,
        timeout: Timeout | float | None = None,
        client_factory: Callable[[], SageMakerRuntimeClient] | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ParamValidationError("concurrency", "must be a positive int")
        self.endpoint_name = endpoint_name
        self.input_column = input_column
        self.output_column = output_column
        self.error_column = error_column
        self.error_type_column = error_type_column
        self.concurrency = concurrency
        self._options: dict[str, Any] = {
            "content_type": content_type,
            "accept": accept,
            "custom_attributes": custom_attributes,
            "target_model": target_model,
            "target_variant": target_variant,
            "target_container_hostname": target_container_hostname,
            "inference_component_name": inference_component_name,
        }
        self._client_options: dict[str, Any] = {
            "region": region,
            "endpoint_url": endpoint_url,
            "retry": retry,
            "timeout": timeout,
        }
        self._client_factory = client_factory
        self._invoker: _Limited | None = None

    def _get_invoker(self) -> _Limited:
        # Made on the first batch, on the loop Ray runs this actor's batches on.
        if self._invoker is None:
            if self._client_factory is not None:
                client = self._client_factory()
            else:
                from ._client import SageMakerRuntimeClient

                options = {k: v for k, v in self._client_options.items() if v is not None}
                client = SageMakerRuntimeClient(max_connections=max(self.concurrency, 1), **options)
            self._invoker = _Limited(client, anyio.CapacityLimiter(self.concurrency))
        return self._invoker

    async def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Score one batch (numpy format: a dict of columns); returns it with the new columns."""
        if self.input_column not in batch:
            raise ParamValidationError(
                "input_column",
                f"no column {self.input_column!r} in the batch (columns: {sorted(batch)})",
            )
        rows = [_request_value(value) for value in batch[self.input_column]]
        outputs: list[str | None] = [None] * len(rows)
        errors: list[str | None] = [None] * len(rows)
        error_types: list[str | None] = [None] * len(rows)
        if rows:
            async with map_invoke_iter(
                self._get_invoker(),
                self.endpoint_name,
                rows,
                concurrency=min(self.concurrency, len(rows)),
                **self._options,
            ) as outcomes:
                async for index, outcome in outcomes:
                    if isinstance(outcome, SageMakerRuntimeError):
                        error_types[index] = type(outcome).__name__
                        errors[index] = str(outcome)
                    else:
                        outputs[index] = outcome.body.decode("utf-8", "replace")
        scored = dict(batch)
        scored[self.output_column] = np.array(outputs, dtype=object)
        scored[self.error_type_column] = np.array(error_types, dtype=object)
        scored[self.error_column] = np.array(errors, dtype=object)
        return scored
