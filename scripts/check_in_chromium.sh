#!/usr/bin/env bash
# Asks headless Chromium whether it accepts persona's video files: for each file, canPlayType for
# its codecs, the duration and size it parses, and whether it decodes to HAVE_ENOUGH_DATA with
# frames and none dropped. A manual check (Chromium is not part of ./setup.sh):
#   apt-get install chromium
#   scripts/check_in_chromium.sh hello.webm hello.mp4
# Headless Chromium in a container without an audio device does not advance playback in real
# time (an ffmpeg-made reference file stalls the same way), so this checks loading and decoding,
# under Chromium's virtual time, not a full play-through.
set -euo pipefail

command -v chromium >/dev/null || { echo "chromium not found: apt-get install chromium" >&2; exit 2; }
(($# > 0)) || { echo "usage: $0 VIDEO..." >&2; exit 2; }

dir=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
names=()
for f in "$@"; do
    cp "$f" "$dir/"
    names+=("\"$(basename "$f")\"")
done
cat > "$dir/check.html" <<HTML
<!doctype html><html><body><pre id="out">pending</pre><script>
const codecs = {webm: 'video/webm; codecs="vp8, opus"', mp4: 'video/mp4; codecs="avc1.42c01f, opus"'};
const res = {};
for (const f of [$(IFS=,; echo "${names[*]}")]) {
  const v = document.createElement("video");
  v.muted = true; v.preload = "auto"; v.src = f; document.body.appendChild(v);
  res[f] = {canPlay: v.canPlayType(codecs[f.split(".").pop()] || "")};
  v.onloadeddata = () => {
    const q = v.getVideoPlaybackQuality();
    Object.assign(res[f], {readyState: v.readyState, duration: v.duration, width: v.videoWidth,
      height: v.videoHeight, decodedFrames: q.totalVideoFrames, droppedFrames: q.droppedVideoFrames});
  };
  v.onerror = () => { res[f].error = v.error.message; };
}
setInterval(() => document.getElementById("out").textContent = JSON.stringify(res, null, 1), 100);
</script></body></html>
HTML
port=$((20000 + RANDOM % 20000))
(cd "$dir" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
sleep 1
chromium --headless=new --no-sandbox --autoplay-policy=no-user-gesture-required \
    --virtual-time-budget=20000 --dump-dom "http://127.0.0.1:$port/check.html" 2>/dev/null |
    sed -n '/<pre id="out">/,/<\/pre>/p' | sed 's/<[^>]*>//g'
