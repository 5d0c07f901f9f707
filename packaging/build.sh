#!/usr/bin/env bash
# Build EdgeConsole as a one-folder desktop app, check it, and pack it.
#
#   packaging/build.sh              build dist/edgeconsole/, run its self-test, write the tarball
#   packaging/build.sh --no-test    skip the frozen app's self-test
#   packaging/build.sh --no-tarball skip dist/edgeconsole-VERSION-linux-ARCH.tar.gz
#
# Needs the dev venv (./run setup) plus PyInstaller: .venv/bin/pip install 'pyinstaller>=6.10'.
# Env: PYTHON (default .venv/bin/python), DIST (default dist), BUILD (default build/pyinstaller).
set -euo pipefail
cd "$(dirname "$0")/.."
export ORT_DISABLE_TELEMETRY=1  # PyInstaller's hooks import onnxruntime (DESIGN section 9)

PY=${PYTHON:-.venv/bin/python}
DIST=${DIST:-dist}
BUILD=${BUILD:-build/pyinstaller}
test_app=1
tarball=1
for arg in "$@"; do
  case "$arg" in
    --no-test) test_app=0 ;;
    --no-tarball) tarball=0 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1;36m[package]\033[0m %s\n' "$*" >&2; }

if ! "$PY" -m PyInstaller --version >/dev/null 2>&1; then
  echo "PyInstaller is not installed in $PY's environment: $PY -m pip install 'pyinstaller>=6.10'" >&2
  exit 2
fi
version=$("$PY" -c 'import edgeconsole; print(edgeconsole.__version__)')
arch=$(uname -m)
app="$DIST/edgeconsole"
started=$(date +%s)

if [ ! -f resources/icons/edgeconsole-256.png ] || [ resources/icons/edgeconsole.svg -nt resources/icons/edgeconsole-256.png ]; then
  log "rendering icons"
  "$PY" packaging/make_icons.py >/dev/null
fi

log "PyInstaller $("$PY" -m PyInstaller --version) -> $app"
QT_QPA_PLATFORM=offscreen "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$BUILD" packaging/edgeconsole.spec

# Desktop integration travels inside the app folder.
cp packaging/edgeconsole.desktop packaging/install-desktop.sh "$app/"
cp packaging/INSTALL.txt "$app/INSTALL.txt"
chmod +x "$app/install-desktop.sh" "$app/edgeconsole"
built=$(date +%s)
size=$(du -sm "$app" | cut -f1)
log "built $app: ${size} MB in $((built - started)) s"

if [ "$test_app" = 1 ]; then
  log "self-test of the frozen app (offscreen, temporary app data)"
  home=$(mktemp -d)
  trap 'rm -rf "$home"' EXIT
  if ! env -u PYTHONPATH QT_QPA_PLATFORM=offscreen EDGECONSOLE_HOME="$home" "$app/edgeconsole" --self-test; then
    echo "the frozen app's self-test failed (see above)" >&2
    exit 1
  fi
fi

if [ "$tarball" = 1 ]; then
  name="edgeconsole-$version-linux-$arch"
  out="$DIST/$name.tar.gz"
  log "packing $out"
  # Owned by nobody in particular and readable by all: it unpacks as whoever unpacks it.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' \
    --transform "s|^edgeconsole|$name|" -C "$DIST" -cf - edgeconsole \
    | gzip -6 > "$out.partial"
  mv "$out.partial" "$out"
  log "tarball: $out ($(du -sm "$out" | cut -f1) MB)"
fi
log "done in $(( $(date +%s) - started )) s"
