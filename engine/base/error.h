/* error.h: the engine's error channel. A failing function calls g4_error() with
 * a one-line reason and returns its error value; g4_last_error() reads it back. */
#ifndef G4_ERROR_H
#define G4_ERROR_H

#if defined(__GNUC__)
#define G4_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define G4_PRINTF(a, b)
#endif

/* Sets the thread's last error (printf-style). Always returns -1, so that
 * `return g4_error("...")` reads naturally in functions that return int. */
int g4_error(const char *fmt, ...) G4_PRINTF(1, 2);

/* Prefixes the current error with more context: "CONTEXT: previous reason". */
int g4_error_prefix(const char *fmt, ...) G4_PRINTF(1, 2);

void g4_error_clear(void);

#endif
