#!/usr/bin/env bash
# Desktop integration for the unpacked LlamaDesk folder, for this user only: a launcher in
# ~/.local/bin, the menu entry and the icon. Run it from the folder it sits in.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$HOME/.local/bin" "$HOME/.local/share/applications" "$HOME/.local/share/icons/hicolor/scalable/apps"
ln -sf "$here/LlamaDesk" "$HOME/.local/bin/LlamaDesk"
cp "$here/llamadesk.svg" "$HOME/.local/share/icons/hicolor/scalable/apps/llamadesk.svg"
sed "s|^Exec=LlamaDesk|Exec=$here/LlamaDesk|" "$here/llamadesk.desktop" \
    > "$HOME/.local/share/applications/llamadesk.desktop"
echo "LlamaDesk is in the applications menu; the command is ~/.local/bin/LlamaDesk."
