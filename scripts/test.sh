#!/usr/bin/env bash
# The one command that says whether a change is good: formatting, lints, then the tests, in
# that order, stopping at the first failure with what to do about it. Run ./setup.sh once first.
# Honours CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# whisper.cpp (ggml) tries to attach gdb to print a backtrace when it aborts; with gdb
# installed that hangs the test run instead of failing it.
export GGML_NO_BACKTRACE=1

step_times=()

fail() {
    printf '\ntest.sh: %s\n' "$1" >&2
    shift
    for line in "$@"; do
        printf '    %s\n' "$line" >&2
    done
    exit 1
}

# run NAME HINT COMMAND...: runs COMMAND, timing it; on failure prints HINT and stops.
run() {
    local name=$1 hint=$2
    shift 2
    printf '\n==> %s: %s\n' "$name" "$*"
    local started=$SECONDS
    if ! "$@"; then
        fail "$name failed after $((SECONDS - started))s: $*" "$hint"
    fi
    local took=$((SECONDS - started))
    step_times+=("$(printf '%-8s %4ds' "$name" "$took")")
    printf '    %s passed in %ds\n' "$name" "$took"
}

command -v cargo >/dev/null || fail "cargo not found on PATH." "Run ./setup.sh first; it says how to get Rust."
cargo fmt --version >/dev/null 2>&1 || fail "rustfmt is not installed." "Run: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || fail "clippy is not installed." "Run: rustup component add clippy"

run format "Run \`cargo fmt\` and commit the result." \
    cargo fmt --check
run lints "Fix the warnings above (clippy explains each, with a link); CI denies all warnings." \
    cargo clippy --locked --all-targets -- -D warnings
run tests "The failing tests and their output are listed above; rerun one with \`cargo test NAME\`." \
    cargo test --locked
# The web agent in a real browser: headless Chromium runs the widget against `persona serve` (the
# debug binary the tests above built). Artefacts (screenshots, server log, what was observed):
# ${CARGO_TARGET_DIR:-target}/e2e/.
run browser "See ${CARGO_TARGET_DIR:-target}/e2e/ (e2e.json, screenshot.png, server.log); rerun with scripts/browser_e2e.sh." \
    scripts/browser_e2e.sh

printf '\n==> all checks passed\n'
for t in "${step_times[@]}"; do
    printf '    %s\n' "$t"
done
