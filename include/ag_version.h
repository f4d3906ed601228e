/* ag's version: the one place it is written. The Makefile, ag.pc, the CMake package
 * files and the docs read it from here; debian/changelog must agree (make test-deb checks).
 * Semantic versioning; the shared library's SONAME is libag.so.<AG_ABI_VERSION>, bumped
 * whenever a release breaks binary compatibility. */
#ifndef AG_VERSION_H
#define AG_VERSION_H

#define AG_VERSION_MAJOR 0
#define AG_VERSION_MINOR 2
#define AG_VERSION_PATCH 0
#define AG_ABI_VERSION   0

/** "MAJOR.MINOR.PATCH" of the header compiled against. */
#define AG_VERSION_STRING "0.2.0"
/** MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons. */
#define AG_VERSION_NUMBER (AG_VERSION_MAJOR * 10000 + AG_VERSION_MINOR * 100 + AG_VERSION_PATCH)

#endif /* AG_VERSION_H */
