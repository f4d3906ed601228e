# ag — build, test, install. `make test` and `make demo` are the two commands.
CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
BLAS     ?=
BUILD    := build
SRC_DIRS := runtime tensor autograd ops ops/kernels nn optim data
SRCS     := $(wildcard $(addsuffix /*.c,$(SRC_DIRS)))
TESTS    := $(wildcard tests/test_*.c)
WARN     := -std=c11 -Wall -Wextra -Wpedantic -Werror
CFLAGS   ?= -O2 -g
ALLFLAGS  = $(WARN) $(CFLAGS) -fopenmp -fPIC -Iinclude -I. -D_GNU_SOURCE $(BLASDEF)
LIBS     := -lsleef -lz -lm
ISA_avx512 := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma -mavx2
ISA_avx2   := -mavx2 -mfma
ifeq ($(BLAS),openblas)
BLASDEF  := -DAG_USE_CBLAS
LIBS     += -lopenblas
endif
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

isa = $(if $(findstring _avx512,$(1)),$(ISA_avx512),$(if $(findstring _avx2,$(1)),$(ISA_avx2)))
OBJS     := $(SRCS:%.c=$(BUILD)/rel/%.o)
SOBJS    := $(SRCS:%.c=$(BUILD)/san/%.o)

.PHONY: all deps test test-rel test-san test-valgrind install examples demo bench clean
all: deps $(BUILD)/libag.a $(BUILD)/libag.so

deps:
	@sh scripts/deps.sh build

$(BUILD)/rel/%.o: %.c $(wildcard include/*.h) $(wildcard */*.h) $(wildcard ops/*.def) $(wildcard ops/kernels/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(call isa,$<) -c $< -o $@
$(BUILD)/san/%.o: %.c $(wildcard include/*.h) $(wildcard */*.h) $(wildcard ops/*.def) $(wildcard ops/kernels/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(SAN) -DAG_POISON $(call isa,$<) -c $< -o $@

$(BUILD)/libag.a: $(OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libag.so: $(OBJS)
	$(CC) -shared -fopenmp -o $@ $^ $(LIBS)
$(BUILD)/libag_san.a: $(SOBJS)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/test_rel: $(TESTS) tests/*.h $(BUILD)/libag.a
	$(CC) $(ALLFLAGS) -o $@ $(TESTS) $(BUILD)/libag.a -lcriterion $(LIBS)
$(BUILD)/test_san: $(TESTS) tests/*.h $(BUILD)/libag_san.a
	$(CC) $(ALLFLAGS) $(SAN) -o $@ $(TESTS) $(BUILD)/libag_san.a -lcriterion $(LIBS)

# Criterion forks a child per test; -j2 runs two at a time on the two cores.
test: deps test-rel test-san
test-rel: $(BUILD)/test_rel
	$(BUILD)/test_rel -j2 --short-filename
test-san: $(BUILD)/test_san
	ASAN_OPTIONS=detect_leaks=1 AG_SANITIZED=1 $(BUILD)/test_san -j2 --short-filename
# valgrind runs a copy, so a rebuild meanwhile cannot swap the binary under Criterion;
# the programs tests start (gnuplot, python3, the shell) are not ours to check.
test-valgrind: $(BUILD)/test_rel
	cp $(BUILD)/test_rel $(BUILD)/test_valgrind
	AG_SANITIZED=1 valgrind -q --error-exitcode=1 --leak-check=full --trace-children=yes \
	  --trace-children-skip='*/gnuplot*,*/python3*,*/sh,*/dash,*/bash' \
	  --suppressions=tests/valgrind.supp \
	  $(BUILD)/test_valgrind -j1 --short-filename

install: $(BUILD)/libag.a $(BUILD)/libag.so
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/ag.h $(DESTDIR)$(PREFIX)/include/ag.h
	install -m 644 $(BUILD)/libag.a $(DESTDIR)$(PREFIX)/lib/libag.a
	install -m 755 $(BUILD)/libag.so $(DESTDIR)$(PREFIX)/lib/libag.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBS@|$(LIBS)|' ag.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ag.pc

-include mk/*.mk

clean:
	rm -rf $(BUILD)
