#!/usr/bin/env bash
# bench/rtf.sh [--write] — real-time factor of build/amanuensis on the 5 LibriVox recordings of
# Debian's pocketsphinx-testdata: tiny.en, 2 threads, greedy without fallback, one process for all
# 5 files, 3 runs, median wall time. Prints a markdown table; --write also records it in BENCHMARKS.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

write=0
case "${1:-}" in
    --write) write=1 ;;
    "") ;;
    *) echo "usage: $0 [--write]" >&2; exit 2 ;;
esac

bin=build/amanuensis
model=${MODEL:-models/tiny.en}
threads=${THREADS:-2}
runs=${RUNS:-3}
data=/usr/share/pocketsphinx/test/data/librivox

[ -x "$bin" ] || { echo "rtf.sh: $bin is not built (make all)" >&2; exit 1; }
[ -e "$model" ] || scripts/fetch-model tiny.en >/dev/null
command -v soxi >/dev/null || { echo "rtf.sh: soxi not found (scripts/install-deps test)" >&2; exit 1; }
shopt -s nullglob
files=("$data"/*.wav)
[ "${#files[@]}" -gt 0 ] || { echo "rtf.sh: no WAV files in $data (apt-get install pocketsphinx-testdata)" >&2; exit 1; }

audio=0
for f in "${files[@]}"; do
    audio=$(awk -v a="$audio" -v b="$(soxi -D "$f")" 'BEGIN { printf "%.6f", a + b }')
done

cmd=("$bin" transcribe -m "$model" -t "$threads" --beam-size 1 --no-fallback -q "${files[@]}")
walls=()
for ((i = 1; i <= runs; i++)); do
    t0=$(date +%s.%N)
    "${cmd[@]}" >/dev/null
    t1=$(date +%s.%N)
    walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
done
median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
audio=$(awk -v a="$audio" 'BEGIN { printf "%.2f", a }')
rtf=$(awk -v w="$median" -v a="$audio" 'BEGIN { printf "%.4f", w / a }')
speed=$(awk -v w="$median" -v a="$audio" 'BEGIN { printf "%.1f", a / w }')

cpu=$(lscpu 2>/dev/null | awk -F: '/^Model name/ { gsub(/^[ \t]+/, "", $2); print $2; exit }')
cpu=${cpu:-unknown}
ncpu=$(nproc)
date_now=$(date -u +%Y-%m-%d)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null || true)" ]; then commit="$commit (+local changes)"; fi
shown="build/amanuensis transcribe -m $model -t $threads --beam-size 1 --no-fallback -q <${#files[@]} LibriVox files>"

table=$(cat <<TABLE
| date | commit | machine | model | threads | files | audio (s) | wall, median of $runs (s) | RTF (wall/audio) | speed (audio/wall) |
|---|---|---|---|---|---|---|---|---|---|
| $date_now | $commit | $cpu, $ncpu CPUs | $(basename "$model") | $threads | ${#files[@]} | $audio | $median | $rtf | ${speed}x |
TABLE
)
echo "$table"
echo
echo "runs (s): ${walls[*]}"
echo "command: $shown"

if [ "$write" -eq 1 ]; then
    out=BENCHMARKS.md
    if [ ! -f "$out" ]; then
        cat >"$out" <<HEAD
# Benchmarks

Every figure here was produced by \`bench/rtf.sh --write\` (rerun it to check). Audio: the 5 LibriVox
recordings of Debian's pocketsphinx-testdata (16 kHz). RTF = wall time / audio duration (lower is
better); speed = audio duration / wall time. Wall time includes loading the model.

HEAD
    fi
    {
        echo "## $date_now — $commit"
        echo
        echo "Machine: $cpu, $ncpu CPUs (nproc). Command: \`$shown\`. Runs (s): ${walls[*]}."
        echo
        echo "$table"
        echo
    } >>"$out"
    echo "rtf.sh: appended to $out"
fi
