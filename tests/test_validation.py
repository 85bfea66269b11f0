"""Every argument rule of InvokeEndpoint is enforced before any I/O, naming the parameter."""

from __future__ import annotations

from typing import Any

import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime

pytestmark = pytest.mark.anyio


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


_63 = "a" * 63
_64 = "a" * 64

# (endpoint_name, body, kwargs, parameter named in the error)
INVALID = [
    ("", b"", {}, "endpoint_name"),
    ("a" * 64, b"", {}, "endpoint_name"),
    ("-lead", b"", {}, "endpoint_name"),
    ("trail-", b"", {}, "endpoint_name"),
    ("under_score", b"", {}, "endpoint_name"),
    ("dot.name", b"", {}, "endpoint_name"),
    ("..", b"", {}, "endpoint_name"),
    ("a/b", b"", {}, "endpoint_name"),
    ("é", b"", {}, "endpoint_name"),
    (42, b"", {}, "endpoint_name"),
    ("ep", None, {}, "body"),
    ("ep", 123, {}, "body"),
    ("ep", b"x" * (6_291_456 + 1), {}, "body"),
    ("ep", "é" * 3_145_729, {}, "body"),
    ("ep", b"x", {"json": {"a": 1}}, "json"),
    ("ep", None, {"json": {1, 2}}, "json"),
    ("ep", None, {"json": "x" * 6_291_456}, "json"),
    # Text that cannot be UTF-8, JSON nested past the interpreter's limit, and values JSON has
    # no spelling for: each a ParamValidationError, never a UnicodeEncodeError / RecursionError,
    # and NaN is never sent as the non-JSON token NaN under application/json.
    ("ep", "lone \ud800 surrogate", {}, "body"),
    ("ep", None, {"json": {"t": "lone \udfff"}}, "json"),
    ("ep", None, {"json": _nested(100_000)}, "json"),
    ("ep", None, {"json": float("nan")}, "json"),
    ("ep", None, {"json": {"x": [float("inf")]}}, "json"),
    ("ep", b"", {"content_type": "text/plain\r\nX-Evil: 1"}, "content_type"),
    ("ep", b"", {"content_type": "x" * 1025}, "content_type"),
    ("ep", b"", {"content_type": "tëxt/plain"}, "content_type"),
    ("ep", b"", {"accept": "a\nb"}, "accept"),
    ("ep", b"", {"accept": 5}, "accept"),
    ("ep", b"", {"custom_attributes": "x" * 1025}, "custom_attributes"),
    ("ep", b"", {"custom_attributes": "a\x00b"}, "custom_attributes"),
    ("ep", b"", {"target_model": ""}, "target_model"),
    ("ep", b"", {"target_model": " leading-space"}, "target_model"),
    ("ep", b"", {"target_model": "m" * 1025}, "target_model"),
    ("ep", b"", {"target_model": "tab\tinside"}, "target_model"),
    ("ep", b"", {"target_variant": "bad_variant"}, "target_variant"),
    ("ep", b"", {"target_variant": _64}, "target_variant"),
    ("ep", b"", {"target_container_hostname": "a--"}, "target_container_hostname"),
    ("ep", b"", {"inference_id": ""}, "inference_id"),
    ("ep", b"", {"inference_id": _64 + "a"}, "inference_id"),
    ("ep", b"", {"inference_id": "x\r\n"}, "inference_id"),
    ("ep", b"", {"enable_explanations": ""}, "enable_explanations"),
    ("ep", b"", {"enable_explanations": "x" * 65}, "enable_explanations"),
    ("ep", b"", {"inference_component_name": "-ic"}, "inference_component_name"),
    ("ep", b"", {"inference_component_name": "ic_1"}, "inference_component_name"),
    ("ep", b"", {"inference_component_name": _64}, "inference_component_name"),
    ("ep", b"", {"session_id": "new_session"}, "session_id"),
    ("ep", b"", {"session_id": "s" * 257}, "session_id"),
    ("ep", b"", {"session_id": "has space"}, "session_id"),
    ("ep", b"", {"prefix_aware_id": ""}, "prefix_aware_id"),
    ("ep", b"", {"prefix_aware_id": _64 + "b"}, "prefix_aware_id"),
]


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """A fake with the endpoint 'ep', to prove nothing reaches it."""
    f = FakeSageMakerRuntime()
    f.add_endpoint("ep")
    return f


@pytest.mark.parametrize(("name", "body", "kwargs", "param"), INVALID)
async def test_invalid_arguments_raise_before_io(
    fake: FakeSageMakerRuntime, name: Any, body: Any, kwargs: dict[str, Any], param: str
) -> None:
    """A bad argument raises ParamValidationError(param) and sends nothing."""
    async with fake.client() as rt:
        with pytest.raises(sm.ParamValidationError) as info:
            await rt.invoke_endpoint(name, body, **kwargs)
    assert info.value.param == param
    assert str(info.value).startswith(f"{param}: ")
    assert fake.requests == []


VALID = [
    (_63, {}),
    ("a-b--c", {}),
    ("ep", {"target_variant": _63, "target_container_hostname": "A1"}),
    ("ep", {"inference_id": _64, "prefix_aware_id": "x y~!"}),
    ("ep", {"session_id": "s" * 256}),
    ("ep", {"session_id": "NEW_SESSION"}),
    ("ep", {"inference_component_name": "a"}),
    ("ep", {"custom_attributes": "", "content_type": "x" * 1024}),
    ("ep", {"target_model": "m" * 1024}),
]


@pytest.mark.parametrize(("name", "kwargs"), VALID)
async def test_boundary_values_are_accepted(
    fake: FakeSageMakerRuntime, name: str, kwargs: dict[str, Any]
) -> None:
    """Values exactly at the service's limits are sent, not rejected."""
    fake.add_endpoint(name)
    async with fake.client() as rt:
        await rt.invoke_endpoint(name, b"x" * 6_291_456 if name == _63 else b"", **kwargs)
    assert len(fake.requests) == 1
