#!/bin/sh
# make-audio-seeds.sh — regenerate the audio seeds of fuzz_wav (tests/fuzz/corpus/wav) and fuzz_ffmpeg
# (tests/fuzz/corpus/ffmpeg): short slices of samples/jfk.wav in the WAV layouts src/audio/wav.c reads
# and in common FFmpeg containers.  Needs the ffmpeg program.  Run from the repository root.
set -eu
src=samples/jfk.wav
wav=tests/fuzz/corpus/wav
ff=tests/fuzz/corpus/ffmpeg
mkdir -p "$wav" "$ff"
enc() { # enc OUT SECONDS ARGS...: a slice from 1 s into the recording
    out=$1 t=$2; shift 2
    ffmpeg -v error -y -ss 1 -t "$t" -i "$src" -map_metadata -1 -fflags +bitexact -flags:a +bitexact "$@" "$out"
}
enc "$wav/s16_16k_mono.wav" 0.1 -c:a pcm_s16le
enc "$wav/u8_8k_stereo.wav" 0.1 -ar 8000 -ac 2 -c:a pcm_u8
enc "$wav/s24_44k_mono.wav" 0.02 -ar 44100 -c:a pcm_s24le
enc "$wav/s32_22k_mono.wav" 0.02 -ar 22050 -c:a pcm_s32le
enc "$wav/f32_48k_stereo.wav" 0.01 -ar 48000 -ac 2 -c:a pcm_f32le
enc "$wav/f64_11k_mono.wav" 0.02 -ar 11025 -c:a pcm_f64le
enc "$wav/extensible_6ch.wav" 0.005 -ac 6 -c:a pcm_s16le
enc "$wav/rf64_s16_mono.wav" 0.05 -c:a pcm_s16le -rf64 always
enc "$ff/speech.mp3" 0.3 -c:a libmp3lame -b:a 32k
enc "$ff/speech.flac" 0.1 -c:a flac
enc "$ff/speech.ogg" 0.3 -c:a libvorbis -q:a 0
enc "$ff/speech.opus" 0.3 -c:a libopus -b:a 12k
enc "$ff/speech.m4a" 0.3 -c:a aac -b:a 24k
enc "$ff/speech.webm" 0.3 -c:a libopus -b:a 12k
enc "$ff/speech.aiff" 0.05 -c:a pcm_s16be
enc "$ff/speech.au" 0.05 -c:a pcm_mulaw
enc "$ff/speech.mka" 0.05 -c:a pcm_s16le
enc "$ff/speech.caf" 0.05 -c:a pcm_s16le
