/* The README example: fit y = w*x + b to X = [1, -1, 3], y = [7, 0, 14] by gradient
 * descent. Built against the installed library (make test-install) to prove the
 * installed header, libraries and ag.pc are enough. */
#include <ag.h>
#include <stdio.h>

int main(void) {
    int64_t n[] = {3};
    ag_tensor *x = ag_tensor_new(AG_F64, 1, n, (double[]){1, -1, 3});
    ag_tensor *y = ag_tensor_new(AG_F64, 1, n, (double[]){7, 0, 14});
    ag_tensor *w = ag_zeros(AG_F64, 0, NULL), *b = ag_zeros(AG_F64, 0, NULL);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    for (int step = 0; step < 2000; step++) {
        ag_scope_begin();                        /* everything made here dies at scope end */
        ag_tensor *err = ag_sub(ag_add(ag_mul(x, w), b), y);
        ag_tensor *loss = ag_mean(ag_mul(err, err));
        if (ag_backward(loss)) { fprintf(stderr, "%s\n", ag_last_error()); return 1; }
        bool prev = ag_set_grad_enabled(false);  /* update the parameters in place */
        ag_copy_(w, ag_sub(w, ag_mul(ag_grad(w), ag_scalar(AG_F64, 0.1))));
        ag_copy_(b, ag_sub(b, ag_mul(ag_grad(b), ag_scalar(AG_F64, 0.1))));
        ag_set_grad_enabled(prev);
        ag_zero_grad(w);
        ag_zero_grad(b);
        ag_scope_end();
    }
    printf("w = %.6f, b = %.6f\n", ag_item(w), ag_item(b));
    int ok = ag_item(w) > 3.4999 && ag_item(w) < 3.5001 && ag_item(b) > 3.4999 && ag_item(b) < 3.5001;
    ag_tensor_free(x); ag_tensor_free(y); ag_tensor_free(w); ag_tensor_free(b);
    return ok ? 0 : 1;
}
