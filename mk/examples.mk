# Examples: `make examples` builds every examples/*.c into build/examples/;
# `make demo` installs what it needs (when root), builds, and trains the Fashion-MNIST MLP.
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(filter-out %_dist.c,$(wildcard examples/*.c)))

examples: $(EXAMPLES)

$(BUILD)/examples/%: examples/%.c examples/*.h include/ag.h $(BUILD)/libag.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -o $@ $< $(BUILD)/libag.a $(LIBS)

demo:
	@sh scripts/deps.sh demo
	@$(MAKE) --no-print-directory $(BUILD)/libag.a $(BUILD)/examples/mlp_fashion
	@echo "== training a 784-256-128-10 MLP on Fashion-MNIST (make demo)"
	@$(BUILD)/examples/mlp_fashion $(BUILD)/examples
	@echo "== loss/accuracy curves: $(BUILD)/examples/mlp_fashion_curves.png"
