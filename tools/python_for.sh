#!/usr/bin/env bash
# Print the path of a CPython X.Y interpreter, or fail loudly: `tools/python_for.sh 3.12`.
# Looks where this machine (and CI, a machine like it) has them: pythonX.Y on PATH when it
# really runs (a pyenv shim of a version that is not selected does not), then pyenv's versions.
set -euo pipefail
version="${1:?usage: python_for.sh X.Y}"
if command -v "python${version}" >/dev/null 2>&1 && "python${version}" -c "" >/dev/null 2>&1; then
  command -v "python${version}"
  exit 0
fi
root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
for candidate in $(ls -d "${root}/versions/${version}".*/bin/"python${version}" 2>/dev/null | sort -V -r); do
  if "${candidate}" -c "" >/dev/null 2>&1; then
    echo "${candidate}"
    exit 0
  fi
done
echo "error: no Python ${version} found (tried python${version} on PATH and ${root}/versions/${version}.*)." >&2
echo "Install it (pyenv install ${version}) or leave it out: make matrix MATRIX=\"...\"." >&2
exit 1
