#!/usr/bin/env bash
# Lay out dist/ponder/ (from scripts/build_bundle.sh) as an AppImage AppDir:
#
#   dist/Ponder.AppDir/
#     AppRun                                   runs usr/lib/ponder/ponder with the arguments
#     ponder.desktop, ponder.png, .DirIcon     what appimagetool reads
#     usr/bin/ponder -> ../lib/ponder/ponder
#     usr/lib/ponder/                          the PyInstaller bundle, unchanged
#     usr/share/applications/ponder.desktop
#     usr/share/icons/hicolor/{256x256,512x512,scalable}/apps/ponder.{png,svg}
#
# Then, with appimagetool (https://github.com/AppImage/appimagetool, not needed by CI):
#   ARCH=x86_64 appimagetool dist/Ponder.AppDir dist/Ponder-x86_64.AppImage
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x dist/ponder/ponder ] || { echo "build the bundle first: bash scripts/build_bundle.sh" >&2; exit 1; }

appdir=dist/Ponder.AppDir
rm -rf "$appdir"
mkdir -p "$appdir/usr/bin" "$appdir/usr/lib" "$appdir/usr/share/applications"
cp -a dist/ponder "$appdir/usr/lib/ponder"
ln -s ../lib/ponder/ponder "$appdir/usr/bin/ponder"
for size in 256 512; do
  mkdir -p "$appdir/usr/share/icons/hicolor/${size}x${size}/apps"
  cp assets/ponder-$size.png "$appdir/usr/share/icons/hicolor/${size}x${size}/apps/ponder.png"
done
mkdir -p "$appdir/usr/share/icons/hicolor/scalable/apps"
cp assets/ponder.svg "$appdir/usr/share/icons/hicolor/scalable/apps/ponder.svg"
cp packaging/linux/ponder.desktop "$appdir/usr/share/applications/ponder.desktop"
cp packaging/linux/ponder.desktop "$appdir/ponder.desktop"
cp assets/ponder-256.png "$appdir/ponder.png"
ln -s ponder.png "$appdir/.DirIcon"
cat > "$appdir/AppRun" <<'RUN'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
exec "$here/usr/lib/ponder/ponder" "$@"
RUN
chmod +x "$appdir/AppRun"
echo "AppDir ready: $appdir (run: $appdir/AppRun; package: appimagetool $appdir)"
