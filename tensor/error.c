/* The last error per thread, its handler, and shape formatting for messages. */
#include "tensor/tensor.h"

#include <string.h>

static _Thread_local char last_message[512];
static _Thread_local int last_code;
static _Thread_local bool has_error;
static ag_error_handler handler;
static void *handler_user;

int ag__error(int code, const char *fn, const char *fmt, ...) {
    int n = snprintf(last_message, sizeof last_message, "%s: ", fn);
    if (n < 0 || (size_t)n >= sizeof last_message) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message + n, sizeof last_message - (size_t)n, fmt, ap);
    va_end(ap);
    last_code = code;
    has_error = true;
    if (handler) handler(last_message, handler_user);
    return code;
}

const char *ag_last_error(void) { return has_error ? last_message : NULL; }
int ag__last_error_code(void) { return has_error ? last_code : AG_OK; }
void ag_clear_error(void) {
    has_error = false;
    last_code = AG_OK;
    last_message[0] = 0;
}

void ag_set_error_handler(ag_error_handler h, void *user) {
    handler = h;
    handler_user = user;
}

const char *ag__shape_str(int ndim, const int64_t *shape) {
    static _Thread_local char bufs[8][160];
    static _Thread_local int next;
    char *b = bufs[next++ & 7];
    size_t at = 0;
    b[at++] = '[';
    for (int i = 0; i < ndim && shape && at < 140; i++)
        at += (size_t)snprintf(b + at, 160 - at, i ? ",%lld" : "%lld", (long long)shape[i]);
    snprintf(b + at, 160 - at, "]");
    return b;
}
