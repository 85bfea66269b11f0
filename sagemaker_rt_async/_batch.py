"""Batch scoring: many InvokeEndpoint calls with bounded concurrency, results in input order.

Workers pull inputs one at a time (so an async iterable of millions of lines is never held in
memory as requests), each result lands at its input's index, and the first error either stops
the batch (the default: the other calls are cancelled, their connections released) or is
recorded in place of that item's result.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ._errors import (
    ClientClosedError,
    CredentialsError,
    ParamValidationError,
    SageMakerRuntimeError,
)
from ._models import InvokeEndpointResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._models import InvokeOptions

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio depends on
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Invoker", "map_invoke"]


class Invoker(Protocol):
    """What a batch needs of a client: ``invoke_endpoint``."""

    @property
    def invoke_endpoint(self) -> Callable[..., Awaitable[InvokeEndpointResult]]:
        """``SageMakerRuntimeClient.invoke_endpoint``."""
        ...


Progress = Callable[[int, int | None], None]
"""Called as ``progress(done, total)`` after each item (``total`` None when unknown)."""


class _SyncInputs:
    """A sync iterable as an async iterator (a class: closing it strands no generator)."""

    def __init__(self, inputs: Iterable[Any]) -> None:
        self._it = iter(inputs)

    def __aiter__(self) -> _SyncInputs:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None


def _aiter(inputs: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    # The caller's own async iterator is used as it is: wrapping an async generator in another
    # would leave it suspended for the garbage collector when the batch stops early.
    if isinstance(inputs, AsyncIterable):
        return inputs.__aiter__()
    return _SyncInputs(inputs)


def _tqdm_progress(total: int | None, description: str) -> tuple[Progress, Callable[[], None]]:
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ParamValidationError(
            "progress", "progress=True needs tqdm: pip install 'sagemaker-rt-async[progress]'"
        ) from exc
    bar = tqdm(total=total, desc=description, unit="call")

    def update(done: int, _total: int | None) -> None:
        bar.update(done - bar.n)

    return update, bar.close


def _about_the_item(exc: SageMakerRuntimeError) -> bool:
    """Whether an error belongs to one item, not to the whole batch.

    No credentials, a closed client or a bad option would fail every item alike: recording
    it a million times in place of results would hide it, so those stop the batch always.
    """
    if isinstance(exc, (CredentialsError, ClientClosedError)):
        return False
    if isinstance(exc, ParamValidationError):
        return exc.param in ("body", "json")  # the item's own payload
    return True


async def map_invoke(
    client: Invoker,
    endpoint_name: str,
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int = 16,
    return_exceptions: bool = False,
    progress: bool | Progress = False,
    **options: Unpack[InvokeOptions],
) -> list[InvokeEndpointResult | SageMakerRuntimeError]:
    """Invoke ``endpoint_name`` once per input; see ``SageMakerRuntimeClient.map_invoke``."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ParamValidationError("concurrency", "must be a positive int")
    for reserved in ("body", "json"):
        if reserved in options:
            raise ParamValidationError(reserved, "comes from each input; do not pass it here")
    total = len(inputs) if hasattr(inputs, "__len__") else None  # type: ignore[arg-type]
    report: Progress | None = None
    finish: Callable[[], None] = lambda: None  # noqa: E731
    if progress is True:
        report, finish = _tqdm_progress(total, endpoint_name)
    elif callable(progress):
        report = progress
    results: dict[int, InvokeEndpointResult | SageMakerRuntimeError] = {}
    source = _aiter(inputs)
    lock = anyio.Lock()
    counter = 0

    async def next_item() -> tuple[int, Any] | None:
        nonlocal counter
        async with lock:  # one reader of the source at a time
            try:
                item = await source.__anext__()
            except StopAsyncIteration:
                return None
            index, counter = counter, counter + 1
            return index, item

    async def worker() -> None:
        while (pulled := await next_item()) is not None:
            index, item = pulled
            if isinstance(item, bytes | bytearray | memoryview | str):
                call: dict[str, Any] = {"body": item}
            else:
                call = {"json": item}
            try:
                results[index] = await client.invoke_endpoint(endpoint_name, **call, **options)
            except SageMakerRuntimeError as exc:
                if not return_exceptions or not _about_the_item(exc):
                    raise
                results[index] = exc
            if report is not None:
                report(len(results), total)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
    except BaseExceptionGroup as group:  # fail fast: surface the first error itself
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    finally:
        finish()
        closer = getattr(source, "aclose", None)
        if closer is not None:  # an async generator of the caller's, stopped early or not
            with anyio.CancelScope(shield=True):
                await closer()
    return [results[i] for i in range(counter)]
