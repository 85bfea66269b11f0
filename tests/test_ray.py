"""EndpointScorer on a local Ray instance: every row answered exactly once, errors per row.

Ray runs two actors (the class's async ``__call__`` on each actor's event loop) in worker
processes; they reach the test kit's fake on 127.0.0.1 through the environment Ray gives them
(``runtime_env``), exactly as a cluster's workers would reach SageMaker through theirs.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import anyio
import pytest

from sagemaker_rt_async import SageMakerRuntimeClient
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ModelFailure

ray = pytest.importorskip("ray")
np = pytest.importorskip("numpy")

from sagemaker_rt_async.ray import EndpointScorer  # noqa: E402 - needs ray's numpy

pytestmark = [
    # Ray Data's DataContext sets its own deprecated fields while initialising itself.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

ROWS = 5_000


@pytest.fixture(scope="module")
def fake() -> FakeSageMakerRuntime:
    """Doubles ``n``; every ``n`` ending in 7 is a model error (one row in ten fails)."""
    return _doubling_fake()


def _doubling_fake() -> FakeSageMakerRuntime:
    f = FakeSageMakerRuntime()
    f.in_flight = f.peak = 0  # type: ignore[attr-defined]

    async def double(inv: Invocation) -> Any:
        f.in_flight += 1  # type: ignore[attr-defined]
        f.peak = max(f.peak, f.in_flight)  # type: ignore[attr-defined]
        try:
            await anyio.sleep(0.001)
            n = int(inv.json()["n"])
            if n % 10 == 7:
                raise ModelFailure(400, f"unlucky {n}")
            return {"n": n * 2}
        finally:
            f.in_flight -= 1  # type: ignore[attr-defined]

    f.add_endpoint("double", double)
    return f


class _PidScorer(EndpointScorer):
    """EndpointScorer that also says which process (actor) scored each row."""

    async def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        scored = await super().__call__(batch)
        scored["pid"] = np.full(len(scored["output"]), os.getpid())
        return scored


@pytest.fixture(scope="module")
def ray_local(fake: FakeSageMakerRuntime) -> Iterator[dict[str, str]]:
    """A local Ray on 2 CPUs whose workers see the fake's environment; shut down after."""
    # The workers cannot import this test module: _PidScorer travels by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with fake.serve() as server:
        env = server.environ()
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": env},
            object_store_memory=128 * 1024 * 1024,
        )
        try:
            yield env
        finally:
            ray.shutdown()


@pytest.mark.slow
def test_every_row_answered_once_with_errors_per_row(
    fake: FakeSageMakerRuntime, ray_local: dict[str, str]
) -> None:
    """5,000 rows over 2 actors (2 processes seen): each row once in the output with its own
    answer or its typed error, the endpoint saw each row exactly once (no retry of a model
    error, no loss), and never more than 2 x 8 calls at once (each actor's bound)."""
    ds = ray.data.from_items([{"id": i, "body": {"n": i}} for i in range(ROWS)])
    scored = ds.map_batches(
        _PidScorer,
        fn_constructor_kwargs={"endpoint_name": "double", "concurrency": 8},
        compute=ray.data.ActorPoolStrategy(size=2),  # two actors, two clients
        num_cpus=1,
        batch_size=250,
    )
    rows = scored.take_all()
    assert sorted(r["id"] for r in rows) == list(range(ROWS))
    for r in rows:
        if r["id"] % 10 == 7:
            assert r["error_type"] == "ModelError"
            assert f"unlucky {r['id']}" in r["error"]
            assert r["output"] is None
        else:
            assert r["error_type"] is None and r["error"] is None
            assert json.loads(r["output"]) == {"n": r["id"] * 2}
    assert len({r["pid"] for r in rows}) == 2
    assert fake.peak <= 2 * 8  # type: ignore[attr-defined]
    seen = Counter(json.loads(req.body)["n"] for req in fake.requests)
    assert set(seen) == set(range(ROWS)) and set(seen.values()) == {1}
    assert os.environ.get("AWS_ENDPOINT_URL") != ray_local["AWS_ENDPOINT_URL"]


@pytest.mark.anyio
async def test_scorer_adds_output_and_error_columns_in_row_order() -> None:
    """One batch in-process (no Ray): text (numpy's too), bytes and JSON bodies; each row's
    answer or typed error lands in its own row; the input columns are kept; one client made
    for all batches."""
    fake = _doubling_fake()
    made: list[SageMakerRuntimeClient] = []

    def factory() -> SageMakerRuntimeClient:
        made.append(fake.client())
        return made[-1]

    scorer = EndpointScorer("double", concurrency=3, client_factory=factory)
    bodies = np.array([{"n": 1}, {"n": 17}, np.str_('{"n": 3}'), b'{"n": 4}'], dtype=object)
    scored = await scorer({"id": np.arange(4), "body": bodies})
    assert list(scored["id"]) == [0, 1, 2, 3]
    assert [json.loads(o) if o else None for o in scored["output"]] == [
        {"n": 2},
        None,
        {"n": 6},
        {"n": 8},
    ]
    assert list(scored["error_type"]) == [None, "ModelError", None, None]
    assert "unlucky 17" in scored["error"][1]
    assert (await scorer({"body": np.array([], dtype=object)}))["output"].size == 0
    assert (await scorer({"body": np.array(['{"n": 5}'])}))["output"][0] == '{"n": 10}'
    assert len(made) == 1
    await made[0].aclose()


@pytest.mark.anyio
async def test_scorer_refuses_a_missing_column_and_a_bad_concurrency() -> None:
    """A batch without the input column, or concurrency 0: ParamValidationError naming it."""
    from sagemaker_rt_async import ParamValidationError

    with pytest.raises(ParamValidationError) as bad:
        EndpointScorer("double", concurrency=0)
    assert bad.value.param == "concurrency"
    scorer = EndpointScorer("double", client_factory=_doubling_fake().client)
    with pytest.raises(ParamValidationError) as missing:
        await scorer({"text": np.array(["x"])})
    assert missing.value.param == "input_column"
