/* Replays every committed fuzz input (fuzz/corpus/<target>/: seeds; fuzz/regressions/
 * <target>/: each input that ever crashed) through the same entries libFuzzer runs
 * (fuzz/entries.h), so the suite, ASan included, keeps every finding fixed. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/entries.h"
#include "helpers.h"
#include "leak_check.h"

struct target {
    const char *name;
    int (*entry)(const uint8_t *, size_t);
};

static const struct target TARGETS[] = {
#define X(name, entry) {#name, entry},
    AG_FUZZ_TARGETS(X)
#undef X
};

/* Feeds every file in dir to entry; returns how many there were. */
static int replay_dir(const char *dir, int (*entry)(const uint8_t *, size_t)) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert(f, "cannot open %s", path);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc((size_t)size + 1);
        cr_assert(buf && fread(buf, 1, (size_t)size, f) == (size_t)size, "cannot read %s", path);
        fclose(f);
        entry(buf, (size_t)size);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

Test(fuzz_replay, every_corpus_and_regression_input) {
    for (size_t t = 0; t < sizeof TARGETS / sizeof *TARGETS; t++) {
        char dir[256];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", TARGETS[t].name);
        int seeds = replay_dir(dir, TARGETS[t].entry);
        cr_assert_geq(seeds, 3, "%s: %d seed inputs (run from the repository root)", dir, seeds);
        snprintf(dir, sizeof dir, "fuzz/regressions/%s", TARGETS[t].name);
        replay_dir(dir, TARGETS[t].entry);
    }
    assert_no_leaks();
}

/* The entries themselves catch what they promise to: a reader failing without its error. */
Test(fuzz_replay, entries_see_the_readers_fail_cleanly) {
    const uint8_t junk[] = "not a file of any kind";
    for (size_t t = 0; t < sizeof TARGETS / sizeof *TARGETS; t++)
        TARGETS[t].entry(junk, sizeof junk - 1);
    cr_assert(ag_last_error() != NULL);
}
