# make test-tsan: the threads test (tests/threads_job.h, without Criterion) against a ThreadSanitizer build of
# the library: the trainings at 1 thread each, then at 2 each (both on the pool of
# runtime/parallel.c, which TSan sees into). setarch -R: TSan's shadow wants the classic layout.
TSOBJS := $(SRCS:%.c=$(BUILD)/tsan/%.o)
TSAN   := -fsanitize=thread -fno-omit-frame-pointer

.PHONY: test-tsan
$(BUILD)/tsan/%.o: %.c $(wildcard include/*.h) $(wildcard */*.h) $(wildcard ops/*.def) $(wildcard ops/kernels/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) $(TSAN) $(call isa,$<) -c $< -o $@
$(BUILD)/libag_tsan.a: $(TSOBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/test_tsan: tests/tsan/threads_main.c tests/threads_job.h $(BUILD)/libag_tsan.a
	$(CC) $(ALLFLAGS) $(TSAN) -o $@ tests/tsan/threads_main.c $(BUILD)/libag_tsan.a $(LIBS)
test-tsan: $(BUILD)/test_tsan
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" setarch $$(uname -m) -R $(BUILD)/test_tsan
