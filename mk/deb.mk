# Debian packages (debian/): not part of make test (about a minute of build on 2 cores).
#   make deb       copies the checkout into build/deb/ag-VERSION, runs dpkg-buildpackage
#                  -us -uc -b there (the tests skipped: nocheck) and lintian over the result
#                  (libag-dist0/-dev too where mpicc is present; without it the build
#                  profile pkg.ag.nompi leaves them out)
#   make test-deb  unpacks the .debs into a scratch root (dpkg -x) and builds linreg.c
#                  against it through pkg-config and through CMake's find_package(ag); with
#                  libag-dist-dev, mlp_fashion_dist.c too (pkg-config ag-dist, and ag::dist),
#                  run on one rank for one small epoch
.PHONY: deb test-deb test-deb-dist
DEB_DIR   := $(BUILD)/deb
DEB_ARCH   = $(shell dpkg-architecture -qDEB_HOST_ARCH)
DEB_MA     = $(shell dpkg-architecture -qDEB_HOST_MULTIARCH)
DEB_VER    = $(shell dpkg-parsechangelog -S Version)
DEB_PROFILES = $(if $(shell command -v mpicc 2>/dev/null),,pkg.ag.nompi)

deb:
	@test "$(DEB_VER)" = "$(VERSION)" || { echo "deb: debian/changelog says $(DEB_VER), include/ag_version.h $(VERSION)"; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/ag-$(VERSION)
	git ls-files -co --exclude-standard | grep -v '^build/' | tar -cf - -T - | tar -xf - -C $(DEB_DIR)/ag-$(VERSION)
	cd $(DEB_DIR)/ag-$(VERSION) && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	  dpkg-buildpackage -us -uc -b $(if $(DEB_PROFILES),-P$(DEB_PROFILES)) >../build.log 2>&1 \
	  || { tail -40 ../build.log; exit 1; }
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
	@if ls $(DEB_DIR)/libag-dist-dev_*.deb >/dev/null 2>&1; then $(MAKE) --no-print-directory test-deb-dist; \
	  else echo "test-deb: no libag-dist-dev package (built without Open MPI): dist example skipped"; fi

# The dist example against the unpacked libag-dist0/-dev: pkg-config ag-dist (no MPI flags
# needed: ag_dist.h does not include mpi.h), then one rank, one small epoch.
DEB_ROOT = $(CURDIR)/$(DEB_DIR)/root
test-deb-dist:
	PKG_CONFIG_SYSROOT_DIR=$(DEB_ROOT) PKG_CONFIG_LIBDIR=$(DEB_ROOT)/usr/lib/$(DEB_MA)/pkgconfig \
	  sh -c '$(CC) -O2 -Wall -Werror examples/mlp_fashion_dist.c -o $(DEB_DIR)/mlp_fashion_dist $$(pkg-config --cflags --libs ag-dist ag) -lm'
	readelf -d $(DEB_DIR)/mlp_fashion_dist | grep -q 'libag_dist.so.0' || { echo "test-deb: not linked to libag_dist.so.0"; exit 1; }
	LD_LIBRARY_PATH=$(DEB_ROOT)/usr/lib/$(DEB_MA) EPOCHS=1 AG_FASHION_DIR=/nonexistent \
	  mpirun $$([ "$$(id -u)" = 0 ] && echo --allow-run-as-root) --oversubscribe \
	  -x LD_LIBRARY_PATH -x EPOCHS -x AG_FASHION_DIR -n 1 $(DEB_DIR)/mlp_fashion_dist $(DEB_DIR)
