"""map_invoke_iter: lazy inputs, bounded in-flight calls and memory, outcomes as they complete.

The bounds are checked structurally (how far ahead of the consumer the source was read, how
many calls the server saw at once), never by timing. Early exits are checked for leaks on a
pool of ONE connection: a call left running would hold it and the next call would time out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ModelFailure

pytestmark = pytest.mark.anyio

POOL_OF_ONE: dict[str, Any] = {"max_connections": 1, "timeout": sm.Timeout(pool=3, read=10)}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both event loops: the map runs its workers in an anyio task group."""
    return str(request.param)


class Counting:
    """An endpoint doubling ``n`` that counts calls in flight; ``n == 13`` is a model error,
    ``n == 0`` answers only after ``slow_s`` (a head-of-line blocker)."""

    def __init__(self, slow_s: float = 0.0) -> None:
        self.in_flight = 0
        self.peak = 0
        self.slow_s = slow_s

    async def __call__(self, inv: Invocation) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            n = int(inv.json()["n"])
            await anyio.sleep(self.slow_s if n == 0 else 0.001)
            if n == 13:
                raise ModelFailure(400, "unlucky")
            return {"n": n * 2}
        finally:
            self.in_flight -= 1


def _fake(model: Counting) -> FakeSageMakerRuntime:
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("double", model)
    return fake


class Source:
    """A lazy generator of ``{"n": i}`` that counts how many items were read from it."""

    def __init__(self, count: int, start: int = 0) -> None:
        self.count = count
        self.start = start
        self.read = 0

    def __iter__(self) -> Iterator[dict[str, int]]:
        for i in range(self.start, self.start + self.count):
            self.read += 1
            yield {"n": i}


async def test_every_input_answered_once_with_bounded_concurrency() -> None:
    """500 inputs at concurrency 8: each index once, with its own answer; ≤ 8 calls at once."""
    model = Counting()
    fake = _fake(model)
    seen: dict[int, int] = {}
    async with (
        fake.client() as rt,
        rt.map_invoke_iter("double", ({"n": i} for i in range(100, 600)), concurrency=8) as out,
    ):
        async for index, outcome in out:
            assert isinstance(outcome, sm.InvokeEndpointResult)
            assert index not in seen
            seen[index] = outcome.json()["n"]
    assert seen == {i: (100 + i) * 2 for i in range(500)}
    assert model.peak <= 8
    assert out.done == 500 and out.errors == 0 and out.in_flight == 0


async def test_reads_ahead_at_most_twice_the_concurrency() -> None:
    """A generator of a million inputs is read lazily: at every step, what was read and not yet
    yielded is ≤ 2 x concurrency; stopping after 300 leaves the rest unread."""
    model = Counting()
    fake = _fake(model)
    source = Source(1_000_000, start=100)
    async with fake.client() as rt, rt.map_invoke_iter("double", source, concurrency=4) as out:
        async for _index, _outcome in out:
            assert source.read - out.done <= 2 * 4
            assert out.buffered <= 2 * 4
            await anyio.sleep(0.001)  # a slow consumer: the workers would run ahead
            if out.done == 300:
                break
    assert source.read <= 300 + 2 * 4
    assert model.peak <= 4


async def test_ordered_mode_yields_in_input_order_within_the_window() -> None:
    """ordered=True: indexes come 0, 1, 2, ...; while input 0 is slow, at most
    ``reorder_window`` inputs are read, so memory stays bounded behind a straggler."""
    model = Counting(slow_s=0.3)
    fake = _fake(model)
    source = Source(200)
    read_while_blocked = 0
    async with (
        fake.client() as rt,
        rt.map_invoke_iter("double", source, concurrency=4, ordered=True, reorder_window=10) as out,
    ):
        order = []
        async for index, outcome in out:
            if index == 0:
                read_while_blocked = source.read
            if index == 13:
                assert isinstance(outcome, sm.ModelError)
            else:
                assert isinstance(outcome, sm.InvokeEndpointResult)
                assert outcome.json() == {"n": index * 2}
            order.append(index)
            assert out.buffered <= 10
    assert order == list(range(200))
    assert read_while_blocked == 10  # the window filled up behind input 0, and no further


async def test_per_item_errors_are_yielded_and_the_map_goes_on() -> None:
    """A model error and a too-large body are that item's outcome; the others succeed."""
    fake = _fake(Counting())
    inputs: list[Any] = [{"n": 12}, {"n": 13}, b"x" * 7_000_000, {"n": 14}]
    async with fake.client() as rt, rt.map_invoke_iter("double", inputs, concurrency=2) as out:
        outcomes = dict([pair async for pair in out])
    assert isinstance(outcomes[1], sm.ModelError)
    assert isinstance(outcomes[2], sm.ParamValidationError) and outcomes[2].param == "body"
    assert [outcomes[i].json() for i in (0, 3)] == [{"n": 24}, {"n": 28}]  # type: ignore[union-attr]
    assert out.errors == 2


async def _no_credentials() -> sm.Credentials:
    raise sm.CredentialsError("none found")


@pytest.mark.parametrize(
    ("client_options", "map_options", "error"),
    [
        ({"credentials": _no_credentials}, {}, sm.CredentialsError),
        ({}, {"custom_attributes": "\n"}, sm.ParamValidationError),
    ],
)
async def test_errors_that_fail_every_item_stop_the_map(
    client_options: dict[str, Any], map_options: dict[str, Any], error: type[Exception]
) -> None:
    """No credentials or a bad shared option: raised itself (not a group), almost nothing read,
    nothing sent."""
    fake = _fake(Counting())
    source = Source(100_000)
    async with fake.client(**client_options) as rt:
        with pytest.raises(error):
            async with rt.map_invoke_iter("double", source, concurrency=3, **map_options) as out:
                async for _ in out:
                    pytest.fail("no outcome should be yielded")
    assert source.read <= 3
    assert fake.requests == []


async def test_closed_client_stops_the_map() -> None:
    """A client closed while the map runs: ClientClosedError stops it."""
    fake = _fake(Counting())
    rt = fake.client()
    await rt.aclose()
    with pytest.raises(sm.ClientClosedError):
        async with rt.map_invoke_iter("double", Source(1000), concurrency=2) as out:
            async for _ in out:
                pass


@pytest.mark.parametrize("how", ["break", "raise", "cancel"])
async def test_leaving_early_stops_the_calls_in_flight_and_leaks_nothing(how: str) -> None:
    """break, an exception or an outer cancellation: the slow calls still running are cancelled
    at the block's exit, their connection comes back (a pool of one serves the next call), and
    the caller's async generator is closed."""
    model = Counting(slow_s=2)  # 4x the cancel below; short, as the server's exit waits for it
    fake = _fake(model)
    closed = anyio.Event()

    async def inputs() -> AsyncIterator[dict[str, int]]:
        try:
            yield {"n": 1}
            for _ in range(1000):
                yield {"n": 0}  # slow: still in flight when the consumer leaves
        finally:
            closed.set()

    with fake.serve() as server:
        async with fake.client(endpoint_url=server.url, **POOL_OF_ONE) as rt:
            with anyio.fail_after(10):
                with anyio.move_on_after(0.5 if how == "cancel" else 10):
                    with pytest.raises(KeyError) if how == "raise" else contextlib.nullcontext():
                        async with rt.map_invoke_iter("double", inputs(), concurrency=1) as out:
                            async for _index, _outcome in out:
                                if how == "break":
                                    break
                                if how == "raise":
                                    raise KeyError("consumer failed")
                assert closed.is_set()
                assert out.in_flight == 0 and model.peak == 1
                fake.add_endpoint("quick")
                assert (await rt.invoke_endpoint("quick", b"ok")).body == b"ok"


async def test_iterating_outside_async_with_is_a_clear_error() -> None:
    """Without ``async with`` nothing runs; iterating says how to use it."""
    fake = _fake(Counting())
    async with fake.client() as rt:
        results = rt.map_invoke_iter("double", [{"n": 1}])
        with pytest.raises(RuntimeError, match="async with"):
            results.__aiter__()


@pytest.mark.parametrize(
    ("options", "param"),
    [({"concurrency": 0}, "concurrency"), ({"reorder_window": 0}, "reorder_window")],
)
async def test_bad_map_options_are_refused_before_any_call(
    options: dict[str, Any], param: str
) -> None:
    """Bad concurrency or window: ParamValidationError naming it, nothing sent."""
    fake = _fake(Counting())
    async with fake.client() as rt:
        with pytest.raises(sm.ParamValidationError) as info:
            rt.map_invoke_iter("double", [{"n": 1}], **options)
    assert info.value.param == param
    assert fake.requests == []


async def test_progress_bar_shows_the_rate_and_the_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """progress=True draws a tqdm bar on stderr ending with every call and the error count."""
    fake = _fake(Counting())
    async with (
        fake.client() as rt,
        rt.map_invoke_iter("double", [{"n": i} for i in range(1, 31)], progress=True) as out,
    ):
        async for _ in out:
            pass
    err = capsys.readouterr().err
    assert "30/30" in err and "call/s" in err and "errors=1" in err
