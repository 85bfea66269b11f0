"""Batch scoring: many InvokeEndpoint calls with bounded concurrency and bounded memory.

``map_invoke_iter`` is the engine: a fixed pool of ``concurrency`` workers pulls inputs one at a
time from any iterable or async iterable (so a generator of millions of lines is never held in
memory), and hands each ``(index, result_or_error)`` to the consumer through a stream whose
buffer is ``concurrency`` items. Inputs pulled but not yet consumed are therefore at most
``2 * concurrency`` whatever the input size (``reorder_window`` when ``ordered=True``).
``map_invoke`` collects it into a list in input order.

It is an async context manager, not an async generator: the workers run in a task group owned
by the ``async with`` block, so an early ``break``, an exception or a cancellation stops every
call in flight when the block exits -- never later, when a suspended generator is collected
(trio's "Notes on async generators").

Errors that belong to one item (the service's answer, a transport failure, a too-large body)
are yielded in place of that item's result; errors that would fail every item alike (no
credentials, a closed client, a bad shared option) stop the map at once and are raised.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

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

__all__ = ["Invoker", "MapInvokeIter", "Outcome", "map_invoke", "map_invoke_iter"]


class Invoker(Protocol):
    """What a batch needs of a client: ``invoke_endpoint``."""

    @property
    def invoke_endpoint(self) -> Callable[..., Awaitable[InvokeEndpointResult]]:
        """``SageMakerRuntimeClient.invoke_endpoint``."""
        ...


Outcome = InvokeEndpointResult | SageMakerRuntimeError
"""One item's result, or the typed error that belongs to that item alone."""

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


class _Bar:
    """The optional tqdm bar: rate from tqdm itself, the error count as a postfix."""

    def __init__(self, total: int | None, description: str) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError as exc:
            raise ParamValidationError(
                "progress", "progress=True needs tqdm: pip install 'sagemaker-rt-async[progress]'"
            ) from exc
        self._bar = tqdm(total=total, desc=description, unit="call")

    def update(self, done: int, errors: int) -> None:
        self._bar.update(done - self._bar.n)
        if errors:
            self._bar.set_postfix(errors=errors, refresh=False)

    def close(self) -> None:
        self._bar.close()


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


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamValidationError(name, "must be a positive int")
    return value


class MapInvokeIter:
    """The results of ``map_invoke_iter``: ``async with`` it, then ``async for index, outcome``.

    Leaving the ``async with`` block (normally, by ``break``, by an exception or by
    cancellation) cancels every call still in flight, releases their connections and closes the
    caller's async iterator of inputs. ``done``, ``errors`` and ``in_flight`` count so far.
    """

    def __init__(
        self,
        client: Invoker,
        endpoint_name: str,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int,
        ordered: bool,
        reorder_window: int | None,
        progress: bool | Progress,
        options: dict[str, Any],
    ) -> None:
        self._client = client
        self._endpoint = endpoint_name
        self._concurrency = _positive("concurrency", concurrency)
        self._ordered = ordered
        window = 2 * self._concurrency if reorder_window is None else reorder_window
        self._window = _positive("reorder_window", window)
        self._options = options
        self._inputs = inputs
        self._total: int | None = len(inputs) if hasattr(inputs, "__len__") else None  # type: ignore[arg-type]
        self._progress = progress
        self._report: Progress | None = progress if callable(progress) else None
        self._bar: _Bar | None = None  # drawn on entering (never left undrawn and unclosed)
        self._source: AsyncIterator[Any] | None = None
        self._tg: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[tuple[int, Outcome]] | None = None
        self._pull_lock: anyio.Lock | None = None
        self._pulled = 0  # inputs read from the source so far (the next input's index)
        self._next = 0  # ordered mode: the index to yield next
        self._advanced: anyio.Event | None = None  # ordered mode: set when the window moves on
        self._pending: dict[int, Outcome] = {}  # ordered mode: results ahead of their turn
        self._entered = False
        self.done = 0
        """Items yielded so far."""
        self.errors = 0
        """Items yielded with an error so far."""
        self.in_flight = 0
        """Calls sent and not yet answered."""

    @property
    def buffered(self) -> int:
        """Inputs pulled from the source and not yet yielded (at most ``2 * concurrency``, or
        ``reorder_window`` when ordered): the bound on what the map holds in memory."""
        return self._pulled - self.done

    async def __aenter__(self) -> MapInvokeIter:
        if self._entered:
            raise RuntimeError("a MapInvokeIter can be entered once")
        self._entered = True
        if self._progress is True:
            self._bar = _Bar(self._total, self._endpoint)
        self._source = _aiter(self._inputs)
        # Made here, in the event loop that runs the map (not where the object was built).
        self._pull_lock = anyio.Lock()
        self._advanced = anyio.Event()
        send, self._receive = anyio.create_memory_object_stream[tuple[int, Outcome]](
            self._concurrency
        )
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        async with send:
            for _ in range(self._concurrency):
                self._tg.start_soon(self._worker, send.clone())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None  # entered
        assert self._receive is not None
        self._tg.cancel_scope.cancel()  # the consumer is done: stop what is still running
        try:
            await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:  # surface the first error itself, not a group
            raise _first_leaf(group) from None
        finally:
            self._receive.close()
            if self._bar is not None:
                self._bar.close()
            closer = getattr(self._source, "aclose", None)
            if closer is not None:  # an async generator of the caller's, stopped early or not
                with anyio.CancelScope(shield=True):
                    await closer()
        return None

    def __aiter__(self) -> MapInvokeIter:
        if self._tg is None:
            raise RuntimeError(
                "use `async with rt.map_invoke_iter(...) as results: async for i, r in results`"
            )
        return self

    async def __anext__(self) -> tuple[int, Outcome]:
        assert self._receive is not None  # __aiter__ checked
        if self._ordered:
            while self._next not in self._pending:
                try:
                    index, outcome = await self._receive.receive()
                except anyio.EndOfStream:
                    raise StopAsyncIteration from None
                self._pending[index] = outcome
            index = self._next
            outcome = self._pending.pop(index)
            self._next += 1
            if self._advanced is not None:
                self._advanced.set()
            self._advanced = anyio.Event()
        else:
            try:
                index, outcome = await self._receive.receive()
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
        self.done += 1
        if isinstance(outcome, SageMakerRuntimeError):
            self.errors += 1
        if self._bar is not None:
            self._bar.update(self.done, self.errors)
        if self._report is not None:
            self._report(self.done, self._total)
        return index, outcome

    async def _pull(self) -> tuple[int, Any] | None:
        assert self._source is not None  # entered
        assert self._pull_lock is not None
        async with self._pull_lock:  # one reader of the source at a time
            while self._ordered and self._pulled >= self._next + self._window:
                assert self._advanced is not None
                await self._advanced.wait()  # the reorder window is full: wait for the head
            try:
                item = await self._source.__anext__()
            except StopAsyncIteration:
                return None
            index = self._pulled
            self._pulled += 1
            return index, item

    async def _worker(self, send: MemoryObjectSendStream[tuple[int, Outcome]]) -> None:
        async with send:
            while (pulled := await self._pull()) is not None:
                index, item = pulled
                if isinstance(item, bytes | bytearray | memoryview | str):
                    call: dict[str, Any] = {"body": item}
                else:
                    call = {"json": item}
                outcome: Outcome
                self.in_flight += 1
                try:
                    outcome = await self._client.invoke_endpoint(
                        self._endpoint, **call, **self._options
                    )
                except SageMakerRuntimeError as exc:
                    if not _about_the_item(exc):
                        raise  # fails every item alike: the task group stops the map now
                    outcome = exc
                finally:
                    self.in_flight -= 1
                await send.send((index, outcome))


def map_invoke_iter(
    client: Invoker,
    endpoint_name: str,
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int = 16,
    ordered: bool = False,
    reorder_window: int | None = None,
    progress: bool | Progress = False,
    **options: Unpack[InvokeOptions],
) -> MapInvokeIter:
    """Invoke ``endpoint_name`` once per input, streaming; see ``SageMakerRuntimeClient``."""
    for reserved in ("body", "json"):
        if reserved in options:
            raise ParamValidationError(reserved, "comes from each input; do not pass it here")
    # Only what was given travels: invoke_endpoint's own defaults stay the defaults.
    given = {name: value for name, value in options.items() if value is not None}
    return MapInvokeIter(
        client,
        endpoint_name,
        inputs,
        concurrency=concurrency,
        ordered=ordered,
        reorder_window=reorder_window,
        progress=progress,
        options=given,
    )


async def map_invoke(
    client: Invoker,
    endpoint_name: str,
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int = 16,
    return_exceptions: bool = False,
    progress: bool | Progress = False,
    **options: Unpack[InvokeOptions],
) -> list[Outcome]:
    """Invoke ``endpoint_name`` once per input; see ``SageMakerRuntimeClient.map_invoke``."""
    results: dict[int, Outcome] = {}
    async with map_invoke_iter(
        client, endpoint_name, inputs, concurrency=concurrency, progress=progress, **options
    ) as outcomes:
        async for index, outcome in outcomes:
            if isinstance(outcome, SageMakerRuntimeError) and not return_exceptions:
                raise outcome  # fail fast: leaving the block cancels the calls in flight
            results[index] = outcome
    return [results[i] for i in range(len(results))]
