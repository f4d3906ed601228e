# Fuzzing the readers with libFuzzer (clang 14; runtime in libclang-rt-14-dev).
#   make fuzz FUZZ_SECONDS=N   runs every target N seconds (default 30), one after another
#   make fuzz-ci               each target 60 s; fails on any crash, leak, timeout or OOM
# Targets are fuzz/fuzz_<name>.c over the entries in fuzz/entries.h. The working corpus
# grows in build/fuzz-corpus/<name>; fuzz/corpus/<name> (committed seeds) and
# fuzz/regressions/<name> (every input that ever crashed: copy it there) are read, and
# both are replayed by `make test` (tests/test_fuzz_replay.c). Findings land in
# build/fuzz-artifacts/. The library is built apart, with clang, ASan and UBSan.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 30
FUZZ_RSS_MB  ?= 2048
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_CFLAGS  := -std=c11 -Wall -Wextra -Wpedantic -O1 -g -fopenmp-simd -pthread -Iinclude -I. -D_GNU_SOURCE \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FOBJS        := $(SRCS:%.c=$(BUILD)/fuzz/%.o)

.PHONY: fuzz fuzz-ci fuzz-build
$(BUILD)/fuzz/%.o: %.c $(wildcard include/*.h) $(wildcard */*.h) $(wildcard ops/*.def) $(wildcard ops/kernels/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(call isa,$<) -c $< -o $@
$(BUILD)/libag_fuzz.a: $(FOBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/fuzzers/%: fuzz/fuzz_%.c fuzz/entries.h $(BUILD)/libag_fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -o $@ $< $(BUILD)/libag_fuzz.a $(LIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzzers/%)

# One core per target (OMP_NUM_THREADS=1); a single malloc over FUZZ_RSS_MB is an OOM finding.
fuzz: fuzz-build
	@mkdir -p $(BUILD)/fuzz-artifacts
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz-corpus/$$t fuzz/regressions/$$t; \
	  case $$t in safetensors*) dict=-dict=fuzz/safetensors.dict;; csv) dict=-dict=fuzz/csv.dict;; *) dict=;; esac; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  OMP_NUM_THREADS=1 $(BUILD)/fuzzers/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=$(FUZZ_RSS_MB) -max_len=8192 -print_final_stats=1 $$dict \
	    -artifact_prefix=$(BUILD)/fuzz-artifacts/$$t- \
	    $(BUILD)/fuzz-corpus/$$t fuzz/corpus/$$t fuzz/regressions/$$t \
	    > $(BUILD)/fuzz-artifacts/$$t.log 2>&1; rc=$$?; \
	  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' $(BUILD)/fuzz-artifacts/$$t.log; \
	  [ $$rc = 0 ] || { tail -n 40 $(BUILD)/fuzz-artifacts/$$t.log; \
	    echo "fuzz: $$t failed (exit $$rc); copy the input above into fuzz/regressions/$$t/"; exit 1; }; \
	done

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=60
