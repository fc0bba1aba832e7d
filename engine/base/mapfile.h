/* mapfile.h: read-only memory maps of whole files (model weights are never copied). */
#ifndef G4_MAPFILE_H
#define G4_MAPFILE_H

#include <stddef.h>

typedef struct {
    const unsigned char *data;  /* NULL for an empty file */
    size_t size;
} g4_mapped_file;

/* Maps PATH read-only. Returns 0, or -1 with g4_last_error() naming the path. */
int g4_map_file(g4_mapped_file *out, const char *path);
void g4_unmap_file(g4_mapped_file *m);

/* Reads the pages of [p, p + n) of a mapped file in and maps them now, at once,
 * for bytes about to be read through (fewer page faults than touching them one
 * by one); a no-op where the system cannot. */
void g4_map_prefetch(const void *p, size_t n);

/* Drops the whole pages inside [p, p + n) of a mapped file from this process's
 * memory, for bytes it will seldom or never read again; they read back from the
 * file if touched. */
void g4_map_release(const void *p, size_t n);

#endif
