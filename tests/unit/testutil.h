/* testutil.h: helpers shared by the cmocka tests (paths to fixtures and scratch
 * space, whole-file reads, running the generator, seeded random numbers). */
#ifndef G4_TESTUTIL_H
#define G4_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* ../shared (from G4_SHARED), or NULL when it is absent: tests that need it skip. */
const char *tu_shared(void);

/* A fresh scratch directory under G4_TMP for this test program (created once). */
const char *tu_tmpdir(void);

/* Formats a path into a static rotating buffer (8 slots). */
const char *tu_path(const char *fmt, ...);

/* Reads a whole file (malloc'd, caller frees); NULL if unreadable. */
void *tu_read_file(const char *path, size_t *size);
int tu_write_file(const char *path, const void *data, size_t size);

/* Runs a shell command; returns its exit status (or -1). */
int tu_system(const char *fmt, ...);

/* Path of the g4gen generator (G4_GEN) and of the gemma4 binary (G4_BIN). */
const char *tu_gen(void);
const char *tu_bin(void);

/* Seeded random numbers (splitmix64): the next 64 bits, a double in (0, 1), and a
 * standard normal float (Box-Muller). */
uint64_t tu_rng_next(uint64_t *state);
double tu_rng_uniform(uint64_t *state);
float tu_rng_gauss(uint64_t *state);

#endif
