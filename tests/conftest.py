"""Shared fixtures: where the external AWS test vectors live, and the async backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_DEFAULT_VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
VECTORS: Path = Path(os.environ.get("SAGEMAKER_RT_VECTORS", str(_DEFAULT_VECTORS)))


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The ../shared/vectors tree (AWS event-stream and SigV4 suites); skips when it is absent."""
    if not VECTORS.is_dir():
        pytest.skip(f"external test vectors not found at {VECTORS}")
    return VECTORS


_CONFIGURED_ENDPOINTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    # Settings the client now reads from the environment (_config.py).
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)


@pytest.fixture(autouse=True)
def _no_configured_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's AWS settings (env and ~/.aws files) must not reach the tests' clients."""
    for name in _CONFIGURED_ENDPOINTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/sagemaker-rt-tests/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sagemaker-rt-tests/credentials")


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest, anyio_backend: str) -> str:
    """Each HTTP engine of the client; aiohttp runs on asyncio only (trio + aiohttp is an error)."""
    if request.param == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("the aiohttp engine runs on asyncio only")
    return str(request.param)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server (SageMaker Runtime and S3) on loopback for this module, AWS unreachable."""
    from _moto import moto_server

    with moto_server() as url:
        yield url
