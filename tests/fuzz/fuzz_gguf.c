/* fuzz_gguf.c: libFuzzer target for the GGUF parser. On a successful parse it
 * touches every tensor's first and last byte and every metadata value, so that a
 * pointer or length that escapes the input shows up under AddressSanitizer. */
#include "model/gguf.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static size_t element_size(enum g4_gguf_type t) {
    switch (t) {
    case G4_GGUF_UINT8: case G4_GGUF_INT8: case G4_GGUF_BOOL: return 1;
    case G4_GGUF_UINT16: case G4_GGUF_INT16: return 2;
    case G4_GGUF_UINT32: case G4_GGUF_INT32: case G4_GGUF_FLOAT32: return 4;
    case G4_GGUF_UINT64: case G4_GGUF_INT64: case G4_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static void touch(volatile unsigned char *sink, const void *p, uint64_t n) {
    if (n == 0) return;
    *sink ^= ((const unsigned char *)p)[0];
    *sink ^= ((const unsigned char *)p)[n - 1];
}

static void touch_kv(const g4_gguf *g, const g4_gguf_kv *kv, volatile unsigned char *sink) {
    touch(sink, kv->key, strlen(kv->key) + 1);
    if (g4_gguf_find(g, kv->key) != kv) __builtin_trap();
    uint32_t u;
    float f;
    bool b;
    char s[64];
    g4_gguf_get_u32(g, kv->key, &u);
    g4_gguf_get_f32(g, kv->key, &f);
    g4_gguf_get_bool(g, kv->key, &b);
    g4_gguf_get_str(g, kv->key, s, sizeof s);
    if (kv->type == G4_GGUF_STRING) touch(sink, kv->str, kv->str_len);
    if (kv->type != G4_GGUF_ARRAY || kv->arr_n == 0) return;
    if (kv->arr_type == G4_GGUF_STRING) {
        for (uint64_t i = 0; i < kv->arr_n; i++) touch(sink, kv->arr_str[i], kv->arr_str_len[i]);
        return;
    }
    touch(sink, kv->arr_data, kv->arr_n * element_size(kv->arr_type));
    int64_t v;
    g4_gguf_arr_get_i64(kv, 0, &v);
    g4_gguf_arr_get_i64(kv, kv->arr_n - 1, &v);
    g4_gguf_arr_get_f32(kv, kv->arr_n - 1, &f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    g4_gguf g;
    if (g4_gguf_parse(&g, data, size) != 0) return 0;
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < g.tensors.n; i++) {
        const g4_tensor *t = &g.tensors.tensors[i];
        touch(&sink, t->name, strlen(t->name) + 1);
        touch(&sink, t->data, t->nbytes);
        if (g4_tensor_set_find(&g.tensors, t->name) != t) __builtin_trap();
    }
    for (uint64_t i = 0; i < g.n_kv; i++) touch_kv(&g, &g.kv[i], &sink);
    g4_gguf_close(&g);
    return 0;
}
