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

#endif
