#!/usr/bin/env bash
# Run the test suite on one Python version in its own venv (.venv-X.Y): `tools/matrix.sh 3.12`.
# Lint (ruff, mypy --strict for every supported version) runs once, in `make test`; this runs
# pytest, which is what differs between interpreters. A missing interpreter is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: matrix.sh X.Y}"
python="$(tools/python_for.sh "${version}")"
venv=".venv-${version}"
stamp="${venv}/.installed"
if [ ! -f "${stamp}" ] || [ pyproject.toml -nt "${stamp}" ]; then
  rm -rf "${venv}"
  "${python}" -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  touch "${stamp}"
fi
echo "== Python ${version} ($("${venv}/bin/python" -c 'import sys; print(sys.version.split()[0])')): pytest"
start=$(date +%s)
"${venv}/bin/python" -m pytest -q -p no:cacheprovider
echo "== Python ${version}: passed in $(( $(date +%s) - start )) s"
