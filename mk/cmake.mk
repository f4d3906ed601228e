# make install-cmake (make install runs it): LIBDIR/cmake/ag/agConfig.cmake and its version
# file from cmake/*.in. The prefix is found relative to the installed file: REL_PREFIX
# climbs from LIBDIR/cmake/ag back to PREFIX (absolute paths when LIBDIR is elsewhere).
.PHONY: install-cmake
relto = $(if $(filter $(PREFIX)/%,$(1)),$(patsubst $(PREFIX)/%,%,$(1)),$(1))
REL_LIBDIR := $(call relto,$(LIBDIR))
REL_INCDIR := $(call relto,$(INCLUDEDIR))
REL_PREFIX := $(if $(filter $(PREFIX)/%,$(LIBDIR)),$(subst $() ,/,$(patsubst %,..,$(subst /, ,$(REL_LIBDIR)/cmake/ag))),$(PREFIX))
CMAKE_SUBST = -e 's|@VERSION@|$(VERSION)|g' -e 's|@ABI@|$(call agver,ABI_VERSION)|g' \
  -e 's|@MAJOR@|$(call agver,VERSION_MAJOR)|g' -e 's|@MINOR@|$(call agver,VERSION_MINOR)|g' \
  -e 's|@REL_PREFIX@|$(REL_PREFIX)|' -e 's|@REL_LIBDIR@|$(REL_LIBDIR)|' \
  -e 's|@REL_INCLUDEDIR@|$(REL_INCDIR)|' -e 's|@LINK_LIBS@|$(subst $() ,;,$(patsubst -l%,%,$(LIBS)))|'

install-cmake:
	install -d $(DESTDIR)$(LIBDIR)/cmake/ag
	sed $(CMAKE_SUBST) cmake/agConfig.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/ag/agConfig.cmake
	sed $(CMAKE_SUBST) cmake/agConfigVersion.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/ag/agConfigVersion.cmake
