# make docs: Doxygen (Debian's doxygen) renders the headers' doc comments and README.md
# into build/docs/html (index.html); a warning fails the target (Doxyfile: WARN_AS_ERROR).
.PHONY: docs
docs:
	@command -v doxygen >/dev/null || { echo "docs: doxygen is not installed (apt-get install doxygen)"; exit 1; }
	rm -rf $(BUILD)/docs && mkdir -p $(BUILD)/docs
	AG_VERSION=$(VERSION) AG_DOCS_DIR=$(BUILD)/docs doxygen Doxyfile
	@echo "docs: $(BUILD)/docs/html/index.html"
