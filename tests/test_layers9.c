/* The issue-9 layers as modules (LayerNorm, Embedding, GroupNorm, ConvTranspose2d,
 * MultiheadAttention, LSTM, GRU): torch's names and default init; torch loads ag's state
 * (strict) and gives the same outputs, final states and gradients (tests/py/torch_layers9.py);
 * float64 gradchecks through the recurrent and attention layers; errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static char path_buf[3][256];
static const char *tmp_path(int k, const char *name) {
    snprintf(path_buf[k], sizeof path_buf[k], "/tmp/ag_test_layers9_%d_%s", (int)getpid(), name);
    return path_buf[k];
}

static bool have_torch(void) {
    return system("/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null") == 0;
}

/* Every element of got and want within 1e-5 (absolute + relative). */
static void assert_tensors_close(ag_tensor *got, ag_tensor *want, const char *what) {
    cr_assert(got && want, "%s: missing (%s)", what, ag_last_error() ? ag_last_error() : "");
    cr_assert_eq(ag_numel(got), ag_numel(want), "%s: sizes differ", what);
    int64_t n = ag_numel(got);
    double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    ag_to_array(ag_cast(got, AG_F64), a);
    ag_to_array(ag_cast(want, AG_F64), b);
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabs(a[i] - b[i]) <= 1e-5 + 1e-5 * fabs(b[i]), "%s[%lld] = %.9g, torch %.9g", what,
                  (long long)i, a[i], b[i]);
    free(a), free(b);
}

/* Parameters moved off their default values (so weight 1 / bias 0 prove nothing). */
static void perturb(ag_module *m) {
    int n;
    ag_tensor **p = ag_module_parameters(m, &n);
    for (int i = 0; i < n; i++) {
        ag_tensor *t = ag_randn(AG_F32, ag_ndim(p[i]), ag_shape(p[i]));
        ag_scope_begin();
        bool grad = ag_set_grad_enabled(false);
        ag_copy_(p[i], ag_add(p[i], ag_mul_scalar(t, 0.3)));
        ag_set_grad_enabled(grad);
        ag_scope_end();
        ag_tensor_free(t);
    }
}

struct case9 {
    const char *kind;
    ag_module *m;
    ag_tensor *x, *x2, *h0, *c0;   /* x2: key/value for cross attention */
};

/* Runs c's forward (and the final states), back-propagates sum(out * r), asks torch for
 * the same and compares the output, the states and every gradient. */
static void compare_with_torch(struct case9 c) {
    const char *state = tmp_path(0, "state.safetensors"), *inputs = tmp_path(1, "in.safetensors"),
               *results = tmp_path(2, "out.safetensors");
    cr_assert_eq(ag_module_save(c.m, state), 0, "%s", ag_last_error());
    ag_scope_begin();
    ag_tensor *out = NULL, *hn = NULL, *cn = NULL;
    if (!strncmp(c.kind, "lstm", 4)) cr_assert_eq(ag_lstm_forward(c.m, c.x, c.h0, c.c0, &out, &hn, &cn), 0, "%s", ag_last_error());
    else if (!strcmp(c.kind, "gru")) cr_assert_eq(ag_gru_forward(c.m, c.x, c.h0, &out, &hn), 0, "%s", ag_last_error());
    else if (c.x2) out = ag_module_call(c.m, 3, (ag_tensor *[]){c.x, c.x2, c.x2});
    else out = ag_module_forward(c.m, c.x);
    cr_assert(out, "%s: %s", c.kind, ag_last_error());
    ag_tensor *r = ag_randn(AG_F32, ag_ndim(out), ag_shape(out));
    cr_assert_eq(ag_backward(ag_sum(ag_mul(out, r))), 0, "%s", ag_last_error());
    ag_tensor *ts[5] = {c.x, r, c.x2, c.h0, c.c0};
    const char *names[5] = {"x", "r", "x2", "h0", "c0"};
    int k = 0;
    ag_tensor *save_t[5];
    const char *save_n[5];
    for (int i = 0; i < 5; i++)
        if (ts[i]) save_t[k] = ts[i], save_n[k++] = names[i];
    cr_assert_eq(ag_save_safetensors(inputs, k, save_t, save_n), 0, "%s", ag_last_error());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/py/torch_layers9.py %s %s %s %s", c.kind, state,
             inputs, results);
    cr_assert_eq(system(cmd), 0, "the PyTorch side failed for %s", c.kind);
    assert_tensors_close(out, ag_load_safetensors_tensor(results, "out"), "out");
    if (hn) assert_tensors_close(hn, ag_load_safetensors_tensor(results, "hn"), "hn");
    if (cn) assert_tensors_close(cn, ag_load_safetensors_tensor(results, "cn"), "cn");
    int n;
    ag_tensor **p = ag_module_parameters(c.m, &n);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++) {
        char key[128];
        snprintf(key, sizeof key, "grad.%s", ag_module_param_name(c.m, i));
        assert_tensors_close(ag_grad(p[i]), ag_load_safetensors_tensor(results, key), key);
    }
    if (ag_requires_grad(c.x)) assert_tensors_close(ag_grad(c.x), ag_load_safetensors_tensor(results, "grad.x"), "grad.x");
    ag_scope_end();
    unlink(state), unlink(inputs), unlink(results);
}

static ag_tensor *leaf_randn(int ndim, const int64_t *shape) {
    ag_tensor *t = ag_randn(AG_F32, ndim, shape);
    ag_set_requires_grad(t, true);
    return t;
}

static void run_case(const char *kind, ag_module *m, ag_tensor *x, ag_tensor *x2, ag_tensor *h0, ag_tensor *c0) {
    cr_assert(m, "%s: %s", kind, ag_last_error());
    perturb(m);
    compare_with_torch((struct case9){kind, m, x, x2, h0, c0});
    ag_tensor *ts[4] = {x, x2, h0, c0};
    for (int i = 0; i < 4; i++) ag_tensor_free(ts[i]);
    ag_module_free(m);
}

#define NEED_TORCH()                                                                        \
    do {                                                                                    \
        if (!have_torch()) cr_skip_test("python3 with torch and numpy is missing: the PyTorch side cannot run"); \
    } while (0)

Test(layers9, layer_norm_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(1);
    run_case("layer_norm", ag_layer_norm_layer(2, (int64_t[]){3, 4}), leaf_randn(4, (int64_t[]){2, 5, 3, 4}),
             NULL, NULL, NULL);
}

Test(layers9, embedding_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(2);
    int64_t v[15];
    for (int i = 0; i < 15; i++) v[i] = (i * 7) % 10;
    ag_tensor *idx = ag_tensor_new(AG_I64, 2, (int64_t[]){3, 5}, v);
    run_case("embedding", ag_embedding_layer(10, 4), idx, NULL, NULL, NULL);
}

Test(layers9, group_norm_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(3);
    run_case("group_norm", ag_group_norm_layer(2, 6), leaf_randn(4, (int64_t[]){2, 6, 3, 3}), NULL, NULL, NULL);
}

Test(layers9, conv_transpose2d_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(4);
    ag_conv_transpose_opts o = {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}, .groups = 2};
    run_case("conv_transpose2d", ag_conv_transpose2d_layer(4, 6, 3, o, true),
             leaf_randn(4, (int64_t[]){2, 4, 5, 5}), NULL, NULL, NULL);
}

Test(layers9, multihead_attention_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(5);
    run_case("mha", ag_multihead_attention_layer(16, 4, true), leaf_randn(3, (int64_t[]){2, 5, 16}), NULL,
             NULL, NULL);
    run_case("mha_cross", ag_multihead_attention_layer(16, 4, true), leaf_randn(3, (int64_t[]){2, 5, 16}),
             leaf_randn(3, (int64_t[]){2, 7, 16}), NULL, NULL);
}

Test(layers9, lstm_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(6);
    run_case("lstm", ag_lstm_layer(5, 8, 2, true), leaf_randn(3, (int64_t[]){3, 6, 5}),
             NULL, leaf_randn(3, (int64_t[]){2, 3, 8}), leaf_randn(3, (int64_t[]){2, 3, 8}));
    run_case("lstm_seq_first", ag_lstm_layer(5, 8, 2, false), leaf_randn(3, (int64_t[]){6, 3, 5}), NULL,
             NULL, NULL);
}

Test(layers9, gru_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(7);
    run_case("gru", ag_gru_layer(5, 8, 2, false), leaf_randn(3, (int64_t[]){6, 3, 5}), NULL,
             leaf_randn(3, (int64_t[]){2, 3, 8}), NULL);
}
