/* tensor.h: a weight tensor as the loaders find it in a file, and a name-sorted
 * set of them. Shapes use ggml order: ne[0] is the innermost (input) dimension,
 * so an HF [out, in] matrix is ne = {in, out}; the bytes are the same. */
#ifndef G4_TENSOR_H
#define G4_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* Element types; the numbers are ggml's (they are stored in GGUF files). */
enum g4_type {
    G4_TYPE_F32 = 0,
    G4_TYPE_F16 = 1,
    G4_TYPE_Q4_0 = 2,
    G4_TYPE_Q4_1 = 3,
    G4_TYPE_Q5_0 = 6,
    G4_TYPE_Q5_1 = 7,
    G4_TYPE_Q8_0 = 8,
    G4_TYPE_Q8_1 = 9,
    G4_TYPE_Q2_K = 10,
    G4_TYPE_Q3_K = 11,
    G4_TYPE_Q4_K = 12,
    G4_TYPE_Q5_K = 13,
    G4_TYPE_Q6_K = 14,
    G4_TYPE_Q8_K = 15,
    G4_TYPE_BF16 = 30,
    G4_TYPE_COUNT = 40, /* upper bound of ggml type ids we know of */
    /* Engine-internal layouts, never in a file (past every ggml id, so the GGUF
     * loader and g4_type_info do not know them): Q8_0 rows repacked at load for the
     * matmul kernels, 16 rows interleaved (kernels/cpu/dot.h, g4k_block_q8_0x16). */
    G4_TYPE_Q8_0_R16 = 64,
    G4_TYPE_UNKNOWN = -1,
};

#define G4_MAX_DIMS 4

typedef struct {
    const char *name;        /* NUL-terminated, owned by the set that holds the tensor */
    enum g4_type type;
    int n_dims;
    int64_t ne[G4_MAX_DIMS]; /* unused dims are 1 */
    const void *data;        /* points into the mapped file */
    size_t nbytes;
} g4_tensor;

static inline int64_t g4_tensor_nelements(const g4_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* A set of tensors sorted by name for lookup. */
typedef struct {
    g4_tensor *tensors;
    size_t n;
} g4_tensor_set;

/* Sorts the set by name. Returns -1 (error names the tensor) on a duplicate name. */
int g4_tensor_set_sort(g4_tensor_set *set);

/* Binary search by exact name; NULL if absent. The set must be sorted. */
const g4_tensor *g4_tensor_set_find(const g4_tensor_set *set, const char *name);

#endif
