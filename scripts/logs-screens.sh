#!/usr/bin/env bash
# Drives `callsnare logs` for real in tmux over a demo database and captures its screens
# into docs/screens/, as the README shows them. Needs tmux. Everything runs on loopback
# and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "tmux is needed (apt-get install tmux)" >&2; exit 1; }

work=$(mktemp -d)
trap 'tmux kill-session -t callsnare-screens 2>/dev/null || true; kill "${serve:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/callsnare" ./cmd/callsnare

# A demo server plays one missed call and the caller's reply, then stops.
"$work/callsnare" serve --demo --db "$work/demo.db" --addr 127.0.0.1:0 2>"$work/serve.log" &
serve=$!
for _ in $(seq 1 100); do grep -q demo_done "$work/serve.log" && break; sleep 0.1; done
grep -q demo_done "$work/serve.log" || { cat "$work/serve.log" >&2; exit 1; }
kill "$serve"; wait "$serve" || true

# Captures the pane without trailing blanks and with the empty middle folded to one line.
shot() {
  sleep 0.8
  tmux capture-pane -t callsnare-screens -p | sed -e 's/[[:space:]]*$//' | cat -s > "docs/screens/$1.txt"
}
tmux new-session -d -s callsnare-screens -x 110 -y 24 "NO_COLOR=1 $work/callsnare logs --db $work/demo.db"
shot orgs
tmux send-keys -t callsnare-screens Down Enter; shot org-log
tmux send-keys -t callsnare-screens Down Down Enter; shot delivery
tmux send-keys -t callsnare-screens c; shot conversation
tmux send-keys -t callsnare-screens q
echo "screens written to docs/screens/"
