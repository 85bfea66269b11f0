"""moto's server on loopback, with an environment that cannot reach real AWS."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

DUMMY_KEY = "AKIDMOTODUMMY0000001"
DUMMY_SECRET = "moto/dummy/secret/not/checked/by/moto"


@contextlib.contextmanager
def moto_server(access_key: str = DUMMY_KEY, secret_key: str = DUMMY_SECRET) -> Iterator[str]:
    """Start ``ThreadedMotoServer`` on 127.0.0.1 (an ephemeral port); yield its URL.

    While it runs, credentials come from these dummy keys only (no profile, no config files, no
    instance metadata) and loopback bypasses any proxy.
    """
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("NO_PROXY", "127.0.0.1")
        env.setenv("no_proxy", "127.0.0.1")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
