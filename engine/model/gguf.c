/* gguf.c: the strict, zero-copy GGUF v2/v3 parser and its typed metadata getters.
 * Every read is bounds-checked against the buffer, every count is checked against
 * the bytes left before anything is allocated, and every size computation is
 * overflow-checked. Keys and tensor names are copied; values point into the buffer. */
#include "gguf.h"
#include "quant.h"
#include "../base/error.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32
/* Smallest possible encodings, used to bound counts before allocating:
 * a kv is a key length (8), a value type (4) and at least one value byte;
 * a tensor info is a name length (8), n_dims (4), one dim (8), type (4), offset (8). */
#define GGUF_MIN_KV_BYTES 13
#define GGUF_MIN_TENSOR_INFO_BYTES 32

/* ---- owned memory: a list of allocations freed together ------------------------ */

typedef struct owned_block {
    struct owned_block *next;
    max_align_t payload[];
} owned_block;

typedef struct {
    owned_block *blocks;
    const g4_gguf_kv **sorted_kv;   /* kv sorted by key, for lookups */
} gguf_owned;

static void *owned_calloc(gguf_owned *o, uint64_t count, size_t elem_size) {
    if (count == 0) count = 1;
    if (elem_size != 0 && count > (SIZE_MAX - sizeof(owned_block)) / elem_size) {
        g4_error("out of memory: %" PRIu64 " items of %zu bytes", count, elem_size);
        return NULL;
    }
    owned_block *b = calloc(1, sizeof(owned_block) + (size_t)count * elem_size);
    if (!b) {
        g4_error("out of memory allocating %" PRIu64 " items of %zu bytes", count, elem_size);
        return NULL;
    }
    b->next = o->blocks;
    o->blocks = b;
    return b->payload;
}

static void owned_free(gguf_owned *o) {
    if (!o) return;
    owned_block *b = o->blocks;
    while (b) {
        owned_block *next = b->next;
        free(b);
        b = next;
    }
    free(o);
}

/* ---- bounds-checked little-endian reader ------------------------------------- */

typedef struct {
    const unsigned char *buf;
    size_t size;
    size_t pos;
} reader;

static size_t bytes_left(const reader *r) { return r->size - r->pos; }

static int need(const reader *r, uint64_t n, const char *what) {
    if (n > bytes_left(r))
        return g4_error("truncated %s at byte %zu (needs %" PRIu64 " bytes, %zu left)",
                        what, r->pos, n, bytes_left(r));
    return 0;
}

static uint64_t load_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int read_u32(reader *r, uint32_t *out, const char *what) {
    if (need(r, 4, what)) return -1;
    *out = (uint32_t)load_le(r->buf + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int read_u64(reader *r, uint64_t *out, const char *what) {
    if (need(r, 8, what)) return -1;
    *out = load_le(r->buf + r->pos, 8);
    r->pos += 8;
    return 0;
}

/* A GGUF string: u64 length then the bytes. */
static int read_string(reader *r, const char **s, uint64_t *len, const char *what) {
    if (read_u64(r, len, what)) return -1;
    if (*len > bytes_left(r))
        return g4_error("truncated %s at byte %zu: length %" PRIu64 " but only %zu bytes left",
                        what, r->pos, *len, bytes_left(r));
    *s = (const char *)r->buf + r->pos;
    r->pos += (size_t)*len;
    return 0;
}

/* Copies a key or tensor name NUL-terminated into owned memory; NUL bytes inside are errors. */
static char *copy_name(gguf_owned *o, const char *s, uint64_t len, const char *what) {
    if (memchr(s, '\0', (size_t)len)) {
        g4_error("%s contains a NUL byte", what);
        return NULL;
    }
    char *copy = owned_calloc(o, len + 1, 1);
    if (copy) memcpy(copy, s, (size_t)len);
    return copy;
}

/* ---- value types -------------------------------------------------------------- */

static const char *type_name(uint32_t t) {
    static const char *const names[] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
    };
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Bytes of one scalar of type t, or 0 for string, array and unknown types. */
static size_t scalar_size(uint32_t t) {
    switch (t) {
    case G4_GGUF_UINT8: case G4_GGUF_INT8: case G4_GGUF_BOOL: return 1;
    case G4_GGUF_UINT16: case G4_GGUF_INT16: return 2;
    case G4_GGUF_UINT32: case G4_GGUF_INT32: case G4_GGUF_FLOAT32: return 4;
    case G4_GGUF_UINT64: case G4_GGUF_INT64: case G4_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static bool is_integer_type(uint32_t t) {
    return t == G4_GGUF_UINT8 || t == G4_GGUF_INT8 || t == G4_GGUF_UINT16 || t == G4_GGUF_INT16 ||
           t == G4_GGUF_UINT32 || t == G4_GGUF_INT32 || t == G4_GGUF_UINT64 || t == G4_GGUF_INT64;
}

static bool is_signed_type(uint32_t t) {
    return t == G4_GGUF_INT8 || t == G4_GGUF_INT16 || t == G4_GGUF_INT32 || t == G4_GGUF_INT64;
}

/* Decodes one scalar at p (size checked by the caller) into the kv number union. */
static void decode_scalar(uint32_t t, const unsigned char *p, g4_gguf_kv *kv) {
    uint64_t raw = load_le(p, (int)scalar_size(t));
    switch (t) {
    case G4_GGUF_INT8: kv->num.i = (int8_t)raw; break;
    case G4_GGUF_INT16: kv->num.i = (int16_t)raw; break;
    case G4_GGUF_INT32: kv->num.i = (int32_t)raw; break;
    case G4_GGUF_INT64: kv->num.i = (int64_t)raw; break;
    case G4_GGUF_FLOAT32: {
        uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, sizeof f);
        kv->num.f = f;
        break;
    }
    case G4_GGUF_FLOAT64: memcpy(&kv->num.f, &raw, sizeof raw); break;
    default: kv->num.u = raw; break;
    }
}

static int check_bools(const unsigned char *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1) return g4_error("bool value %u is not 0 or 1", p[i]);
    return 0;
}

static int read_array(reader *r, gguf_owned *o, g4_gguf_kv *kv) {
    uint32_t elem_type;
    if (read_u32(r, &elem_type, "array element type")) return -1;
    if (elem_type == G4_GGUF_ARRAY)
        return g4_error("arrays of arrays are not supported");
    if (elem_type != G4_GGUF_STRING && scalar_size(elem_type) == 0)
        return g4_error("array of unknown value type %" PRIu32, elem_type);
    uint64_t n;
    if (read_u64(r, &n, "array length")) return -1;
    kv->arr_type = (enum g4_gguf_type)elem_type;
    kv->arr_n = n;
    kv->arr_data = r->buf + r->pos;

    size_t min_elem = elem_type == G4_GGUF_STRING ? 8 : scalar_size(elem_type);
    if (n > bytes_left(r) / min_elem)
        return g4_error("array length %" PRIu64 " is impossible: the %zu bytes left hold at most "
                        "%zu %s elements", n, bytes_left(r), bytes_left(r) / min_elem,
                        type_name(elem_type));
    if (elem_type != G4_GGUF_STRING) {
        if (elem_type == G4_GGUF_BOOL && check_bools(r->buf + r->pos, n)) return -1;
        r->pos += (size_t)(n * min_elem);
        return 0;
    }
    kv->arr_str = owned_calloc(o, n, sizeof *kv->arr_str);
    kv->arr_str_len = owned_calloc(o, n, sizeof *kv->arr_str_len);
    if (!kv->arr_str || !kv->arr_str_len) return -1;
    for (uint64_t i = 0; i < n; i++)
        if (read_string(r, &kv->arr_str[i], &kv->arr_str_len[i], "string array element")) return -1;
    return 0;
}

static int read_kv(reader *r, gguf_owned *o, g4_gguf_kv *kv) {
    const char *key = NULL;
    uint64_t key_len = 0;
    if (read_string(r, &key, &key_len, "key")) return -1;
    if (!(kv->key = copy_name(o, key, key_len, "key"))) return -1;

    uint32_t type;
    if (read_u32(r, &type, "value type")) return -1;
    kv->type = (enum g4_gguf_type)type;
    if (type == G4_GGUF_STRING) return read_string(r, &kv->str, &kv->str_len, "string value");
    if (type == G4_GGUF_ARRAY) return read_array(r, o, kv);
    size_t n = scalar_size(type);
    if (n == 0) return g4_error("unknown value type %" PRIu32, type);
    if (need(r, n, "value")) return -1;
    if (type == G4_GGUF_BOOL && check_bools(r->buf + r->pos, 1)) return -1;
    decode_scalar(type, r->buf + r->pos, kv);
    r->pos += n;
    return 0;
}

static int by_key(const void *a, const void *b) {
    return strcmp((*(const g4_gguf_kv *const *)a)->key, (*(const g4_gguf_kv *const *)b)->key);
}

static int read_all_kv(reader *r, gguf_owned *o, g4_gguf *g) {
    if (g->n_kv > bytes_left(r) / GGUF_MIN_KV_BYTES)
        return g4_error("n_kv %" PRIu64 " is impossible: the %zu bytes left hold at most %zu "
                        "key/value pairs", g->n_kv, bytes_left(r), bytes_left(r) / GGUF_MIN_KV_BYTES);
    g->kv = owned_calloc(o, g->n_kv, sizeof *g->kv);
    o->sorted_kv = owned_calloc(o, g->n_kv, sizeof *o->sorted_kv);
    if (!g->kv || !o->sorted_kv) return -1;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (read_kv(r, o, &g->kv[i]))
            return g->kv[i].key ? g4_error_prefix("key '%s'", g->kv[i].key)
                                : g4_error_prefix("kv %" PRIu64, i);
        o->sorted_kv[i] = &g->kv[i];
    }
    if (g->n_kv > 1) qsort(o->sorted_kv, (size_t)g->n_kv, sizeof *o->sorted_kv, by_key);
    for (uint64_t i = 1; i < g->n_kv; i++)
        if (strcmp(o->sorted_kv[i - 1]->key, o->sorted_kv[i]->key) == 0)
            return g4_error("duplicate key '%s'", o->sorted_kv[i]->key);
    return 0;
}

static int read_alignment(g4_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const g4_gguf_kv *kv = g4_gguf_find(g, "general.alignment");
    if (!kv) return 0;
    if (kv->type != G4_GGUF_UINT32)
        return g4_error("general.alignment must be a u32, not %s", type_name(kv->type));
    if (kv->num.u == 0 || (kv->num.u & (kv->num.u - 1)) != 0)
        return g4_error("general.alignment %" PRIu64 " is not a nonzero power of two", kv->num.u);
    g->alignment = (size_t)kv->num.u;
    return 0;
}

/* ---- tensor infos --------------------------------------------------------------- */

static int read_tensor_info(reader *r, gguf_owned *o, g4_tensor *t, uint64_t *offset) {
    const char *name = NULL;
    uint64_t name_len = 0;
    if (read_string(r, &name, &name_len, "tensor name")) return -1;
    if (!(t->name = copy_name(o, name, name_len, "tensor name"))) return -1;

    uint32_t n_dims;
    if (read_u32(r, &n_dims, "tensor dimension count")) return -1;
    if (n_dims < 1 || n_dims > G4_MAX_DIMS)
        return g4_error("%" PRIu32 " dimensions (must be 1 to %d)", n_dims, G4_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t elements = 1;
    for (int d = 0; d < G4_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && read_u64(r, &ne, "tensor shape")) return -1;
        if (ne == 0) return g4_error("dimension %d is zero", d);
        if (ne > INT64_MAX / elements)
            return g4_error("shape overflows: dimension %d is %" PRIu64 " after %" PRIu64
                            " elements", d, ne, elements);
        elements *= ne;
        t->ne[d] = (int64_t)ne;
    }

    uint32_t type;
    if (read_u32(r, &type, "tensor type")) return -1;
    const g4_type_traits *traits = type < G4_TYPE_COUNT ? g4_type_info((int)type) : NULL;
    if (!traits)
        return g4_error("unknown or unsupported type id %" PRIu32, type);
    t->type = (enum g4_type)type;
    if (t->ne[0] % traits->block_size != 0)
        return g4_error("row of %" PRId64 " elements is not a multiple of the %s block size %d",
                        t->ne[0], traits->name, traits->block_size);
    return read_u64(r, offset, "tensor data offset");
}

/* Checks one tensor's offset and size against the data section and the file. */
static int place_tensor(const g4_gguf *g, const reader *r, g4_tensor *t, uint64_t offset) {
    if (offset % g->alignment != 0)
        return g4_error("tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %zu",
                        t->name, offset, g->alignment);
    size_t nbytes = g4_row_size(t->type, t->ne[0]);
    if (nbytes == 0)
        return g4_error("tensor '%s' row of %" PRId64 " elements overflows the byte size",
                        t->name, t->ne[0]);
    for (int d = 1; d < G4_MAX_DIMS; d++) {
        if ((uint64_t)t->ne[d] > SIZE_MAX / nbytes)
            return g4_error("tensor '%s' byte size overflows", t->name);
        nbytes *= (size_t)t->ne[d];
    }
    if (offset > UINT64_MAX - g->data_offset)
        return g4_error("tensor '%s' offset %" PRIu64 " overflows past the data section start %zu",
                        t->name, offset, g->data_offset);
    uint64_t start = g->data_offset + offset;
    if (start > r->size || nbytes > r->size - start)
        return g4_error("tensor '%s' data [offset %" PRIu64 ", %zu bytes] extends past the end "
                        "of the file (%zu bytes)", t->name, start, nbytes, r->size);
    t->data = r->buf + start;
    t->nbytes = nbytes;
    return 0;
}

static int read_tensors(reader *r, gguf_owned *o, g4_gguf *g, uint64_t n_tensors) {
    if (n_tensors > bytes_left(r) / GGUF_MIN_TENSOR_INFO_BYTES)
        return g4_error("n_tensors %" PRIu64 " is impossible: the %zu bytes left hold at most %zu "
                        "tensor infos", n_tensors, bytes_left(r),
                        bytes_left(r) / GGUF_MIN_TENSOR_INFO_BYTES);
    g->tensors.tensors = owned_calloc(o, n_tensors, sizeof *g->tensors.tensors);
    uint64_t *offsets = owned_calloc(o, n_tensors, sizeof *offsets);
    if (!g->tensors.tensors || !offsets) return -1;
    g->tensors.n = (size_t)n_tensors;
    for (uint64_t i = 0; i < n_tensors; i++)
        if (read_tensor_info(r, o, &g->tensors.tensors[i], &offsets[i]))
            return g->tensors.tensors[i].name
                       ? g4_error_prefix("tensor '%s'", g->tensors.tensors[i].name)
                       : g4_error_prefix("tensor info %" PRIu64, i);

    size_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    if (r->pos > SIZE_MAX - pad) return g4_error("data section offset overflows");
    g->data_offset = r->pos + pad;
    for (uint64_t i = 0; i < n_tensors; i++)
        if (place_tensor(g, r, &g->tensors.tensors[i], offsets[i])) return -1;
    return g4_tensor_set_sort(&g->tensors);
}

/* ---- parse / open / close ----------------------------------------------------- */

static int parse(g4_gguf *g, gguf_owned *o, const void *buf, size_t size) {
    reader r = { buf, size, 0 };
    if (need(&r, 4, "header")) return -1;
    if (memcmp(r.buf, "GGUF", 4) != 0)
        return g4_error("bad magic: not a GGUF file (starts with %02x %02x %02x %02x)",
                        r.buf[0], r.buf[1], r.buf[2], r.buf[3]);
    r.pos = 4;
    if (read_u32(&r, &g->version, "header")) return -1;
    if (g->version == 1)
        return g4_error("GGUF version 1 is not supported (only versions 2 and 3); "
                        "convert the file again with a current llama.cpp");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version != 0)
            return g4_error("unsupported GGUF version %" PRIu32 " (looks like a big-endian file; "
                            "only little-endian versions 2 and 3 are supported)", g->version);
        return g4_error("unsupported GGUF version %" PRIu32 " (only versions 2 and 3)", g->version);
    }
    uint64_t n_tensors;
    if (read_u64(&r, &n_tensors, "header") || read_u64(&r, &g->n_kv, "header")) return -1;
    if (read_all_kv(&r, o, g) || read_alignment(g)) return -1;
    return read_tensors(&r, o, g, n_tensors);
}

int g4_gguf_parse(g4_gguf *out, const void *buf, size_t size) {
    memset(out, 0, sizeof *out);
    gguf_owned *o = calloc(1, sizeof *o);
    if (!o) return g4_error("out of memory");
    out->owned = o;
    if (parse(out, o, buf, size) != 0) {
        owned_free(o);
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int g4_gguf_open(g4_gguf *out, const char *path) {
    memset(out, 0, sizeof *out);
    g4_mapped_file file;
    if (g4_map_file(&file, path)) return -1;
    if (g4_gguf_parse(out, file.data, file.size)) {
        g4_unmap_file(&file);
        return g4_error_prefix("%s", path);
    }
    out->file = file;
    return 0;
}

void g4_gguf_close(g4_gguf *g) {
    if (!g) return;
    owned_free(g->owned);
    g4_unmap_file(&g->file);
    memset(g, 0, sizeof *g);
}

/* ---- lookups and typed getters ------------------------------------------------- */

const g4_gguf_kv *g4_gguf_find(const g4_gguf *g, const char *key) {
    const gguf_owned *o = g->owned;
    if (!o || !o->sorted_kv) return NULL;
    size_t lo = 0, hi = (size_t)g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, o->sorted_kv[mid]->key);
        if (c == 0) return o->sorted_kv[mid];
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return NULL;
}

int g4_gguf_get_u32(const g4_gguf *g, const char *key, uint32_t *out) {
    const g4_gguf_kv *kv = g4_gguf_find(g, key);
    if (!kv) return 0;
    if (!is_integer_type(kv->type))
        return g4_error("key '%s' is a %s, expected an integer", key, type_name(kv->type));
    if (is_signed_type(kv->type) ? (kv->num.i < 0 || kv->num.i > (int64_t)UINT32_MAX)
                                 : kv->num.u > UINT32_MAX)
        return g4_error("key '%s' value does not fit in a u32", key);
    *out = (uint32_t)(is_signed_type(kv->type) ? (uint64_t)kv->num.i : kv->num.u);
    return 1;
}

static int double_to_f32(double v, float *out, const char *what) {
    if (isfinite(v) && fabs(v) > FLT_MAX) return g4_error("%s value %g does not fit in an f32", what, v);
    *out = (float)v;
    return 1;
}

int g4_gguf_get_f32(const g4_gguf *g, const char *key, float *out) {
    const g4_gguf_kv *kv = g4_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != G4_GGUF_FLOAT32 && kv->type != G4_GGUF_FLOAT64)
        return g4_error("key '%s' is a %s, expected a float", key, type_name(kv->type));
    return double_to_f32(kv->num.f, out, key);
}

int g4_gguf_get_bool(const g4_gguf *g, const char *key, bool *out) {
    const g4_gguf_kv *kv = g4_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != G4_GGUF_BOOL)
        return g4_error("key '%s' is a %s, expected a bool", key, type_name(kv->type));
    *out = kv->num.u != 0;
    return 1;
}

int g4_gguf_get_str(const g4_gguf *g, const char *key, char *out, size_t cap) {
    const g4_gguf_kv *kv = g4_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != G4_GGUF_STRING)
        return g4_error("key '%s' is a %s, expected a string", key, type_name(kv->type));
    if (kv->str_len >= cap)
        return g4_error("key '%s' string of %" PRIu64 " bytes does not fit in %zu bytes",
                        key, kv->str_len, cap);
    if (memchr(kv->str, '\0', (size_t)kv->str_len))
        return g4_error("key '%s' string contains a NUL byte", key);
    memcpy(out, kv->str, (size_t)kv->str_len);
    out[kv->str_len] = '\0';
    return 1;
}

/* Checks that kv is an array and i a valid index; returns the element's bytes. */
static const unsigned char *array_element(const g4_gguf_kv *kv, uint64_t i) {
    if (!kv) {
        g4_error("missing array");
        return NULL;
    }
    if (kv->type != G4_GGUF_ARRAY) {
        g4_error("key '%s' is a %s, expected an array", kv->key, type_name(kv->type));
        return NULL;
    }
    if (i >= kv->arr_n) {
        g4_error("index %" PRIu64 " is out of range for array '%s' of %" PRIu64 " elements",
                 i, kv->key, kv->arr_n);
        return NULL;
    }
    size_t n = scalar_size(kv->arr_type);
    if (n == 0) {
        g4_error("array '%s' holds %ss, not numbers", kv->key, type_name(kv->arr_type));
        return NULL;
    }
    return (const unsigned char *)kv->arr_data + i * n;
}

int g4_gguf_arr_get_i64(const g4_gguf_kv *kv, uint64_t i, int64_t *out) {
    const unsigned char *p = array_element(kv, i);
    if (!p) return -1;
    uint32_t t = kv->arr_type;
    if (!is_integer_type(t) && t != G4_GGUF_BOOL)
        return g4_error("array '%s' holds %ss, expected integers", kv->key, type_name(t));
    g4_gguf_kv value = { .key = kv->key };
    decode_scalar(t, p, &value);
    if (!is_signed_type(t) && value.num.u > INT64_MAX)
        return g4_error("array '%s' element %" PRIu64 " does not fit in an i64", kv->key, i);
    *out = value.num.i;
    return 1;
}

int g4_gguf_arr_get_f32(const g4_gguf_kv *kv, uint64_t i, float *out) {
    const unsigned char *p = array_element(kv, i);
    if (!p) return -1;
    if (kv->arr_type != G4_GGUF_FLOAT32 && kv->arr_type != G4_GGUF_FLOAT64)
        return g4_error("array '%s' holds %ss, expected floats", kv->key, type_name(kv->arr_type));
    g4_gguf_kv value = { .key = kv->key };
    decode_scalar(kv->arr_type, p, &value);
    return double_to_f32(value.num.f, out, kv->key);
}
