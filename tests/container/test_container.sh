#!/usr/bin/env bash
# test_container.sh — the container image of the Containerfile, built and run with podman (make test-container).
#
# As root: installs podman, runc, debootstrap and their networking with apt when missing; points
# CONTAINERS_CONF at a containers.conf of its own (runtime runc, no default ulimits; /etc is left
# alone); gets the Debian bookworm and bookworm-slim base images (container/make-base-images:
# pulled, or debootstrapped from the Debian archive and imported where no registry answers); builds
# the image; runs it with models/ mounted read-only on /models and its port published on loopback;
# waits for /health and /ready; posts samples/jfk.wav (and, when the host has ffmpeg, an MP3 of it)
# to /v1/audio/transcriptions and checks the text; checks the server runs as a non-root user, that
# `transcribe --vad` finds its VAD weights, that `podman healthcheck run` passes (and fails on a
# container of the image whose server is not running), that SIGTERM stops it cleanly; prints the
# image size and the time each step took.
#
# Environment: AM_CONTAINER_CACHE (default build/container) holds the rootfs tarballs, the
# containers.conf and the logs; AM_CONTAINER_IMAGE (default localhost/amanuensis:test) is the tag
# built; AM_CONTAINER_CONTEXT (default the repository) is the build context.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
cache=${AM_CONTAINER_CACHE:-$repo/build/container}
image=${AM_CONTAINER_IMAGE:-localhost/amanuensis:test}
context=${AM_CONTAINER_CONTEXT:-$repo}
model=tiny.en
phrase="ask not what your country can do for you"
name=amanuensis-test-$$
idle=amanuensis-test-idle-$$

t0=$(date +%s)
t_step=$t0
say() { echo "test_container: $*"; }
fail() { echo "test_container: FAIL: $*" >&2; exit 1; }
step_done() { local now; now=$(date +%s); say "$1 ($((now - t_step)) s)"; t_step=$now; }

[ "$(id -u)" -eq 0 ] || fail "run as root (rootful podman, debootstrap)"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
export AM_CONTAINER_CACHE=$cache

cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ] && command -v podman >/dev/null 2>&1 && podman container exists "$name" 2>/dev/null; then
        echo "test_container: the server's log:" >&2
        timeout 30 podman logs "$name" 2>&1 | tail -n 30 >&2 || true
    fi
    local c
    for c in "$name" "$idle"; do   # one at a time: podman 4.3's `rm -f A B` removes nothing when B is absent
        if command -v podman >/dev/null 2>&1 && podman container exists "$c" 2>/dev/null; then
            timeout 60 podman rm -f -t 5 "$c" >/dev/null 2>&1 || true
        fi
    done
    rm -f "$cache/jfk.mp3"
}
trap cleanup EXIT

# ---- 1. packages (Debian: apt) ------------------------------------------------------------------------
pkgs=(podman runc debootstrap netavark aardvark-dns iptables curl)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq
    timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cat >"$cache/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$cache/containers.conf
say "$(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')"
step_done "packages in place"

# ---- 2. base images -----------------------------------------------------------------------------------
bases=$(container/make-base-images) || fail "container/make-base-images failed"
BASE=$(sed -n 's/^BASE=//p' <<<"$bases")
BASE_SLIM=$(sed -n 's/^BASE_SLIM=//p' <<<"$bases")
[ -n "$BASE" ] && [ -n "$BASE_SLIM" ] || fail "container/make-base-images named no images"
step_done "base images $BASE, $BASE_SLIM"

# ---- 3. the image -------------------------------------------------------------------------------------
old_id=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
build() {
    timeout 2400 podman build --format docker --build-arg BASE="$BASE" --build-arg BASE_SLIM="$BASE_SLIM" \
        -t "$image" -f "$context/Containerfile" "$context" >"$cache/build.log" 2>&1
}
say "podman build -t $image (log: $cache/build.log)"
if ! build; then
    # once more (the layers that were built are reused): apt and the archive can fail for a moment
    tail -n 10 "$cache/build.log" | sed 's/^/  /'
    say "podman build failed; trying once more"
    if ! build; then
        tail -n 40 "$cache/build.log" >&2
        fail "podman build failed (log: $cache/build.log)"
    fi
fi
new_id=$(podman image inspect --format '{{.Id}}' "$image")
# the previous build of this tag, now untagged (kept when a container still uses it)
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then podman rmi "$old_id" >/dev/null 2>&1 || true; fi
[ "$(podman image inspect --format '{{.Config.User}}' "$image")" = amanuensis ] || fail "the image's user is not amanuensis"
podman image inspect --format '{{json .Config.Healthcheck}}' "$image" | grep -q /health \
    || fail "the image has no HEALTHCHECK on /health (built without --format docker?)"
step_done "image built"

# ---- 4. the server ------------------------------------------------------------------------------------
[ -f "models/$model/model.bin" ] || scripts/fetch-model "$model"
timeout 120 podman run -d --name "$name" -p 127.0.0.1::8080 -v "$repo/models:/models:ro" "$image" -m "$model" \
    >/dev/null 2>"$cache/run.err" || { cat "$cache/run.err" >&2; fail "podman run failed"; }
hostport=$(timeout 30 podman port "$name" 8080 | head -n 1)
[ -n "$hostport" ] || fail "no host port published for 8080"
url=http://$hostport
wait_for() { # wait_for PATH SECONDS
    local i
    for ((i = 0; i < $2 * 2; i++)); do
        curl -sf --max-time 2 "$url$1" >/dev/null 2>&1 && return 0
        [ "$(podman inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || fail "the container exited"
        sleep 0.5
    done
    fail "$url$1 did not answer within $2 s"
}
wait_for /health 60
wait_for /ready 180
step_done "server up at $url"

# ---- 5. transcriptions over loopback ------------------------------------------------------------------
transcribe() { # transcribe FILE: POST it, check the text
    local out
    out=$(curl -sS --max-time 300 -F "file=@$1" -F model=whisper-1 "$url/v1/audio/transcriptions") \
        || fail "POST $1 failed"
    grep -qi "$phrase" <<<"$out" || fail "POST $1: the text lacks \"$phrase\": $out"
    say "POST $1: $out"
}
transcribe samples/jfk.wav
if command -v ffmpeg >/dev/null 2>&1; then
    # a compressed file goes through FFmpeg's libraries in the image
    timeout 120 ffmpeg -nostdin -loglevel error -y -i samples/jfk.wav -c:a libmp3lame -b:a 64k "$cache/jfk.mp3"
    transcribe "$cache/jfk.mp3"
else
    say "no ffmpeg on the host: the MP3 upload is skipped"
fi
uid=$(timeout 30 podman exec "$name" id -u) || fail "podman exec failed"
[ "$uid" != 0 ] || fail "the server runs as root"
vad=$(timeout 300 podman exec -i "$name" amanuensis transcribe --vad -m "$model" - <samples/jfk.wav) \
    || fail "transcribe --vad in the container failed"
grep -qi "$phrase" <<<"$vad" || fail "transcribe --vad: the text lacks \"$phrase\": $vad"
step_done "transcriptions checked (server uid $uid)"

# ---- 6. HEALTHCHECK -----------------------------------------------------------------------------------
# (without systemd, podman logs that it cannot start its healthcheck timer; `healthcheck run` needs none)
timeout 60 podman healthcheck run "$name" || fail "podman healthcheck run: unhealthy"
status=$(podman inspect --format '{{.State.Health.Status}}' "$name")
[ "$status" = healthy ] || fail "health status is '$status' after a passing check"
# the same check on a container of the image where no server listens must fail
timeout 120 podman run -d --name "$idle" --entrypoint sleep "$image" 300 >/dev/null 2>"$cache/run.err" \
    || { cat "$cache/run.err" >&2; fail "podman run (idle) failed"; }
if timeout 60 podman healthcheck run "$idle" >/dev/null 2>&1; then fail "the HEALTHCHECK passed with no server"; fi
timeout 60 podman rm -f -t 0 "$idle" >/dev/null 2>&1
step_done "HEALTHCHECK passes on the server, fails without one"

# ---- 7. stop, size ------------------------------------------------------------------------------------
timeout 60 podman stop -t 20 "$name" >/dev/null 2>&1
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "the server exited with $code on SIGTERM"
timeout 60 podman rm "$name" >/dev/null 2>&1 || fail "podman rm failed"
size=$(podman image inspect --format '{{.Size}}' "$image")
say "image $image: $size bytes ($((size / 1000000)) MB), podman image inspect --format '{{.Size}}' $image"
step_done "stopped cleanly on SIGTERM"
say "passed in $(($(date +%s) - t0)) s"
