# amanuensis — Whisper speech-to-text in C.
#   make            build the library (static + shared) and the CLI into build/
#   make demo       install build deps, build, fetch tiny.en once, transcribe the bundled sample
#   make test       install test deps, build (normal + ASan/UBSan), run every test
#   make asan       the sanitizer build into build/asan/
#   make bench      real-time factor benchmark (bench/rtf.sh)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
ALLFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Iinclude -Isrc -pthread -fPIC $(CFLAGS)
LDLIBS  := -lz -lm -pthread

BUILD   ?= build
SRCS    := $(sort $(wildcard src/common/*.c src/audio/*.c src/frontend/*.c src/model/*.c \
                             src/backend/*.c src/backend/cpu/*.c src/decode/*.c src/output/*.c))
SRCS    += $(sort $(wildcard src/vad/*.c))
# FFmpeg (libavformat, libavcodec, libswresample, libavutil) decodes every non-WAV input; found with
# pkg-config.  `make FFMPEG=0` builds without it (WAV only).
FFMPEG_PC := libavformat libavcodec libswresample libavutil
FFMPEG  ?= $(shell pkg-config --exists $(FFMPEG_PC) 2>/dev/null && echo 1 || echo 0)
ifeq ($(FFMPEG),1)
ALLFLAGS += -DAM_HAVE_FFMPEG $(shell pkg-config --cflags $(FFMPEG_PC))
override LDLIBS += $(shell pkg-config --libs $(FFMPEG_PC))
endif
OBJS    := $(SRCS:%.c=$(BUILD)/obj/%.o)
CLI_SRCS:= $(wildcard src/cli/*.c)
CLI_OBJS:= $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)

MODEL   ?= tiny.en

.PHONY: all lib cli tools unit demo test asan bench clean deps test-deps
all: lib cli tools

lib: $(BUILD)/libamanuensis.a $(BUILD)/libamanuensis.so
cli: $(BUILD)/amanuensis
tools: $(TOOL_BINS)

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h src/*/*.h src/*/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c $< -o $@

$(BUILD)/libamanuensis.a: $(OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libamanuensis.so: $(OBJS)
	$(CC) -shared $(ALLFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/amanuensis: $(CLI_OBJS) $(BUILD)/libamanuensis.a
	$(CC) $(ALLFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libamanuensis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -o $@ $< $(BUILD)/libamanuensis.a $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libamanuensis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -o $@ $< $(BUILD)/libamanuensis.a $(LDLIBS)

unit: $(UNIT_BINS)

asan:
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDLIBS="-lz -lm -pthread -fsanitize=address,undefined" all unit

deps:
	scripts/install-deps build

test-deps:
	scripts/install-deps test

demo: deps
	$(MAKE) all
	scripts/fetch-model $(MODEL)
	$(BUILD)/amanuensis transcribe -m $(MODEL) samples/jfk.wav

test: test-deps
	$(MAKE) all unit
	$(MAKE) asan
	scripts/fetch-model tiny.en
	scripts/run-tests

bench: all
	bench/rtf.sh

clean:
	rm -rf build
