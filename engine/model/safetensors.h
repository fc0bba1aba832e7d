/* safetensors.h: strict, zero-copy readers for Hugging Face safetensors files and
 * checkpoint directories (one model.safetensors, or shards listed by
 * model.safetensors.index.json). Tensors come out in ggml shape order. */
#ifndef G4_SAFETENSORS_H
#define G4_SAFETENSORS_H

#include "tensor.h"
#include "../base/mapfile.h"

#include <stddef.h>

/* One parsed file. Tensors of dtypes the engine cannot compute with (I64, U8,
 * F8, ...) are kept with type G4_TYPE_UNKNOWN and their offsets still checked. */
typedef struct {
    g4_tensor_set tensors;      /* sorted, names as in the file, data points into buf */
    void *owned;
} g4_st_file;

/* Parses a safetensors image in memory. 0, or -1 with g4_last_error() set. */
int g4_st_parse(g4_st_file *out, const void *buf, size_t size);
void g4_st_free(g4_st_file *f);

/* A checkpoint directory: every shard mapped and parsed, tensors merged into one
 * sorted set (a name in two shards is an error; with an index, each tensor must
 * be in the shard the index names, and every shard it names must exist). */
typedef struct {
    g4_tensor_set tensors;
    size_t n_files;
    g4_mapped_file *files;
    g4_st_file *parsed;
    void *owned;
} g4_st_dir;

int g4_st_open_dir(g4_st_dir *out, const char *dir);
void g4_st_close_dir(g4_st_dir *d);

#endif
