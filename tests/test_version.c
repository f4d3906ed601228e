/* The version: the header's macros and the library's ag_version() agree. */
#include <criterion/criterion.h>
#include <ag.h>
#include <stdio.h>
#include <string.h>

Test(version, library_matches_header) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", AG_VERSION_MAJOR, AG_VERSION_MINOR, AG_VERSION_PATCH);
    cr_assert_str_eq(AG_VERSION_STRING, want);
    cr_assert_str_eq(ag_version(), want);
    cr_assert_eq(AG_VERSION_NUMBER,
                 AG_VERSION_MAJOR * 10000 + AG_VERSION_MINOR * 100 + AG_VERSION_PATCH);
}
