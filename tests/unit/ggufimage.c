/* ggufimage.c: building GGUF images in memory for tests, including deliberately
 * malformed ones (see ggufimage.h). */
#include "ggufimage.h"

#include "testutil.h"

#include "model/gguf.h"

#include <stdlib.h>
#include <string.h>

void tg_free(tg_buf *w) {
    free(w->p);
    memset(w, 0, sizeof *w);
}

void tg_put(tg_buf *w, const void *data, size_t n) {
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        assert_non_null(w->p);
    }
    if (n) memcpy(w->p + w->n, data, n);
    w->n += n;
}

void tg_le(tg_buf *w, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) tg_u8(w, (uint8_t)(v >> (8 * i)));
}

void tg_u8(tg_buf *w, uint8_t v) { tg_put(w, &v, 1); }
void tg_u32(tg_buf *w, uint32_t v) { tg_le(w, v, 4); }
void tg_u64(tg_buf *w, uint64_t v) { tg_le(w, v, 8); }

void tg_f32(tg_buf *w, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    tg_u32(w, bits);
}

void tg_f64(tg_buf *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    tg_u64(w, bits);
}

void tg_str_n(tg_buf *w, const char *s, size_t n) {
    tg_u64(w, n);
    tg_put(w, s, n);
}

void tg_str(tg_buf *w, const char *s) { tg_str_n(w, s, strlen(s)); }

void tg_header(tg_buf *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    tg_put(w, "GGUF", 4);
    tg_u32(w, version);
    tg_u64(w, n_tensors);
    tg_u64(w, n_kv);
}

void tg_key(tg_buf *w, const char *key, uint32_t type) {
    tg_str(w, key);
    tg_u32(w, type);
}

void tg_kv_u32(tg_buf *w, const char *key, uint32_t v) {
    tg_key(w, key, G4_GGUF_UINT32);
    tg_u32(w, v);
}

void tg_kv_i32(tg_buf *w, const char *key, int32_t v) {
    tg_key(w, key, G4_GGUF_INT32);
    tg_u32(w, (uint32_t)v);
}

void tg_kv_f32(tg_buf *w, const char *key, float v) {
    tg_key(w, key, G4_GGUF_FLOAT32);
    tg_f32(w, v);
}

void tg_kv_str(tg_buf *w, const char *key, const char *v) {
    tg_key(w, key, G4_GGUF_STRING);
    tg_str(w, v);
}

void tg_arr(tg_buf *w, const char *key, uint32_t elem_type, uint64_t n) {
    tg_key(w, key, G4_GGUF_ARRAY);
    tg_u32(w, elem_type);
    tg_u64(w, n);
}

void tg_tensor_info(tg_buf *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                    uint32_t type, uint64_t offset) {
    tg_str(w, name);
    tg_u32(w, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) tg_u64(w, ne[d]);
    tg_u32(w, type);
    tg_u64(w, offset);
}

void tg_pad_to(tg_buf *w, size_t align) {
    while (w->n % align) tg_u8(w, 0);
}

void tg_fill(tg_buf *w, size_t n) {
    for (size_t i = 0; i < n; i++) tg_u8(w, (uint8_t)i);
}
