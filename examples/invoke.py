"""Call a real-time endpoint, handle the typed errors, and read the response members.

Runs against the local fake by default (no AWS account needed):

    .venv/bin/python examples/invoke.py

Pass ``--endpoint NAME --region REGION`` to call a real SageMaker endpoint with your AWS
credentials instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterator

from sagemaker_rt_async import ModelError, SageMakerRuntimeClient, ServiceError
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, LoopbackServer


def _reverse(invocation: Invocation) -> dict[str, str]:
    return {"generated_text": invocation.json()["inputs"][::-1]}


@contextlib.contextmanager
def _local_endpoint() -> Iterator[
    tuple[LoopbackServer[FakeSageMakerRuntime], FakeSageMakerRuntime]
]:
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("demo-endpoint", _reverse)
    with fake.serve() as server:
        yield server, fake


async def run(client: SageMakerRuntimeClient, endpoint: str) -> None:
    """Invoke once and print what came back."""
    try:
        r = await client.invoke_endpoint(
            endpoint, json={"inputs": "hello, SageMaker"}, accept="application/json"
        )
    except ModelError as exc:
        print(f"the model failed ({exc.original_status_code}): {exc.original_message}")
        return
    except ServiceError as exc:
        print(f"the service refused: {exc.error_code}: {exc.message} ({exc.request_id})")
        return
    print(r.json(), "| variant:", r.invoked_production_variant, "| request id:", r.request_id)


async def main() -> None:
    """Parse arguments and run against the fake or a real endpoint."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", help="a real endpoint name (default: the local fake)")
    parser.add_argument("--region", default=None)
    args = parser.parse_args()
    if args.endpoint:
        async with SageMakerRuntimeClient(region=args.region) as client:
            await run(client, args.endpoint)
        return
    with _local_endpoint() as (server, fake):
        async with fake.client(endpoint_url=server.url) as client:
            await run(client, "demo-endpoint")


if __name__ == "__main__":
    asyncio.run(main())
