/* What the character-level zoo models (char_gpt.c, char_lstm.c) share with their PyTorch
 * twins (examples/torch/char_text.py): the text (files of /usr/share/common-licenses in
 * name order, concatenated), its sorted byte vocabulary, and the training windows: window
 * j starts at (j * 2654435761) mod (len - T - 1); x is T bytes from there, y the next T. */
#ifndef CHAR_TEXT_H
#define CHAR_TEXT_H

#include <ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define CHAR_TEXT_DIR "/usr/share/common-licenses"
static const char *const char_text_files[] = {"Apache-2.0", "GPL-3", "LGPL-3", "MPL-2.0"};

struct char_text {
    unsigned char *bytes; /* the text as vocabulary indices */
    int64_t len;
    int vocab;
    unsigned char chars[256]; /* index -> byte */
};

static inline int char_text_load(struct char_text *t) {
    memset(t, 0, sizeof *t);
    size_t cap = 0;
    for (size_t f = 0; f < sizeof char_text_files / sizeof *char_text_files; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CHAR_TEXT_DIR, char_text_files[f]);
        FILE *fp = fopen(path, "rb");
        if (!fp) {
            fprintf(stderr, "%s: cannot open\n", path);
            return 1;
        }
        int c;
        while ((c = fgetc(fp)) != EOF) {
            if ((size_t)t->len == cap) t->bytes = realloc(t->bytes, cap = cap ? 2 * cap : 65536);
            t->bytes[t->len++] = (unsigned char)c;
        }
        fclose(fp);
    }
    int index[256], seen[256] = {0};
    for (int64_t i = 0; i < t->len; i++) seen[t->bytes[i]] = 1;
    for (int c = 0; c < 256; c++)
        if (seen[c]) index[c] = t->vocab, t->chars[t->vocab++] = (unsigned char)c;
    for (int64_t i = 0; i < t->len; i++) t->bytes[i] = (unsigned char)index[t->bytes[i]];
    return 0;
}

/* n windows of len characters: x and y [n, len] AG_I64, on the heap. */
static inline void char_text_windows(const struct char_text *t, int64_t n, int64_t len,
                                     ag_tensor **x, ag_tensor **y) {
    int64_t *xv = malloc((size_t)(n * len) * sizeof *xv),
            *yv = malloc((size_t)(n * len) * sizeof *yv);
    for (int64_t j = 0; j < n; j++) {
        int64_t s = (int64_t)(((uint64_t)j * 2654435761u) % (uint64_t)(t->len - len - 1));
        for (int64_t k = 0; k < len; k++)
            xv[j * len + k] = t->bytes[s + k], yv[j * len + k] = t->bytes[s + k + 1];
    }
    *x = ag_tensor_new(AG_I64, 2, (int64_t[]){n, len}, xv);
    *y = ag_tensor_new(AG_I64, 2, (int64_t[]){n, len}, yv);
    free(xv), free(yv);
}

/* Next token from logits [V] (temperature 1) with the seeded stream. */
static inline int char_text_sample(ag_tensor *logits) {
    ag_tensor *p = ag_softmax(logits, 0);
    int64_t v = ag_numel(p);
    float *pv = malloc((size_t)v * sizeof *pv);
    ag_to_array(p, pv);
    double u = (double)(ag_random_u64() >> 11) * (1.0 / 9007199254740992.0), acc = 0;
    int k = 0;
    for (; k < v - 1; k++)
        if ((acc += pv[k]) > u) break;
    free(pv);
    return k;
}

/* The per-step losses, one per line, when path is not NULL. */
static inline void char_text_write_losses(const char *path, const double *l, int n) {
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int i = 0; i < n; i++) fprintf(f, "%.9g\n", l[i]);
    fclose(f);
}

/* The command line both models take:
 *   [--steps N] [--init FILE] [--losses FILE] [--quiet] [--bench STEPS]
 * --init: write the initial weights there (the twin loads them); --losses: the loss of
 * every step, one per line; --bench: time STEPS steps after 3 warm-up ones and print one
 * line (/work/ZOO_BENCH.md's protocol) instead of a real run. */
struct char_args {
    int steps, bench; /* bench: the timed steps, 0 for a real run */
    const char *init, *losses;
    bool quiet;
};

static inline struct char_args char_args_parse(int argc, char **argv) {
    struct char_args a = {.steps = 300};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) a.steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--init") && i + 1 < argc) a.init = argv[++i];
        else if (!strcmp(argv[i], "--losses") && i + 1 < argc) a.losses = argv[++i];
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc) a.bench = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quiet")) a.quiet = true;
    }
    if (a.bench < 0) a.bench = 0;
    return a;
}

/* One training step on batch k (0, 1, ...): 0, or non-zero with ag_last_error() set. */
typedef int (*char_step_fn)(void *ctx, int64_t k);

static int char_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Bench mode: 3 warm-up steps, then `steps` timed ones (batches 3, 4, ...); prints
 *   bench NAME: step_ms=.. steps_per_epoch=.. epoch_s=.. peak_rss_mib=..
 * with the median step. 0, or 1 after printing the error. */
static inline int char_bench(const char *name, int steps, int64_t steps_per_epoch,
                             char_step_fn step, void *ctx) {
    double *ms = malloc((size_t)(steps > 0 ? steps : 1) * sizeof *ms);
    for (int k = 0; k < 3 + steps; k++) {
        double t0 = ag_now();
        if (step(ctx, k)) {
            fprintf(stderr, "%s: %s\n", name, ag_last_error());
            free(ms);
            return 1;
        }
        if (k >= 3) ms[k - 3] = (ag_now() - t0) * 1e3;
    }
    qsort(ms, (size_t)steps, sizeof *ms, char_cmp_double);
    double med = steps ? (steps % 2 ? ms[steps / 2] : (ms[steps / 2 - 1] + ms[steps / 2]) / 2) : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench %s: step_ms=%.3f steps_per_epoch=%lld epoch_s=%.2f peak_rss_mib=%.1f\n", name,
           med, (long long)steps_per_epoch, med * (double)steps_per_epoch / 1000.0,
           (double)ru.ru_maxrss / 1024.0);
    free(ms);
    return 0;
}

#endif
