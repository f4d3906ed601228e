# make check-symbols (part of make test): each shared library exports its public header's
# functions and nothing else (tests/check-symbols.sh), so internals stay free to change.
.PHONY: check-symbols
test: check-symbols
check-symbols: $(BUILD)/libag.so
	sh tests/check-symbols.sh $(BUILD)/libag.so include/ag.h $(CC)
	@if [ -f $(BUILD)/libag_dist.so ] && [ -f include/ag_dist.h ]; then \
	  sh tests/check-symbols.sh $(BUILD)/libag_dist.so include/ag_dist.h $(CC) include/ag.h; fi
