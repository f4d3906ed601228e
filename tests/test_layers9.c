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
        cr_assert(fabs(a[i] - b[i]) <= 1e-5 + 1e-5 * fabs(b[i]), "%s[%lld] = %.9g, torch %.9g",
                  what, (long long)i, a[i], b[i]);
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
    ag_tensor *x, *x2, *h0, *c0; /* x2: key/value for cross attention */
};

/* Runs c's forward (and the final states), back-propagates sum(out * r), asks torch for
 * the same and compares the output, the states and every gradient. */
static void compare_with_torch(struct case9 c) {
    const char *state = tmp_path(0, "state.safetensors"), *inputs = tmp_path(1, "in.safetensors"),
               *results = tmp_path(2, "out.safetensors");
    cr_assert_eq(ag_module_save(c.m, state), 0, "%s", ag_last_error());
    ag_scope_begin();
    ag_tensor *out = NULL, *hn = NULL, *cn = NULL;
    if (!strncmp(c.kind, "lstm", 4))
        cr_assert_eq(ag_lstm_forward(c.m, c.x, c.h0, c.c0, &out, &hn, &cn), 0, "%s",
                     ag_last_error());
    else if (!strcmp(c.kind, "gru"))
        cr_assert_eq(ag_gru_forward(c.m, c.x, c.h0, &out, &hn), 0, "%s", ag_last_error());
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
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/py/torch_layers9.py %s %s %s %s", c.kind,
             state, inputs, results);
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
    if (ag_requires_grad(c.x))
        assert_tensors_close(ag_grad(c.x), ag_load_safetensors_tensor(results, "grad.x"), "grad.x");
    ag_scope_end();
    unlink(state), unlink(inputs), unlink(results);
}

static ag_tensor *leaf_randn(int ndim, const int64_t *shape) {
    ag_tensor *t = ag_randn(AG_F32, ndim, shape);
    ag_set_requires_grad(t, true);
    return t;
}

static void run_case(const char *kind, ag_module *m, ag_tensor *x, ag_tensor *x2, ag_tensor *h0,
                     ag_tensor *c0) {
    cr_assert(m, "%s: %s", kind, ag_last_error());
    perturb(m);
    compare_with_torch((struct case9){kind, m, x, x2, h0, c0});
    ag_tensor *ts[4] = {x, x2, h0, c0};
    for (int i = 0; i < 4; i++) ag_tensor_free(ts[i]);
    ag_module_free(m);
}

#define NEED_TORCH()                                                                              \
    do {                                                                                          \
        if (!have_torch())                                                                        \
            cr_skip_test("python3 with torch and numpy is missing: the PyTorch side cannot run"); \
    } while (0)

Test(layers9, layer_norm_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(1);
    run_case("layer_norm", ag_layer_norm_layer(2, (int64_t[]){3, 4}),
             leaf_randn(4, (int64_t[]){2, 5, 3, 4}), NULL, NULL, NULL);
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
    run_case("group_norm", ag_group_norm_layer(2, 6), leaf_randn(4, (int64_t[]){2, 6, 3, 3}), NULL,
             NULL, NULL);
}

Test(layers9, conv_transpose2d_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(4);
    ag_conv_transpose_opts o = {
        .stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}, .groups = 2};
    run_case("conv_transpose2d", ag_conv_transpose2d_layer(4, 6, 3, o, true),
             leaf_randn(4, (int64_t[]){2, 4, 5, 5}), NULL, NULL, NULL);
}

Test(layers9, multihead_attention_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(5);
    run_case("mha", ag_multihead_attention_layer(16, 4, true), leaf_randn(3, (int64_t[]){2, 5, 16}),
             NULL, NULL, NULL);
    run_case("mha_cross", ag_multihead_attention_layer(16, 4, true),
             leaf_randn(3, (int64_t[]){2, 5, 16}), leaf_randn(3, (int64_t[]){2, 7, 16}), NULL,
             NULL);
}

Test(layers9, lstm_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(6);
    run_case("lstm", ag_lstm_layer(5, 8, 2, true), leaf_randn(3, (int64_t[]){3, 6, 5}), NULL,
             leaf_randn(3, (int64_t[]){2, 3, 8}), leaf_randn(3, (int64_t[]){2, 3, 8}));
    run_case("lstm_seq_first", ag_lstm_layer(5, 8, 2, false), leaf_randn(3, (int64_t[]){6, 3, 5}),
             NULL, NULL, NULL);
}

Test(layers9, gru_matches_torch) {
    NEED_TORCH();
    ag_manual_seed(7);
    run_case("gru", ag_gru_layer(5, 8, 2, false), leaf_randn(3, (int64_t[]){6, 3, 5}), NULL,
             leaf_randn(3, (int64_t[]){2, 3, 8}), NULL);
}

/* ------------------------------------------------------------------ default init, as torch */
static void assert_all_in(ag_tensor *t, double lo, double hi, const char *what) {
    int64_t n = ag_numel(t);
    double *v = malloc((size_t)n * sizeof *v), mx = 0;
    ag_tensor *c = ag_cast(t, AG_F64);
    ag_to_array(c, v);
    if (c != t) ag_tensor_free(c); /* ag_cast gives t itself when it is float64 */
    for (int64_t i = 0; i < n; i++) {
        cr_assert(v[i] >= lo && v[i] <= hi, "%s[%lld] = %g not in [%g, %g]", what, (long long)i,
                  v[i], lo, hi);
        mx = fmax(mx, fabs(v[i]));
    }
    if (hi > lo) cr_assert_gt(mx, 0.5 * hi, "%s: not spread over its range", what);
    free(v);
}

Test(layers9, default_init_and_names_as_torch) {
    ag_manual_seed(11);
    ag_module *ln = ag_layer_norm_layer(1, (int64_t[]){8});
    assert_all_in(ag_module_get(ln, "weight"), 1, 1, "ln.weight");
    assert_all_in(ag_module_get(ln, "bias"), 0, 0, "ln.bias");
    ag_module *gn = ag_group_norm_layer(2, 4);
    assert_all_in(ag_module_get(gn, "weight"), 1, 1, "gn.weight");
    ag_module *mha = ag_multihead_attention_layer(16, 4, true);
    const char *mha_names[] = {"in_proj_weight", "in_proj_bias", "out_proj.weight",
                               "out_proj.bias"};
    for (int i = 0; i < 4; i++) cr_assert_str_eq(ag_module_param_name(mha, i), mha_names[i]);
    double xb = sqrt(6.0 / (16 + 48));
    assert_all_in(ag_module_get(mha, "in_proj_weight"), -xb, xb, "in_proj_weight");
    assert_all_in(ag_module_get(mha, "in_proj_bias"), 0, 0, "in_proj_bias");
    assert_all_in(ag_module_get(mha, "out_proj.bias"), 0, 0, "out_proj.bias");
    assert_all_in(ag_module_get(mha, "out_proj.weight"), -0.25, 0.25, "out_proj.weight");
    ag_module *lstm = ag_lstm_layer(3, 16, 2, false);
    const char *lstm_names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"};
    int n;
    ag_tensor **p = ag_module_parameters(lstm, &n);
    cr_assert_eq(n, 8);
    for (int i = 0; i < 8; i++) {
        cr_assert_str_eq(ag_module_param_name(lstm, i), lstm_names[i]);
        assert_all_in(p[i], -0.25, 0.25, lstm_names[i]);
    }
    cr_assert_eq(ag_shape(p[0])[0], 64);
    cr_assert_eq(ag_shape(p[0])[1], 3);
    cr_assert_eq(ag_shape(p[4])[1], 16);
    ag_module *gru = ag_gru_layer(3, 16, 1, true);
    cr_assert_eq(ag_shape(ag_module_get(gru, "weight_hh_l0"))[0], 48);
    ag_module *ct = ag_conv_transpose2d_layer(4, 6, 3, (ag_conv_transpose_opts){.groups = 2}, true);
    cr_assert_eq(ag_shape(ag_module_get(ct, "weight"))[0], 4);
    cr_assert_eq(ag_shape(ag_module_get(ct, "weight"))[1], 3);
    assert_all_in(ag_module_get(ct, "bias"), -1 / sqrt(27.0), 1 / sqrt(27.0), "ct.bias");
    ag_module *emb = ag_embedding_layer(100, 50);
    ag_scope_begin();
    ag_tensor *w = ag_module_get(emb, "weight");
    double mean = ag_item(ag_mean(w)), var = ag_item(ag_mean(ag_mul(w, w)));
    cr_assert(fabs(mean) < 0.05 && fabs(var - 1) < 0.08, "embedding N(0,1): mean %g, var %g", mean,
              var);
    ag_scope_end();
    const char *types[] = {"LayerNorm", "GroupNorm",       "MultiheadAttention", "LSTM",
                           "GRU",       "ConvTranspose2d", "Embedding"};
    ag_module *ms[] = {ln, gn, mha, lstm, gru, ct, emb};
    for (int i = 0; i < 7; i++) {
        cr_assert_str_eq(ag_layer_name(ms[i]), types[i]);
        ag_module_free(ms[i]);
    }
}

/* ------------------------------------------------------------------ float64 gradchecks */
static ag_tensor *lstm_f(ag_tensor **in, void *ctx) {
    ag_tensor *out, *hn, *cn;
    if (ag_lstm_forward(ctx, in[0], in[1], in[2], &out, &hn, &cn)) return NULL;
    return ag_cat(
        (ag_tensor *[]){ag_reshape(out, 1, (int64_t[]){-1}), ag_reshape(cn, 1, (int64_t[]){-1})}, 2,
        0);
}
static ag_tensor *gru_f(ag_tensor **in, void *ctx) {
    ag_tensor *out, *hn;
    if (ag_gru_forward(ctx, in[0], in[1], &out, &hn)) return NULL;
    return ag_cat(
        (ag_tensor *[]){ag_reshape(out, 1, (int64_t[]){-1}), ag_reshape(hn, 1, (int64_t[]){-1})}, 2,
        0);
}
static ag_tensor *mha_f(ag_tensor **in, void *ctx) {
    return ag_multihead_attention_forward(ctx, in[0], in[1], in[1], NULL, true);
}

static ag_tensor *leaf64(int ndim, const int64_t *shape) {
    ag_tensor *t = ag_randn(AG_F64, ndim, shape);
    ag_set_requires_grad(t, true);
    return t;
}

Test(layers9, gradcheck_lstm_gru_attention_f64) {
    ag_manual_seed(12);
    ag_set_default_dtype(AG_F64);
    ag_module *lstm = ag_lstm_layer(3, 4, 2, true), *gru = ag_gru_layer(3, 4, 2, true);
    ag_module *mha = ag_multihead_attention_layer(8, 2, true);
    ag_set_default_dtype(AG_F32);
    ag_tensor *in[3] = {leaf64(3, (int64_t[]){2, 3, 3}), leaf64(3, (int64_t[]){2, 2, 4}),
                        leaf64(3, (int64_t[]){2, 2, 4})};
    ag_gradcheck_result r = ag_gradcheck(lstm_f, lstm, 3, in, (ag_gradcheck_opts){0});
    cr_assert(r.ok, "lstm: input %d index %lld rel %g", r.input, (long long)r.index, r.max_rel_err);
    r = ag_gradcheck(gru_f, gru, 2, in, (ag_gradcheck_opts){0});
    cr_assert(r.ok, "gru: input %d index %lld rel %g", r.input, (long long)r.index, r.max_rel_err);
    ag_tensor *q[2] = {leaf64(3, (int64_t[]){2, 3, 8}), leaf64(3, (int64_t[]){2, 3, 8})};
    r = ag_gradcheck(mha_f, mha, 2, q, (ag_gradcheck_opts){0});
    cr_assert(r.ok, "mha: input %d index %lld rel %g", r.input, (long long)r.index, r.max_rel_err);
    for (int i = 0; i < 3; i++) ag_tensor_free(in[i]);
    ag_tensor_free(q[0]), ag_tensor_free(q[1]);
    ag_module_free(lstm), ag_module_free(gru), ag_module_free(mha);
}

/* ------------------------------------------------------------------ errors */
#define ASSERT_ERR_HAS(expr, text)                                                           \
    do {                                                                                     \
        ag_clear_error();                                                                    \
        cr_assert_null((expr), "%s should fail", #expr);                                     \
        cr_assert(ag_last_error() && strstr(ag_last_error(), (text)), "%s: got '%s'", #expr, \
                  ag_last_error() ? ag_last_error() : "(none)");                             \
    } while (0)

Test(layers9, errors_name_the_function_and_shapes) {
    ASSERT_ERR_HAS(ag_layer_norm_layer(0, (int64_t[]){1}), "ag_layer_norm_layer");
    ASSERT_ERR_HAS(ag_layer_norm_layer(1, (int64_t[]){0}), "ag_layer_norm_layer");
    ASSERT_ERR_HAS(ag_embedding_layer(0, 4), "ag_embedding_layer");
    ASSERT_ERR_HAS(ag_group_norm_layer(4, 6), "6 channels do not split into 4 groups");
    ASSERT_ERR_HAS(ag_conv_transpose2d_layer(3, 4, 3, (ag_conv_transpose_opts){.groups = 2}, true),
                   "ag_conv_transpose2d_layer");
    ASSERT_ERR_HAS(ag_multihead_attention_layer(10, 4, true), "divisible");
    ASSERT_ERR_HAS(ag_lstm_layer(3, 0, 1, false), "ag_lstm_layer");
    ASSERT_ERR_HAS(ag_gru_layer(3, 4, 0, false), "ag_gru_layer");
    ag_module *lstm = ag_lstm_layer(3, 4, 1, true), *gru = ag_gru_layer(3, 4, 1, true);
    ag_module *mha = ag_multihead_attention_layer(8, 2, true);
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F32, 3, (int64_t[]){2, 5, 3}),
              *bad = ag_randn(AG_F32, 3, (int64_t[]){2, 5, 4});
    ag_tensor *out, *hn, *cn;
    cr_assert_neq(ag_lstm_forward(lstm, bad, NULL, NULL, &out, &hn, &cn), 0);
    cr_assert(strstr(ag_last_error(), "ag_lstm_forward") && strstr(ag_last_error(), "[2,5,4]"),
              "%s", ag_last_error());
    cr_assert_neq(
        ag_lstm_forward(lstm, x, ag_zeros(AG_F32, 3, (int64_t[]){1, 3, 4}), NULL, &out, &hn, &cn),
        0);
    cr_assert(strstr(ag_last_error(), "state [1,3,4]"), "%s", ag_last_error());
    cr_assert_neq(ag_lstm_forward(gru, x, NULL, NULL, &out, &hn, &cn), 0, "an LSTM call on a GRU");
    cr_assert(strstr(ag_last_error(), "needs a LSTM"), "%s", ag_last_error());
    cr_assert_neq(ag_gru_forward(gru, NULL, NULL, &out, &hn), 0);
    ASSERT_ERR_HAS(ag_multihead_attention_forward(mha, bad, bad, bad, NULL, false), "[B, T, 8]");
    ASSERT_ERR_HAS(ag_multihead_attention_forward(lstm, x, x, x, NULL, false),
                   "needs a MultiheadAttention");
    ASSERT_ERR_HAS(ag_module_call(mha, 2, (ag_tensor *[]){x, x}), "1 or 3 inputs");
    ASSERT_ERR_HAS(ag_module_forward(ag_module_get_child(mha, "out_proj"), bad), "");
    ag_scope_end();
    ag_module_free(lstm), ag_module_free(gru), ag_module_free(mha);
}
