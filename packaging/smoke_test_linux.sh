#!/usr/bin/env bash
# Unpack the built tarball somewhere new and run the frozen app's self-test with an empty data
# folder, headless. Exit code 0 = pass. Usage: packaging/smoke_test_linux.sh [TARBALL]
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=${1:-$(ls -t dist/LlamaDesk-*-linux-x86_64.tar.gz | head -n 1)}
unpacked=$(mktemp -d)
home=$(mktemp -d)
trap 'rm -rf "$unpacked" "$home"' EXIT
tar -C "$unpacked" -xzf "$tarball"
"$unpacked/LlamaDesk/LlamaDesk" --version
started=$(date +%s)
status=0
LLAMADESK_HOME="$home" QT_QPA_PLATFORM=offscreen "$unpacked/LlamaDesk/LlamaDesk" --self-test || status=$?
echo "self-test: exit ${status} in $(( $(date +%s) - started )) s"
exit $status
