/* Modules (torch.nn.Module in C): a user's residual network built with ag_module_new from
 * built-in layers, its dotted names and parameter order, finding by name, the training
 * flag, training it with ag_train, its summary, save/load both ways with PyTorch, and
 * every error path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "tensor/tensor.h"

static char path_buf[3][256];
static const char *tmp_path(int k, const char *name) {
    snprintf(path_buf[k], sizeof path_buf[k], "/tmp/ag_test_module_%d_%s", (int)getpid(), name);
    return path_buf[k];
}

/* ------------------------------------------------------------------ a residual network
 * Block(d): relu(x + fc2(relu(bn(fc1(x))))); Net: head(blocks(stem(x))) * scale, with a
 * parameter "scale" [1] and a buffer "steps" (int64 scalar) of its own. */
static ag_tensor *block_forward(ag_module *self, int n, ag_tensor *const *in) {
    if (n != 1) return NULL;
    ag_tensor *h = ag_module_forward(ag_module_get_child(self, "fc1"), in[0]);
    h = ag_relu(ag_module_forward(ag_module_get_child(self, "bn"), h));
    h = ag_module_forward(ag_module_get_child(self, "fc2"), h);
    return ag_relu(ag_add(in[0], h));
}

static ag_module *block(int64_t d) {
    ag_module *b = ag_module_new("Block", block_forward, NULL, NULL);
    ag_module_add_child(b, "fc1", ag_linear_layer(d, d, true));
    ag_module_add_child(b, "bn", ag_batch_norm1d_layer(d));
    ag_module_add_child(b, "fc2", ag_linear_layer(d, d, true));
    return b;
}

struct net { /* the children, kept by the forward's ctx (owned by the tree, not by ctx) */
    ag_module *stem, *blocks, *head;
};

static ag_tensor *net_forward(ag_module *self, int n, ag_tensor *const *in) {
    struct net *c = ag_module_ctx(self);
    ag_tensor *x = ag_module_call(c->stem, n, in);
    x = ag_module_forward(c->head, ag_module_forward(c->blocks, x));
    return ag_mul(x, ag_module_get(self, "scale"));
}

static ag_module *net(void) {
    struct net *c = malloc(sizeof *c);
    ag_module *m = ag_module_new("Net", net_forward, c, free);
    ag_tensor *scale =
        ag_module_add_param(m, "scale", ag_zeros(ag_get_default_dtype(), 1, (int64_t[]){1}));
    ag_init_constant_(scale, 1);
    ag_module_add_buffer(m, "steps", ag_zeros(AG_I64, 0, NULL));
    c->stem = ag_module_add_child(m, "stem", ag_linear_layer(2, 8, true));
    c->blocks = ag_module_add_child(m, "blocks", ag_model_new());
    ag_model_add(c->blocks, block(8));
    ag_model_add(c->blocks, block(8));
    c->head = ag_module_add_child(m, "head", ag_linear_layer(8, 3, true));
    return m;
}

static const char *const net_params[] = {"scale",
                                         "stem.weight",
                                         "stem.bias",
                                         "blocks.0.fc1.weight",
                                         "blocks.0.fc1.bias",
                                         "blocks.0.bn.weight",
                                         "blocks.0.bn.bias",
                                         "blocks.0.fc2.weight",
                                         "blocks.0.fc2.bias",
                                         "blocks.1.fc1.weight",
                                         "blocks.1.fc1.bias",
                                         "blocks.1.bn.weight",
                                         "blocks.1.bn.bias",
                                         "blocks.1.fc2.weight",
                                         "blocks.1.fc2.bias",
                                         "head.weight",
                                         "head.bias"};

Test(module, dotted_names_in_registration_order) {
    ag_module *m = net();
    int n;
    ag_tensor **p = ag_module_parameters(m, &n);
    cr_assert_eq(n, 17);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(ag_module_param_name(m, i), net_params[i]);
        cr_assert_eq(ag_module_get(m, net_params[i]), p[i], "%s", net_params[i]);
        cr_assert(ag_requires_grad(p[i]));
        cr_assert_str_eq(ag_model_param_name(m, i), net_params[i]); /* the old names work */
    }
    cr_assert_null(ag_module_param_name(m, 17));
    cr_assert_null(ag_module_param_name(m, -1));
    cr_assert_eq(ag_shape(ag_module_get(m, "blocks.1.fc2.weight"))[0], 8);
    ag_tensor *rv = ag_module_get(m, "blocks.0.bn.running_var");
    cr_assert(rv && !ag_requires_grad(rv));
    cr_assert_eq(ag_get(rv, (int64_t[]){3}), 1.0);
    cr_assert_eq(ag_dtype_of(ag_module_get(m, "blocks.1.bn.num_batches_tracked")), AG_I64);
    cr_assert_eq(ag_dtype_of(ag_module_get(m, "steps")), AG_I64);
    ag_module *b1 = ag_module_get_child(m, "blocks.1");
    cr_assert_str_eq(ag_module_type_name(b1), "Block");
    cr_assert_str_eq(ag_layer_name(ag_module_get_child(m, "blocks.1.bn")), "BatchNorm1d");
    cr_assert_str_eq(ag_layer_name(m), "Net");
    /* a sub-tree names its own parameters from itself */
    cr_assert_str_eq(ag_module_param_name(b1, 2), "bn.weight");
    cr_assert_eq(ag_layer_num_params(b1), 6);
    const char *name;
    cr_assert_eq(ag_layer_param(m, 3, &name), p[3]);
    cr_assert_str_eq(name, "blocks.0.fc1.weight");
    cr_assert_eq(ag_model_num_elements(m), 1 + 24 + 2 * (72 + 16 + 72) + 27);
    ag_module_free(m);
}

Test(module, parameter_list_follows_later_additions_below) {
    ag_module *m = ag_module_new("Outer", NULL, NULL, NULL);
    ag_module *inner = ag_module_add_child(m, "inner", ag_module_new("Inner", NULL, NULL, NULL));
    int n;
    ag_module_parameters(m, &n);
    cr_assert_eq(n, 0);
    ag_module_add_param(inner, "w", ag_zeros(AG_F32, 1, (int64_t[]){2}));
    ag_tensor **p = ag_module_parameters(m, &n);
    cr_assert_eq(n, 1, "adding below a cached list refreshes it");
    cr_assert_str_eq(ag_module_param_name(m, 0), "inner.w");
    cr_assert_eq(p[0], ag_module_get(m, "inner.w"));
    /* many of everything: the lists grow (a layer used to hold at most 4 params) */
    char name[16];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "p%d", i);
        cr_assert(ag_module_add_param(inner, name, ag_zeros(AG_F64, 1, (int64_t[]){1})));
        snprintf(name, sizeof name, "b%d", i);
        cr_assert(ag_module_add_buffer(inner, name, ag_zeros(AG_F64, 1, (int64_t[]){1})));
        snprintf(name, sizeof name, "c%d", i);
        cr_assert(ag_module_add_child(m, name, ag_linear_layer(1, 1, false)));
    }
    p = ag_module_parameters(m, &n);
    cr_assert_eq(n, 1 + 40 + 40);
    cr_assert_str_eq(ag_module_param_name(m, 40), "inner.p39");
    cr_assert_str_eq(ag_module_param_name(m, 80), "c39.weight");
    cr_assert_eq(ag_module_get(m, "inner.b39"), ag_module_get(inner, "b39"));
    ag_module_free(m);
}

static int freed;
static void count_free(void *ctx) {
    freed++;
    free(ctx);
}

Test(module, ctx_is_freed_with_the_module_and_on_failed_creation) {
    freed = 0;
    int *c = malloc(sizeof *c);
    *c = 42;
    ag_module *m = ag_module_new("Mine", NULL, c, count_free);
    cr_assert_eq(*(int *)ag_module_ctx(m), 42);
    ag_module *child =
        ag_module_add_child(m, "kid", ag_module_new("Kid", NULL, malloc(4), count_free));
    cr_assert(child);
    ag_module_free(child); /* refused: it belongs to m */
    cr_assert(strstr(ag_last_error(), "ag_module_free: Kid belongs to a Mine"), "%s",
              ag_last_error());
    cr_assert_eq(freed, 0);
    ag_module_free(m);
    cr_assert_eq(freed, 2);
    cr_assert_null(ag_module_new(NULL, NULL, malloc(4), count_free));
    cr_assert(strstr(ag_last_error(), "ag_module_new"));
    cr_assert_eq(freed, 3, "ctx freed when creation fails");
    ag_module_free(NULL);
}

Test(module, train_flag_reaches_every_module_below) {
    ag_module *m = net();
    cr_assert(ag_module_is_training(m));
    ag_module_train(m, false);
    const char *all[] = {"stem", "blocks", "blocks.0", "blocks.0.bn", "blocks.1.fc2", "head"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cr_assert(!ag_module_is_training(ag_module_get_child(m, all[i])), "%s", all[i]);
    cr_assert(!ag_module_is_training(m));
    ag_layer_train(ag_module_get_child(m, "blocks"), true); /* a sub-tree alone */
    cr_assert(ag_module_is_training(ag_module_get_child(m, "blocks.1.bn")));
    cr_assert(!ag_module_is_training(ag_module_get_child(m, "head")));
    cr_assert(!ag_module_is_training(NULL));
    ag_module_free(m);
}

/* A batch-norm running mean moves only in training mode. */
Test(module, eval_mode_reaches_batch_norm_inside_blocks) {
    ag_manual_seed(3);
    ag_module *m = net();
    ag_tensor *rm = ag_module_get(m, "blocks.1.bn.running_mean");
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){6, 2});
    ag_module_train(m, false);
    cr_assert(ag_module_forward(m, x), "%s", ag_last_error());
    cr_assert_eq(ag_item(ag_sum(ag_abs(rm))), 0);
    ag_module_train(m, true);
    ag_module_forward(m, x);
    cr_assert_gt(ag_item(ag_sum(ag_abs(rm))), 0);
    cr_assert_eq(ag_item(ag_module_get(m, "blocks.1.bn.num_batches_tracked")), 1);
    ag_scope_end();
    ag_module_free(m);
}

/* ------------------------------------------------------------------ training */
static void blobs(int64_t n, ag_tensor **x, ag_tensor **y) {
    *x = ag_randn(AG_F32, 2, (int64_t[]){n, 2});
    *y = ag_zeros(AG_I64, 1, &n);
    float *px = ag_data(*x);
    int64_t *py = ag_data(*y);
    for (int64_t i = 0; i < n; i++) {
        py[i] = i % 3;
        px[2 * i] = (float)(0.5 * px[2 * i] + 3 * (py[i] == 1));
        px[2 * i + 1] = (float)(0.5 * px[2 * i + 1] + 3 * (py[i] == 2));
    }
}

Test(module, residual_network_trains_with_ag_train) {
    ag_manual_seed(4);
    ag_tensor *x, *y;
    blobs(300, &x, &y);
    ag_module *m = net();
    int n;
    ag_tensor **p = ag_module_parameters(m, &n);
    ag_optim *o = ag_adam_new(p, n, (ag_adam_opts){.lr = 0.02});
    double before, after, acc;
    cr_assert_eq(ag_evaluate(m, x, y, NULL, 0, &before, NULL), 0, "%s", ag_last_error());
    cr_assert(ag_module_is_training(ag_module_get_child(m, "blocks.0.bn")),
              "evaluate restores modes");
    const char *ck = tmp_path(0, "ck.safetensors");
    ag_train_result r;
    cr_assert_eq(
        ag_train(m, o, x, y,
                 (ag_train_opts){.epochs = 4, .batch_size = 30, .verbose = -1, .checkpoint = ck},
                 &r),
        0, "%s", ag_last_error());
    cr_assert_eq(r.epochs_run, 4);
    cr_assert_eq(ag_evaluate(m, x, y, NULL, 0, &after, &acc), 0);
    cr_assert_lt(after, 0.5 * before, "loss %g -> %g", before, after);
    cr_assert_gt(acc, 0.9);
    cr_assert_eq(ag_item(ag_module_get(m, "blocks.0.bn.num_batches_tracked")), 40);
    ag_module *back = net();
    cr_assert_eq(ag_module_load(back, ck), 0, "%s", ag_last_error());
    double again;
    cr_assert_eq(ag_evaluate(back, x, y, NULL, 0, &again, NULL), 0);
    assert_close(again, after, 0, 0);
    unlink(ck);
    ag_module_free(back);
    ag_optim_free(o);
    ag_module_free(m);
    ag_tensor_free(x), ag_tensor_free(y);
}

/* ------------------------------------------------------------------ summary */
Test(module, summary_of_a_nested_module) {
    ag_module *m = net();
    char buf[4096];
    int len = ag_model_summary(m, 2, (int64_t[]){5, 2}, buf, sizeof buf);
    cr_assert_gt(len, 0, "%s", ag_last_error());
    cr_assert_eq(ag_model_summary(m, 2, (int64_t[]){5, 2}, NULL, 0), len);
    const char *rows[] = {"stem ",         "blocks ",       "blocks.0 ",
                          "blocks.0.fc1 ", "blocks.0.bn ",  "blocks.0.fc2 ",
                          "blocks.1 ",     "blocks.1.fc2 ", "head "};
    const char *at = buf;
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) { /* in call order */
        const char *s = strstr(at, rows[i]);
        cr_assert(s, "row '%s' missing or out of order:\n%s", rows[i], buf);
        at = s + 1;
    }
    cr_assert(strstr(buf, "\nblocks.0.bn      BatchNorm1d"), "indented by depth:\n%s", buf);
    cr_assert(strstr(buf, "\nblocks       Sequential      [5,8]"), "%s", buf);
    cr_assert(strstr(buf, "[5,3]") && strstr(buf, "[5,8]"), "%s", buf);
    cr_assert(strstr(buf, "Total parameters: 372 in 17 tensors"), "%s", buf);
    cr_assert(strstr(buf, "  160\n"), "a block's row counts everything below it:\n%s", buf);
    cr_assert(ag_module_is_training(ag_module_get_child(m, "blocks.1.bn")), "modes restored");
    cr_assert_lt(ag_model_summary(m, 2, (int64_t[]){5, 3}, buf, sizeof buf), 0);
    cr_assert(strstr(ag_last_error(), "[5,3]"), "%s", ag_last_error());
    ag_module_free(m);
    ag_layer *lin = ag_linear_layer(4, 2, true); /* a single layer is its own row */
    cr_assert_gt(ag_model_summary(lin, 2, (int64_t[]){3, 4}, buf, sizeof buf), 0);
    cr_assert(strstr(buf, "Linear") && strstr(buf, "[3,2]") && strstr(buf, "Total parameters: 10"),
              "%s", buf);
    ag_layer_free(lin);
}

/* ------------------------------------------------------------------ state_dict */
Test(module, state_dict_holds_buffers_and_round_trips) {
    ag_manual_seed(6);
    ag_module *m = net();
    const char *path = tmp_path(0, "net.safetensors");
    *(int64_t *)ag_data(ag_module_get(m, "steps")) = 5;
    ag_init_constant_(ag_module_get(m, "blocks.1.bn.running_mean"), 0.25);
    cr_assert_eq(ag_module_save(m, path), 0, "%s", ag_last_error());
    const char *buffers[] = {"steps", "blocks.0.bn.running_mean", "blocks.0.bn.running_var",
                             "blocks.1.bn.num_batches_tracked"};
    for (size_t i = 0; i < 4; i++) {
        ag_tensor *t = ag_load_safetensors_tensor(path, buffers[i]);
        cr_assert(t, "%s", ag_last_error());
        ag_tensor_free(t);
    }
    ag_module *back = net(); /* other random weights */
    cr_assert_eq(ag_module_load(back, path), 0, "%s", ag_last_error());
    cr_assert_eq(ag_item(ag_module_get(back, "steps")), 5);
    cr_assert_eq(ag_get(ag_module_get(back, "blocks.1.bn.running_mean"), (int64_t[]){7}), 0.25);
    int n;
    ag_tensor **a = ag_module_parameters(m, &n), **b = ag_module_parameters(back, &n);
    ag_scope_begin();
    for (int i = 0; i < n; i++)
        cr_assert_eq(ag_item(ag_sum(ag_abs(ag_sub(a[i], b[i])))), 0, "%d", i);
    ag_scope_end();
    /* another architecture does not load, and nothing changes */
    ag_module *other = ag_module_new("Net", NULL, NULL, NULL);
    ag_module_add_child(other, "stem", ag_linear_layer(2, 4, true));
    cr_assert_neq(ag_module_load(other, path), 0);
    cr_assert(strstr(ag_last_error(), "'stem.weight' is float32 [8,2] in the file"), "%s",
              ag_last_error());
    ag_module_free(other);
    cr_assert_neq(ag_module_load(m, "/nonexistent/x.safetensors"), 0);
    cr_assert_neq(ag_module_save(NULL, path), 0);
    unlink(path);
    ag_module_free(back);
    ag_module_free(m);
}

/* torch loads ag's file into the same architecture (strict) and gives the same outputs;
 * ag loads the file torch writes after changing everything, and gives torch's outputs. */
Test(module, state_dict_loads_in_torch_and_back) {
    if (system("/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null") != 0)
        cr_skip_test("python3 with torch and numpy is missing: the PyTorch side cannot run");
    ag_manual_seed(7);
    ag_module *m = net();
    const char *ag_w = tmp_path(0, "ag.safetensors"), *xin = tmp_path(1, "x.f32"),
               *torch_w = tmp_path(2, "torch.safetensors");
    cr_assert_eq(ag_module_save(m, ag_w), 0, "%s", ag_last_error());
    ag_module_train(m, false);
    ag_scope_begin();
    ag_tensor *x = ag_randn(AG_F32, 2, (int64_t[]){5, 2});
    float xv[10], out[15], out2[15];
    ag_to_array(x, xv);
    FILE *f = fopen(xin, "wb");
    fwrite(xv, sizeof xv, 1, f);
    fclose(f);
    ag_to_array(ag_module_forward(m, x), out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/py/torch_resnet.py %s %s 5 %s", ag_w, xin,
             torch_w);
    FILE *p = popen(cmd, "r");
    double v[30];
    int k = 0;
    char tok[64];
    while (k < 30 && fscanf(p, "%63s", tok) == 1)
        if (strcmp(tok, "--")) v[k++] = strtod(tok, NULL);
    cr_assert_eq(pclose(p), 0, "the PyTorch side failed");
    cr_assert_eq(k, 30);
    for (int i = 0; i < 15; i++) assert_close(out[i], v[i], 1e-5, 1e-5);
    cr_assert_eq(ag_module_load(m, torch_w), 0, "%s", ag_last_error());
    cr_assert_eq(ag_item(ag_module_get(m, "steps")), 7);
    cr_assert_eq(ag_item(ag_module_get(m, "blocks.0.bn.num_batches_tracked")), 1);
    ag_to_array(ag_module_forward(m, x), out2);
    for (int i = 0; i < 15; i++) assert_close(out2[i], v[15 + i], 1e-5, 1e-5);
    ag_scope_end();
    unlink(ag_w), unlink(xin), unlink(torch_w);
    ag_module_free(m);
}

/* ------------------------------------------------------------------ errors */
#define ASSERT_ERR_HAS(expr, text)                                                          \
    do {                                                                                    \
        cr_assert_not(expr);                                                                \
        cr_assert(strstr(ag_last_error(), text), "'%s' lacks '%s'", ag_last_error(), text); \
    } while (0)

Test(module, registration_errors) {
    ag_module *m = ag_module_new("M", NULL, NULL, NULL);
    ag_tensor *w = ag_module_add_param(m, "w", ag_zeros(AG_F32, 1, (int64_t[]){2}));
    cr_assert(w && ag_requires_grad(w));
    ASSERT_ERR_HAS(ag_module_add_param(NULL, "w", ag_zeros(AG_F32, 1, (int64_t[]){2})),
                   "ag_module_add_param: module and tensor must not be NULL");
    ASSERT_ERR_HAS(ag_module_add_param(m, "x", NULL), "ag_module_add_param");
    ASSERT_ERR_HAS(ag_module_add_param(m, NULL, ag_zeros(AG_F32, 1, (int64_t[]){2})),
                   "name must not be NULL");
    ASSERT_ERR_HAS(ag_module_add_param(m, "w", ag_zeros(AG_F32, 1, (int64_t[]){2})),
                   "M already has something named 'w'");
    ASSERT_ERR_HAS(ag_module_add_buffer(m, "w", ag_zeros(AG_F32, 1, (int64_t[]){2})),
                   "ag_module_add_buffer: M already has something named 'w'");
    ASSERT_ERR_HAS(ag_module_add_child(m, "w", ag_flatten_layer()),
                   "ag_module_add_child: M already has something named 'w'");
    ASSERT_ERR_HAS(ag_module_add_param(m, "a.b", ag_zeros(AG_F32, 1, (int64_t[]){2})),
                   "without '.'");
    ASSERT_ERR_HAS(ag_module_add_param(m, "", ag_zeros(AG_F32, 1, (int64_t[]){2})), "non-empty");
    ASSERT_ERR_HAS(ag_module_add_param(m, "i", ag_zeros(AG_I64, 1, (int64_t[]){2})),
                   "'i' is int64: a parameter must be float");
    ag_scope_begin();
    ASSERT_ERR_HAS(ag_module_add_param(m, "s", ag_zeros(AG_F32, 1, (int64_t[]){2})),
                   "'s' [2] lives in a scope");
    ASSERT_ERR_HAS(ag_module_add_buffer(m, "s", ag_zeros(AG_F32, 1, (int64_t[]){2})),
                   "lives in a scope");
    ag_scope_end();
    ag_tensor *leaf = ag_zeros(AG_F32, 1, (int64_t[]){2});
    ag_set_requires_grad(leaf, true);
    ag_tensor *made = ag_mul(leaf, leaf); /* heap result of an op */
    ASSERT_ERR_HAS(ag_module_add_param(m, "op", made), "is the result of an op");
    ag_tensor_free(leaf);
    ag_module *b = ag_module_add_buffer(m, "buf", ag_zeros(AG_I64, 0, NULL)) ? m : NULL;
    cr_assert(b);
    int n;
    ag_module_parameters(m, &n);
    cr_assert_eq(n, 1, "nothing failed was kept");
    ag_module_free(m);
}

Test(module, tree_errors) {
    ag_module *root = ag_module_new("Root", NULL, NULL, NULL);
    ag_module *a = ag_module_add_child(root, "a", ag_module_new("A", NULL, NULL, NULL));
    ag_module *lin = ag_module_add_child(a, "lin", ag_linear_layer(2, 2, true));
    ASSERT_ERR_HAS(ag_module_add_child(root, "again", lin), "already belongs to a module");
    ASSERT_ERR_HAS(ag_module_add_child(a, "up", root),
                   "already belongs to a module (or holds this one)");
    ASSERT_ERR_HAS(ag_module_add_child(root, "self", root), "already belongs");
    ASSERT_ERR_HAS(ag_module_add_child(NULL, "x", ag_flatten_layer()),
                   "module and child must not be NULL");
    ASSERT_ERR_HAS(ag_module_add_child(root, "x", NULL), "module and child must not be NULL");
    ASSERT_ERR_HAS(ag_module_add_child(root, "x.y", ag_flatten_layer()), "without '.'");
    ASSERT_ERR_HAS(ag_module_get(root, "a.lin.nope"),
                   "'a.lin.nope': Linear has no parameter or buffer 'nope'");
    ASSERT_ERR_HAS(ag_module_get(root, "a.b.weight"), "'a.b.weight': A has no child 'b'");
    ASSERT_ERR_HAS(ag_module_get(root, "a.lin."), "no parameter or buffer ''");
    ASSERT_ERR_HAS(ag_module_get(root, ""), "Root has no parameter or buffer ''");
    ASSERT_ERR_HAS(ag_module_get(root, ".a"), "Root has no child ''");
    ASSERT_ERR_HAS(ag_module_get(root, NULL), "ag_module_get: module and name must not be NULL");
    ASSERT_ERR_HAS(ag_module_get(NULL, "a"), "ag_module_get");
    ASSERT_ERR_HAS(ag_module_get_child(root, "a.lin.weight"), "Linear has no child 'weight'");
    ASSERT_ERR_HAS(ag_module_get_child(NULL, "a"), "ag_module_get_child");
    cr_assert_eq(ag_module_get_child(root, "a.lin"), lin);
    ASSERT_ERR_HAS(ag_module_ctx(NULL), "ag_module_ctx: module is NULL");
    ASSERT_ERR_HAS(ag_module_parameters(NULL, NULL), "ag_module_parameters: module is NULL");
    cr_assert_null(ag_module_type_name(NULL));
    cr_assert_null(ag_module_param_name(NULL, 0));
    cr_assert_neq(ag_model_add(root, ag_flatten_layer()), 0); /* flatten freed */
    cr_assert(strstr(ag_last_error(), "a Root is not a model from ag_model_new"), "%s",
              ag_last_error());
    cr_assert_neq(ag_model_add(root, lin), 0); /* owned: kept */
    cr_assert_eq(ag_module_get_child(root, "a.lin"), lin);
    ag_module_free(root);
}

Test(module, call_errors) {
    ag_module *container = ag_module_new("Holder", NULL, NULL, NULL);
    ag_layer *lin = ag_linear_layer(2, 3, true), *cell = ag_lstm_cell(2, 3, true);
    ag_scope_begin();
    ag_tensor *x = ag_zeros(AG_F32, 2, (int64_t[]){4, 2});
    ASSERT_ERR_HAS(ag_module_forward(container, x),
                   "ag_module_call: Holder has no forward of tensors");
    ASSERT_ERR_HAS(ag_module_forward(cell, x), "LSTMCell has no forward of tensors");
    ASSERT_ERR_HAS(ag_module_call(lin, 2, (ag_tensor *[]){x, x}), "Linear takes 1 input, got 2");
    ASSERT_ERR_HAS(ag_module_call(lin, 1, NULL), "ag_module_call: needs a module and its inputs");
    ASSERT_ERR_HAS(ag_module_call(lin, -1, &x), "n = -1");
    ASSERT_ERR_HAS(ag_module_call(NULL, 1, &x), "ag_module_call");
    ag_clear_error();
    ASSERT_ERR_HAS(ag_module_forward(lin, NULL), "ag_module_call: Linear: input is NULL");
    ag_scope_end();
    ag_scope_begin();
    x = ag_zeros(AG_F32, 2, (int64_t[]){4, 2});
    ASSERT_ERR_HAS(ag_module_forward(lin, ag_module_forward(lin, x)),
                   "[4,3]"); /* first error kept */
    ASSERT_ERR_HAS(ag_module_forward(lin, ag_zeros(AG_F32, 2, (int64_t[]){4, 5})), "[4,5]");
    cr_assert(ag_module_call(lin, 1, &x), "%s", ag_last_error());
    ag_scope_end();
    ag_module_free(container);
    ag_layer_free(lin);
    ag_layer_free(cell);
}

/* ------------------------------------------------------------------ no-grad memory
 * With grad off, a module's intermediates die with its call and a Sequential holds two
 * activations at a time, so an evaluation's peak arena use does not grow with depth. The
 * arena's chunks stay cached (allocated) after a scope ends, so the heap in use after the
 * run is its peak. */
#include <malloc.h>

static double heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd);
}

static ag_model *deep(int blocks, int64_t d) {
    ag_model *m = ag_model_new();
    for (int i = 0; i < blocks; i++) ag_model_add(m, block(d));
    return m;
}

static double eval_peak(ag_model *m, ag_tensor *x, double base, ag_tensor **out) {
    bool prev = ag_set_grad_enabled(false);
    *out = ag_keep(ag_model_forward(m, x));
    ag_set_grad_enabled(prev);
    return heap_in_use() - base;
}

Test(module, no_grad_evaluation_peak_does_not_grow_with_depth) {
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("AddressSanitizer replaces malloc: the heap is measured in the release suite");
#endif
    int64_t d = 128, xs[2] = {512, d}; /* one activation: 256 KiB */
    ag_manual_seed(2);
    ag_model *shallow = deep(4, d), *tall = deep(32, d);
    ag_module_train(shallow, false), ag_module_train(tall, false);
    ag_tensor *x = ag_randn(AG_F32, 2, xs);
    double base = heap_in_use();
    ag_scope_begin();
    ag_scope_begin();
    ag_tensor *y4, *y32;
    double p4 = eval_peak(shallow, x, base, &y4);
    double p32 = eval_peak(tall, x, base, &y32);
    ag_scope_end();
    /* 8x the depth: every activation kept would be 8x the memory (about 50 MiB) */
    cr_log_info("no-grad peak %.1f MiB at 32 blocks, %.1f MiB at 4", p32 / (1 << 20),
                p4 / (1 << 20));
    cr_expect(p32 < 2 * p4 + (4 << 20), "peak %.1f MiB at 32 blocks vs %.1f MiB at 4",
              p32 / (1 << 20), p4 / (1 << 20));
    /* the same values as the forward with grad on */
    ag_tensor *g32 = ag_model_forward(tall, x);
    const float *a = ag_data(y32), *b = ag_data(g32);
    for (int64_t i = 0; i < 512 * d; i++) cr_assert_eq(a[i], b[i], "element %lld", (long long)i);
    ag_scope_end();
    ag_tensor_free(x);
    ag_model_free(shallow), ag_model_free(tall);
}

/* Activations over the 512 KiB solo size (2 MiB here) take the other path: each moves to
 * the caller's scope without a copy and its chunk is given back once the next child read
 * it. The arena's peak live bytes then do not grow with depth, and the values equal the
 * forward with grad on. */
Test(module, no_grad_evaluation_of_big_activations_reuses_chunks) {
    int64_t d = 128, xs[2] = {4096, d}; /* one activation: 2 MiB */
    ag_manual_seed(3);
    ag_model *shallow = deep(4, d), *tall = deep(32, d);
    ag_module_train(shallow, false), ag_module_train(tall, false);
    ag_tensor *x = ag_randn(AG_F32, 2, xs);
    size_t peak[2];
    ag_tensor *y[2];
    ag_scope_begin();
    for (int k = 0; k < 2; k++) {
        bool prev = ag_set_grad_enabled(false);
        size_t live0 = ag__arena_stats().live;
        ag__arena_stats_reset_peak();
        y[k] = ag_model_forward(k ? tall : shallow, x);
        peak[k] = ag__arena_stats().peak_live - live0;
        ag_set_grad_enabled(prev);
        cr_assert(y[k], "%s", ag_last_error());
    }
    cr_log_info("no-grad arena peak %.1f MiB at 32 blocks, %.1f MiB at 4",
                (double)peak[1] / (1 << 20), (double)peak[0] / (1 << 20));
    cr_expect(peak[1] < peak[0] + (2 << 20), "arena peak %.1f MiB at 32 blocks vs %.1f MiB at 4",
              (double)peak[1] / (1 << 20), (double)peak[0] / (1 << 20));
    ag_tensor *g = ag_model_forward(tall, x);
    cr_assert(!memcmp(ag_data(y[1]), ag_data(g), sizeof(float) * 4096 * (size_t)d),
              "no-grad output differs from the forward with grad on");
    ag_scope_end();
    ag_tensor_free(x);
    ag_model_free(shallow), ag_model_free(tall);
}
