#!/usr/bin/env bash
# Writes the barge-in conversation used by BENCHMARKS.md: a greeting the avatar answers at
# length, then over its answer a cough-like noise burst and an "mhm" (which must not interrupt
# it), then a real interruption, then a question that ends the session. Needs espeak-ng and sox
# (./setup.sh installs both).
#   scripts/make_barge_in_conversation.sh [OUT.wav]
set -euo pipefail
out=${1:-barge-in.wav}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rate=22050
silence() { sox -n -r $rate -c 1 "$work/$1.wav" trim 0 "$2"; }
espeak-ng -w "$work/hello.wav" "Hello, my name is Anna Smith."
espeak-ng -w "$work/mhm.wav" "mhm"
espeak-ng -v en-us+f3 -w "$work/interrupt.wav" "Sorry, wait, I have a question about my bill."
espeak-ng -v en-gb-x-rp -w "$work/question.wav" "Where should I park my car?"
# A cough-like burst: 0.4 s of pink noise with a fast attack and a decay, band-limited.
sox -n -r $rate -c 1 "$work/cough.wav" synth 0.4 pinknoise fade q 0.02 0.4 0.3 \
    sinc 200-3000 gain -n -3
silence lead 1.0
silence s1 2.0
silence s2 0.6
silence s3 0.5
silence s4 2.0
silence tail 3.0
sox "$work/lead.wav" "$work/hello.wav" "$work/s1.wav" "$work/cough.wav" "$work/s2.wav" "$work/mhm.wav" \
    "$work/s3.wav" "$work/interrupt.wav" "$work/s4.wav" "$work/question.wav" "$work/tail.wav" "$out"
echo "wrote $out ($(soxi -D "$out") s)"
