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

# one row per precision: the default (int8 weights, Q15 front end) and float32 (f32 front end)
declare -A label=([default]="int8 + Q15 (default)" [f32]="float32 + f32 front end")
declare -A extra=([default]="" [f32]="--precision f32 --frontend f32")
rows=""
runs_text=""
for row in default f32; do
    # shellcheck disable=SC2206
    cmd=("$bin" transcribe -m "$model" -t "$threads" --beam-size 1 --no-fallback -q ${extra[$row]} "${files[@]}")
    walls=()
    for ((i = 1; i <= runs; i++)); do
        t0=$(date +%s.%N)
        "${cmd[@]}" >/dev/null
        t1=$(date +%s.%N)
        walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
    done
    median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    rtf=$(awk -v w="$median" -v a="$audio" 'BEGIN { printf "%.4f", w / a }')
    speed=$(awk -v w="$median" -v a="$audio" 'BEGIN { printf "%.1f", a / w }')
    rows+="| ${label[$row]} | $(printf '%.2f' "$audio") | $median | $rtf | ${speed}x |"$'\n'
    runs_text+="${label[$row]}: ${walls[*]}; "
done

cpu=$(lscpu 2>/dev/null | awk -F: '/^Model name/ { gsub(/^[ \t]+/, "", $2); print $2; exit }')
cpu=${cpu:-unknown}
ncpu=$(nproc)
date_now=$(date -u +%Y-%m-%d)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null || true)" ]; then commit="$commit (+local changes)"; fi
shown="build/amanuensis transcribe -m $model -t $threads --beam-size 1 --no-fallback -q [--precision f32 --frontend f32] <${#files[@]} LibriVox files>"

section="## Real-time factor on the LibriVox files (bench/rtf.sh)"
table=$(cat <<TABLE
$section

$date_now, commit $commit. Machine: $cpu, $ncpu CPUs (nproc), shared (compare rows of one run only).
Command: \`bench/rtf.sh --write\`, which runs \`$shown\` $runs times per row
(median wall time, model load included). Audio: the ${#files[@]} LibriVox recordings of Debian's
pocketsphinx-testdata, tiny.en, $threads threads, greedy, no fallback. Runs (s): $runs_text

| precision | audio (s) | wall, median of $runs (s) | RTF (wall/audio) | speed (audio/wall) |
|---|---|---|---|---|
$rows
TABLE
)
echo "$table"

if [ "$write" -eq 1 ]; then
    out=BENCHMARKS.md
    [ -f "$out" ] || printf '# Benchmarks\n\n' >"$out"
    tmp=$(mktemp)
    printf '%s\n' "$table" >"$tmp"
    python3 - "$out" "$section" "$tmp" <<'PY'
import sys
path, section = sys.argv[1], sys.argv[2]
table = open(sys.argv[3]).read().rstrip("\n") + "\n"
text = open(path).read()
start = text.find(section)
if start >= 0:
    end = text.find("\n## ", start + len(section))
    text = text[:start] + table + (text[end + 1:] if end >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + table
open(path, "w").write(text)
PY
    rm -f "$tmp"
    echo "rtf.sh: wrote the section to $out"
fi
