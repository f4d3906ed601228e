/* Build: cc -O2 linreg.c -o linreg $(pkg-config --cflags --libs ag) -lm */
/* Linear regression by gradient descent: fit y = w*x + b to X = [1, -1, 3], y = [7, 0, 14].
 * The least-squares answer is w = b = 3.5. This is the README's example; `make
 * test-install` builds it against the installed library and checks that answer. */
#include <ag.h>
#include <math.h>
#include <stdio.h>

int main(void) {
    int64_t n[] = {3};
    ag_tensor *x = ag_tensor_new(AG_F64, 1, n, (double[]){1, -1, 3});
    ag_tensor *y = ag_tensor_new(AG_F64, 1, n, (double[]){7, 0, 14});
    ag_tensor *w = ag_zeros(AG_F64, 0, NULL), *b = ag_zeros(AG_F64, 0, NULL);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    ag_tensor *params[] = {w, b};
    ag_optim *opt = ag_sgd_new(params, 2, (ag_sgd_opts){.lr = 0.1});
    for (int step = 0; step < 500; step++) {
        ag_scope_begin(); /* everything made here dies at scope end */
        ag_tensor *loss = ag_mse_loss(ag_add(ag_mul(x, w), b), y);
        ag_optim_zero_grad(opt);
        if (ag_backward(loss)) { /* w and b's .grad accumulate */
            fprintf(stderr, "%s\n", ag_last_error());
            return 1;
        }
        ag_optim_step(opt);
        if (step % 100 == 0)
            printf("step %3d  loss %.6f  w %.4f  b %.4f\n", step, ag_item(loss), ag_item(w),
                   ag_item(b));
        ag_scope_end();
    }
    printf("w = %.6f, b = %.6f (least squares: 3.5, 3.5)\n", ag_item(w), ag_item(b));
    int ok = fabs(ag_item(w) - 3.5) < 1e-6 && fabs(ag_item(b) - 3.5) < 1e-6;
    ag_optim_free(opt);
    ag_tensor_free(x), ag_tensor_free(y), ag_tensor_free(w), ag_tensor_free(b);
    return ok ? 0 : 1;
}
