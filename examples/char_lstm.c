/* Build: cc -O2 char_lstm.c -o char_lstm $(pkg-config --cflags --libs ag) -lz -lm */
/* A character-level LSTM language model (Embedding 64 -> LSTM 128 -> Linear) on the license
 * texts, with truncated back-propagation through time: 16 streams read the text in
 * consecutive pieces of 32 characters, the final states carry over (detached) to the next
 * piece. A loop of its own with ag_train_step (the states live across steps). PyTorch
 * twin: examples/torch/char_lstm.py. Usage as char_gpt: [--steps N] [--init FILE]
 * [--losses FILE] [--quiet] [--bench STEPS]. */
#include <ag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "char_text.h"

enum { EMB = 64, HID = 128, T = 32, B = 16 };

static ag_module *lm(int vocab) {
    ag_module *m = ag_module_new("CharLSTM", NULL, NULL, NULL);
    ag_module_add_child(m, "emb", ag_embedding_layer(vocab, EMB));
    ag_module_add_child(m, "lstm", ag_lstm_layer(EMB, HID, 1, true));
    ag_module_add_child(m, "head", ag_linear_layer(HID, vocab, true));
    return m;
}

/* Piece k of every stream: x, y [B, T]; stream b starts at b * (len / B); pieces wrap
 * after (len / B - 1) / T of them (and the caller then resets the states). */
static void piece(const struct char_text *t, int64_t k, int64_t *xv, int64_t *yv) {
    int64_t seg = t->len / B, per = (seg - 1) / T, off = (k % per) * T;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++)
            xv[b * T + i] = t->bytes[b * seg + off + i],
                       yv[b * T + i] = t->bytes[b * seg + off + i + 1];
}

static int64_t pieces_per_pass(const struct char_text *t) { return (t->len / B - 1) / T; }

/* logits of x [B, L] from states h, c [1, B, HID]; *hn, *cn: the final states */
static ag_tensor *forward(ag_module *m, ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor **hn,
                          ag_tensor **cn) {
    ag_tensor *out;
    if (ag_lstm_forward(ag_module_get_child(m, "lstm"),
                        ag_module_forward(ag_module_get_child(m, "emb"), x), h, c, &out, hn, cn))
        return NULL;
    return ag_module_forward(ag_module_get_child(m, "head"), out);
}

static void sample(ag_module *m, const struct char_text *t, int chars) {
    bool grad = ag_set_grad_enabled(false);
    ag_tensor *h = ag_zeros(AG_F32, 3, (int64_t[]){1, 1, HID}),
              *c = ag_zeros(AG_F32, 3, (int64_t[]){1, 1, HID});
    int64_t tok = 0;
    for (int i = 0; i < t->vocab; i++)
        if (t->chars[i] == '\n') tok = i;
    for (int i = 0; i < chars; i++) {
        ag_scope_begin();
        ag_tensor *hn, *cn;
        ag_tensor *logits =
            forward(m, ag_tensor_new(AG_I64, 2, (int64_t[]){1, 1}, &tok), h, c, &hn, &cn);
        tok = char_text_sample(ag_reshape(logits, 1, (int64_t[]){-1}));
        ag_copy_(h, hn), ag_copy_(c, cn);
        ag_scope_end();
        putchar(t->chars[tok]);
    }
    putchar('\n');
    ag_tensor_free(h), ag_tensor_free(c);
    ag_set_grad_enabled(grad);
}

/* The training loop's state: the model, its optimizer, the carried states, the losses. */
struct run {
    ag_module *m;
    ag_optim *o;
    const struct char_text *t;
    ag_tensor *h, *c;
    double *losses;
};

/* Training step k: piece k of every stream, the states carried from step k - 1. */
static int train_step(void *ctx, int64_t k) {
    struct run *r = ctx;
    int64_t xv[B * T], yv[B * T];
    if (k % pieces_per_pass(r->t) == 0) ag_init_zeros_(r->h), ag_init_zeros_(r->c);
    piece(r->t, k, xv, yv);
    ag_scope_begin();
    ag_tensor *hn, *cn;
    ag_tensor *logits =
        forward(r->m, ag_tensor_new(AG_I64, 2, (int64_t[]){B, T}, xv), r->h, r->c, &hn, &cn);
    ag_tensor *loss = ag_cross_entropy_loss(ag_reshape(logits, 2, (int64_t[]){-1, r->t->vocab}),
                                            ag_tensor_new(AG_I64, 1, (int64_t[]){B * T}, yv));
    int rc = ag_train_step(r->o, loss);
    if (!rc) {
        if (r->losses) r->losses[k] = ag_item(loss);
        ag_copy_(r->h, hn), ag_copy_(r->c, cn); /* detached: the next piece starts from these */
    }
    ag_scope_end();
    return rc;
}

int main(int argc, char **argv) {
    struct char_args a = char_args_parse(argc, argv);
    struct char_text t;
    if (char_text_load(&t)) return 1;
    ag_manual_seed(1);
    ag_module *m = lm(t.vocab);
    if (a.init && ag_module_save(m, a.init)) return fprintf(stderr, "%s\n", ag_last_error()), 1;
    int n, steps = a.steps;
    ag_tensor **p = ag_module_parameters(m, &n);
    ag_adam_opts ao = ag_adam_defaults();
    ao.lr = 3e-3;
    struct run r = {m,
                    ag_adam_new(p, n, ao),
                    &t,
                    ag_zeros(AG_F32, 3, (int64_t[]){1, B, HID}),
                    ag_zeros(AG_F32, 3, (int64_t[]){1, B, HID}),
                    NULL};
    if (a.bench) {
        int rc = char_bench("char_lstm", a.bench, pieces_per_pass(&t), train_step, &r);
        ag_tensor_free(r.h), ag_tensor_free(r.c), ag_optim_free(r.o), ag_module_free(m);
        free(t.bytes);
        return rc;
    }
    r.losses = malloc((size_t)steps * sizeof *r.losses);
    double t0 = ag_now();
    for (int k = 0; k < steps; k++)
        if (train_step(&r, k)) return fprintf(stderr, "char_lstm: %s\n", ag_last_error()), 1;
    char_text_write_losses(a.losses, r.losses, steps);
    printf("char_lstm: %d steps, vocab %d, %lld parameters, loss %.4f -> %.4f, %.1f s\n", steps,
           t.vocab, (long long)ag_model_num_elements(m), r.losses[0], r.losses[steps - 1],
           ag_now() - t0);
    if (!a.quiet) sample(m, &t, 240);
    free(r.losses), free(t.bytes);
    ag_tensor_free(r.h), ag_tensor_free(r.c);
    ag_optim_free(r.o);
    ag_module_free(m);
    return 0;
}
