"""Score a JSONL or Parquet dataset against an endpoint on Ray Data, into Parquet.

Each row is one InvokeEndpoint call, made by ``EndpointScorer`` actors (one client each, at most
``--concurrency`` calls in flight per actor). The Parquet output has every input column plus
``output`` (the answer) and, for rows whose call failed, ``error_type`` and ``error``: one failed
row never fails the job.

Against the local fake, in one command (the sample has one line the toy model rejects)::

    .venv/bin/python examples/ray_score.py examples/sentiment.jsonl /tmp/scored --fake

Against a real endpoint, on this machine or on any Ray cluster (``ray job submit`` / a cluster's
head node: ``ray.init()`` joins it, the workers use their own credentials, e.g. the instance
role)::

    python examples/ray_score.py s3://bucket/in/ s3://bucket/scored/ --endpoint my-ep --actors 16

A JSONL input (a path ending in ``.jsonl`` or ``.json``) is read as text: each line is the
request body, sent as ``application/json``. A Parquet input names its body column with
``--input-column`` (str or bytes values are sent as they are, other values as JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import ray

from sagemaker_rt_async.ray import EndpointScorer

DEFAULT_ENDPOINT = "toy-sentiment"  # the classifier `sagemaker-rt serve-fake` (and --fake) serves

# Ray Data's DataContext sets its own deprecated fields while initialising itself.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="ray.data.context")


@contextlib.contextmanager
def local_fake() -> Iterator[dict[str, str]]:
    """Serve ``sagemaker-rt serve-fake``'s toy endpoints on 127.0.0.1; the workers' environment."""
    from sagemaker_rt_async.cli import demo_fake

    with demo_fake().serve() as server:
        yield server.environ()


def read(path: str, input_column: str) -> tuple[Any, str, str | None]:
    """The dataset, the column holding each request body, and its content type."""
    if path.endswith((".jsonl", ".json")):
        return ray.data.read_text(path), "text", "application/json"
    return ray.data.read_parquet(path), input_column, None


def main(argv: list[str] | None = None) -> int:
    """Score ``input`` into Parquet files under ``output``; returns 1 when any row failed."""
    parser = argparse.ArgumentParser(description="Score a dataset on Ray Data.")
    parser.add_argument("input", help="a .jsonl file (one body per line) or Parquet file(s)")
    parser.add_argument("output", help="a directory (or s3:// prefix) for the Parquet output")
    parser.add_argument(
        "--endpoint", default=os.environ.get("SAGEMAKER_ENDPOINT_NAME", DEFAULT_ENDPOINT)
    )
    parser.add_argument("--input-column", default="body", help="Parquet: the body column")
    parser.add_argument("--actors", type=int, default=2, help="scoring actors (one client each)")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight per actor")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-cpus", type=int, default=None, help="a local Ray's CPUs")
    parser.add_argument("--fake", action="store_true", help="serve the toy endpoints locally")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        env_vars: dict[str, str] = {}
        if args.fake:
            env_vars = stack.enter_context(local_fake())
        # Joins the cluster when there is one (RAY_ADDRESS, or run on a head node); starts a
        # local Ray otherwise. The workers get the fake's variables, when asked for, this way.
        ray.init(
            num_cpus=args.num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": env_vars} if env_vars else None,
        )
        stack.callback(ray.shutdown)
        dataset, column, content_type = read(args.input, args.input_column)
        scored = dataset.map_batches(
            EndpointScorer,
            fn_constructor_kwargs={
                "endpoint_name": args.endpoint,
                "input_column": column,
                "content_type": content_type,
                "concurrency": args.concurrency,
            },
            compute=ray.data.ActorPoolStrategy(size=args.actors),
            num_cpus=0.5,  # the actors mostly wait on the network
            batch_size=args.batch_size,
        )
        scored = scored.materialize()  # scored once: both counts and the files come from it
        total = failed = 0
        for batch in scored.select_columns(["error_type"]).iter_batches(batch_format="pyarrow"):
            total += batch.num_rows
            failed += batch.num_rows - batch.column(0).null_count
        scored.write_parquet(args.output)
    print(f"{total} rows scored, {total - failed} ok, {failed} failed -> {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
