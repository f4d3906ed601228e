# libag_dist (issue 11): data-parallel training over MPI, its own library and header so
# the core never includes mpi.h. Built by `make` when mpicc is present, skipped otherwise.
# `make test-dist` runs the MPI tests under mpirun (2 and 4 ranks, shared memory and TCP);
# `make test` runs it too. `make bench-dist` measures compute vs communication.
MPICC_PATH := $(shell command -v mpicc 2>/dev/null)
.PHONY: test-dist bench-dist install-dist dist-skip
test: test-dist

ifneq ($(MPICC_PATH),)
MPI_CFLAGS := $(shell mpicc --showme:compile)
MPI_LIBS   := $(shell mpicc --showme:link) -lpthread
DIST_SRCS  := $(wildcard dist/*.c)
DIST_OBJS  := $(DIST_SRCS:%.c=$(BUILD)/rel/%.o)
DIST_TESTS := $(patsubst tests/dist/%.c,$(BUILD)/tests/dist/%,$(wildcard tests/dist/test_*.c))
DIST_DEPS  := include/ag.h include/ag_dist.h dist/dist.h

all: $(BUILD)/libag_dist.a $(BUILD)/libag_dist.so
examples: $(BUILD)/examples/mlp_fashion_dist
install: install-dist

$(DIST_OBJS): $(BUILD)/rel/dist/%.o: dist/%.c $(DIST_DEPS) tensor/tensor.h
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(MPI_CFLAGS) -c $< -o $@
$(BUILD)/libag_dist.a: $(DIST_OBJS)
	@rm -f $@; ar rcs $@ $^
# Versioned as libag: build/libag_dist.so.X.Y.Z (SONAME libag_dist.so.ABI) and two links.
DIST_SONAME := libag_dist.so.$(call agver,ABI_VERSION)
DIST_SOREAL := libag_dist.so.$(VERSION)
$(BUILD)/$(DIST_SOREAL): $(DIST_OBJS) $(BUILD)/libag.so
	$(CC) -shared -Wl,-soname,$(DIST_SONAME) -Wl,--as-needed $(LDFLAGS) -o $@ $(DIST_OBJS) \
	  -L$(BUILD) -lag $(MPI_LIBS)
$(BUILD)/libag_dist.so: $(BUILD)/$(DIST_SOREAL)
	ln -sf $(DIST_SOREAL) $(BUILD)/$(DIST_SONAME)
	ln -sf $(DIST_SONAME) $@

DIST_LINK = $(BUILD)/libag_dist.a $(BUILD)/libag.a $(MPI_LIBS) $(LIBS)
$(BUILD)/tests/dist/%: tests/dist/%.c tests/dist/harness.h $(DIST_DEPS) $(BUILD)/libag_dist.a $(BUILD)/libag.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(MPI_CFLAGS) -o $@ $< $(DIST_LINK)
$(BUILD)/examples/mlp_fashion_dist: examples/mlp_fashion_dist.c examples/fashion.h $(DIST_DEPS) $(BUILD)/libag_dist.a $(BUILD)/libag.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(MPI_CFLAGS) -o $@ $< $(DIST_LINK)
$(BUILD)/bench_dist: bench/bench_dist.c $(DIST_DEPS) $(BUILD)/libag_dist.a $(BUILD)/libag.a
	$(CC) $(ALLFLAGS) $(MPI_CFLAGS) -o $@ $< $(DIST_LINK)

test-dist: $(DIST_TESTS)
	sh tests/dist/run.sh $(BUILD)
bench-dist: $(BUILD)/bench_dist $(BUILD)/examples/mlp_fashion_dist
	sh bench/bench_dist.sh $(BUILD)

install-dist: $(BUILD)/libag_dist.a $(BUILD)/libag_dist.so
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/ag_dist.h $(DESTDIR)$(INCLUDEDIR)/ag_dist.h
	install -m 644 $(BUILD)/libag_dist.a $(DESTDIR)$(LIBDIR)/libag_dist.a
	install -m 644 $(BUILD)/$(DIST_SOREAL) $(DESTDIR)$(LIBDIR)/$(DIST_SOREAL)
	ln -sf $(DIST_SOREAL) $(DESTDIR)$(LIBDIR)/$(DIST_SONAME)
	ln -sf $(DIST_SONAME) $(DESTDIR)$(LIBDIR)/libag_dist.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' -e 's|@MPI_LIBS@|$(MPI_LIBS)|' \
	  ag-dist.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ag-dist.pc
else
all: dist-skip
dist-skip:
	@echo "dist: mpicc not found: libag_dist not built (sh scripts/deps.sh dist, or apt-get install openmpi-bin libopenmpi-dev)"
test-dist bench-dist:
	@echo "test-dist: skipped: Open MPI is not installed (sh scripts/deps.sh dist, or apt-get install openmpi-bin libopenmpi-dev)"
endif
