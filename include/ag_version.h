/** @file ag_version.h
 * @brief ag's version: the one place it is written. The Makefile, ag.pc, the CMake package
 * files and the docs read it from here; debian/changelog must agree (make deb checks).
 * Semantic versioning; the shared library's SONAME is libag.so.N, N = AG_ABI_VERSION, bumped
 * whenever a release breaks binary compatibility. */
#ifndef AG_VERSION_H
#define AG_VERSION_H

#define AG_VERSION_MAJOR 0 /**< incompatible API changes (0: any minor release may make them) */
#define AG_VERSION_MINOR 2 /**< features added */
#define AG_VERSION_PATCH 0 /**< fixes only */
#define AG_ABI_VERSION 0   /**< the SONAME number: libag.so.0 */

/** "MAJOR.MINOR.PATCH" of the header compiled against. */
#define AG_VERSION_STRING "0.2.0"
/** MAJOR * 10000 + MINOR * 100 + PATCH, for `#if` comparisons. */
#define AG_VERSION_NUMBER (AG_VERSION_MAJOR * 10000 + AG_VERSION_MINOR * 100 + AG_VERSION_PATCH)

#endif /* AG_VERSION_H */
