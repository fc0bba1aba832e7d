/* ggufimage.h: building GGUF images in memory for tests, including deliberately
 * malformed ones. Every writer appends little-endian bytes to a growable buffer and
 * checks nothing, so a test can write any field out of order, with any count or
 * length, or cut short; the higher-level writers (header, kv pairs, array headers,
 * tensor infos) are plain sequences of the lower-level ones. */
#ifndef G4_GGUFIMAGE_H
#define G4_GGUFIMAGE_H

#include <stddef.h>
#include <stdint.h>

/* The image: p[0 .. n) written so far. Start from { 0 }; tg_free releases it and
 * leaves it empty again, ready for the next image. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
} tg_buf;

void tg_free(tg_buf *w);

/* Raw bytes and little-endian scalars (tg_le: the low `bytes` bytes of v). */
void tg_put(tg_buf *w, const void *data, size_t n);
void tg_le(tg_buf *w, uint64_t v, int bytes);
void tg_u8(tg_buf *w, uint8_t v);
void tg_u32(tg_buf *w, uint32_t v);
void tg_u64(tg_buf *w, uint64_t v);
void tg_f32(tg_buf *w, float v);    /* the IEEE bits, as a u32 */
void tg_f64(tg_buf *w, double v);   /* the IEEE bits, as a u64 */

/* A GGUF string: u64 length, then the bytes (tg_str_n may hold NULs). */
void tg_str_n(tg_buf *w, const char *s, size_t n);
void tg_str(tg_buf *w, const char *s);

/* "GGUF", u32 version, u64 tensor count, u64 kv count. */
void tg_header(tg_buf *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv);

/* A kv pair's key and u32 value type; the caller writes the value. */
void tg_key(tg_buf *w, const char *key, uint32_t type);

/* Whole kv pairs. */
void tg_kv_u32(tg_buf *w, const char *key, uint32_t v);
void tg_kv_i32(tg_buf *w, const char *key, int32_t v);
void tg_kv_f32(tg_buf *w, const char *key, float v);
void tg_kv_str(tg_buf *w, const char *key, const char *v);

/* An array kv pair's key, type, element type and count; the caller writes the n
 * elements (or not). */
void tg_arr(tg_buf *w, const char *key, uint32_t elem_type, uint64_t n);

/* A tensor info: name, u32 n_dims, n_dims u64 extents, u32 type, u64 offset. */
void tg_tensor_info(tg_buf *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                    uint32_t type, uint64_t offset);

/* Zero bytes up to the next multiple of align (of the whole image). */
void tg_pad_to(tg_buf *w, size_t align);

/* n filler bytes 0, 1, 2, ... (mod 256): tensor data, or room after a field whose
 * declared size is what the test is about. */
void tg_fill(tg_buf *w, size_t n);

#endif
