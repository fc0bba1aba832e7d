/* gguf.h: a strict, zero-copy GGUF v2/v3 parser. Every count, length, offset and
 * shape read from the file is checked; the parsed view points into the caller's
 * buffer (normally a read-only mmap of the file). */
#ifndef G4_GGUF_H
#define G4_GGUF_H

#include "tensor.h"
#include "../base/mapfile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, as numbered in the GGUF format. */
enum g4_gguf_type {
    G4_GGUF_UINT8 = 0, G4_GGUF_INT8 = 1, G4_GGUF_UINT16 = 2, G4_GGUF_INT16 = 3,
    G4_GGUF_UINT32 = 4, G4_GGUF_INT32 = 5, G4_GGUF_FLOAT32 = 6, G4_GGUF_BOOL = 7,
    G4_GGUF_STRING = 8, G4_GGUF_ARRAY = 9, G4_GGUF_UINT64 = 10, G4_GGUF_INT64 = 11,
    G4_GGUF_FLOAT64 = 12,
};

typedef struct {
    const char *key;            /* NUL-terminated copy, owned by the g4_gguf */
    enum g4_gguf_type type;
    /* scalars (type != STRING/ARRAY) are decoded here; bool as 0/1 in u */
    union { uint64_t u; int64_t i; double f; } num;
    /* STRING: the bytes (not NUL-terminated) and their length */
    const char *str;
    uint64_t str_len;
    /* ARRAY: element type, count, and the raw bytes of the elements in the file.
     * For arrays of strings, arr_str[i]/arr_str_len[i] point at each string. */
    enum g4_gguf_type arr_type;
    uint64_t arr_n;
    const void *arr_data;
    const char **arr_str;
    uint64_t *arr_str_len;
} g4_gguf_kv;

typedef struct {
    uint32_t version;
    size_t alignment;           /* general.alignment or 32 */
    size_t data_offset;         /* start of the tensor data section */
    uint64_t n_kv;
    g4_gguf_kv *kv;
    g4_tensor_set tensors;      /* sorted by name, data pointers into the buffer */
    g4_mapped_file file;        /* set by g4_gguf_open */
    void *owned;                /* internal allocations */
} g4_gguf;

/* Parses a GGUF image held in memory [buf, buf+size). Returns 0, or -1 with a
 * one-line reason in g4_last_error(). On failure *out holds nothing to free. */
int g4_gguf_parse(g4_gguf *out, const void *buf, size_t size);

/* Maps PATH and parses it (errors are prefixed with the path). */
int g4_gguf_open(g4_gguf *out, const char *path);
void g4_gguf_close(g4_gguf *g);

const g4_gguf_kv *g4_gguf_find(const g4_gguf *g, const char *key);

/* Typed getters. Return 1 if found and converted, 0 if absent, -1 (error set)
 * if present with a type or value that does not fit. Integer getters accept any
 * integer type whose value fits; float getters accept f32/f64. */
int g4_gguf_get_u32(const g4_gguf *g, const char *key, uint32_t *out);
int g4_gguf_get_f32(const g4_gguf *g, const char *key, float *out);
int g4_gguf_get_bool(const g4_gguf *g, const char *key, bool *out);
/* Copies a string value NUL-terminated into out[cap]; -1 if it does not fit or contains NUL. */
int g4_gguf_get_str(const g4_gguf *g, const char *key, char *out, size_t cap);
/* Integer (or bool) array element i, converted to int64: 1, or -1 (error set) if out of range. */
int g4_gguf_arr_get_i64(const g4_gguf_kv *kv, uint64_t i, int64_t *out);
int g4_gguf_arr_get_f32(const g4_gguf_kv *kv, uint64_t i, float *out);

#endif
