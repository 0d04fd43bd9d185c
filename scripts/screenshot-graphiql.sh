#!/usr/bin/env bash
# Take a headless-Chromium screenshot of a page (meant for the GraphiQL IDE).
#
# Usage: scripts/screenshot-graphiql.sh URL OUT.png [WIDTHxHEIGHT]
#   e.g. scripts/screenshot-graphiql.sh http://127.0.0.1:8080/graphql /tmp/graphiql.png
#
# Env:
#   CHROMIUM        browser binary (default: chromium, chromium-browser or google-chrome)
#   VIRTUAL_TIME    --virtual-time-budget in ms (default 5000)
#   OFFLINE=1       make every host except localhost/127.0.0.1 unresolvable, to prove
#                   the page needs no external host (assets must come from the server)
#   DUMP_DOM=FILE   also write the rendered DOM to FILE (a second headless run)
#
# Install the browser on Debian with: apt-get update && apt-get install -y chromium
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 URL OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
URL="$1"
OUT="$2"
SIZE="${3:-1400x900}"
SIZE="${SIZE/x/,}"

CHROMIUM="${CHROMIUM:-}"
if [[ -z "$CHROMIUM" ]]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROMIUM="$c"; break; fi
  done
fi
[[ -n "$CHROMIUM" ]] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 1; }

PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT

args=(
  --headless
  --no-sandbox
  --disable-gpu
  --disable-quic
  --no-first-run
  --disable-background-networking
  --disable-component-update
  --disable-sync
  --disable-default-apps
  --disable-extensions
  --hide-scrollbars
  --user-data-dir="$PROFILE"
  --window-size="$SIZE"
  --virtual-time-budget="${VIRTUAL_TIME:-5000}"
)
if [[ "${OFFLINE:-0}" == "1" ]]; then
  args+=(--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1")
fi

mkdir -p "$(dirname "$OUT")"
OUT_ABS="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"

"$CHROMIUM" "${args[@]}" --screenshot="$OUT_ABS" "$URL" 2> "$PROFILE/chromium.log" || {
  cat "$PROFILE/chromium.log" >&2
  exit 1
}
if [[ ! -s "$OUT_ABS" ]]; then
  cat "$PROFILE/chromium.log" >&2
  echo "no screenshot written" >&2
  exit 1
fi

if [[ -n "${DUMP_DOM:-}" ]]; then
  rm -rf "$PROFILE"/Default
  "$CHROMIUM" "${args[@]}" --dump-dom "$URL" > "$DUMP_DOM" 2>> "$PROFILE/chromium.log"
fi

echo "screenshot: $OUT_ABS"
