/* Criterion runs each test in a child whose LeakSanitizer report does not fail the test;
 * assert_no_leaks() runs the check inside the test (ASan builds; nothing otherwise). */
#ifndef AG_TEST_LEAK_CHECK_H
#define AG_TEST_LEAK_CHECK_H

#include <criterion/criterion.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define assert_no_leaks() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks: see stderr")
#else
#define assert_no_leaks() ((void)0)
#endif

#endif
