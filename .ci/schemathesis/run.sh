#!/usr/bin/env bash
# Schemathesis against a release `ferry serve` on SQLite: every check; the examples, coverage,
# fuzzing and stateful phases; credentials for the signed, agent and admin routes (fixture.py
# creates them, ferry_auth.py applies them). Fails on any finding.
#
# Usage: .ci/schemathesis/run.sh [MAX_TIME_SECONDS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
max_time="${1:-240}"
venv="${FERRY_FUZZ_VENV:-$root/target/schemathesis-venv}"

if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==4.32.5" "cryptography>=42"
fi

cargo build --release --locked -p ferry-cli
ferry="$root/target/release/ferry"

work="$(mktemp -d)"
log="$work/serve.log"
"$ferry" serve --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/stdout" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  url="$(grep -o 'http://[0-9.:]*' "$work/stdout" 2>/dev/null | head -n1 || true)"
  [ -n "$url" ] && curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
[ -n "${url:-}" ] || { echo "ferry serve did not start:"; cat "$log"; exit 1; }
echo "ferry serve on $url"

"$venv/bin/python" "$here/fixture.py" "$url" "$work/data" "$work/fixture.json"

cd "$here"
status=0
FERRY_FUZZ_FIXTURE="$work/fixture.json" SCHEMATHESIS_HOOKS=ferry_auth PYTHONPATH="$here" \
  "$venv/bin/st" --config-file "$here/schemathesis.toml" run "$url/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-time "$max_time" \
    --workers 2 \
    --request-timeout 30 \
    --generation-database none \
    --seed 20261128 || status=$?
if [ "$status" -ne 0 ]; then
  echo "== ferry serve log (last 50 lines)"
  tail -n 50 "$log"
fi
exit "$status"
