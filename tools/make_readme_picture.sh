#!/usr/bin/env bash
# Remake doc/img/demo.png, the README's picture: one frame of the video `wham-ros demo`
# renders (`wham-ros run --render` on the demo's synthetic recording), half size.
# Needs the environment of tools/setup_env.sh (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/wham-ros demo "$tmp/demo"
mkdir -p doc/img
cp "$tmp/demo/picture.png" doc/img/demo.png
echo "wrote doc/img/demo.png ($(stat -c %s doc/img/demo.png) bytes)"
