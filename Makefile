# ag — build, test, install. `make test` and `make demo` are the two commands.
CC       ?= cc
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR  ?=
BLAS     ?=
BUILD    := build
SRC_DIRS := runtime tensor autograd ops ops/kernels nn optim data
SRCS     := $(wildcard $(addsuffix /*.c,$(SRC_DIRS)))
TESTS    := $(wildcard tests/test_*.c)
WARN     := -std=c11 -Wall -Wextra -Wpedantic -Werror
CFLAGS   ?= -O2 -g
ALLFLAGS  = $(WARN) $(CPPFLAGS) $(CFLAGS) -fopenmp-simd -pthread -fPIC -fvisibility=hidden -Iinclude -I. -D_GNU_SOURCE $(BLASDEF)
LIBS     := -lsleef -lz -lm
ISA_avx512 := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma -mavx2
ISA_avx2   := -mavx2 -mfma
ifeq ($(BLAS),openblas)
BLASDEF  := -DAG_USE_CBLAS
LIBS     += -lopenblas
endif
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The version is written once, in include/ag_version.h; the SONAME carries AG_ABI_VERSION.
agver   = $(shell sed -n 's/^\#define AG_$(1) *\([0-9]*\).*/\1/p' include/ag_version.h)
VERSION := $(call agver,VERSION_MAJOR).$(call agver,VERSION_MINOR).$(call agver,VERSION_PATCH)
SONAME  := libag.so.$(call agver,ABI_VERSION)
SOREAL  := libag.so.$(VERSION)

isa = $(if $(findstring _avx512,$(1)),$(ISA_avx512),$(if $(findstring _avx2,$(1)),$(ISA_avx2)))
OBJS     := $(SRCS:%.c=$(BUILD)/rel/%.o)
SOBJS    := $(SRCS:%.c=$(BUILD)/san/%.o)

.PHONY: all deps test test-rel test-san test-valgrind install examples demo bench clean version
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
# build/libag.so.X.Y.Z (SONAME libag.so.ABI) and the two links to it.
$(BUILD)/$(SOREAL): $(OBJS)
	$(CC) -shared -pthread -Wl,-soname,$(SONAME) -Wl,--as-needed $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/libag.so: $(BUILD)/$(SOREAL)
	ln -sf $(SOREAL) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@
version:
	@echo $(VERSION)
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

# LIBDIR may be multiarch (Debian: LIBDIR=/usr/lib/x86_64-linux-gnu); the CMake files in
# LIBDIR/cmake/ag find the prefix relative to themselves, so an installed tree can move.
install: $(BUILD)/libag.a $(BUILD)/libag.so
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/ag
	install -m 644 include/ag.h include/ag_version.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(BUILD)/libag.a $(DESTDIR)$(LIBDIR)/libag.a
	install -m 644 $(BUILD)/$(SOREAL) $(DESTDIR)$(LIBDIR)/$(SOREAL)
	ln -sf $(SOREAL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libag.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS@|$(LIBS)|' ag.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ag.pc
	$(MAKE) --no-print-directory install-cmake

-include mk/*.mk

clean:
	rm -rf $(BUILD)
