#!/usr/bin/env bash
# Prepares a Debian 12 machine to build, test and run persona, from a fresh clone:
#   1. the Debian packages the build and the tests need (skipped when all are installed),
#   2. ONNX Runtime's shared library, vendored into vendor/onnxruntime/ from the PyPI wheel,
#   3. a dev build (`cargo build --locked`; the test run reuses it),
#   4. the offline whisper test model (`persona models synth` -> models/tiny-random-whisper.bin),
#   5. the browser test's npm package (playwright-core, in tests/browser/node_modules; it drives
#      Debian's chromium and downloads no browser).
# Safe to re-run: what is already there is kept, and a re-run needs no network.
# Runs as root, or as a user with sudo (only apt needs it). Honours CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

# Debian packages, each for a reason found in Cargo.toml or the tests. Not listed on purpose,
# because nothing in Cargo.toml needs them yet: libasound2-dev (cpal),
# libwebrtc-audio-processing-dev. Add them with the crate that needs them.
PACKAGES=(
    build-essential  # C/C++ compilers for the -sys crates
    pkg-config       # how env-libvpx-sys and audiopus_sys find libvpx and libopus
    cmake            # builds whisper.cpp (whisper-rs-sys)
    libclang-dev     # bindgen at build time (espeakng-sys, whisper-rs-sys)
    libvpx-dev       # VP8 encoding (env-libvpx-sys)
    libopus-dev      # Opus encoding (audiopus_sys; without it, it tries to build Opus itself)
    libespeak-ng-dev # espeak-ng TTS (espeakng-sys)
    espeak-ng-data   # espeak-ng's voices, read at run time
    espeak-ng        # the espeak-ng CLI: a test checks our phoneme table against it
    ffmpeg           # ffprobe/ffmpeg: the WebM tests decode persona's output with them
    sox              # the README's example conversation is stitched together with sox
    nasm             # openh264's assembly (H.264 for MP4 output); without it a slower C build
    libvulkan1       # the Vulkan loader wgpu opens at run time (GPU renderer)
    mesa-vulkan-drivers # lavapipe, a software Vulkan: the GPU renderer's tests run on it in CI
    chromium         # the browser end-to-end test (scripts/browser_e2e.sh) runs the widget in it
    nodejs           # runs that test (tests/browser/e2e.mjs, with playwright-core)
)

# ONNX Runtime for the `ort` crate (load-dynamic, API 31). The library inside the wheel is the
# same file for every CPython version (checked for cp311, cp312 and cp313), so one fixed wheel
# tag is asked for: the download does not depend on which Python runs pip. The SHA-256 values
# are those of libonnxruntime.so.1.31.1 inside the 1.31.1 wheels on PyPI.
ORT_VERSION=1.31.1
ORT_DIR=vendor/onnxruntime
ORT_FILE="libonnxruntime.so.${ORT_VERSION}"
ORT_WHEEL_PYTHON=3.11
case "$(uname -m)" in
    x86_64)
        ORT_PLATFORM=manylinux_2_28_x86_64
        ORT_SHA256=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
        ;;
    aarch64)
        ORT_PLATFORM=manylinux_2_28_aarch64
        ORT_SHA256=8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467
        ;;
    *)
        ORT_PLATFORM=
        ORT_SHA256=
        ;;
esac

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
SYNTH_MODEL=models/tiny-random-whisper.bin
BROWSER_TEST_DIR=tests/browser
# playwright-core 1.61 is the newest that still runs on Node 18 (Debian 12's nodejs).
NODE_MIN_MAJOR=18

step_started=0
step_times=()

step() {
    step_started=$SECONDS
    printf '\n==> %s\n' "$*"
}

step_done() {
    local took=$((SECONDS - step_started))
    step_times+=("$(printf '%-22s %4ds' "$1" "$took")")
    printf '    done in %ds\n' "$took"
}

info() { printf '    %s\n' "$*"; }

die() {
    printf '\nsetup.sh: error: %s\n' "$1" >&2
    shift
    for line in "$@"; do
        printf '    %s\n' "$line" >&2
    done
    exit 1
}

is_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

file_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# --- 1. Debian packages ---------------------------------------------------------------------
step "Debian packages"
command -v dpkg-query >/dev/null || die "dpkg-query not found: this script is for Debian 12 (bookworm)." \
    "On another system, install the equivalents of: ${PACKAGES[*]}"
wanted=("${PACKAGES[@]}")
# pip fetches ONNX Runtime; any working `python3 -m pip` will do (a pyenv one, say).
if ! python3 -m pip --version >/dev/null 2>&1; then
    wanted+=(python3-pip)
fi
# npm installs the browser test's playwright-core. NodeSource's nodejs bundles npm and conflicts
# with Debian's npm package, so npm is only asked for when there is none.
if ! command -v npm >/dev/null; then
    wanted+=(npm)
fi
missing=()
for pkg in "${wanted[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
    info "all ${#wanted[@]} packages are installed; skipping apt"
else
    if ((EUID == 0)); then
        sudo=()
    elif command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        die "these packages are missing and installing them needs root: ${missing[*]}" \
            "Re-run as root, or install sudo, or run: apt-get install ${missing[*]}"
    fi
    info "installing: ${missing[*]}"
    info "+ ${sudo[*]:+${sudo[*]} }apt-get update"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    info "+ ${sudo[*]:+${sudo[*]} }apt-get install -y --no-install-recommends ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
step_done "packages"

# --- 2. ONNX Runtime --------------------------------------------------------------------------
step "ONNX Runtime ${ORT_VERSION} -> ${ORT_DIR}/"
[[ -n "$ORT_PLATFORM" ]] || die "no ONNX Runtime wheel is known for this CPU ($(uname -m))." \
    "persona's set-up knows x86_64 and aarch64 Linux; put libonnxruntime.so.${ORT_VERSION} somewhere" \
    "and export ORT_DYLIB_PATH=/path/to/it"
if [[ -f "${ORT_DIR}/${ORT_FILE}" && "$(file_sha256 "${ORT_DIR}/${ORT_FILE}")" == "$ORT_SHA256" ]]; then
    info "${ORT_DIR}/${ORT_FILE} is present and verified; skipping the download"
else
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    info "+ python3 -m pip download onnxruntime==${ORT_VERSION} (cp${ORT_WHEEL_PYTHON/./}, ${ORT_PLATFORM})"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --progress-bar off \
        --disable-pip-version-check --no-input \
        --python-version "$ORT_WHEEL_PYTHON" --implementation cp --abi "cp${ORT_WHEEL_PYTHON/./}" \
        --platform "$ORT_PLATFORM" --dest "$tmp" "onnxruntime==${ORT_VERSION}" ||
        die "pip could not download onnxruntime==${ORT_VERSION} from PyPI." \
            "Check the network or proxy (pip's own message is above), then re-run ./setup.sh."
    wheels=("$tmp"/onnxruntime-"${ORT_VERSION}"-*.whl)
    [[ -f "${wheels[0]}" ]] || die "pip reported success but left no onnxruntime wheel in $tmp."
    info "wheel: $(basename "${wheels[0]}")"
    mkdir -p "$ORT_DIR"
    # Extract the one file we need with Python's zipfile (no unzip needed), via a temporary
    # name so an interrupted run never leaves a half-written library behind.
    python3 - "${wheels[0]}" "onnxruntime/capi/${ORT_FILE}" "${ORT_DIR}/${ORT_FILE}.partial" <<'EOF'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
EOF
    actual=$(file_sha256 "${ORT_DIR}/${ORT_FILE}.partial")
    if [[ "$actual" != "$ORT_SHA256" ]]; then
        rm -f "${ORT_DIR}/${ORT_FILE}.partial"
        die "the extracted ${ORT_FILE} has SHA-256 ${actual}, expected ${ORT_SHA256}." \
            "The wheel on PyPI is not the one this script was written for; do not use it."
    fi
    chmod 0644 "${ORT_DIR}/${ORT_FILE}.partial"
    mv -f "${ORT_DIR}/${ORT_FILE}.partial" "${ORT_DIR}/${ORT_FILE}"
    info "extracted ${ORT_DIR}/${ORT_FILE} (SHA-256 verified)"
fi
ln -sfn "$ORT_FILE" "${ORT_DIR}/libonnxruntime.so"
info "${ORT_DIR}/libonnxruntime.so -> ${ORT_FILE}"
step_done "onnxruntime"

# --- 3. Build ---------------------------------------------------------------------------------
# A first dev build plus the test run fill about 4 GiB of the target dir without incremental
# compilation (.ci/run turns it off) and several times that with it (30 GB seen after many
# rebuilds). Without this check a full disk shows up as a rustc "No space left on device" deep
# inside some dependency's build.
FIRST_BUILD_GIB=6
check_disk_space() {
    local probe=$TARGET_DIR
    while [[ ! -d "$probe" ]]; do probe=$(dirname "$probe"); done
    local free_gib
    free_gib=$(($(df -Pk "$probe" | awk 'NR == 2 { print $4 }') / 1024 / 1024))
    if [[ -x "${TARGET_DIR}/debug/persona" ]]; then
        info "${free_gib} GiB free for ${TARGET_DIR} (an earlier build is there; a rebuild needs less)"
    elif ((free_gib < FIRST_BUILD_GIB)); then
        die "only ${free_gib} GiB free on the disk holding ${TARGET_DIR}; a first build and the tests need about ${FIRST_BUILD_GIB} GiB." \
            "Free some space (cargo clean in other checkouts, old target dirs), or set CARGO_TARGET_DIR to a larger disk, then re-run."
    else
        info "${free_gib} GiB free for ${TARGET_DIR}"
    fi
}
step "Build (cargo build --locked; target dir ${TARGET_DIR})"
command -v cargo >/dev/null || die "cargo not found on PATH." \
    "Install Rust (https://rustup.rs; persona uses edition 2024, so Rust 1.85 or newer), then re-run."
info "$(cargo --version)"
check_disk_space
cargo build --locked || die "the build failed (cargo's messages are above)." \
    "If a -sys crate could not find a library, check that step 1 installed: ${PACKAGES[*]}"
step_done "build"

# --- 4. Offline whisper model ------------------------------------------------------------------
step "Offline whisper test model (persona models synth)"
cargo run --locked --quiet -- models synth || die "\`persona models synth\` failed (its message is above)."
if [[ -f "$SYNTH_MODEL" ]]; then
    info "$SYNTH_MODEL ($(stat -c %s "$SYNTH_MODEL") bytes)"
else
    die "\`persona models synth\` exited successfully but $SYNTH_MODEL is not there." \
        "Does this checkout's CLI have the \`models synth\` subcommand? (cargo run -- models --help)"
fi
step_done "whisper model"

# --- 5. Browser test dependencies ------------------------------------------------------------
step "Browser test dependencies (npm ci in ${BROWSER_TEST_DIR}/)"
command -v node >/dev/null || die "node not found on PATH, though step 1 installs nodejs."
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= NODE_MIN_MAJOR)) || die "node $(node --version) is too old for the browser test (playwright-core)." \
    "Install Node.js ${NODE_MIN_MAJOR} or newer (Debian 12's nodejs is 18), then re-run ./setup.sh."
command -v npm >/dev/null || die "npm not found on PATH, though step 1 installs it when missing."
# npm ci replaces node_modules from package-lock.json; a stamp of the lock file's hash, written
# after a successful install, lets a re-run skip it (and the network).
lock="${BROWSER_TEST_DIR}/package-lock.json"
stamp="${BROWSER_TEST_DIR}/node_modules/.persona-lock.sha256"
if [[ -f "$stamp" && -f "${BROWSER_TEST_DIR}/node_modules/playwright-core/package.json" &&
    "$(cat "$stamp")" == "$(file_sha256 "$lock")" ]]; then
    info "${BROWSER_TEST_DIR}/node_modules matches ${lock}; skipping npm ci"
else
    info "+ (cd ${BROWSER_TEST_DIR} && npm ci --no-audit --no-fund)"
    (cd "$BROWSER_TEST_DIR" && npm ci --no-audit --no-fund) ||
        die "npm ci failed in ${BROWSER_TEST_DIR} (npm's message is above)." \
            "Check the network or the npm registry settings (npm config get registry), then re-run ./setup.sh."
    file_sha256 "$lock" >"$stamp"
fi
info "playwright-core $(node -p "require('./${BROWSER_TEST_DIR}/node_modules/playwright-core/package.json').version"), node $(node --version), $(chromium --version 2>/dev/null | head -n 1)"
step_done "browser test deps"

# --- Summary ----------------------------------------------------------------------------------
printf '\n==> persona is set up\n'
for t in "${step_times[@]}"; do
    info "$t"
done
info "ONNX Runtime: ${ORT_DIR}/libonnxruntime.so (set ORT_DYLIB_PATH to use another copy)"
info "binary:       ${TARGET_DIR}/debug/persona"
info "browser test: scripts/browser_e2e.sh (Chromium, node and ${BROWSER_TEST_DIR}/node_modules)"
printf '\nNext: ./scripts/test.sh   (or: cargo run -- doctor, to check this machine)\n'
