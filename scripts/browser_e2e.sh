#!/usr/bin/env bash
# The browser end-to-end test of `persona serve` and its widget (web/persona.js), in Debian's
# Chromium driven by tests/browser/e2e.mjs: a fake microphone speaks a WAV made with espeak-ng,
# the page connects over WebRTC, and the test checks the agent's video, audio, captions and a
# spoken, lip-synced answer to typed text (see the top of e2e.mjs for the list).
# Needs: ./setup.sh (chromium, node, tests/browser/node_modules) and a built binary.
#   scripts/browser_e2e.sh
# Environment: PERSONA_BIN (default ${CARGO_TARGET_DIR:-target}/debug/persona), CHROMIUM
# (default /usr/bin/chromium), PERSONA_E2E_PORT (default: a free one), PERSONA_E2E_TIMEOUT_S
# (the deadline of each wait in the test, default 60), PERSONA_SERVE_ARGS (more arguments for
# `persona serve`, split on spaces).
# Artefacts (screenshots, the server's log, e2e.json with what was observed) go to
# ${CARGO_TARGET_DIR:-target}/e2e/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
PERSONA_BIN="${PERSONA_BIN:-${TARGET_DIR}/debug/persona}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
OUT="${TARGET_DIR}/e2e"
MIC_TEXT="Hello there. Can you tell me what the weather is like today?"

fail() {
    printf '\nbrowser_e2e.sh: %s\n' "$1" >&2
    shift
    for line in "$@"; do
        printf '    %s\n' "$line" >&2
    done
    exit 1
}

# --- what the test needs --------------------------------------------------------------------
[[ -x "$CHROMIUM" ]] || fail "Chromium not found at $CHROMIUM." "Run ./setup.sh (it installs Debian's chromium), or set CHROMIUM=/path/to/chromium."
command -v node >/dev/null || fail "node not found on PATH." "Run ./setup.sh (it installs Debian's nodejs)."
[[ -f tests/browser/node_modules/playwright-core/package.json ]] ||
    fail "tests/browser/node_modules is missing playwright-core." "Run ./setup.sh (it runs npm ci in tests/browser)."
command -v espeak-ng >/dev/null || fail "espeak-ng not found (it speaks the fake microphone's words)." "Run ./setup.sh."
command -v sox >/dev/null || fail "sox not found (it resamples the fake microphone's WAV)." "Run ./setup.sh."
[[ -x "$PERSONA_BIN" ]] || fail "no persona binary at $PERSONA_BIN." "Build it with \`cargo build\` (or set PERSONA_BIN)."

rm -rf "$OUT"
mkdir -p "$OUT"
OUT_ABS="$(cd "$OUT" && pwd)"

# --- the fake microphone: speech, then silence so the agent hears the end of a turn ----------
# Chromium loops the file; 48 kHz mono 16-bit is what its fake capture reads most reliably.
espeak-ng -w "$OUT/mic-espeak.wav" "$MIC_TEXT"
sox "$OUT/mic-espeak.wav" -r 48000 -c 1 -b 16 "$OUT/mic.wav" pad 0.3 2.5
rm -f "$OUT/mic-espeak.wav"

# --- the server -----------------------------------------------------------------------------
if [[ -n "${PERSONA_E2E_PORT:-}" ]]; then
    port=$PERSONA_E2E_PORT
else
    port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
fi
url="http://127.0.0.1:${port}"
server=
stop_server() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server" 2>/dev/null || true
    fi
    server=
}
trap stop_server EXIT

printf '==> %s serve --addr 127.0.0.1:%s (log: %s/server.log)\n' "$PERSONA_BIN" "$port" "$OUT"
# shellcheck disable=SC2086 # PERSONA_SERVE_ARGS is meant to split
"$PERSONA_BIN" serve --addr "127.0.0.1:${port}" ${PERSONA_SERVE_ARGS:-} >"$OUT/server.log" 2>&1 &
server=$!

healthy=0
for _ in $(seq 300); do # up to 60 s: a debug build loads its models first
    if node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(1000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
        "${url}/healthz" 2>/dev/null; then
        healthy=1
        break
    fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
done
if ((!healthy)); then
    tail -n 30 "$OUT/server.log" >&2 || true
    if kill -0 "$server" 2>/dev/null; then
        fail "the server did not answer ${url}/healthz within 60 s (its log's end is above; all of it: $OUT/server.log)."
    fi
    fail "the server exited before answering ${url}/healthz (its log's end is above; all of it: $OUT/server.log)."
fi

# --- the test -------------------------------------------------------------------------------
printf '==> node tests/browser/e2e.mjs --url %s/\n' "$url"
status=0
node tests/browser/e2e.mjs --url "${url}/" --out "$OUT_ABS" --wav "$OUT_ABS/mic.wav" || status=$?
stop_server
if ((status != 0)); then
    printf '\n    the server log: %s/server.log; screenshots and e2e.json: %s/\n' "$OUT" "$OUT" >&2
    exit "$status"
fi
printf '\n==> browser e2e passed (artefacts in %s/)\n' "$OUT"
