/* errmsg.h: how the app's modules report a failure: a one-line message written
 * into a buffer the caller passes (err, err_size), and -1 returned. */
#ifndef G4_ERRMSG_H
#define G4_ERRMSG_H

#include <stddef.h>

/* Formats the message into err (when err and err_size are non-zero); returns -1. */
int errmsg(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
