/* testutil.c: fixture paths, scratch files and process helpers for the tests. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_shared(void) {
    const char *s = getenv("G4_SHARED");
    struct stat st;
    if (!s || stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return s;
}

const char *tu_tmpdir(void) {
    static char dir[4096];
    if (dir[0]) return dir;
    const char *base = getenv("G4_TMP");
    if (!base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(dir, sizeof dir, "%s/t%ld", base, (long)getpid());
    mkdir(dir, 0755);
    return dir;
}

const char *tu_path(const char *fmt, ...) {
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 4096, fmt, ap);
    va_end(ap);
    return b;
}

void *tu_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && size) *size = (size_t)n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}

int tu_system(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc == -1) return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

const char *tu_gen(void) { return getenv("G4_GEN") ? getenv("G4_GEN") : "./g4gen"; }
const char *tu_bin(void) { return getenv("G4_BIN") ? getenv("G4_BIN") : "./gemma4"; }

uint64_t tu_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_rng_uniform(uint64_t *state) {
    return ((double)(tu_rng_next(state) >> 11) + 0.5) / 9007199254740992.0;
}

float tu_rng_gauss(uint64_t *state) {
    double u1 = tu_rng_uniform(state), u2 = tu_rng_uniform(state);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
