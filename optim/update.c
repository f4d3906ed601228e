/* The update kernels, one body per optimizer written once for float and double.
 * Each follows torch.optim's single-tensor code line by line (same operation order), on
 * contiguous arrays: p (param), g (grad), and the state buffers. Element-wise, so the
 * OpenMP split over elements keeps results identical for any thread count. */
#include "optim/optim.h"

#include <math.h>

/* Built with -fno-math-errno (mk/optim.mk) so the sqrt loops vectorize: the inputs are
 * >= 0, errno is never set, and no result changes (unlike -ffast-math). */

/* Work-sharing inside the team ag_optim_step opens (serial when called outside one). */
#define PARALLEL_FOR _Pragma("omp for simd schedule(static)")

/* The options that change the arithmetic (weight decay on or off, Nesterov, ...) are
 * passed to each loop as literal 0/1 (the *_LOOP macros are expanded once per case), so the
 * loops have no branches and vectorize, and each case does exactly torch's operations. */
#define PARAM_ARRAYS(T)                                        \
    ag_tensor *pt = o->params[i];                              \
    T *restrict p = ag__ptr(pt);                               \
    const T *restrict g = ag__ptr(pt->grad);                   \
    const int64_t n = pt->numel;

/* torch: d_p = g + wd*p; buf = buf*m + (1-damp)*d_p (first step: buf = d_p);
 * d_p = nesterov ? d_p + m*buf : buf; p = p - lr*d_p */
#define SGD_LOOP(T, WD, MOM, FIRST, NESTEROV)                                     \
    do {                                                                          \
        PARALLEL_FOR                                                              \
        for (int64_t j = 0; j < n; j++) {                                         \
            T d = WD ? g[j] + wd * p[j] : g[j];                                   \
            if (MOM) {                                                            \
                T b = FIRST ? d : buf[j] * mom + keep * d;                        \
                buf[j] = b;                                                       \
                d = NESTEROV ? d + mom * b : b;                                   \
            }                                                                     \
            p[j] = p[j] + (-lr) * d;                                              \
        }                                                                         \
    } while (0)
#define SGD_CASES(T, WD)                                                          \
    do {                                                                          \
        if (!buf) SGD_LOOP(T, WD, 0, 0, 0);                                       \
        else if (first && nesterov) SGD_LOOP(T, WD, 1, 1, 1);                     \
        else if (first) SGD_LOOP(T, WD, 1, 1, 0);                                 \
        else if (nesterov) SGD_LOOP(T, WD, 1, 0, 1);                              \
        else SGD_LOOP(T, WD, 1, 0, 0);                                            \
    } while (0)
#define SGD_BODY(T)                                                               \
    {                                                                             \
        PARAM_ARRAYS(T)                                                           \
        const T lr = (T)o->lr, wd = (T)o->sgd.weight_decay, mom = (T)o->sgd.momentum; \
        const T keep = (T)(1.0 - o->sgd.dampening);                               \
        const bool first = o->steps[i] == 1, nesterov = o->sgd.nesterov;          \
        T *restrict buf = o->n_state ? o->state[0][i] : NULL;                     \
        if (wd != 0) SGD_CASES(T, 1);                                             \
        else SGD_CASES(T, 0);                                                     \
    }

/* torch Adam / AdamW (decoupled: p *= 1 - lr*wd first) */
#define ADAM_LOOP(T, SQRT, DECOUPLED, WD)                                         \
    do {                                                                          \
        PARALLEL_FOR                                                              \
        for (int64_t j = 0; j < n; j++) {                                         \
            T gj = g[j], pj = p[j];                                               \
            if (DECOUPLED) pj = pj * decay;                                       \
            if (WD) gj = gj + wd * pj;                                            \
            T mj = m[j] * b1 + c1 * gj;                                           \
            T vj = v[j] * b2 + c2 * gj * gj;                                      \
            m[j] = mj;                                                            \
            v[j] = vj;                                                            \
            T denom = SQRT(vj) / bc2_sqrt + eps;                                  \
            p[j] = pj + (-step_size) * (mj / denom);                              \
        }                                                                         \
    } while (0)
#define ADAM_BODY(T, SQRT)                                                        \
    {                                                                             \
        PARAM_ARRAYS(T)                                                           \
        const ag_adam_opts *a = &o->adam;                                         \
        T *restrict m = o->state[0][i], *restrict v = o->state[1][i];             \
        const double step = (double)o->steps[i];                                  \
        const double bc1 = 1.0 - pow(a->beta1, step), bc2 = 1.0 - pow(a->beta2, step); \
        const T step_size = (T)(o->lr / bc1), bc2_sqrt = (T)sqrt(bc2);           \
        const T b1 = (T)a->beta1, b2 = (T)a->beta2, eps = (T)a->eps;              \
        const T c1 = (T)(1.0 - a->beta1), c2 = (T)(1.0 - a->beta2);               \
        const T wd = (T)a->weight_decay, decay = (T)(1.0 - o->lr * a->weight_decay); \
        if (a->decoupled_weight_decay) ADAM_LOOP(T, SQRT, 1, 0);                  \
        else if (wd != 0) ADAM_LOOP(T, SQRT, 0, 1);                               \
        else ADAM_LOOP(T, SQRT, 0, 0);                                            \
    }

/* torch RMSprop: sq = alpha*sq + (1-alpha)*g^2; centered: ga likewise, avg = sqrt(sq - ga^2);
 * avg += eps; momentum: buf = m*buf + g/avg, p -= lr*buf; else p -= lr * g/avg */
#define RMSPROP_LOOP(T, SQRT, WD, CENTERED, MOM)                                  \
    do {                                                                          \
        PARALLEL_FOR                                                              \
        for (int64_t j = 0; j < n; j++) {                                         \
            T gj = WD ? g[j] + wd * p[j] : g[j];                                  \
            T s = sq[j] * alpha + c * gj * gj;                                    \
            sq[j] = s;                                                            \
            T avg;                                                                \
            if (CENTERED) {                                                       \
                T gm = ga[j] * alpha + c * gj;                                    \
                ga[j] = gm;                                                       \
                avg = SQRT(s + (T)(-1) * gm * gm);                                \
            } else {                                                              \
                avg = SQRT(s);                                                    \
            }                                                                     \
            avg = avg + eps;                                                      \
            if (MOM) {                                                            \
                T b = buf[j] * mom + gj / avg;                                    \
                buf[j] = b;                                                       \
                p[j] = p[j] + (-lr) * b;                                          \
            } else {                                                              \
                p[j] = p[j] + (-lr) * (gj / avg);                                 \
            }                                                                     \
        }                                                                         \
    } while (0)
#define RMSPROP_CASES(T, SQRT, WD)                                                \
    do {                                                                          \
        if (centered && use_mom) RMSPROP_LOOP(T, SQRT, WD, 1, 1);                 \
        else if (centered) RMSPROP_LOOP(T, SQRT, WD, 1, 0);                       \
        else if (use_mom) RMSPROP_LOOP(T, SQRT, WD, 0, 1);                        \
        else RMSPROP_LOOP(T, SQRT, WD, 0, 0);                                     \
    } while (0)
#define RMSPROP_BODY(T, SQRT)                                                     \
    {                                                                             \
        PARAM_ARRAYS(T)                                                           \
        const ag_rmsprop_opts *r = &o->rmsprop;                                   \
        T *restrict sq = o->state[0][i], *restrict ga = o->state[1][i];           \
        T *restrict buf = o->state[2][i];                                         \
        const T lr = (T)o->lr, alpha = (T)r->alpha, c = (T)(1.0 - r->alpha);      \
        const T eps = (T)r->eps, wd = (T)r->weight_decay, mom = (T)r->momentum;   \
        const bool centered = r->centered, use_mom = r->momentum > 0;             \
        if (wd != 0) RMSPROP_CASES(T, SQRT, 1);                                   \
        else RMSPROP_CASES(T, SQRT, 0);                                           \
    }

/* torch Adagrad: clr = lr / (1 + (step-1)*lr_decay); sum += g^2; p -= clr * g/(sqrt(sum)+eps) */
#define ADAGRAD_LOOP(T, SQRT, WD)                                                 \
    do {                                                                          \
        PARALLEL_FOR                                                              \
        for (int64_t j = 0; j < n; j++) {                                         \
            T gj = WD ? g[j] + wd * p[j] : g[j];                                  \
            T s = sum[j] + gj * gj;                                               \
            sum[j] = s;                                                           \
            p[j] = p[j] + (-clr) * (gj / (SQRT(s) + eps));                        \
        }                                                                         \
    } while (0)
#define ADAGRAD_BODY(T, SQRT)                                                     \
    {                                                                             \
        PARAM_ARRAYS(T)                                                           \
        const ag_adagrad_opts *a = &o->adagrad;                                   \
        T *restrict sum = o->state[0][i];                                         \
        const T clr = (T)(o->lr / (1.0 + (double)(o->steps[i] - 1) * a->lr_decay)); \
        const T eps = (T)a->eps, wd = (T)a->weight_decay;                         \
        if (wd != 0) ADAGRAD_LOOP(T, SQRT, 1);                                    \
        else ADAGRAD_LOOP(T, SQRT, 0);                                            \
    }

void ag__sgd_f32(ag_optim *o, int i) SGD_BODY(float)
void ag__sgd_f64(ag_optim *o, int i) SGD_BODY(double)
void ag__adam_f32(ag_optim *o, int i) ADAM_BODY(float, sqrtf)
void ag__adam_f64(ag_optim *o, int i) ADAM_BODY(double, sqrt)
void ag__rmsprop_f32(ag_optim *o, int i) RMSPROP_BODY(float, sqrtf)
void ag__rmsprop_f64(ag_optim *o, int i) RMSPROP_BODY(double, sqrt)
void ag__adagrad_f32(ag_optim *o, int i) ADAGRAD_BODY(float, sqrtf)
void ag__adagrad_f64(ag_optim *o, int i) ADAGRAD_BODY(double, sqrt)
