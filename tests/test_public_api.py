"""The public surface: explicit, sorted, documented, typed, and cheap to import."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import sagemaker_rt_async as sm
import sagemaker_rt_async.testing as kit


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then everything else.
    group = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return group, name


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (as ruff sorts it) and names exactly the public attributes."""
    for module in (sm, kit):
        assert module.__all__ == sorted(module.__all__, key=_isort_key)
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not inspect.ismodule(value)
        }
        assert public - {"annotations"} == set(module.__all__) - {"__version__"}


def test_every_public_name_has_a_docstring() -> None:
    """Every exported class and function, and each public method, is documented."""
    missing = []
    for module in (sm, kit):
        for name in module.__all__:
            obj = getattr(module, name)
            # A type alias (``EventHook``) is no class, though 3.10 says ``list[int]`` is one.
            if isinstance(obj, types.GenericAlias):
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not inspect.getdoc(obj):
                missing.append(name)
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not callable(member):
                        continue
                    if not inspect.getdoc(member):
                        missing.append(f"{name}.{attr}")
    assert missing == []


def test_client_options_are_keyword_only() -> None:
    """Every constructor and operation option is keyword-only (named as AWS members)."""
    ctor = inspect.signature(sm.SageMakerRuntimeClient.__init__)
    assert all(p.kind is p.KEYWORD_ONLY for name, p in ctor.parameters.items() if name != "self")
    op = inspect.signature(sm.SageMakerRuntimeClient.invoke_endpoint)
    positional = [n for n, p in op.parameters.items() if p.kind is not p.KEYWORD_ONLY]
    assert positional == ["self", "endpoint_name", "body"]


def test_py_typed_marker_ships() -> None:
    """The package is marked as typed (PEP 561)."""
    from importlib.resources import files

    assert files("sagemaker_rt_async").joinpath("py.typed").is_file()


def test_import_is_lazy_about_botocore() -> None:
    """Importing the package does not import botocore/aiobotocore (they load on first use)."""
    code = (
        "import sys, sagemaker_rt_async; "
        "print(any(m.split('.')[0] in ('botocore', 'aiobotocore', 'boto3') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_public_names_show_the_package_as_their_module() -> None:
    """``repr(sm.ModelError)`` says ``sagemaker_rt_async.ModelError``, not a private module,
    and the classes still pickle by that name."""
    import pickle

    for name in sm.__all__:
        obj = getattr(sm, name)
        if inspect.isclass(obj):
            assert obj.__module__ == "sagemaker_rt_async", name
    assert repr(sm.ModelError) == "<class 'sagemaker_rt_async.ModelError'>"
    err = pickle.loads(pickle.dumps(sm.TransportError("x", request_sent=False)))  # noqa: S301
    assert type(err) is sm.TransportError and not err.request_sent
