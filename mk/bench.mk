# `make bench` (QUICK=1: the smoke test CI runs, under a minute; results go to
# build/bench-quick instead of bench/results). See bench/bench.c for what it measures.
BENCH_SRCS := bench/bench.c bench/bench_machine.c bench/bench_optable.c bench/bench_overhead.c \
              bench/bench_peers.c bench/peak_avx512.c bench/peak_avx2.c
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/rel/%.o)
# the kernel benches other branches own: each its own program, run after the suite
BENCH_EXTRA := $(wildcard bench/bench_gemm.c bench/bench_vmath.c bench/bench_conv.c bench/bench_resnet_ops.c)
QUICK ?= 0
# OpenBLAS at its best (bench.c re-executes itself with the same choice): SkylakeX kernels
# on Intel AVX-512 (0.3.21 does not know Sapphire Rapids), its own detection elsewhere
OB_CORE := $(shell grep -q GenuineIntel /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo && echo SkylakeX)
OB_ENV := env -u OPENBLAS_L2_SIZE $(if $(OB_CORE),OPENBLAS_CORETYPE=$(OB_CORE),-u OPENBLAS_CORETYPE)
BENCH_OUT := $(if $(filter 1,$(QUICK)),$(BUILD)/bench-quick,bench/results)

# The benches time the machine's own peak and peers with OpenMP threads (the library has
# none: runtime/parallel.c), so they alone build with -fopenmp.
$(BUILD)/rel/bench/%.o: bench/%.c bench/bench.h $(wildcard include/*.h) $(wildcard */*.h) $(wildcard ops/*.def)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -fopenmp $(call isa,$<) -c $< -o $@

$(BUILD)/bench: $(BENCH_OBJS) $(BUILD)/libag.a
	$(CC) $(ALLFLAGS) -fopenmp -o $@ $(BENCH_OBJS) $(BUILD)/libag.a $(LIBS) -ldl

bench: $(BUILD)/bench
	@sh scripts/deps.sh bench || echo "bench: some peers are missing; they will be skipped"
	$(BUILD)/bench --out $(BENCH_OUT) $(if $(filter 1,$(QUICK)),--quick)
	@$(if $(filter 1,$(QUICK)),echo "kernel benches ($(notdir $(BENCH_EXTRA))) skipped in quick mode"; exit 0;) \
	for b in $(BENCH_EXTRA); do n=$$(basename $$b .c); \
	  echo "== $$n (its own program; see $$b)"; \
	  $(MAKE) --no-print-directory $(BUILD)/$$n && \
	  $(OB_ENV) $(BUILD)/$$n $(BENCH_OUT)/$$n.csv || echo "$$n failed"; done

$(BUILD)/bench_%: bench/bench_%.c $(BUILD)/libag.a
	$(CC) $(ALLFLAGS) -fopenmp -o $@ $< $(BUILD)/libag.a $(LIBS) -lopenblas -ldl
