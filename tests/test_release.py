"""The package as users get it: an sdist and a wheel that build offline, install and work.

The wheel goes into a fresh venv (its dependencies are lent from this test environment by a
``.pth`` line, so nothing is downloaded), where the package must import from the wheel, the
``sagemaker-rt`` command must run, the pytest plugin must be found through its entry point,
and ``py.typed`` must ship while no test file does.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

import sagemaker_rt_async

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from this checkout without network (no isolation)."""
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "-o", out, ROOT)
    return out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_the_wheel_holds_the_package_and_nothing_else(dist: Path) -> None:
    """The wheel's version is ``__version__`` (one source); it ships ``py.typed`` and the test
    kit, and no tests, benchmarks or caches."""
    wheel = _one(dist, "*.whl")
    assert wheel.name.startswith(f"sagemaker_rt_async-{sagemaker_rt_async.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sagemaker_rt_async/py.typed" in names
    assert "sagemaker_rt_async/testing/plugin.py" in names
    top = {name.split("/", 1)[0] for name in names}
    assert top <= {"sagemaker_rt_async", wheel.name.split("-py3")[0] + ".dist-info"}, top
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    metadata = zipfile.ZipFile(wheel).read(
        f"sagemaker_rt_async-{sagemaker_rt_async.__version__}.dist-info/METADATA"
    )
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}".encode() in metadata
    assert b"example.invalid" not in metadata


def test_the_sdist_holds_sources_and_no_local_state(dist: Path) -> None:
    """The sdist carries the package, its tests and the changelog; never a venv or a cache."""
    sdist = _one(dist, "*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    assert "sagemaker_rt_async/py.typed" in names
    assert "CHANGELOG.md" in names
    assert "tests/test_release.py" in names
    assert not [n for n in names if n.startswith((".venv", "dist/")) or "__pycache__" in n]


def test_the_wheel_works_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    """Installed into a new venv: imports from the wheel (not this checkout), the command
    prints its help, and pytest finds the plugin's fixtures through the entry point."""
    wheel = _one(dist, "*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel)
    # The dependencies: this environment's site-packages, appended after the venv's own (a
    # plain path line: the editable install's own .pth hook there is not run).
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    (site / "lent_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = _run(python, "-c", "import sagemaker_rt_async as sm; print(sm.__file__)", cwd=tmp_path)
    assert where.strip().startswith(str(site)), where

    usage = _run(venv / "bin" / "sagemaker-rt", "--help", cwd=tmp_path)
    assert "usage: sagemaker-rt" in usage
    assert (
        _run(venv / "bin" / "sagemaker-rt", "--version", cwd=tmp_path)
        .strip()
        .endswith(sagemaker_rt_async.__version__)
    )

    project = tmp_path / "user_project"
    project.mkdir()
    (project / "test_user.py").write_text(
        textwrap.dedent(
            f"""
            import sagemaker_rt_async

            def test_the_plugin_fixture_comes_from_the_wheel(sagemaker_fake):
                assert sagemaker_rt_async.__file__.startswith({str(site)!r})
                assert type(sagemaker_fake).__name__ == "FakeSageMakerRuntime"
            """
        )
    )
    (project / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    report = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert "1 passed" in report, report
