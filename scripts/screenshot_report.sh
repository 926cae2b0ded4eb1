#!/usr/bin/env bash
# Render a run's HTML report in headless Chromium and save a full-page PNG, to check that the
# page renders as a reader sees it.  Usage: scripts/screenshot_report.sh RUN_DIR [OUT.png]
# Needs Chromium (Debian: apt-get install chromium).
set -euo pipefail
run_dir=${1:?usage: $0 RUN_DIR [OUT.png]}
out=${2:-$run_dir/report/screenshot.png}
page=$(realpath "$run_dir/report/index.html")
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The background-networking flags keep Chromium from reaching out on a closed network.
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1300,4000 --screenshot="$(realpath -m "$out")" \
  "file://$page" 2>/dev/null
echo "screenshot: $out"
