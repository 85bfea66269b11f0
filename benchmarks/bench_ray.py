"""Ray Data scale-out on this machine: rows/s of EndpointScorer with 1 actor vs 2 actors.

One ``stream_server.py`` process answers InvokeEndpoint (it echoes the body). One local Ray
(``--num-cpus``, 2 by default) runs every round; a round scores the same ``--rows`` rows once
with an actor pool of 1 and once of 2 (order alternating), each actor holding one client with
``--concurrency`` calls in flight at most. The time is the whole ``materialize()``: the actors'
start included, as a user pays it. Reported: rows/s of each and the ratio 2 ÷ 1 per round,
median taken.

What the 2-core limit means: the server, the Ray driver and raylet, and the actors all share
the same 2 cores, and one client process already keeps a loopback server busy, so a ratio near
1 here says the machine is saturated, not that a second actor adds nothing: on a cluster each
actor brings its own cores and network, and the endpoint's capacity is the limit.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import stream_server
from _common import Figure, machine_note, median, print_row, write_results

AKID, SECRET = "AKIDEXAMPLE0000BENCH", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "bench-echo"

# Ray Data's DataContext sets its own deprecated fields while initialising itself.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="ray.data.context")


def score(ray: Any, url: str, rows: int, actors: int, concurrency: int) -> float:
    """Rows/s of one scoring of ``rows`` rows by ``actors`` actors, every answer checked."""
    from sagemaker_rt_async.ray import EndpointScorer

    items = [{"id": i, "body": json.dumps({"inputs": f"row {i}"})} for i in range(rows)]
    begin = time.perf_counter()
    scored = (
        ray.data.from_items(items)
        .map_batches(
            EndpointScorer,
            fn_constructor_kwargs={
                "endpoint_name": ENDPOINT,
                "endpoint_url": url,
                "region": "us-east-1",
                "concurrency": concurrency,
                "content_type": "application/json",
                "retry": False,
            },
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=0.5,
            batch_size=500,
        )
        .materialize()
    )
    seconds = time.perf_counter() - begin
    failed = 0
    for batch in scored.iter_batches(batch_format="pyarrow", batch_size=5000):
        failed += batch.num_rows - batch.column("error_type").null_count
    if failed or scored.count() != rows:
        raise RuntimeError(f"{failed} rows failed, {scored.count()} of {rows} scored")
    return rows / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight per actor")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args()

    import ray

    print(f"bench_ray: {machine_note()}")
    print(f"  {args.rows} rows per run, {args.concurrency} calls in flight per actor")
    server, url = stream_server.start()
    rates: dict[int, list[float]] = {1: [], 2: []}
    ratios: list[float] = []
    try:
        ray.init(
            num_cpus=args.num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET}},
        )
        ray.data.DataContext.get_current().enable_progress_bars = False
        score(ray, url, 1000, 1, args.concurrency)  # warm-up: workers, imports
        for round_number in range(args.rounds):
            order = (1, 2) if round_number % 2 == 0 else (2, 1)
            measured = {n: score(ray, url, args.rows, n, args.concurrency) for n in order}
            for n in order:
                rates[n].append(measured[n])
            ratios.append(measured[2] / measured[1])
            said = ", ".join(f"{n} actor(s) {measured[n]:.0f} rows/s" for n in order)
            print(f"  round {round_number + 1}: {said}", flush=True)
    finally:
        ray.shutdown()
        stream_server.stop(server)
    for n in (1, 2):
        print_row(f"{n} actor(s)", rates[n], "rows/s")
    print(
        f"2 actors ÷ 1 actor: {median(ratios):.2f}× "
        f"[{min(ratios):.2f}–{max(ratios):.2f}] (2 cores shared by server, Ray and actors)"
    )
    figures = [
        Figure("ray rows/s 2_actors/1_actor", ratios),
        Figure("ray rows/s 1_actor", rates[1], "rows/s"),
        Figure("ray rows/s 2_actors", rates[2], "rows/s"),
    ]
    write_results(args.json, "bench_ray.py", [], figures)


if __name__ == "__main__":
    main()
