# amanuensis — Whisper speech-to-text in C.
#   make            build the library (static + shared) and the CLI into build/
#   make demo       install build deps, build, fetch tiny.en once, transcribe the bundled sample
#   make test       install test deps, build (normal + ASan/UBSan), run every test
#   make asan       the sanitizer build into build/asan/
#   make bench      real-time factor benchmark (bench/rtf.sh)
#   make test-container  the container image built with podman and tested (as root; not part of make test)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
ALLFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Iinclude -Isrc -pthread -fPIC $(CFLAGS)
LDLIBS  := -lz -lm -pthread

BUILD   ?= build
SRCS    := $(sort $(wildcard src/common/*.c src/audio/*.c src/frontend/*.c src/model/*.c \
                             src/backend/*.c src/backend/cpu/*.c src/text/*.c src/result/*.c src/decode/*.c src/output/*.c))
SRCS    += $(sort $(wildcard src/vad/*.c src/stream/*.c))
SRCS    += $(sort $(wildcard src/diarize/*.c))
# FFmpeg (libavformat, libavcodec, libswresample, libavutil) decodes every non-WAV input; found with
# pkg-config.  `make FFMPEG=0` builds without it (WAV only).
FFMPEG_PC := libavformat libavcodec libswresample libavutil
FFMPEG  ?= $(shell pkg-config --exists $(FFMPEG_PC) 2>/dev/null && echo 1 || echo 0)
ifeq ($(FFMPEG),1)
ALLFLAGS += -DAM_HAVE_FFMPEG $(shell pkg-config --cflags $(FFMPEG_PC))
override LDLIBS += $(shell pkg-config --libs $(FFMPEG_PC))
endif
# Vulkan (src/backend/vulkan): compute shaders compiled to SPIR-V by glslc and embedded; the
# loader is opened at run time (dlopen), so only its headers are needed here.  Built when the
# headers (pkg-config vulkan) and glslc are present; `make VULKAN=0` builds without.
VULKAN  ?= $(shell pkg-config --exists vulkan 2>/dev/null && command -v glslc >/dev/null 2>&1 && echo 1 || echo 0)
ifeq ($(VULKAN),1)
SRCS    += $(sort $(wildcard src/backend/vulkan/*.c))
ALLFLAGS += -DAM_HAVE_VULKAN -I$(BUILD)/gen $(shell pkg-config --cflags vulkan)
override LDLIBS += -ldl
VK_SHADERS := $(sort $(wildcard src/backend/vulkan/shaders/*.comp))
VK_SPV  := $(VK_SHADERS:src/backend/vulkan/shaders/%.comp=$(BUILD)/gen/spv/%.spv)
endif
OBJS    := $(SRCS:%.c=$(BUILD)/obj/%.o)
# The diarization networks' element-wise loops (BatchNorm, ReLU, LSTM gates, im2col) vectorised:
# -O2's cost model leaves loops of unknown length scalar, and they were a third of its time.
$(BUILD)/obj/src/diarize/%.o: CFLAGS += -fvect-cost-model=dynamic
CLI_SRCS:= $(wildcard src/cli/*.c) $(sort $(wildcard src/server/*.c))
WEB_FILES := $(sort $(wildcard src/server/web/*))
CLI_OBJS:= $(CLI_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/web_assets.o
CLI_LDLIBS := -lmicrohttpd
# libwslay (Debian: libwslay-dev; it ships no pkg-config file, so its header is probed) frames the
# server's WebSocket endpoint /v1/realtime (src/server/realtime.c); `make WSLAY=0` builds without
# it, and the endpoint then answers 501.
WSLAY   ?= $(shell printf '\043include <wslay/wslay.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1 || echo 0)
ifeq ($(WSLAY),1)
CLI_FLAGS := -DAM_HAVE_WSLAY
CLI_LDLIBS += -lwslay
endif
# FFmpeg's capture devices (libavdevice, Debian: libavdevice-dev) give `amanuensis stream --mic`
# (PulseAudio or ALSA); the CLI only.  `make AVDEVICE=0` builds without (--mic then says so).
AVDEVICE ?= $(if $(filter 1,$(FFMPEG)),$(shell pkg-config --exists libavdevice 2>/dev/null && echo 1 || echo 0),0)
ifeq ($(AVDEVICE),1)
CLI_FLAGS += -DAM_HAVE_AVDEVICE $(shell pkg-config --cflags libavdevice)
CLI_LDLIBS += $(shell pkg-config --libs libavdevice)
endif
FUZZ_SECONDS ?= 60
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
TOOL_BINS += $(BUILD)/tools/encoder_bench

MODEL   ?= tiny.en
VERSION := $(shell sed -n 's/^.define AM_VERSION "\(.*\)"/\1/p' include/amanuensis.h)
SONAME  := libamanuensis.so.$(firstword $(subst ., ,$(VERSION)))

.PHONY: all lib cli tools unit demo test asan bench clean deps test-deps fuzz-short fuzz fuzz-build
all: lib cli tools

lib: $(BUILD)/libamanuensis.a $(BUILD)/libamanuensis.so
cli: $(BUILD)/amanuensis
tools: $(TOOL_BINS)

# The library's objects hide every symbol but the AM_API functions of include/amanuensis.h, so the
# shared library exports the public API only (the CLI, tests and tools link the static library).
$(OBJS): ALLFLAGS += -fvisibility=hidden

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h src/*/*.h src/*/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c $< -o $@

$(BUILD)/libamanuensis.a: $(OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# soname libamanuensis.so.MAJOR (AM_VERSION of include/amanuensis.h); the symlink of that name lets
# programs linked with build/libamanuensis.so run from the build tree
$(BUILD)/libamanuensis.so: $(OBJS)
	$(CC) -shared $(ALLFLAGS) -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)
	ln -sf libamanuensis.so $(BUILD)/$(SONAME)

$(CLI_OBJS): ALLFLAGS += $(CLI_FLAGS)

$(BUILD)/amanuensis: $(CLI_OBJS) $(BUILD)/libamanuensis.a
	$(CC) $(ALLFLAGS) -o $@ $^ $(CLI_LDLIBS) $(LDLIBS)

# the web page (src/server/web/*) embedded into the binary: a table of NUL-terminated byte arrays
$(BUILD)/gen/web_assets.c: $(WEB_FILES) Makefile
	@mkdir -p $(dir $@)
	@{ echo '/* generated by the Makefile from src/server/web/: do not edit */'; \
	   echo '#include "server/web_assets.h"'; i=0; \
	   for f in $(WEB_FILES); do echo "static const unsigned char a$$i[] = {"; \
	     { cat "$$f"; printf '\000'; } | xxd -i; echo '};'; i=$$((i+1)); done; \
	   echo 'const web_asset am_web_assets[] = {'; i=0; \
	   for f in $(WEB_FILES); do echo "    {\"/$$(basename $$f)\", a$$i, sizeof a$$i - 1},"; i=$$((i+1)); done; \
	   echo '    {0, 0, 0}};'; echo "const int am_web_n_assets = $$i;"; } > $@.tmp && mv $@.tmp $@

# the shaders: SPIR-V, then a table of word arrays (vk_shader_table.inc, see backend/vulkan/vk_shaders.c)
$(BUILD)/gen/spv/%.spv: src/backend/vulkan/shaders/%.comp $(wildcard src/backend/vulkan/shaders/*.glsl)
	@mkdir -p $(dir $@)
	glslc -O --target-env=vulkan1.1 -Isrc/backend/vulkan/shaders -o $@ $<

$(BUILD)/gen/vk_shader_table.inc: $(VK_SPV) Makefile
	@mkdir -p $(dir $@)
	@{ echo '/* generated by the Makefile from src/backend/vulkan/shaders/: do not edit */'; \
	   for f in $(VK_SPV); do n=$$(basename $$f .spv); \
	     echo "static const uint32_t spv_$$n[] = {"; od -An -v -t x4 -w16 $$f | sed 's/ \([0-9a-f]\{8\}\)/0x\1,/g'; echo '};'; done; \
	   echo 'static const vk_shader vk_shader_table[] = {'; \
	   for f in $(VK_SPV); do n=$$(basename $$f .spv); echo "    {\"$$n\", spv_$$n, sizeof spv_$$n},"; done; \
	   echo '    {0, 0, 0}};'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/src/backend/vulkan/vk_shaders.o: $(BUILD)/gen/vk_shader_table.inc

$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c src/server/web_assets.h
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c $< -o $@

# ---- fuzzing: every reader of untrusted bytes (tests/fuzz/) -----------------------------------------
# `make fuzz-short` (run by `make test`): each target for FUZZ_SHORT_SECONDS with the standalone driver
# (tests/fuzz/driver.c, gcc ASan/UBSan), then as long again with libFuzzer when clang has its runtime.
# `make fuzz FUZZ_SECONDS=1800` is the long form (add -j4 to run targets side by side; FUZZ_STANDALONE=0
# spends the time in libFuzzer only, after the standalone driver has replayed regressions and seeds).  Each run first
# replays tests/fuzz/regressions/<target>/, then the seeds (tests/fuzz/corpus/<target>/ and those
# tests/fuzz/gen_seeds.c writes into build/fuzz/seeds/).  A failing input is saved as
# build/fuzz/artifacts/<target>-crash-*; once fixed, it belongs in tests/fuzz/regressions/<target>/.
FUZZ_SHORT_SECONDS ?= 8
FUZZ_TARGETS := multipart wav ct2 ct2_files ggml vad diarize_weights $(if $(filter 1,$(FFMPEG)),ffmpeg) \
                $(if $(filter 1,$(WSLAY)),ws)
FUZZ_DIR    := build/fuzz
FUZZ_SAN    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_FLAGS   = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Wno-unused-function -Iinclude -Isrc -Itests/fuzz -pthread
FUZZ_LINK    = $(FUZZ_DIR)/$(1)/libamanuensis.a $(LDLIBS)
FUZZ_LINK_multipart = src/server/multipart.c
# what a target compiles besides the library (before it on the command line)
FUZZ_EXTRA_ws := -DAM_HAVE_WSLAY src/server/realtime.c -lwslay
FUZZ_MAXLEN_multipart := 8192
FUZZ_MAXLEN_wav       := 16384
FUZZ_MAXLEN_ffmpeg    := 65536
FUZZ_MAXLEN_ct2       := 131072
FUZZ_MAXLEN_ct2_files := 524288
FUZZ_MAXLEN_ggml      := 393216
FUZZ_MAXLEN_vad       := 1048576
FUZZ_MAXLEN_diarize_weights := 4096
FUZZ_MAXLEN_ws        := 65536
FUZZ_HDRS   := $(wildcard tests/fuzz/*.h)
# libFuzzer needs clang's runtime (Debian: libclang-rt-*-dev); probed only when a fuzz target runs
FUZZ_LIBFUZZER = $(shell mkdir -p $(FUZZ_DIR) && command -v clang >/dev/null 2>&1 && \
                   echo 'int LLVMFuzzerTestOneInput(const unsigned char*d,unsigned long n){(void)d;(void)n;return 0;}' \
                   | clang -x c -fsanitize=fuzzer -o $(FUZZ_DIR)/.probe - >/dev/null 2>&1 && echo 1)
FUZZ_DICT    = $(patsubst %,-dict=%,$(wildcard tests/fuzz/$(1).dict))
FUZZ_INPUTS  = $(wildcard tests/fuzz/regressions/$(1) tests/fuzz/corpus/$(1) $(FUZZ_DIR)/seeds/$(1))

fuzz-short:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SHORT_SECONDS)

fuzz: fuzz-build
	$(MAKE) $(addprefix fuzz-run-,$(FUZZ_TARGETS)) FUZZ_HAVE_LF=$(FUZZ_LIBFUZZER)

# the library under ASan/UBSan (gcc) and, with libFuzzer, under clang's coverage; the targets; the seeds
fuzz-build:
	@mkdir -p $(FUZZ_DIR)/artifacts
	$(MAKE) BUILD=$(FUZZ_DIR)/san CFLAGS="$(FUZZ_SAN)" $(FUZZ_DIR)/san/libamanuensis.a
	$(if $(FUZZ_LIBFUZZER),$(MAKE) BUILD=$(FUZZ_DIR)/lf CC=clang CFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" $(FUZZ_DIR)/lf/libamanuensis.a)
	$(MAKE) $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%) $(if $(FUZZ_LIBFUZZER),$(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%_lf)) $(FUZZ_DIR)/seeds/.done

$(FUZZ_DIR)/fuzz_ws $(FUZZ_DIR)/fuzz_ws_lf: src/server/realtime.c src/server/realtime.h
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(FUZZ_HDRS) $(FUZZ_DIR)/san/libamanuensis.a
	$(CC) $(FUZZ_FLAGS) $(FUZZ_SAN) -o $@ $< tests/fuzz/driver.c $(FUZZ_EXTRA_$*) $(or $(FUZZ_LINK_$*),$(call FUZZ_LINK,san))

$(FUZZ_DIR)/fuzz_%_lf: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_DIR)/lf/libamanuensis.a
	clang $(FUZZ_FLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA_$*) $(or $(FUZZ_LINK_$*),$(call FUZZ_LINK,lf))

$(FUZZ_DIR)/seeds/.done: tests/fuzz/gen_seeds.c tests/fuzz/synth_models.h data/silero-vad-v6.2.0-ggml.bin
	$(CC) $(FUZZ_FLAGS) -O1 -o $(FUZZ_DIR)/gen_seeds tests/fuzz/gen_seeds.c
	rm -rf $(FUZZ_DIR)/seeds && $(FUZZ_DIR)/gen_seeds valid $(FUZZ_DIR)/seeds
	mkdir -p $(FUZZ_DIR)/seeds/vad && cp data/silero-vad-v6.2.0-ggml.bin $(FUZZ_DIR)/seeds/vad/
	touch $@

# one target: regressions, seeds, then FUZZ_SECONDS of mutation per engine (libFuzzer's log: build/fuzz/lf-<target>.log)
fuzz-run-%:
	@echo "fuzz $*: $(FUZZ_SECONDS) s standalone$(if $(FUZZ_HAVE_LF), + $(FUZZ_SECONDS) s libFuzzer)"
	$(FUZZ_DIR)/fuzz_$* -seconds=$(if $(filter 0,$(FUZZ_STANDALONE)),0,$(FUZZ_SECONDS)) -max_len=$(FUZZ_MAXLEN_$*) -artifact_prefix=$(FUZZ_DIR)/artifacts/$*- \
	    $(call FUZZ_DICT,$*) $(call FUZZ_INPUTS,$*)
	$(if $(FUZZ_HAVE_LF),@mkdir -p $(FUZZ_DIR)/lf-corpus/$* && \
	  $(FUZZ_DIR)/fuzz_$*_lf -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAXLEN_$*) -timeout=25 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$*- $(call FUZZ_DICT,$*) \
	    $(FUZZ_DIR)/lf-corpus/$* $(call FUZZ_INPUTS,$*) >$(FUZZ_DIR)/lf-$*.log 2>&1 \
	  || { tail -n 60 $(FUZZ_DIR)/lf-$*.log; exit 1; }; \
	  grep -E '^(#[0-9]+ *(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb)' $(FUZZ_DIR)/lf-$*.log)

# allocation-failure injection: the library's malloc/calloc/realloc calls go through the test's wrappers
$(BUILD)/tests/test_oom: tests/unit/test_oom.c tests/unit/fake_backend.h $(BUILD)/libamanuensis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -o $@ $< $(BUILD)/libamanuensis.a $(LDLIBS) -lcmocka -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(BUILD)/tests/test_decode: tests/unit/fake_backend.h

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libamanuensis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -o $@ $< $(BUILD)/libamanuensis.a $(LDLIBS) -lcmocka

$(BUILD)/tools/encoder_bench: bench/encoder_bench.c $(BUILD)/libamanuensis.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -o $@ $< $(BUILD)/libamanuensis.a $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c tests/tools/tool_window.h $(BUILD)/libamanuensis.a
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
	$(MAKE) fuzz-short
	scripts/fetch-model tiny.en
	scripts/fetch-model diarization
	scripts/run-tests

bench: all
	bench/rtf.sh

# the container image of the Containerfile, built with podman, run, a transcription posted to it and its
# HEALTHCHECK run (tests/container/test_container.sh; as root: installs podman with apt when missing)
.PHONY: test-container
test-container:
	tests/container/test_container.sh


# make install PREFIX=/usr/local DESTDIR=: the program, the static and the versioned shared library
# (libamanuensis.so.VERSION, its soname link and the libamanuensis.so link), the header, amanuensis.pc
# and the VAD weights in share/amanuensis/, where the program and the library look for them relative
# to their own location (src/decode/vad_plan.c).  Directories that did not exist are listed in
# share/amanuensis/installed-dirs (not with DESTDIR: a staged tree is packaged as it is); make
# uninstall removes the files and those directories when empty.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATAROOTDIR?= $(PREFIX)/share
PKGDATADIR := $(DATAROOTDIR)/amanuensis
INSTALL_DIRS := $(PREFIX) $(BINDIR) $(LIBDIR) $(LIBDIR)/pkgconfig $(INCLUDEDIR) $(DATAROOTDIR) $(PKGDATADIR)
VAD_WEIGHTS := data/silero-vad-v6.2.0-ggml.bin

.PHONY: install uninstall
install: lib cli
	@created=; for d in $(INSTALL_DIRS); do [ -d "$(DESTDIR)$$d" ] || created="$$created $$d"; done; \
	 install -d $(addprefix $(DESTDIR),$(INSTALL_DIRS)) && \
	 if [ -n "$$created" ] && [ -z "$(DESTDIR)" ]; then printf '%s\n' $$created >> "$(PKGDATADIR)/installed-dirs"; fi
	install -m 755 $(BUILD)/amanuensis $(DESTDIR)$(BINDIR)/amanuensis
	install -m 644 $(BUILD)/libamanuensis.a $(DESTDIR)$(LIBDIR)/libamanuensis.a
	install -m 755 $(BUILD)/libamanuensis.so $(DESTDIR)$(LIBDIR)/libamanuensis.so.$(VERSION)
	ln -sf libamanuensis.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libamanuensis.so
	install -m 644 include/amanuensis.h $(DESTDIR)$(INCLUDEDIR)/amanuensis.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@PKGDATADIR@|$(PKGDATADIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES_PRIVATE@|$(if $(filter 1,$(FFMPEG)),$(FFMPEG_PC))|' \
	    amanuensis.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/amanuensis.pc
	install -m 644 $(VAD_WEIGHTS) $(DESTDIR)$(PKGDATADIR)/$(notdir $(VAD_WEIGHTS))

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/amanuensis $(DESTDIR)$(LIBDIR)/libamanuensis.a \
	      $(DESTDIR)$(LIBDIR)/libamanuensis.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libamanuensis.so $(DESTDIR)$(INCLUDEDIR)/amanuensis.h \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/amanuensis.pc $(DESTDIR)$(PKGDATADIR)/$(notdir $(VAD_WEIGHTS))
	@list="$(DESTDIR)$(PKGDATADIR)/installed-dirs"; dirs=; \
	 if [ -f "$$list" ]; then dirs=$$(cat "$$list"); rm -f "$$list"; fi; \
	 rmdir "$(DESTDIR)$(PKGDATADIR)" 2>/dev/null || true; \
	 for d in $$(printf '%s\n' $$dirs | sort -r); do rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done

clean:
	rm -rf build
