# make test-install: install into a temporary root, then build the README example against
# it with pkg-config, once against the shared and once against the static library, and
# through CMake's find_package(ag) (ag::ag and ag::ag_static) when cmake is installed.
.PHONY: test-install
AG_EXAMPLE := examples/linreg.c
test-install: $(BUILD)/libag.a $(BUILD)/libag.so
	rm -rf $(BUILD)/root $(BUILD)/cmake-consumer
	$(MAKE) -s install DESTDIR=$(CURDIR)/$(BUILD)/root PREFIX=/usr
	PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(BUILD)/root PKG_CONFIG_LIBDIR=$(CURDIR)/$(BUILD)/root/usr/lib/pkgconfig \
	  sh -c '$(CC) -std=c11 -Wall -Werror $(AG_EXAMPLE) -o $(BUILD)/linreg_shared $$(pkg-config --cflags --libs ag) -lm && \
	         $(CC) -std=c11 -Wall -Werror $(AG_EXAMPLE) -o $(BUILD)/linreg_static -static-libgcc $$(pkg-config --cflags ag) $(CURDIR)/$(BUILD)/root/usr/lib/libag.a $$(pkg-config --static --libs-only-other --libs-only-l ag | sed "s/-lag//")'
	LD_LIBRARY_PATH=$(CURDIR)/$(BUILD)/root/usr/lib $(BUILD)/linreg_shared
	$(BUILD)/linreg_static
	@if command -v cmake >/dev/null; then \
	  sh tests/cmake/consume.sh $(CURDIR)/$(BUILD)/root/usr $(CURDIR)/$(BUILD)/root/usr/lib $(CURDIR)/$(BUILD)/cmake-consumer $(AG_EXAMPLE); \
	else echo "test-install: cmake is not installed: the find_package(ag) check is skipped"; fi
	sh tests/build-examples-standalone.sh $(CURDIR)/$(BUILD)/root $(CURDIR)/$(BUILD)/root/usr/lib/pkgconfig $(BUILD)/standalone
