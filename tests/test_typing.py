"""What a user's mypy sees: snippets written as users write them, checked by mypy itself.

Each snippet line that must be an error ends with ``# E: <text>``; each ``reveal_type`` line
ends with ``# T: <type>``. mypy runs once over all snippets (strict) and its report must
contain exactly those errors and types: a misspelled option on ``map_invoke``,
``open_session`` or ``Session.invoke`` is an error as it is on ``invoke_endpoint``, and
``map_invoke`` returns plain results unless ``return_exceptions=True``.
"""

# ruff: noqa: E501 - the snippet keeps each call and its expected mypy output on one line

from __future__ import annotations

import re
from pathlib import Path

import pytest

SNIPPET = """
from sagemaker_rt_async import SageMakerRuntimeClient, Timeout


async def user_code(rt: SageMakerRuntimeClient) -> None:
    plain = await rt.map_invoke("ep", [b"1"], content_type="text/csv")
    reveal_type(plain)  # T: list[sagemaker_rt_async._models.InvokeEndpointResult]
    mixed = await rt.map_invoke("ep", [b"1"], return_exceptions=True)
    reveal_type(mixed)  # T: list[sagemaker_rt_async._models.InvokeEndpointResult | sagemaker_rt_async._errors.SageMakerRuntimeError]
    await rt.map_invoke("ep", [b"1"], content_typ="text/csv")  # E: "content_typ"
    await rt.map_invoke("ep", [b"1"], timeout=Timeout(read=5), retry=2, session_id="s")
    await rt.map_invoke("ep", [b"1"], retry="often")  # E: No overload variant of "map_invoke"
    session = await rt.open_session("ep", json={"a": 1}, target_variant="v1")
    await rt.open_session("ep", targetvariant="v1")  # E: Unexpected keyword argument "targetvariant"
    reveal_type(await session.invoke(b"x", custom_attributes="k=v"))  # T: sagemaker_rt_async._models.InvokeEndpointResult
    await session.invoke(b"x", session_id="other")  # E: Unexpected keyword argument "session_id"
    await session.invoke(b"x", acept="text/plain")  # E: Unexpected keyword argument "acept"
    session.stream(b"x", target_model="m.tar.gz")  # E: Unexpected keyword argument "target_model"
    await rt.invoke_endpoint("ep", b"x", custom_atributes="a")  # E: Unexpected keyword argument "custom_atributes"
    job = rt.async_job(output_location="s3://b/k.out")
    reveal_type(job.to_dict())  # T: dict[str, Any]
"""


def _expected(source: str) -> tuple[dict[int, str], dict[int, str]]:
    errors: dict[int, str] = {}
    types: dict[int, str] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        if "# E: " in line:
            errors[number] = line.split("# E: ", 1)[1]
        elif "# T: " in line:
            types[number] = line.split("# T: ", 1)[1]
    return errors, types


@pytest.mark.slow
def test_a_users_mypy_checks_the_options_and_infers_the_results(tmp_path: Path) -> None:
    """mypy --strict on the snippet reports exactly the marked errors and revealed types."""
    api = pytest.importorskip("mypy.api")
    path = tmp_path / "user_code.py"
    path.write_text(SNIPPET)
    out, err, _ = api.run(
        [
            "--strict",
            "--python-version",
            "3.10",
            "--no-error-summary",
            "--show-column-numbers",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--config-file",
            "",
            str(path),
        ]
    )
    assert not err, err
    found_errors: dict[int, str] = {}
    found_types: dict[int, str] = {}
    for line in out.splitlines():
        match = re.match(r".*user_code\.py:(\d+):\d+: (error|note): (.*)", line)
        assert match, line
        number, kind, text = int(match.group(1)), match.group(2), match.group(3)
        if kind == "note" and text.startswith("Revealed type is"):
            found_types[number] = text.removeprefix("Revealed type is ").strip('"')
        elif kind == "error":
            found_errors.setdefault(number, text)
    errors, types = _expected(SNIPPET)
    assert found_types == types
    assert set(found_errors) == set(errors), out
    for number, expected in errors.items():
        assert expected in found_errors[number], (number, found_errors[number])
