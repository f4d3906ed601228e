# make debug: the library for finding lifetime bugs (AG_POISON with ASan and UBSan, -O1):
# scope memory goes straight back to the allocator, so a tensor used after its scope
# ended is reported by ASan as a heap-use-after-free at the op that read it, with where
# the scope ended and which op made the tensor. Link a program against it with
#   cc -fsanitize=address,undefined prog.c build/libag_debug.a -lsleef -lz -lm -pthread
# The default build checks a cheaper thing on every op input (ag__scope_ended): a tensor
# of a scope that has ended is an error naming the op, before its memory is reused.
DOBJS := $(SRCS:%.c=$(BUILD)/debug/%.o)

.PHONY: debug
$(BUILD)/debug/%.o: %.c $(wildcard include/*.h) $(wildcard */*.h) $(wildcard ops/*.def) $(wildcard ops/kernels/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g -fopenmp-simd -pthread -fPIC -Iinclude -I. -D_GNU_SOURCE $(BLASDEF) $(SAN) -DAG_POISON $(call isa,$<) -c $< -o $@
$(BUILD)/libag_debug.a: $(DOBJS)
	@rm -f $@; ar rcs $@ $^
debug: $(BUILD)/libag_debug.a
	@echo "build/libag_debug.a: link with -fsanitize=address,undefined (see mk/debug.mk)"
