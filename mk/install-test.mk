# make test-install: install into a temporary root, then build the README example against
# it with pkg-config, once against the shared and once against the static library.
.PHONY: test-install
test-install: $(BUILD)/libag.a $(BUILD)/libag.so
	rm -rf $(BUILD)/root
	$(MAKE) -s install DESTDIR=$(CURDIR)/$(BUILD)/root PREFIX=/usr
	PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(BUILD)/root PKG_CONFIG_LIBDIR=$(CURDIR)/$(BUILD)/root/usr/lib/pkgconfig \
	  sh -c '$(CC) -std=c11 -Wall -Werror examples/linreg.c -o $(BUILD)/linreg_shared $$(pkg-config --cflags --libs ag) -lm && \
	         $(CC) -std=c11 -Wall -Werror examples/linreg.c -o $(BUILD)/linreg_static -static-libgcc $$(pkg-config --cflags ag) $(CURDIR)/$(BUILD)/root/usr/lib/libag.a $$(pkg-config --static --libs-only-other --libs-only-l ag | sed "s/-lag//")'
	LD_LIBRARY_PATH=$(CURDIR)/$(BUILD)/root/usr/lib $(BUILD)/linreg_shared
	$(BUILD)/linreg_static
