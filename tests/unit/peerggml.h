/* peerggml.h: llama.cpp's ggml libraries (the peer), loaded with dlopen from
 * the directory named by G4_PEER_LIB_DIR, for the tests that compare with ggml
 * (test_quant.c: its quantizers bit for bit; test_dot.c: its dot products,
 * checked and timed). The structs are prefixes of ggml's own, copied from
 * ggml.h and ggml-cpu.h. */
#ifndef G4_PEERGGML_H
#define G4_PEERGGML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*ggml_to_float_t)(const void *x, float *y, int64_t k);
typedef void (*ggml_from_float_t)(const float *x, void *y, int64_t k);
typedef void (*ggml_vec_dot_t)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by,
                               int nrc);

struct ggml_type_traits { /* ggml.h, the leading fields */
    const char *type_name;
    int64_t blck_size;
    int64_t blck_size_interleave;
    size_t type_size;
    bool is_quantized;
    ggml_to_float_t to_float;
    ggml_from_float_t from_float_ref;
};

struct ggml_type_traits_cpu { /* ggml-cpu.h */
    ggml_from_float_t from_float;
    ggml_vec_dot_t vec_dot;
    int vec_dot_type;
    int64_t nrows;
};

/* libggml-base.so: the type table and the reference (de)quantizers. */
typedef struct {
    void *lib;
    const struct ggml_type_traits *(*type_traits)(int type);
    ggml_from_float_t quantize_q8_K; /* Q8_K is not in the traits: its row functions */
    ggml_to_float_t dequantize_q8_K;
} peer_base;

/* One build of ggml's CPU backend, libggml-cpu-<variant>.so (haswell,
 * icelake, sapphirerapids, ...): its vec_dot kernels. */
typedef struct {
    void *lib;
    const char *variant;
    const struct ggml_type_traits_cpu *(*type_traits)(int type);
} peer_cpu;

/* Loads libggml-base.so. Returns 0, or -1 with *b zeroed when G4_PEER_LIB_DIR
 * is unset (silently) or the library is unusable (with a message). */
int peer_base_open(peer_base *b);
void peer_base_close(peer_base *b);

/* Loads libggml-cpu-<variant>.so (after peer_base_open) and initializes it.
 * Returns 0, or -1 with *c zeroed (and a message unless G4_PEER_LIB_DIR is
 * unset) when it cannot be loaded or needs instructions this CPU lacks. */
int peer_cpu_open(peer_cpu *c, const char *variant);
void peer_cpu_close(peer_cpu *c);

#endif
