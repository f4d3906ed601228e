/* Build: cc -O2 char_gpt.c -o char_gpt $(pkg-config --cflags --libs ag) -lz -lm */
/* A character-level GPT (2 blocks, 4 heads, d 64, context 32) on the license texts of
 * /usr/share/common-licenses, trained with ag_train and a loss callback over [B,T,V]
 * logits, AdamW with weight decay on matrices only (two parameter groups); then samples a
 * few lines. Its PyTorch twin is examples/torch/char_gpt.py (same names, same windows).
 * Usage: char_gpt [--steps N] [--init FILE] [--losses FILE] [--quiet] [--bench STEPS]
 * (char_text.h says what each does). */
#include <ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "char_text.h"

enum { D = 64, HEADS = 4, BLOCKS = 2, CTX = 32, BATCH = 16 };

/* x + attn(ln1(x)) (causal), then x + proj(gelu(fc(ln2(x)))) */
static ag_tensor *block_forward(ag_module *self, int n, ag_tensor *const *in) {
    (void)n;
    ag_tensor *x = in[0];
    ag_tensor *h = ag_module_forward(ag_module_get_child(self, "ln1"), x);
    x = ag_add(
        x, ag_multihead_attention_forward(ag_module_get_child(self, "attn"), h, h, h, NULL, true));
    h = ag_module_forward(ag_module_get_child(self, "fc"),
                          ag_module_forward(ag_module_get_child(self, "ln2"), x));
    return ag_add(x, ag_module_forward(ag_module_get_child(self, "proj"), ag_gelu(h)));
}

static ag_module *block(void) {
    ag_module *b = ag_module_new("Block", block_forward, NULL, NULL);
    ag_module_add_child(b, "ln1", ag_layer_norm_layer(1, (int64_t[]){D}));
    ag_module_add_child(b, "attn", ag_multihead_attention_layer(D, HEADS, true));
    ag_module_add_child(b, "ln2", ag_layer_norm_layer(1, (int64_t[]){D}));
    ag_module_add_child(b, "fc", ag_linear_layer(D, 4 * D, true));
    ag_module_add_child(b, "proj", ag_linear_layer(4 * D, D, true));
    return b;
}

/* idx [B, L] (L <= CTX) -> logits [B, L, V] */
static ag_tensor *gpt_forward(ag_module *self, int n, ag_tensor *const *in) {
    (void)n;
    int64_t L = ag_shape(in[0])[1];
    ag_tensor *pos =
        ag_module_forward(ag_module_get_child(self, "pos_emb"), ag_arange(AG_I64, 0, (double)L, 1));
    ag_tensor *x = ag_add(ag_module_forward(ag_module_get_child(self, "tok_emb"), in[0]), pos);
    x = ag_module_forward(ag_module_get_child(self, "blocks"), x);
    x = ag_module_forward(ag_module_get_child(self, "ln_f"), x);
    return ag_module_forward(ag_module_get_child(self, "head"), x);
}

static ag_module *gpt(int vocab) {
    ag_module *m = ag_module_new("GPT", gpt_forward, NULL, NULL);
    ag_module_add_child(m, "tok_emb", ag_embedding_layer(vocab, D));
    ag_module_add_child(m, "pos_emb", ag_embedding_layer(CTX, D));
    ag_module *blocks = ag_module_add_child(m, "blocks", ag_model_new());
    for (int i = 0; i < BLOCKS; i++) ag_model_add(blocks, block());
    ag_module_add_child(m, "ln_f", ag_layer_norm_layer(1, (int64_t[]){D}));
    ag_module_add_child(m, "head", ag_linear_layer(D, vocab, true));
    return m;
}

struct losses {
    double *v;
    int n;
};

/* cross-entropy of [B,T,V] logits against [B,T] targets; records each training loss */
static ag_tensor *lm_loss(ag_module *m, ag_tensor *x, ag_tensor *y, void *user) {
    ag_tensor *logits = ag_module_forward(m, x);
    int64_t v = ag_shape(logits)[2];
    ag_tensor *l = ag_cross_entropy_loss(ag_reshape(logits, 2, (int64_t[]){-1, v}),
                                         ag_reshape(y, 1, (int64_t[]){-1}));
    struct losses *s = user;
    if (l) s->v[s->n++] = ag_item(l);
    return l;
}

/* AdamW lr 3e-3: weight decay 0.1 on parameters of 2+ dims, none on the rest. */
static ag_optim *make_optim(ag_module *m) {
    int n, nd = 0, nn = 0;
    ag_tensor **p = ag_module_parameters(m, &n);
    ag_tensor **decay = malloc((size_t)n * sizeof *decay),
              **rest = malloc((size_t)n * sizeof *rest);
    for (int i = 0; i < n; i++) {
        if (ag_ndim(p[i]) >= 2) decay[nd++] = p[i];
        else rest[nn++] = p[i];
    }
    ag_adam_opts o = ag_adamw_defaults();
    o.lr = 3e-3;
    o.weight_decay = 0.1;
    ag_optim *opt = ag_adam_new(decay, nd, o);
    o.weight_decay = 0;
    if (opt) ag_adam_add_param_group(opt, rest, nn, o);
    free(decay), free(rest);
    return opt;
}

static void sample(ag_module *m, const struct char_text *t, int chars) {
    ag_module_train(m, false);
    bool grad = ag_set_grad_enabled(false);
    int64_t ctx[CTX], len = 1;
    ctx[0] = 0;
    for (int i = 0; i < t->vocab; i++)
        if (t->chars[i] == '\n') ctx[0] = i;
    for (int i = 0; i < chars; i++) {
        ag_scope_begin();
        ag_tensor *logits =
            ag_module_forward(m, ag_tensor_new(AG_I64, 2, (int64_t[]){1, len}, ctx));
        int next =
            char_text_sample(ag_reshape(ag_slice(logits, 1, len - 1, len, 1), 1, (int64_t[]){-1}));
        ag_scope_end();
        putchar(t->chars[next]);
        if (len == CTX) memmove(ctx, ctx + 1, (CTX - 1) * sizeof *ctx), len--;
        ctx[len++] = next;
    }
    putchar('\n');
    ag_set_grad_enabled(grad);
}

struct bench {
    ag_module *m;
    ag_optim *o;
    ag_tensor *x, *y;
    struct losses *l;
};

/* One step of the training loop ag_train runs (bench mode times it): batch k. */
static int bench_step(void *ctx, int64_t k) {
    struct bench *b = ctx;
    ag_scope_begin();
    ag_tensor *xb = ag_slice(b->x, 0, k * BATCH, (k + 1) * BATCH, 1),
              *yb = ag_slice(b->y, 0, k * BATCH, (k + 1) * BATCH, 1);
    b->l->n = 0;
    int rc = ag_train_step(b->o, lm_loss(b->m, xb, yb, b->l));
    ag_scope_end();
    return rc;
}

int main(int argc, char **argv) {
    struct char_args a = char_args_parse(argc, argv);
    struct char_text t;
    if (char_text_load(&t)) return 1;
    ag_manual_seed(1);
    ag_module *m = gpt(t.vocab);
    if (a.init && ag_module_save(m, a.init)) return fprintf(stderr, "%s\n", ag_last_error()), 1;
    int steps = a.bench ? a.bench + 3 : a.steps;
    ag_tensor *x, *y;
    char_text_windows(&t, (int64_t)steps * BATCH, CTX, &x, &y);
    ag_optim *o = make_optim(m);
    struct losses l = {malloc((size_t)steps * sizeof(double)), 0};
    double t0 = ag_now();
    int rc = a.bench ? char_bench("char_gpt", a.bench, t.len / (BATCH * CTX), bench_step,
                                  &(struct bench){m, o, x, y, &l})
                     : ag_train(m, o, x, y,
                                (ag_train_opts){.epochs = 1,
                                                .batch_size = BATCH,
                                                .no_shuffle = true,
                                                .verbose = -1,
                                                .loss_batch = lm_loss,
                                                .loss_user = &l},
                                NULL);
    if (rc) return fprintf(stderr, "char_gpt: %s\n", ag_last_error()), 1;
    char_text_write_losses(a.losses, l.v, l.n);
    if (!a.bench)
        printf("char_gpt: %d steps, vocab %d, %lld parameters, loss %.4f -> %.4f, %.1f s\n", l.n,
               t.vocab, (long long)ag_model_num_elements(m), l.v[0], l.v[l.n - 1], ag_now() - t0);
    if (!a.quiet && !a.bench) sample(m, &t, 240);
    free(l.v), free(t.bytes);
    ag_tensor_free(x), ag_tensor_free(y);
    ag_optim_free(o);
    ag_module_free(m);
    return 0;
}
