"""EndpointScorer on a local Ray instance: every row answered exactly once, errors per row.

Ray runs two actors (the class's async ``__call__`` on each actor's event loop) in worker
processes; they reach the test kit's fake on 127.0.0.1 through the environment Ray gives them
(``runtime_env``), exactly as a cluster's workers would reach SageMaker through theirs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ModelFailure

ray = pytest.importorskip("ray")

pytestmark = [
    pytest.mark.slow,
    # Ray Data's DataContext sets its own deprecated fields while initialising itself.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

ROWS = 5_000


@pytest.fixture(scope="module")
def fake() -> FakeSageMakerRuntime:
    """Doubles ``n``; every ``n`` ending in 7 is a model error (one row in ten fails)."""
    f = FakeSageMakerRuntime()

    def double(inv: Invocation) -> Any:
        n = int(inv.json()["n"])
        if n % 10 == 7:
            raise ModelFailure(400, f"unlucky {n}")
        return {"n": n * 2}

    f.add_endpoint("double", double)
    return f


@pytest.fixture(scope="module")
def ray_local(fake: FakeSageMakerRuntime) -> Iterator[dict[str, str]]:
    """A local Ray on 2 CPUs whose workers see the fake's environment; shut down after."""
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


def test_every_row_answered_once_with_errors_per_row(
    fake: FakeSageMakerRuntime, ray_local: dict[str, str]
) -> None:
    """5,000 rows over 2 actors: each row once in the output with its own answer or its typed
    error, and the endpoint saw each row exactly once (no retry of a model error, no loss)."""
    from sagemaker_rt_async.ray import EndpointScorer

    ds = ray.data.from_items([{"id": i, "body": {"n": i}} for i in range(ROWS)])
    scored = ds.map_batches(
        EndpointScorer,
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
    seen = Counter(json.loads(req.body)["n"] for req in fake.requests)
    assert set(seen) == set(range(ROWS)) and set(seen.values()) == {1}
    assert os.environ.get("AWS_ENDPOINT_URL") != ray_local["AWS_ENDPOINT_URL"]
