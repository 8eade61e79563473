#!/usr/bin/env bash
# Generates the simulator's demo audio: eight short, musical, synthetic tracks, each built on its
# own fundamental (a steady drone with a few harmonics and a slow tremolo, plus a quiet plucked
# pentatonic melody an octave or more above it, panned a little to the right), encoded as
# 44.1 kHz stereo Ogg Vorbis at nominal 96, 160 and 320 kbit/s (Spotify's OGG_VORBIS_96/160/320).
# The drone never stops, so no track is silent at its start or end (the gapless tests look at
# the joint between tracks), and the fundamental is the loudest partial (tests find it by ear
# and by Goertzel filter).
#
# Run once by developers, not by `make test`; the .ogg files it writes are committed and
# embedded into the binary by crates/tonearm-sim/src/media.rs (include_bytes!). If you change the table below,
# change DEMO_AUDIO in crates/tonearm-sim/src/media.rs too (fundamentals; durations are read from the files).
#
# Needs (Debian/Ubuntu):  apt-get install -y sox vorbis-tools libsox-fmt-all bc
#   sox        synthesis and mixing (writes WAV; libsox-fmt-all is only needed for other formats)
#   oggenc     from vorbis-tools, the Vorbis encoder
#   bc         frequency arithmetic
# Output: crates/tonearm-sim/assets/audio/trackN-{096,160,320}.ogg, N = 1..8; total must stay ≤ 4 MB (checked).
set -euo pipefail

for tool in sox oggenc bc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "generate.sh: '$tool' not found; run: apt-get install -y sox vorbis-tools libsox-fmt-all bc" >&2
    exit 1
  fi
done

out="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# n  fundamental(Hz)  seconds  melody (indices into the pentatonic ratios below, one per half second)
tracks=(
  "1 220.00 12 0 2 4 5 4 2 3 1 0 2 4 3 1 0 2 4 5 3 2 1 0 2"
  "2 246.94 11 4 3 2 0 1 2 4 5 4 3 2 1 0 1 2 3 4 2 0 1 2 0"
  "3 261.63 12 0 0 4 4 5 5 4 3 3 2 2 1 1 0 4 3 2 1 0 2 4 5"
  "4 293.66 10 5 4 3 2 1 0 1 2 3 4 5 4 3 2 1 0 2 4 1 3"
  "5 329.63 12 2 4 2 0 3 5 3 1 2 4 2 0 3 5 3 1 0 1 2 3 4 5"
  "6 349.23 11 0 1 2 3 4 5 4 3 2 1 0 2 4 2 0 3 5 3 1 0 2 4"
  "7 392.00 10 4 2 0 2 4 4 4 3 3 3 4 5 5 4 2 0 2 4 3 1"
  "8 440.00 12 1 3 5 3 1 0 2 4 2 0 1 3 5 4 3 2 1 0 2 4 5 2"
)
# Major pentatonic, relative to twice the fundamental.
ratios=(1 1.125 1.25 1.5 1.6667 2)

for spec in "${tracks[@]}"; do
  read -r n f0 secs notes <<<"$spec"
  # Drone: fundamental + 2nd and 3rd harmonics; slow tremolo (20 % deep, never silent).
  sox -R -V1 -m \
    -v 1 "|sox -R -n -r 44100 -c 1 -p synth $secs sine $f0 vol 0.42" \
    -v 1 "|sox -R -n -r 44100 -c 1 -p synth $secs sine $(echo "$f0*2" | bc -l) vol 0.12" \
    -v 1 "|sox -R -n -r 44100 -c 1 -p synth $secs sine $(echo "$f0*3" | bc -l) vol 0.06" \
    -r 44100 -c 1 -b 16 "$work/drone.wav" tremolo 0.5 20
  # Melody: plucked notes, half a second each, exactly as long as the drone.
  inputs=()
  for i in $notes; do
    f=$(echo "$f0*2*${ratios[$i]}" | bc -l)
    inputs+=("|sox -R -n -r 44100 -c 1 -p synth 0.5 pluck $f vol 0.20")
  done
  sox -R -V1 "${inputs[@]}" -r 44100 -c 1 -b 16 "$work/melody.wav" trim 0 "$secs"
  # Stereo: drone centred, melody a little to the right.
  sox -R -V1 -M "$work/drone.wav" "$work/melody.wav" -r 44100 -c 2 -b 16 "$work/mix.wav" \
    remix 1v1,2v0.6 1v1,2v1.0 trim 0 "$secs"
  for kbps in 96 160 320; do
    file="$out/track$n-$(printf %03d "$kbps").ogg"
    # Fixed serial numbers (and sox -R) keep the output byte-for-byte reproducible.
    oggenc -Q -b "$kbps" --serial "$((1000 + n * 10 + kbps / 96))" \
      -t "Tonearm demo $n" -a "tonearm" -c "fundamental=$f0" \
      -o "$file" "$work/mix.wav"
  done
  echo "track $n: $f0 Hz, $secs s"
done

total=$(du -cb "$out"/track*.ogg | tail -1 | cut -f1)
echo "total audio: $total bytes"
if [ "$total" -gt 4000000 ]; then
  echo "generate.sh: demo audio exceeds the 4 MB budget" >&2
  exit 1
fi
