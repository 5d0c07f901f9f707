#!/bin/sh
# Adds EdgeConsole to this user's application menu (no root needed).
#   ./install-desktop.sh            install the menu entry and icons for this folder
#   ./install-desktop.sh --remove   take them away again
# The app itself stays where it was unpacked; move the folder first, then run this.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps="$data/applications"
icons="$data/icons/hicolor"
entry="$apps/edgeconsole.desktop"
sizes="16 24 32 48 64 128 256"

if [ "${1:-}" = "--remove" ]; then
  rm -f "$entry"
  for s in $sizes; do rm -f "$icons/${s}x${s}/apps/edgeconsole.png"; done
  rm -f "$icons/scalable/apps/edgeconsole.svg"
  echo "EdgeConsole removed from the application menu (the app folder is untouched)"
  exit 0
fi

[ -x "$here/edgeconsole" ] || { echo "edgeconsole not found beside this script ($here)" >&2; exit 1; }
res="$here/_internal/resources/icons"
mkdir -p "$apps" "$icons/scalable/apps"
for s in $sizes; do
  mkdir -p "$icons/${s}x${s}/apps"
  cp "$res/edgeconsole-$s.png" "$icons/${s}x${s}/apps/edgeconsole.png"
done
cp "$res/edgeconsole.svg" "$icons/scalable/apps/edgeconsole.svg"
# Exec and TryExec must be absolute: the app folder is not on PATH. The path goes
# in double quotes (spaces are fine); characters the desktop-entry spec would need
# escaped are refused rather than escaped wrongly.
case "$here" in
  *[\"\`\$\\%\|\&]*|*"
"*) echo "move the folder to a path without \" \` \$ \\ % | & or newlines: $here" >&2; exit 1 ;;
esac
sed -e "s|^Exec=edgeconsole|Exec=\"$here/edgeconsole\"|" -e "s|^TryExec=.*|TryExec=$here/edgeconsole|" \
  "$here/edgeconsole.desktop" > "$entry.tmp"
mv "$entry.tmp" "$entry"
chmod 0644 "$entry"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$icons" || true
echo "EdgeConsole added to the application menu: $entry"
