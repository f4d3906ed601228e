/* ag_version: the library's version, from include/ag_version.h (the one place). */
#include <ag.h>

const char *ag_version(void) { return AG_VERSION_STRING; }
