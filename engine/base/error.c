/* error.c: the per-thread last-error message behind g4_last_error(). */
#include "error.h"
#include "gemma4.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *g4_last_error(void) { return last_error; }

void g4_error_clear(void) { last_error[0] = '\0'; }

int g4_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

int g4_error_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3, len = strlen(old);
    if (len > room) len = room;
    memcpy(last_error + n + 2, old, len);
    last_error[n + 2 + len] = '\0';
    return -1;
}
