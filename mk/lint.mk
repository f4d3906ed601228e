# Checks that read the code instead of running it (CONTRIBUTING.md):
#   make lint          cppcheck (Debian's) over the library, then the layer check
#   make format-check  lists the files clang-format (.clang-format) would change
#   make check-recipe  adds a throwaway op by CONTRIBUTING.md's recipe in a copy, tests it
# Each skips with a message, and succeeds, when its tool is not installed.
.PHONY: lint format-check check-recipe
LINT_DIRS := $(filter-out ops/kernels,$(SRC_DIRS))   # cppcheck walks into subdirectories
# generated golden tables are not formatted; outside a git checkout, every source file
FORMAT_FILES = $(filter-out tests/golden/% build/%,$(or $(shell git ls-files '*.c' '*.h' \
  2>/dev/null),$(wildcard */*.c */*.h */*/*.c */*/*.h)))
CPPCHECK := cppcheck -j2 --std=c11 --enable=warning,performance,portability --inline-suppr \
  --error-exitcode=1 --quiet -Iinclude -I. -D_GNU_SOURCE -U__cplusplus --library=posix \
  --suppressions-list=scripts/cppcheck.supp

lint: $(BUILD)/libag.a
	@if command -v cppcheck >/dev/null; then \
	  echo "lint: $$(cppcheck --version) over $(SRC_DIRS)"; \
	  $(CPPCHECK) $(LINT_DIRS) || exit 1; \
	else echo "lint: cppcheck is not installed (apt-get install cppcheck): skipped"; fi
	@sh scripts/check-layers.sh $(BUILD)/rel

format-check:
	@if ! command -v clang-format >/dev/null; then \
	  echo "format-check: clang-format is not installed (apt-get install clang-format): skipped"; \
	  exit 0; fi; \
	bad=""; for f in $(FORMAT_FILES); do \
	  clang-format --style=file "$$f" | cmp -s - "$$f" || bad="$$bad $$f"; done; \
	if [ -n "$$bad" ]; then \
	  echo "format-check: clang-format would change:"; for f in $$bad; do echo "  $$f"; done; \
	  echo "(clang-format -i --style=file FILE rewrites one)"; exit 1; fi; \
	echo "format-check: $(words $(FORMAT_FILES)) files formatted"

check-recipe:
	@sh scripts/check-recipe.sh
