/* Layers, initializers, the sequential model, safetensors and graph export. Modules in
 * general (user-defined, nested) are tested in test_module.c. The Python halves (the
 * safetensors reader, torch reproducing predictions) skip, saying so, without python3's
 * numpy or torch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static char path_buf[256];
static const char *tmp_path(const char *name) {
    snprintf(path_buf, sizeof path_buf, "/tmp/ag_test_nn_%d_%s", (int)getpid(), name);
    return path_buf;
}

static double max_abs(const ag_tensor *t) {
    double m = 0, v[4096];
    cr_assert(ag_numel(t) <= 4096);
    ag_to_array(ag_dtype_of(t) == AG_F64 ? t : t, v); /* callers pass float64 */
    for (int64_t i = 0; i < ag_numel(t); i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

Test(nn, initializers_follow_torch_formulas) {
    ag_manual_seed(1);
    ag_tensor *w = ag_zeros(AG_F64, 4, (int64_t[]){8, 6, 3, 3}); /* fan_in 54, fan_out 72 */
    cr_assert_eq(ag_init_kaiming_uniform_(w, 0, AG_FAN_IN), 0);
    double bound = sqrt(3.0) * sqrt(2.0) / sqrt(54.0);
    cr_assert(max_abs(w) <= bound && max_abs(w) > 0.95 * bound, "%g vs %g", max_abs(w), bound);
    ag_init_kaiming_uniform_(w, sqrt(5.0), AG_FAN_OUT);
    bound = 1 / sqrt(72.0);
    cr_assert(max_abs(w) <= bound && max_abs(w) > 0.95 * bound);
    ag_init_xavier_uniform_(w, 2.0);
    bound = 2 * sqrt(6.0 / (54 + 72));
    cr_assert(max_abs(w) <= bound && max_abs(w) > 0.95 * bound);
    ag_tensor *big = ag_zeros(AG_F64, 2, (int64_t[]){200, 300});
    ag_init_kaiming_normal_(big, 0, AG_FAN_IN);
    ag_scope_begin();
    double var = ag_item(ag_mean(ag_mul(big, big)));
    assert_close(var, 2.0 / 300, 0, 0.05);
    ag_init_xavier_normal_(big, 0);
    assert_close(ag_item(ag_mean(ag_mul(big, big))), 2.0 / 500, 0, 0.05);
    ag_init_normal_(big, 3, 0.5);
    assert_close(ag_item(ag_mean(big)), 3, 0.01, 0);
    ag_scope_end();
    ag_init_constant_(w, 0.25);
    cr_assert_eq(ag_get(w, (int64_t[]){7, 5, 2, 2}), 0.25);
    ag_init_zeros_(w);
    cr_assert_eq(max_abs(w), 0);
    ag_tensor *v = ag_zeros(AG_F64, 1, (int64_t[]){5});
    cr_assert_neq(ag_init_xavier_uniform_(v, 1), 0);
    cr_assert(strstr(ag_last_error(), "2 or more dims"), "%s", ag_last_error());
    ag_tensor *l = ag_zeros(AG_I64, 2, (int64_t[]){2, 2});
    cr_assert_neq(ag_init_uniform_(l, 0, 1), 0);
    cr_assert_neq(ag_init_normal_(NULL, 0, 1), 0);
    ag_tensor_free(w), ag_tensor_free(big), ag_tensor_free(v), ag_tensor_free(l);
}

Test(nn, layers_have_torch_shapes_names_and_default_init) {
    ag_set_default_dtype(AG_F64);
    ag_layer *lin = ag_linear_layer(20, 5, true);
    cr_assert_eq(ag_layer_num_params(lin), 2);
    const char *name;
    ag_tensor *w = ag_layer_param(lin, 0, &name);
    cr_assert_str_eq(name, "weight");
    cr_assert_eq(ag_shape(w)[0], 5);
    cr_assert_eq(ag_shape(w)[1], 20);
    cr_assert(ag_requires_grad(w));
    cr_assert(max_abs(w) <= 1 / sqrt(20.0) && max_abs(w) > 0.8 / sqrt(20.0));
    ag_tensor *b = ag_layer_param(lin, 1, &name);
    cr_assert_str_eq(name, "bias");
    cr_assert(max_abs(b) <= 1 / sqrt(20.0));
    cr_assert_null(ag_layer_param(lin, 2, NULL));
    cr_assert_str_eq(ag_layer_name(lin), "Linear");
    ag_layer_free(lin);

    ag_layer *conv = ag_conv2d_layer(4, 6, 3, (ag_conv_opts){.groups = 2}, false);
    w = ag_layer_param(conv, 0, NULL);
    int64_t want[] = {6, 2, 3, 3};
    for (int d = 0; d < 4; d++) cr_assert_eq(ag_shape(w)[d], want[d]);
    cr_assert_eq(ag_layer_num_params(conv), 1);
    cr_assert(max_abs(w) <= 1 / sqrt(18.0));
    ag_layer_free(conv);
    cr_assert_null(ag_conv2d_layer(3, 6, 3, (ag_conv_opts){.groups = 2}, true));

    ag_layer *bn = ag_batch_norm2d_layer(3);
    cr_assert_eq(ag_get(ag_layer_param(bn, 0, NULL), (int64_t[]){2}), 1.0);
    cr_assert_eq(ag_get(ag_layer_param(bn, 1, NULL), (int64_t[]){2}), 0.0);
    ag_layer_free(bn);
    ag_layer *lstm = ag_lstm_cell(3, 4, true), *gru = ag_gru_cell(3, 4, false);
    cr_assert_eq(ag_layer_num_params(lstm), 4);
    cr_assert_eq(ag_shape(ag_layer_param(lstm, 1, &name))[0], 16);
    cr_assert_str_eq(name, "weight_hh");
    cr_assert_eq(ag_layer_num_params(gru), 2);
    cr_assert_eq(ag_shape(ag_layer_param(gru, 0, NULL))[0], 12);
    cr_assert(max_abs(ag_layer_param(gru, 0, NULL)) <= 0.5);
    ag_layer_free(lstm);
    ag_layer_free(gru);

    cr_assert_null(ag_linear_layer(0, 3, true));
    cr_assert(strstr(ag_last_error(), "ag_linear_layer"));
    cr_assert_null(ag_dropout_layer(1.0));
    cr_assert_null(ag_activation_layer((ag_activation)99));
    cr_assert_null(ag_lstm_cell(3, 0, true));
    ag_set_default_dtype(AG_F32);
    cr_assert_eq(ag_get_default_dtype(), AG_F32);
}

static ag_model *small_model(void) {
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_linear_layer(4, 16, true));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_linear_layer(16, 3, true));
    return m;
}

Test(nn, model_lists_and_counts_params) {
    ag_model *m = small_model();
    int n;
    ag_tensor **p = ag_model_params(m, &n);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(ag_model_param_name(m, 0), "0.weight");
    cr_assert_str_eq(ag_model_param_name(m, 3), "2.bias");
    cr_assert_null(ag_model_param_name(m, 4));
    cr_assert_eq(ag_numel(p[2]), 48);
    cr_assert_eq(ag_model_num_elements(m), 4 * 16 + 16 + 16 * 3 + 3);
    cr_assert_neq(ag_model_add(m, NULL), 0);
    cr_assert_neq(ag_model_add(NULL, ag_flatten_layer()), 0); /* layer freed, no leak */
    ag_model_free(m);
}

Test(nn, safetensors_round_trip) {
    ag_manual_seed(5);
    ag_model *m = small_model();
    const char *p = tmp_path("model.safetensors");
    char path[256];
    snprintf(path, sizeof path, "%s", p);
    cr_assert_eq(ag_model_save(m, path), 0, "%s", ag_last_error());
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    ag_scope_begin();
    for (int i = 0; i < n; i++) {
        ag_tensor *t = ag_load_safetensors_tensor(path, ag_model_param_name(m, i));
        cr_assert(t, "%s", ag_last_error());
        cr_assert_eq(ag_numel(t), ag_numel(params[i]));
        cr_assert_eq(ag_item(ag_sum(ag_sub(t, params[i]))), 0);
    }
    cr_assert_null(ag_load_safetensors_tensor(path, "9.weight"));
    cr_assert(strstr(ag_last_error(), "no tensor named '9.weight'"));
    ag_scope_end();

    /* a fresh model loads the weights back */
    ag_manual_seed(99);
    ag_model *m2 = small_model();
    cr_assert_eq(ag_model_load(m2, path), 0, "%s", ag_last_error());
    ag_tensor **p2 = ag_model_params(m2, &n);
    for (int i = 0; i < n; i++) {
        float a[64], b[64];
        ag_to_array(params[i], a);
        ag_to_array(p2[i], b);
        cr_assert_arr_eq(a, b, (size_t)ag_numel(params[i]) * sizeof(float));
    }
    ag_model *other = ag_model_new();
    ag_model_add(other, ag_linear_layer(5, 16, true));
    cr_assert_neq(ag_model_load(other, path), 0);
    cr_assert(strstr(ag_last_error(), "'0.weight' is float32 [16,4] in the file"), "%s",
              ag_last_error());
    ag_model_free(other);

    ag_model_free(m);
    ag_model_free(m2);
    unlink(path);
}

/* numpy's reading of our file (tests/py/read_safetensors.py) matches our tensors. */
Test(nn, safetensors_file_reads_the_same_in_python) {
    if (!have_python_module("numpy"))
        cr_skip_test("python3 with numpy is not installed: tests/py/read_safetensors.py not run");
    ag_manual_seed(5);
    ag_model *m = small_model();
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("py.safetensors"));
    cr_assert_eq(ag_model_save(m, path), 0, "%s", ag_last_error());
    int n;
    ag_tensor **params = ag_model_params(m, &n);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/py/read_safetensors.py %s", path);
    FILE *f = popen(cmd, "r");
    cr_assert(f, "cannot run %s", cmd);
    char name[64], dt[16], shape[32];
    double sum, first, last;
    int rows = 0;
    while (fscanf(f, "%63s %15s %31s %lf %lf %lf", name, dt, shape, &sum, &first, &last) == 6) {
        cr_assert_str_eq(name, ag_model_param_name(m, rows));
        cr_assert_str_eq(dt, "float32");
        float v[64];
        ag_to_array(params[rows], v);
        int64_t k = ag_numel(params[rows]);
        double s = 0;
        for (int64_t j = 0; j < k; j++) s += v[j];
        assert_close(sum, s, 1e-5, 0);
        cr_assert_eq(first, v[0]);
        cr_assert_eq(last, v[k - 1]);
        rows++;
    }
    cr_assert_eq(pclose(f), 0);
    cr_assert_eq(rows, 4);
    ag_model_free(m);
    unlink(path);
}

Test(nn, safetensors_malformed_files_name_the_byte) {
    const char *p = tmp_path("bad.safetensors");
    char path[256];
    snprintf(path, sizeof path, "%s", p);
    struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "run past the end"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", "unsupported dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,4]}}",
         "do not match the shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "lacks dtype, shape or data_offsets"},
        {"[1,2]", "byte 8: header is not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\" \"shape\":[1]}}", "byte 28: expected '}'"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        FILE *f = fopen(path, "wb");
        uint64_t n = strlen(cases[c].json);
        fwrite(&n, 8, 1, f);
        fwrite(cases[c].json, 1, n, f);
        fwrite("\0\0\0\0", 1, 4, f);
        fclose(f);
        ag_scope_begin();
        cr_assert_null(ag_load_safetensors_tensor(path, "a"), "case %zu accepted", c);
        const char *e = ag_last_error();
        cr_assert(strstr(e, path) && strstr(e, cases[c].want), "case %zu: '%s' lacks '%s'", c, e,
                  cases[c].want);
        ag_scope_end();
    }
    FILE *f = fopen(path, "wb");
    uint64_t huge = 1000;
    fwrite(&huge, 8, 1, f);
    fclose(f);
    cr_assert_null(ag_load_safetensors_tensor(path, "a"));
    cr_assert(strstr(ag_last_error(), "header length 1000 runs past the end"), "%s",
              ag_last_error());
    f = fopen(path, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    cr_assert_null(ag_load_safetensors_tensor(path, "a"));
    cr_assert(strstr(ag_last_error(), "truncated"), "%s", ag_last_error());
    cr_assert_null(ag_load_safetensors_tensor("/nonexistent/x", "a"));
    cr_assert_neq(ag_save_safetensors("/nonexistent/x", 0, NULL, NULL), 0);
    unlink(path);
}

Test(nn, graph_dot_names_ops_and_shapes) {
    ag_tensor *w = ag_ones(AG_F64, 2, (int64_t[]){2, 3});
    ag_set_requires_grad(w, true);
    ag_scope_begin();
    ag_tensor *x = ag_full(AG_F64, 2, (int64_t[]){2, 3}, 2.0);
    ag_tensor *y = ag_sum(ag_add(ag_mul(w, x), w));
    const char *p = tmp_path("g.dot");
    char path[256];
    snprintf(path, sizeof path, "%s", p);
    cr_assert_eq(ag_graph_dot(y, path), 0, "%s", ag_last_error());
    ag_scope_end();
    FILE *f = fopen(path, "r");
    char buf[4096] = {0};
    fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    cr_assert(strstr(buf, "digraph"));
    cr_assert(strstr(buf, "\"sum\\n[] float64\""), "%s", buf);
    cr_assert(strstr(buf, "\"mul\\n[2,3] float64\""), "%s", buf);
    cr_assert(strstr(buf, "param\\n[2,3]"), "%s", buf);
    int params = 0;
    for (char *s = buf; (s = strstr(s, "param\\n")); s++) params++;
    cr_assert_eq(params, 1, "w appears once though used twice");
    cr_assert_neq(ag_graph_dot(NULL, path), 0);
    unlink(path);
    ag_tensor_free(w);
}

Test(nn, graph_dot_of_a_deep_graph_is_written_without_recursion) {
    ag_scope_begin();
    ag_tensor *x = ag_scalar(AG_F64, 1), *y = x;
    ag_set_requires_grad(x, true);
    for (int i = 0; i < 200000; i++) y = ag_mul_scalar(y, 1.0);
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("deep.dot"));
    cr_assert_eq(ag_graph_dot(y, path), 0, "%s", ag_last_error());
    FILE *f = fopen(path, "r");
    int edges = 0, c, prev = 0;
    while ((c = fgetc(f)) != EOF) edges += prev == '-' && c == '>', prev = c;
    fclose(f);
    cr_assert_eq(edges, 200000, "one edge per op");
    unlink(path);
    ag_scope_end();
}

Test(nn, model_forward_and_summary) {
    ag_model *m = ag_model_new();
    ag_model_add(m, ag_conv2d_layer(1, 4, 3, (ag_conv_opts){.padding = {1, 1}}, true));
    ag_model_add(m, ag_batch_norm2d_layer(4));
    ag_model_add(m, ag_activation_layer(AG_ACTIVATION_RELU));
    ag_model_add(m, ag_max_pool2d_layer((ag_pool_opts){.kernel = {2, 2}}));
    ag_model_add(m, ag_flatten_layer());
    ag_model_add(m, ag_dropout_layer(0.5));
    ag_model_add(m, ag_dense_layer(4 * 4 * 4, 10, AG_ACTIVATION_LOG_SOFTMAX));
    char buf[2048];
    int len = ag_model_summary(m, 4, (int64_t[]){2, 1, 8, 8}, buf, sizeof buf);
    cr_assert_gt(len, 0, "%s", ag_last_error());
    cr_assert(strstr(buf, "Conv2d") && strstr(buf, "[2,4,8,8]") && strstr(buf, "[2,4,4,4]") &&
                  strstr(buf, "[2,64]") && strstr(buf, "650"),
              "%s", buf);
    cr_assert(strstr(buf, "Total parameters: 698"), "%s", buf);
    cr_assert_eq(ag_model_summary(m, 4, (int64_t[]){2, 1, 8, 8}, NULL, 0), len);
    cr_assert_lt(ag_model_summary(m, 4, (int64_t[]){2, 3, 8, 8}, buf, sizeof buf), 0);
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F32, 4, (int64_t[]){2, 1, 8, 8});
    ag_model_train(m, false);
    ag_tensor *a = ag_model_forward(m, x), *b = ag_model_forward(m, x);
    cr_assert(a, "%s", ag_last_error());
    cr_assert_eq(ag_item(ag_sum(ag_sub(a, b))), 0, "eval mode is deterministic");
    assert_close(ag_item(ag_sum(ag_exp(a))), 2.0, 1e-5, 0);
    ag_model_train(m, true);
    ag_tensor *loss = ag_nll_loss(ag_model_forward(m, x), ag_zeros(AG_I64, 1, (int64_t[]){2}));
    cr_assert_eq(ag_backward(loss), 0, "%s", ag_last_error());
    int n;
    ag_tensor **p = ag_model_params(m, &n);
    for (int i = 0; i < n; i++) cr_assert(ag_grad(p[i]), "param %d has no grad", i);
    ag_scope_end();
    ag_model_free(m);
}

static ag_tensor *gru_fn(ag_tensor **in, void *ctx) {
    return ag_gru_cell_forward(ctx, in[0], in[1]);
}
static ag_tensor *lstm_fn(ag_tensor **in, void *ctx) {
    ag_tensor *h, *c;
    if (ag_lstm_cell_forward(ctx, in[0], in[1], in[2], &h, &c)) return NULL;
    return ag_add(h, ag_mul(c, c));
}

Test(nn, recurrent_cells_gradcheck) {
    ag_set_default_dtype(AG_F64);
    ag_layer *gru = ag_gru_cell(3, 4, true), *lstm = ag_lstm_cell(3, 4, true);
    ag_set_default_dtype(AG_F32);
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F64, 2, (int64_t[]){2, 3}),
              *h = ag_randn(AG_F64, 2, (int64_t[]){2, 4});
    ag_tensor *c = ag_randn(AG_F64, 2, (int64_t[]){2, 4});
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(h, true);
    ag_set_requires_grad(c, true);
    ag_gradcheck_result r =
        ag_gradcheck(gru_fn, gru, 2, (ag_tensor *[]){x, h}, (ag_gradcheck_opts){0});
    cr_assert(r.ok, "gru: input %d err %g", r.input, r.max_abs_err);
    r = ag_gradcheck(lstm_fn, lstm, 3, (ag_tensor *[]){x, h, c}, (ag_gradcheck_opts){0});
    cr_assert(r.ok, "lstm: input %d err %g", r.input, r.max_abs_err);
    ag_tensor *h0 = ag_gru_cell_forward(gru, x, NULL); /* NULL state: zeros */
    cr_assert_eq(ag_shape(h0)[1], 4);
    cr_assert_null(ag_gru_cell_forward(gru, ag_zeros(AG_F64, 2, (int64_t[]){2, 5}), NULL));
    cr_assert(strstr(ag_last_error(), "[N,3]"));
    cr_assert_null(ag_layer_forward(gru, x));
    cr_assert_null(ag_layer_forward(NULL, x));
    ag_scope_end();
    ag_layer_free(gru);
    ag_layer_free(lstm);
}

Test(nn, torch_reproduces_predictions_from_safetensors) {
    if (!have_python_module("torch"))
        cr_skip_test("python3 with torch is not installed: tests/py/torch_predict.py not run");
    ag_manual_seed(11);
    ag_model *m = small_model();
    char wpath[256], xpath[256];
    snprintf(wpath, sizeof wpath, "%s", tmp_path("pred.safetensors"));
    snprintf(xpath, sizeof xpath, "%s", tmp_path("x.f32"));
    cr_assert_eq(ag_model_save(m, wpath), 0);
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){5, 4});
    float xv[20], out[15];
    ag_to_array(x, xv);
    FILE *f = fopen(xpath, "wb");
    fwrite(xv, sizeof xv, 1, f);
    fclose(f);
    ag_to_array(ag_model_forward(m, x), out);
    ag_scope_end();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/py/torch_predict.py %s %s 5 4", wpath, xpath);
    FILE *p = popen(cmd, "r");
    double v;
    int k = 0;
    while (fscanf(p, "%lf", &v) == 1) {
        cr_assert_lt(k, 15);
        assert_close(out[k], v, 1e-5, 1e-5);
        k++;
    }
    cr_assert_eq(pclose(p), 0);
    cr_assert_eq(k, 15);
    ag_model_free(m);
    unlink(wpath);
    unlink(xpath);
}
