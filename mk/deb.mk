# Debian packages (debian/): not part of make test (about a minute of build on 2 cores).
#   make deb       copies the checkout into build/deb/ag-VERSION, runs dpkg-buildpackage
#                  -us -uc -b there (the tests skipped: nocheck) and lintian over the result
#   make test-deb  unpacks the .debs into a scratch root (dpkg -x) and builds linreg.c
#                  against it through pkg-config and through CMake's find_package(ag)
.PHONY: deb test-deb
DEB_DIR   := $(BUILD)/deb
DEB_ARCH   = $(shell dpkg-architecture -qDEB_HOST_ARCH)
DEB_MA     = $(shell dpkg-architecture -qDEB_HOST_MULTIARCH)
DEB_VER    = $(shell dpkg-parsechangelog -S Version)

deb:
	@test "$(DEB_VER)" = "$(VERSION)" || { echo "deb: debian/changelog says $(DEB_VER), include/ag_version.h $(VERSION)"; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/ag-$(VERSION)
	git ls-files -co --exclude-standard | grep -v '^build/' | tar -cf - -T - | tar -xf - -C $(DEB_DIR)/ag-$(VERSION)
	cd $(DEB_DIR)/ag-$(VERSION) && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	  dpkg-buildpackage -us -uc -b >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	@ls $(DEB_DIR)/*.deb
	lintian --fail-on error $(DEB_DIR)/ag_$(VERSION)_$(DEB_ARCH).changes

test-deb: deb
	rm -rf $(DEB_DIR)/root $(DEB_DIR)/cmake-consumer
	for d in $(DEB_DIR)/*.deb; do dpkg -x $$d $(DEB_DIR)/root; done
	PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(DEB_DIR)/root PKG_CONFIG_LIBDIR=$(CURDIR)/$(DEB_DIR)/root/usr/lib/$(DEB_MA)/pkgconfig \
	  sh -c '$(CC) -std=c11 -Wall -Werror examples/linreg.c -o $(DEB_DIR)/linreg $$(pkg-config --cflags --libs ag) -lm'
	LD_LIBRARY_PATH=$(CURDIR)/$(DEB_DIR)/root/usr/lib/$(DEB_MA) $(DEB_DIR)/linreg
	sh tests/cmake/consume.sh $(CURDIR)/$(DEB_DIR)/root/usr $(CURDIR)/$(DEB_DIR)/root/usr/lib/$(DEB_MA) \
	  $(CURDIR)/$(DEB_DIR)/cmake-consumer examples/linreg.c
