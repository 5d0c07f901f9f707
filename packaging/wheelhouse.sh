#!/usr/bin/env bash
# Build a wheelhouse: every wheel EdgeConsole and its tests need on this platform
# (CPython version, OS, CPU), so a machine with no network can install from source.
#
#   packaging/wheelhouse.sh [OUT]            default OUT: dist/wheelhouse-<py>-<platform>
#   packaging/wheelhouse.sh --verify [OUT]   then install from it into a throwaway venv
#                                            with --no-index and run pip check + the self-test
#
# What goes in: the exact versions installed in the tested venv (pip freeze: the app,
# the dev/test tools, the sample-model builders, PyInstaller) plus pip/setuptools/wheel
# (the build backend `pip install -e .` needs). Packages that exist only as source are
# built into wheels here, so the offline side never compiles anything.
# Offline install (README): python3.11 -m venv .venv &&
#   .venv/bin/pip install --no-index --find-links WHEELHOUSE -e '.[dev]'
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
verify=0
if [ "${1:-}" = "--verify" ]; then verify=1; shift; fi
tag=$("$PY" -c 'import sys, sysconfig; print(f"py{sys.version_info[0]}{sys.version_info[1]}-{sysconfig.get_platform()}")')
OUT=${1:-dist/wheelhouse-$tag}
mkdir -p "$OUT"
log() { printf '\033[1;36m[wheelhouse]\033[0m %s\n' "$*" >&2; }

req=$(mktemp)
trap 'rm -f "$req"' EXIT
# --exclude-editable: edgeconsole itself is installed from the source tree.
"$PY" -m pip freeze --all --exclude-editable > "$req"
log "$(wc -l < "$req") pinned packages from $PY's environment -> $OUT"
"$PY" -m pip wheel --quiet --wheel-dir "$OUT" -r "$req"
cp "$req" "$OUT/requirements.txt"
log "$(ls "$OUT"/*.whl | wc -l) wheels, $(du -sh "$OUT" | cut -f1)"

if [ "$verify" = 1 ]; then
  venv=$(mktemp -d)
  trap 'rm -f "$req"; rm -rf "$venv"' EXIT
  log "verifying: offline install into $venv"
  "$PY" -m venv "$venv"
  # No index, no find-links from any pip.conf: only the wheelhouse.
  PIP_CONFIG_FILE=/dev/null "$venv/bin/pip" install --quiet --no-index --find-links "$OUT" \
    -r "$OUT/requirements.txt"
  PIP_CONFIG_FILE=/dev/null "$venv/bin/pip" install --quiet --no-index --find-links "$OUT" -e '.[dev]'
  "$venv/bin/pip" check
  QT_QPA_PLATFORM=offscreen EDGECONSOLE_HOME="$venv/home" "$venv/bin/edgeconsole" --self-test
fi
