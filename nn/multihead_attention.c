/* MultiheadAttention (torch.nn.MultiheadAttention, batch_first, no dropout): parameters
 * in_proj_weight [3E, E] xavier_uniform and in_proj_bias [3E] zeros, and the child Linear
 * out_proj (weight kaiming_uniform as torch's Linear, bias zeros), as torch names and
 * initializes them. Self-attention projects q, k and v with one GEMM. */
#include "nn/nn.h"

static ag_tensor *mha_forward(ag_module *m, int n, ag_tensor *const *in);
static const struct ag_module_type mha_type = {"MultiheadAttention", mha_forward, free};

struct mha {
    int64_t embed_dim;
    int heads;
};

/* [B, T, E] -> [B, H, T, E/H] */
static ag_tensor *heads_split(ag_tensor *x, int heads) {
    if (!x) return NULL;
    const int64_t *s = ag_shape(x);
    ag_tensor *r = ag_reshape(x, 4, (int64_t[]){s[0], s[1], heads, s[2] / heads});
    return ag_transpose(r, 1, 2);
}

/* [B, H, T, D] -> [B, T, H*D] */
static ag_tensor *heads_merge(ag_tensor *x) {
    if (!x) return NULL;
    const int64_t *s = ag_shape(x);
    ag_tensor *t = ag_contiguous(ag_transpose(x, 1, 2));
    return ag_reshape(t, 3, (int64_t[]){s[0], s[2], s[1] * s[3]});
}

static int check(ag_module *m, ag_tensor *q, ag_tensor *k, ag_tensor *v, const char *fn) {
    struct mha *c = m->ctx;
    ag_tensor *ts[3] = {q, k, v};
    for (int i = 0; i < 3; i++)
        if (ag_ndim(ts[i]) != 3 || ag_shape(ts[i])[2] != c->embed_dim)
            return ag__error(AG_ERR_SHAPE, fn, "inputs must be [B, T, %lld] (batch_first), got %s",
                             (long long)c->embed_dim, AG_SHAPE(ts[i]));
    return AG_OK;
}

ag_tensor *ag_multihead_attention_forward(ag_module *m, ag_tensor *query, ag_tensor *key,
                                          ag_tensor *value, ag_tensor *attn_mask, bool is_causal) {
    const char *fn = "ag_multihead_attention_forward";
    if (!query || !key || !value) {
        if (!ag__last_error_code())
            ag__error(AG_ERR_NULL, fn, "query, key and value must not be NULL");
        return NULL;
    }
    if (!m || m->type != &mha_type) {
        ag__error(AG_ERR_ARG, fn, "needs a MultiheadAttention module");
        return NULL;
    }
    if (check(m, query, key, value, fn)) return NULL;
    struct mha *c = m->ctx;
    ag_tensor *w = ag__param(m, 0), *b = m->n_params > 1 ? ag__param(m, 1) : NULL;
    ag_tensor *qkv[3], *ws[3], *bs[3] = {NULL, NULL, NULL};
    if (query == key && key == value) {
        if (ag_chunk(ag_linear(query, w, b), 3, -1, qkv) != 3) return NULL;
    } else {
        if (ag_chunk(w, 3, 0, ws) != 3 || (b && ag_chunk(b, 3, 0, bs) != 3)) return NULL;
        ag_tensor *in[3] = {query, key, value};
        for (int i = 0; i < 3; i++) qkv[i] = ag_linear(in[i], ws[i], bs[i]);
    }
    ag_tensor *o = ag_scaled_dot_product_attention(
        heads_split(qkv[0], c->heads), heads_split(qkv[1], c->heads), heads_split(qkv[2], c->heads),
        attn_mask, 0.0, is_causal);
    return ag_module_forward(ag_module_get_child(m, "out_proj"), heads_merge(o));
}

/* One input: self-attention; three: query, key, value. */
static ag_tensor *mha_forward(ag_module *m, int n, ag_tensor *const *in) {
    if (n == 1) return ag_multihead_attention_forward(m, in[0], in[0], in[0], NULL, false);
    if (n == 3) return ag_multihead_attention_forward(m, in[0], in[1], in[2], NULL, false);
    ag__error(AG_ERR_ARG, "ag_module_call", "MultiheadAttention takes 1 or 3 inputs, got %d", n);
    return NULL;
}

ag_layer *ag_multihead_attention_layer(int64_t embed_dim, int num_heads, bool bias) {
    const char *fn = "ag_multihead_attention_layer";
    if (embed_dim < 1 || num_heads < 1 || embed_dim % num_heads) {
        ag__error(AG_ERR_ARG, fn, "embed_dim %lld must be divisible by num_heads %d",
                  (long long)embed_dim, num_heads);
        return NULL;
    }
    struct mha c = {embed_dim, num_heads};
    ag_module *m = ag__module_make_copy(&mha_type, &c, sizeof c, fn);
    int64_t e3 = 3 * embed_dim;
    if (!m || ag__module_param(m, "in_proj_weight", 2, (int64_t[]){e3, embed_dim}, fn) ||
        (bias && ag__module_param(m, "in_proj_bias", 1, &e3, fn)) ||
        !ag_module_add_child(m, "out_proj", ag_linear_layer(embed_dim, embed_dim, bias))) {
        ag_module_free(m);
        return NULL;
    }
    ag_init_xavier_uniform_(ag__param(m, 0), 1);
    if (bias) ag_init_zeros_(ag_module_get(m, "out_proj.bias"));
    return m;
}
