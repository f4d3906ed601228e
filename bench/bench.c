/* `make bench`: ag beside its peers, in one run.
 *
 *   build/bench [--quick] [--out DIR] [--only machine|ops|gemm|overhead|e2e]
 *
 * Order: the machine's limits (FMA peak, copy bandwidth); the op table on 1 then 2
 * threads, each followed by the PyTorch peer process on the same thread count; GEMM
 * ours vs OpenBLAS sgemm interleaved shape by shape; the per-op overhead (micrograd
 * test) ours vs torch; the MLP and CNN training steps ours vs torch. Writes CSV files,
 * README.md (markdown tables) and gemm.png under DIR (default bench/results).
 * Ratios are peer seconds / our seconds: above 1, ours is faster.
 * A peer that is not installed (python3 + torch, libopenblas, gnuplot) is skipped with a
 * line saying so. OpenBLAS reads OPENBLAS_CORETYPE when it loads, so the bench re-executes
 * itself once with the core that is best on this CPU (see peer_env). */
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PY "/usr/bin/python3"
#define SHARED "/work/shared/peers"

static struct bench_cfg cfg = {.threads = {1, 2}, .n_threads = 2, .outdir = "bench/results"};
static const char *only;
static FILE *md;

static bool want(const char *section) { return !only || !strcmp(only, section); }

/* OpenBLAS at its best: 0.3.21 does not know Sapphire Rapids and falls back to old
 * kernels, and the environment's OPENBLAS_CORETYPE=Haswell halves it on AVX-512 CPUs.
 * On Intel AVX-512 SkylakeX is its fastest sgemm; elsewhere its own detection is. */
static void peer_env(char **argv) {
    if (getenv("AG_BENCH_ENV_SET")) return;
    __builtin_cpu_init();
    unsetenv("OPENBLAS_L2_SIZE");
    if (__builtin_cpu_is("intel") && __builtin_cpu_supports("avx512f"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    else unsetenv("OPENBLAS_CORETYPE");
    setenv("ATEN_CPU_CAPABILITY", "avx512", 0); /* torch's AVX-512 element-wise kernels */
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);    /* torch + OpenBLAS threads on 2 cores */
    setenv("AG_BENCH_ENV_SET", "1", 1);
    execv("/proc/self/exe", argv); /* on failure: go on as we are */
}

char *bench_run_capture(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 4096 > cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, p);
        if (!k) break;
        n += k;
    }
    int rc = pclose(p);
    if (buf) buf[n] = 0;
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static bool have_torch(void) {
    static int known = -1;
    if (known < 0) known = system(PY " -c 'import torch' >/dev/null 2>&1") == 0;
    return known;
}

static double rate(double x, double s) { return s > 0 ? x / s * 1e-9 : 0; }
/* The fraction of the binding limit: FLOP/s over peak (always, for compute-bound ops) or
 * bytes/s over copy bandwidth, whichever is larger. */
static double frac(const struct bench_row *r) {
    double f = cfg.peak_gflops[r->threads] > 0
                   ? rate(r->flops, r->ours_s) / cfg.peak_gflops[r->threads]
                   : 0;
    double b =
        cfg.copy_gbs[r->threads] > 0 ? rate(r->bytes, r->ours_s) / cfg.copy_gbs[r->threads] : 0;
    return r->compute_bound || f > b ? f : b;
}
static double ratio(const struct bench_row *r) {
    return r->ours_s > 0 && r->peer_s > 0 ? r->peer_s / r->ours_s : 0;
}

static FILE *open_out(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cfg.outdir, name);
    FILE *f = fopen(path, "w");
    if (!f) perror(path);
    return f;
}

static void write_rows(const char *name, const struct bench_rows *rows, const char *peer) {
    FILE *f = open_out(name);
    if (!f) return;
    fprintf(f,
            "what,dir,size,threads,shapes,ours_s,ours_gflops,ours_gbs,frac_of_limit,"
            "%s_s,%s_over_ours\n",
            peer, peer);
    for (int i = 0; i < rows->n; i++) {
        const struct bench_row *r = &rows->v[i];
        fprintf(f, "%s,%s,%lld,%d,%s,%.4g,%.4g,%.4g,%.3f,%.4g,%.3f\n", r->what, r->dir, r->size,
                r->threads, r->shapes, r->ours_s, rate(r->flops, r->ours_s),
                rate(r->bytes, r->ours_s), frac(r), r->peer_s, ratio(r));
    }
    fclose(f);
}

/* ------------------------------------------------------------------ sections */
static void machine(void) {
    printf("== machine: %s FMA loop, memcpy; %d cores\n", bench_peak_isa(),
           (int)sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(
        md,
        "## Machine limits (measured at start)\n\n| threads | float32 FMA peak GFLOP/s | copy GB/s |\n|---|---|---|\n");
    for (int i = 0; i < cfg.n_threads; i++) {
        int t = cfg.threads[i];
        cfg.peak_gflops[t] = bench_peak_gflops(t, cfg.quick);
        cfg.copy_gbs[t] = bench_copy_gbs(t, cfg.quick);
        printf("  %d thread(s): peak %.1f GFLOP/s, copy %.1f GB/s\n", t, cfg.peak_gflops[t],
               cfg.copy_gbs[t]);
        fprintf(md, "| %d | %.1f | %.1f |\n", t, cfg.peak_gflops[t], cfg.copy_gbs[t]);
    }
    fprintf(md, "\n");
}

/* The torch peer on the rows [from, to) (one thread count): job file in, seconds out. */
static void torch_ops(struct bench_rows *rows, int from, int to, int threads) {
    char jobs[512], cmd[1200];
    snprintf(jobs, sizeof jobs, "%s/.jobs.csv", cfg.outdir);
    FILE *f = fopen(jobs, "w");
    if (!f) return;
    for (int i = from; i < to; i++)
        fprintf(f, "%s,%s,%s,%g,%g\n", rows->v[i].what, rows->v[i].dir, rows->v[i].shapes,
                rows->v[i].lo, rows->v[i].hi);
    fclose(f);
    snprintf(cmd, sizeof cmd, PY " bench/peers/optable_torch.py %d %s %d", threads, jobs,
             cfg.quick);
    char *out = bench_run_capture(cmd);
    remove(jobs);
    if (!out) {
        printf("  torch peer failed: %s\n", cmd);
        return;
    }
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char op[48], dir[4], shapes[96];
        double s;
        if (sscanf(line, "%47[^,],%3[^,],%95[^,],%lf", op, dir, shapes, &s) != 4) continue;
        for (int i = from; i < to; i++)
            if (!strcmp(rows->v[i].what, op) && !strcmp(rows->v[i].dir, dir) &&
                !strcmp(rows->v[i].shapes, shapes))
                rows->v[i].peer_s = s;
    }
    free(out);
}

static void ops(void) {
    struct bench_rows rows = {0};
    printf("== op table: %d ops, forward and backward, float32%s\n", AG_OP_COUNT,
           have_torch() ? ", vs PyTorch" : " (PyTorch peer skipped: " PY " with torch not found)");
    for (int i = 0; i < cfg.n_threads; i++) {
        int from = rows.n, t = cfg.threads[i];
        if (bench_optable(&cfg, t, &rows)) printf("  some ops failed (see above)\n");
        if (have_torch()) torch_ops(&rows, from, rows.n, t);
    }
    printf("  %-12s %-3s %9s %2s %10s %8s %8s %6s %7s\n", "op", "dir", "size", "t", "us", "GFLOP/s",
           "GB/s", "limit", "torch/us");
    fprintf(md, "## Op table (float32; ratio = torch time / our time, >1: ours faster)\n\n"
                "| op | dir | size | threads | us | GFLOP/s | GB/s | of limit | vs torch |\n"
                "|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < rows.n; i++) {
        struct bench_row *r = &rows.v[i];
        printf("  %-12s %-3s %9lld %2d %10.2f %8.2f %8.2f %5.0f%% %7.2f\n", r->what, r->dir,
               r->size, r->threads, r->ours_s * 1e6, rate(r->flops, r->ours_s),
               rate(r->bytes, r->ours_s), 100 * frac(r), ratio(r));
        fprintf(md, "| %s | %s | %lld | %d | %.2f | %.2f | %.2f | %.0f%% | %s%.2f |\n", r->what,
                r->dir, r->size, r->threads, r->ours_s * 1e6, rate(r->flops, r->ours_s),
                rate(r->bytes, r->ours_s), 100 * frac(r), ratio(r) ? "" : "- ", ratio(r));
    }
    fprintf(md, "\n");
    write_rows("optable.csv", &rows, "torch");
    free(rows.v);
}

static void gemm_plot(void) {
    if (system("command -v gnuplot >/dev/null 2>&1")) {
        printf("  gnuplot not installed: no gemm.png\n");
        return;
    }
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "cd %s && gnuplot -e \"set terminal pngcairo size 800,500 noenhanced; set output 'gemm.png';"
        "set datafile separator ','; set logscale x 2; set key left top; set grid;"
        "set xlabel 'n (square float32 GEMM)'; set ylabel 'GFLOP/s';"
        "set title 'ag sgemm vs OpenBLAS';"
        "plot for [t=1:2] 'gemm.csv' using ((stringcolumn(1) eq 'square' && \\$4==t) ? \\$3 : 1/0):7 with linespoints title sprintf('ag %%d thread(s)', t),"
        " for [t=1:2] '' using ((stringcolumn(1) eq 'square' && \\$4==t) ? \\$3 : 1/0):(\\$10 > 0 ? 2*\\$3**3/\\$10*1e-9 : 1/0) with linespoints dt 2 title sprintf('OpenBLAS %%d thread(s)', t)\" 2>&1",
        cfg.outdir);
    char *out = bench_run_capture(cmd);
    printf("  %s\n", out ? "wrote gemm.png" : "gnuplot failed");
    free(out);
}

static void gemm(void) {
    static const int64_t full[] = {64, 128, 256, 512, 1024, 2048}, quick[] = {128, 256};
    static const struct {
        const char *l;
        int64_t m, n, k;
    } mlp[] = {{"mlp 128x784*784x256", 128, 256, 784},
               {"mlp 128x256*256x128", 128, 128, 256},
               {"mlp 128x128*128x10", 128, 10, 128}};
    const char *core = bench_openblas_core();
    printf("== GEMM float32: ours ag_matmul, OpenBLAS %s%s\n", core ? "core " : "",
           core ? core : "not installed: skipped");
    struct bench_rows rows = {0};
    for (int i = 0; i < cfg.n_threads; i++) {
        int t = cfg.threads[i];
        for (int k = 0; k < (cfg.quick ? 2 : 6); k++) {
            int64_t n = cfg.quick ? quick[k] : full[k];
            bench_gemm_shape("square", n, n, n, t, cfg.quick, &rows);
        }
        for (int k = 0; k < (cfg.quick ? 1 : 3); k++)
            bench_gemm_shape(mlp[k].l, mlp[k].m, mlp[k].n, mlp[k].k, t, cfg.quick, &rows);
    }
    fprintf(
        md,
        "## GEMM float32 (OpenBLAS core %s; ratio = ours / OpenBLAS GFLOP/s)\n\n"
        "| shape | n | threads | ours GFLOP/s | OpenBLAS GFLOP/s | ratio |\n|---|---|---|---|---|---|\n",
        core ? core : "none");
    for (int i = 0; i < rows.n; i++) {
        struct bench_row *r = &rows.v[i];
        printf("  %-22s n=%5lld t=%d  ours %7.1f  OpenBLAS %7.1f GFLOP/s  ratio %.2f\n", r->what,
               r->size, r->threads, rate(r->flops, r->ours_s), rate(r->flops, r->peer_s), ratio(r));
        fprintf(md, "| %s | %lld | %d | %.1f | %.1f | %.2f |\n", r->what, r->size, r->threads,
                rate(r->flops, r->ours_s), rate(r->flops, r->peer_s), ratio(r));
    }
    fprintf(md, "\n![GEMM](gemm.png)\n\n");
    write_rows("gemm.csv", &rows, "openblas");
    free(rows.v);
    gemm_plot();
}

/* torch's autograd_overhead.py: median of its 0-d scalar rows (fwd, bwd us per op). */
static int torch_overhead(int threads, double *fwd, double *bwd) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd " SHARED " && " PY " autograd_overhead.py %d %d 2>/dev/null",
             threads, cfg.quick ? 3 : 9);
    if (access(SHARED "/autograd_overhead.py", R_OK) || !have_torch()) return -1;
    char *out = bench_run_capture(cmd);
    if (!out) return -1;
    double f[64], b[64];
    int n = 0;
    for (char *line = strtok(out, "\n"); line && n < 64; line = strtok(NULL, "\n"))
        if (!strncmp(line, "torch_0dim_scalar,", 18) &&
            sscanf(line, "torch_0dim_scalar,%*[^,],%*d,%lf,%lf", &f[n], &b[n]) == 2)
            n++;
    free(out);
    if (!n) return -1;
    for (int i = 1; i < n; i++) /* insertion sort: the medians */
        for (int j = i; j > 0 && f[j] < f[j - 1]; j--) {
            double x = f[j];
            f[j] = f[j - 1];
            f[j - 1] = x;
        }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && b[j] < b[j - 1]; j--) {
            double x = b[j];
            b[j] = b[j - 1];
            b[j - 1] = x;
        }
    *fwd = f[n / 2], *bwd = b[n / 2];
    return 0;
}

static void overhead(void) {
    int n_ops = 100000, reps = cfg.quick ? 5 : 21;
    ag_set_num_threads(1);
    struct overhead_result r;
    printf("== per-op overhead: %d chained 0-d float32 ops, forward then backward\n", n_ops);
    if (bench_overhead(n_ops, reps, &r)) {
        printf("  failed: %s\n", ag_last_error());
        return;
    }
    double tf = 0, tb = 0;
    int peer = torch_overhead(1, &tf, &tb);
    printf(
        "  ours (mul, add, %s): forward %.3f us/op, backward %.3f us/op, no-grad forward %.3f us/op\n",
        r.third_op, r.fwd_us, r.bwd_us, r.nograd_us);
    if (peer == 0)
        printf("  torch (mul, add, tanh): forward %.3f us/op, backward %.3f us/op\n", tf, tb);
    else
        printf("  torch peer skipped (" PY " + torch or " SHARED
               "/autograd_overhead.py missing)\n");
    FILE *f = open_out("overhead.csv");
    if (f) {
        fprintf(f, "impl,ops,fwd_us_per_op,bwd_us_per_op,nograd_fwd_us_per_op\n");
        fprintf(f, "ag (mul add %s),%d,%.4f,%.4f,%.4f\n", r.third_op, r.n_ops, r.fwd_us, r.bwd_us,
                r.nograd_us);
        if (peer == 0) fprintf(f, "torch (mul add tanh),3000,%.4f,%.4f,\n", tf, tb);
        fclose(f);
    }
    fprintf(
        md,
        "## Per-op overhead (micrograd test, 1 thread; target <= 0.1 us fwd, 0.2 us bwd)\n\n"
        "| | forward us/op | backward us/op |\n|---|---|---|\n| ag (mul, add, %s) | %.3f | %.3f |\n",
        r.third_op, r.fwd_us, r.bwd_us);
    if (peer == 0) fprintf(md, "| torch (mul, add, tanh) | %.3f | %.3f |\n", tf, tb);
    fprintf(md, "\n");
}

/* The torch training peers: seconds per step of batch 128. */
static double torch_step(bool cnn, int threads) {
    char cmd[512];
    if (!have_torch() || access(SHARED "/mlp_fmnist.py", R_OK)) return -1;
    if (cnn)
        snprintf(cmd, sizeof cmd, "cd " SHARED " && " PY " cnn_fmnist.py %d batches %d 2>/dev/null",
                 threads, cfg.quick ? 20 : 100);
    else
        snprintf(cmd, sizeof cmd, "cd " SHARED " && " PY " mlp_fmnist.py %d 1 2>/dev/null",
                 threads);
    char *out = bench_run_capture(cmd);
    if (!out) return -1;
    double s = -1, v;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (cnn && sscanf(line, "cnn,%*[^,],%*[^,],%*d,%lf", &v) == 1) s = v * 1e-3;
        if (!cnn && sscanf(line, "mlp,%*[^,],%*[^,],%*d,%lf", &v) == 1)
            s = v / 469.0; /* 60000/128 steps */
    }
    free(out);
    return s;
}

static void e2e(void) {
    printf("== end-to-end training step, batch 128 (ours: random data of the same shapes)\n");
    FILE *f = open_out("e2e.csv");
    if (f) fprintf(f, "model,threads,ours_ms_per_step,torch_ms_per_step,torch_over_ours\n");
    fprintf(md,
            "## Training steps (batch 128; ratio = torch time / our time)\n\n"
            "| model | threads | ours ms/step | torch ms/step | ratio |\n|---|---|---|---|---|\n");
    for (int m = 0; m < 2; m++) {
        if (m == 1 && cfg.quick) {
            printf("  cnn: skipped in quick mode\n");
            break;
        }
        for (int i = 0; i < cfg.n_threads; i++) {
            int t = cfg.threads[i];
            const char *missing = NULL;
            double ours = bench_train_step(m == 1, t, cfg.quick, &missing);
            double peer = cfg.quick ? -1 : torch_step(m == 1, t); /* ~10 s each */
            const char *name = m ? "cnn" : "mlp";
            if (ours < 0) printf("  %s t=%d: ours not available (%s)", name, t, missing);
            else printf("  %s t=%d: ours %.3f ms/step", name, t, ours * 1e3);
            if (peer > 0) printf(", torch %.3f ms/step\n", peer * 1e3);
            else printf(", torch peer skipped%s\n", cfg.quick ? " in quick mode" : "");
            double r = ours > 0 && peer > 0 ? peer / ours : 0;
            if (f) fprintf(f, "%s,%d,%.4f,%.4f,%.3f\n", name, t, ours * 1e3, peer * 1e3, r);
            fprintf(md, "| %s | %d | %s%.3f | %.3f | %.2f |\n", name, t, ours < 0 ? "n/a " : "",
                    ours * 1e3, peer * 1e3, r);
        }
    }
    fprintf(md, "\n");
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows up when piped to a log */
    peer_env(argv);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) cfg.quick = true;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) cfg.outdir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--out DIR] [--only machine|ops|gemm|overhead|e2e]\n",
                    argv[0]);
            return 2;
        }
    }
    if (getenv("QUICK") && !strcmp(getenv("QUICK"), "1")) cfg.quick = true;
    mkdir(cfg.outdir, 0755);
    md = open_out(only ? "README.partial.md" : "README.md");
    if (!md) return 1;
    double t0 = ag_now();
    fprintf(md,
            "# ag benchmark results%s\n\nGenerated by `make bench%s` (bench/bench.c); CSVs beside "
            "this file. Every time is the median over samples of `ag_bench_time` (or the same "
            "procedure in the Python peers). Ratios are peer time / our time: above 1, ours is "
            "faster. \"of limit\" is the larger of GFLOP/s over the measured FMA peak and GB/s "
            "(bytes read + written) over the measured copy bandwidth; small sizes that live in "
            "cache can exceed 100%% of the DRAM copy bandwidth. The machine may be shared: "
            "compare ratios from one run, not absolute numbers across runs.\n\n",
            cfg.quick ? " (quick mode: a smoke test, not a measurement)" : "",
            cfg.quick ? " QUICK=1" : "");
    double load[3] = {0};
    getloadavg(load, 3);
    fprintf(md,
            "Load average at start: %.2f (%d cores); above the core count, timings are "
            "inflated and only same-run ratios mean much.\n\n",
            load[0], (int)sysconf(_SC_NPROCESSORS_ONLN));
    machine(); /* always: the op table's fractions need it */
    if (want("ops")) ops();
    if (want("gemm")) gemm();
    if (want("overhead")) overhead();
    if (want("e2e")) e2e();
    fclose(md);
    printf("== done in %.1f s; results in %s\n", ag_now() - t0, cfg.outdir);
    return 0;
}
