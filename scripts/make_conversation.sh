#!/usr/bin/env bash
# Writes the three-question conversation used by BENCHMARKS.md and the README:
# 1.5 s of silence, then three questions (two voices) each followed by 1.5 s of silence, and
# 3 s at the end. Needs espeak-ng and sox (./setup.sh installs both).
#   scripts/make_conversation.sh [OUT.wav]
set -euo pipefail
out=${1:-conversation.wav}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
espeak-ng -w "$work/q1.wav" "What time does the clinic open tomorrow?"
espeak-ng -v en-us+f3 -w "$work/q2.wav" "Can I bring my daughter with me?"
espeak-ng -w "$work/q3.wav" "Where should I park my car?"
sox -n -r 22050 -c 1 "$work/pause.wav" trim 0 1.5
sox -n -r 22050 -c 1 "$work/tail.wav" trim 0 3.0
sox "$work/pause.wav" "$work/q1.wav" "$work/pause.wav" "$work/q2.wav" "$work/pause.wav" "$work/q3.wav" "$work/tail.wav" "$out"
echo "wrote $out ($(soxi -D "$out") s)"
