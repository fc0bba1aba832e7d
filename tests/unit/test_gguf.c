/* test_gguf.c: the GGUF parser against the shared fixture files (values checked
 * against what the converter wrote, and tensor bytes against the safetensors copy),
 * and against small malformed images built here, one per class of defect. */
#include "testutil.h"
#include "ggufimage.h"

#include "gemma4.h"
#include "model/gguf.h"
#include "model/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A valid image using every value type: two F32 tensors and one F16. */
static void build_valid(tg_buf *w) {
    tg_header(w, 3, 3, 15);
    tg_kv_str(w, "general.architecture", "gemma4");
    tg_kv_u32(w, "general.alignment", 32);
    tg_key(w, "k.u8", G4_GGUF_UINT8); tg_u8(w, 200);
    tg_key(w, "k.i8", G4_GGUF_INT8); tg_u8(w, 0xfe);
    tg_key(w, "k.u16", G4_GGUF_UINT16); tg_le(w, 60000, 2);
    tg_key(w, "k.i16", G4_GGUF_INT16); tg_le(w, 0xfffd, 2);
    tg_kv_i32(w, "k.i32", -7);
    tg_kv_f32(w, "k.f32", 1.5f);
    tg_key(w, "k.bool", G4_GGUF_BOOL); tg_u8(w, 1);
    tg_key(w, "k.u64", G4_GGUF_UINT64); tg_u64(w, 1ull << 40);
    tg_key(w, "k.i64", G4_GGUF_INT64); tg_u64(w, (uint64_t)-5);
    tg_key(w, "k.f64", G4_GGUF_FLOAT64); tg_f64(w, 0.25);
    tg_arr(w, "k.strs", G4_GGUF_STRING, 3);
    tg_str(w, "a"); tg_str(w, ""); tg_str(w, "ccc");
    tg_arr(w, "k.ints", G4_GGUF_INT32, 3);
    tg_u32(w, 1); tg_u32(w, (uint32_t)-2); tg_u32(w, 3);
    tg_arr(w, "k.bools", G4_GGUF_BOOL, 2);
    tg_u8(w, 1); tg_u8(w, 0);
    tg_tensor_info(w, "b.weight", 2, (const uint64_t[]){ 4, 2 }, G4_TYPE_F32, 0);
    tg_tensor_info(w, "a.weight", 1, (const uint64_t[]){ 8 }, G4_TYPE_F16, 32);
    tg_tensor_info(w, "c.weight", 3, (const uint64_t[]){ 2, 2, 2 }, G4_TYPE_F32, 64);
    tg_pad_to(w, 32);
    tg_fill(w, 96);
}

/* One tensor, no kv: the base for tensor-info defects. */
static void build_one_tensor(tg_buf *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                             uint32_t type, uint64_t offset, size_t data_bytes) {
    tg_header(w, 3, 1, 0);
    tg_tensor_info(w, name, n_dims, ne, type, offset);
    tg_pad_to(w, 32);
    tg_fill(w, data_bytes);
}

static int is_zeroed(const g4_gguf *g) {
    g4_gguf zero;
    memset(&zero, 0, sizeof zero);
    return memcmp(g, &zero, sizeof zero) == 0;
}

/* Parsing must fail, leave the result empty, and name the problem. */
static void expect_fail(tg_buf *w, const char *words) {
    g4_gguf g;
    int rc = g4_gguf_parse(&g, w->p, w->n);
    if (rc == 0 || !strstr(g4_last_error(), words))
        fail_msg("expected failure with '%s', got rc %d: '%s'", words, rc, g4_last_error());
    assert_true(is_zeroed(&g));
    tg_free(w);
}

/* ---- fixtures ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    size_t n_tensors;
    uint32_t block_count;
    int64_t embd;
    int type;
    int64_t head_count_kv[6];   /* 0: a scalar u32 (head_count_kv[1] holds it) */
} fixture;

static const fixture fixtures[] = {
    { "dense-bf16", 87, 6, 64, G4_TYPE_BF16, { 0, 2 } },
    { "dense-tiny", 87, 6, 64, G4_TYPE_F32, { 0, 2 } },
    { "keqv", 86, 6, 96, G4_TYPE_F32, { 4, 4, 4, 4, 4, 1 } },
    { "moe", 134, 6, 64, G4_TYPE_F32, { 2, 2, 2, 2, 2, 1 } },
    { "ple-kvshare", 161, 10, 64, G4_TYPE_F32, { 0, 1 } },
};

static void test_fixture_models(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    for (size_t m = 0; m < sizeof fixtures / sizeof fixtures[0]; m++) {
        const fixture *fx = &fixtures[m];
        g4_gguf g;
        const char *path = tu_path("%s/fixtures/models/%s/model.gguf", tu_shared(), fx->name);
        if (g4_gguf_open(&g, path) != 0) fail_msg("%s: %s", path, g4_last_error());
        assert_int_equal(g.version, 3);
        assert_int_equal(g.alignment, 32);
        assert_int_equal(g.data_offset % 32, 0);
        assert_int_equal(g.tensors.n, fx->n_tensors);

        uint32_t u;
        assert_int_equal(g4_gguf_get_u32(&g, "gemma4.block_count", &u), 1);
        assert_int_equal(u, fx->block_count);
        char arch[32];
        assert_int_equal(g4_gguf_get_str(&g, "general.architecture", arch, sizeof arch), 1);
        assert_string_equal(arch, "gemma4");
        float eps;
        assert_int_equal(g4_gguf_get_f32(&g, "gemma4.attention.layer_norm_rms_epsilon", &eps), 1);
        assert_float_equal(eps, 1e-6f, 1e-12f);
        assert_int_equal(g4_gguf_get_u32(&g, "no.such.key", &u), 0);

        const g4_gguf_kv *hkv = g4_gguf_find(&g, "gemma4.attention.head_count_kv");
        assert_non_null(hkv);
        if (fx->head_count_kv[0] == 0) {
            assert_int_equal(g4_gguf_get_u32(&g, "gemma4.attention.head_count_kv", &u), 1);
            assert_int_equal(u, fx->head_count_kv[1]);
        } else {
            assert_int_equal(hkv->type, G4_GGUF_ARRAY);
            assert_int_equal(hkv->arr_n, 6);
            for (int i = 0; i < 6; i++) {
                int64_t v;
                assert_int_equal(g4_gguf_arr_get_i64(hkv, (uint64_t)i, &v), 1);
                assert_int_equal(v, fx->head_count_kv[i]);
            }
            int64_t v;
            assert_int_equal(g4_gguf_arr_get_i64(hkv, 6, &v), -1);
        }
        const g4_gguf_kv *swa = g4_gguf_find(&g, "gemma4.attention.sliding_window_pattern");
        assert_non_null(swa);
        assert_int_equal(swa->arr_type, G4_GGUF_BOOL);
        int64_t last;
        assert_int_equal(g4_gguf_arr_get_i64(swa, swa->arr_n - 1, &last), 1);
        assert_int_equal(last, 0);

        const g4_gguf_kv *tokens = g4_gguf_find(&g, "tokenizer.ggml.tokens");
        assert_non_null(tokens);
        assert_int_equal(tokens->arr_type, G4_GGUF_STRING);
        assert_int_equal(tokens->arr_n, 512);
        assert_int_equal(tokens->arr_str_len[2], 5);
        assert_memory_equal(tokens->arr_str[2], "<bos>", 5);
        const g4_gguf_kv *scores = g4_gguf_find(&g, "tokenizer.ggml.scores");
        float score;
        assert_int_equal(g4_gguf_arr_get_f32(scores, 0, &score), 1);
        assert_float_equal(score, -1000.0f, 0);

        const g4_tensor *t = g4_tensor_set_find(&g.tensors, "token_embd.weight");
        assert_non_null(t);
        assert_int_equal(t->n_dims, 2);
        assert_int_equal(t->ne[0], fx->embd);
        assert_int_equal(t->ne[1], 512);
        assert_int_equal(t->ne[2], 1);
        assert_int_equal(t->type, fx->type);
        assert_int_equal(t->nbytes, (size_t)(fx->embd * 512 * (fx->type == G4_TYPE_F32 ? 4 : 2)));
        assert_true((const unsigned char *)t->data >= g.file.data + g.data_offset);
        assert_true((const unsigned char *)t->data + t->nbytes <= g.file.data + g.file.size);
        t = g4_tensor_set_find(&g.tensors, "blk.0.attn_q.weight");
        assert_non_null(t);
        assert_int_equal(t->ne[0], fx->embd);

        /* The bytes must match the safetensors copy of the same weights. */
        if (fx->type == G4_TYPE_F32 && strcmp(fx->name, "keqv") != 0) {
            g4_st_dir st;
            if (g4_st_open_dir(&st, tu_path("%s/fixtures/models/%s", tu_shared(), fx->name)))
                fail_msg("%s", g4_last_error());
            const g4_tensor *ref = g4_tensor_set_find(&st.tensors,
                                                      "model.language_model.embed_tokens.weight");
            t = g4_tensor_set_find(&g.tensors, "token_embd.weight");
            assert_non_null(ref);
            assert_int_equal(ref->nbytes, t->nbytes);
            assert_memory_equal(ref->data, t->data, t->nbytes);
            g4_st_close_dir(&st);
        }
        g4_gguf_close(&g);
        assert_true(is_zeroed(&g));
    }
}

static void test_fixture_vocab(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    g4_gguf g;
    const char *path = tu_path("%s/fixtures/vocab/ggml-vocab-gemma-4.gguf", tu_shared());
    if (g4_gguf_open(&g, path) != 0) fail_msg("%s", g4_last_error());
    assert_int_equal(g.tensors.n, 0);
    assert_int_equal(g.n_kv, 42);
    const g4_gguf_kv *tokens = g4_gguf_find(&g, "tokenizer.ggml.tokens");
    assert_non_null(tokens);
    assert_int_equal(tokens->arr_n, 262144);
    assert_int_equal(tokens->arr_str_len[0], 5);
    assert_memory_equal(tokens->arr_str[0], "<pad>", 5);
    assert_memory_equal(tokens->arr_str[1], "<eos>", 5);
    const g4_gguf_kv *merges = g4_gguf_find(&g, "tokenizer.ggml.merges");
    assert_int_equal(merges->arr_n, 514906);
    const g4_gguf_kv *hkv = g4_gguf_find(&g, "gemma4.attention.head_count_kv");
    assert_int_equal(hkv->arr_n, 30);
    int64_t v;
    assert_int_equal(g4_gguf_arr_get_i64(hkv, 0, &v), 1);
    assert_int_equal(v, 8);
    assert_int_equal(g4_gguf_arr_get_i64(hkv, 5, &v), 1);
    assert_int_equal(v, 2);
    uint32_t u;
    assert_int_equal(g4_gguf_get_u32(&g, "gemma4.expert_count", &u), 1);
    assert_int_equal(u, 128);
    g4_gguf_close(&g);
}

static void test_open_missing_file(void **state) {
    (void)state;
    g4_gguf g;
    assert_int_equal(g4_gguf_open(&g, "/nonexistent/dir/model.gguf"), -1);
    assert_non_null(strstr(g4_last_error(), "/nonexistent/dir/model.gguf"));
    assert_true(is_zeroed(&g));
}

/* ---- valid images and getters ------------------------------------------------------- */

static void test_valid_image_and_getters(void **state) {
    (void)state;
    tg_buf w = { 0 };
    build_valid(&w);
    g4_gguf g;
    if (g4_gguf_parse(&g, w.p, w.n)) fail_msg("%s", g4_last_error());
    assert_int_equal(g.n_kv, 15);
    assert_int_equal(g.tensors.n, 3);
    assert_string_equal(g.tensors.tensors[0].name, "a.weight");   /* sorted */
    assert_int_equal(g.tensors.tensors[0].nbytes, 16);
    assert_int_equal(g.tensors.tensors[1].nbytes, 32);
    assert_ptr_equal(g.tensors.tensors[1].data, w.p + g.data_offset);
    assert_int_equal(g.tensors.tensors[2].n_dims, 3);
    assert_int_equal(g.tensors.tensors[2].ne[3], 1);
    assert_string_equal(g.kv[0].key, "general.architecture");     /* file order */

    uint32_t u;
    float f;
    bool b;
    char s[8];
    int64_t i;
    assert_int_equal(g4_gguf_get_u32(&g, "k.u8", &u), 1);
    assert_int_equal(u, 200);
    assert_int_equal(g4_gguf_get_u32(&g, "k.u16", &u), 1);
    assert_int_equal(u, 60000);
    assert_int_equal(g4_gguf_get_u32(&g, "k.i8", &u), -1);   /* -2 does not fit */
    assert_non_null(strstr(g4_last_error(), "does not fit"));
    assert_int_equal(g4_gguf_get_u32(&g, "k.u64", &u), -1);
    assert_int_equal(g4_gguf_get_u32(&g, "k.f32", &u), -1);
    assert_non_null(strstr(g4_last_error(), "expected an integer"));
    assert_int_equal(g4_gguf_find(&g, "k.i16")->num.i, -3);
    assert_int_equal(g4_gguf_find(&g, "k.i64")->num.i, -5);
    assert_int_equal(g4_gguf_get_f32(&g, "k.f32", &f), 1);
    assert_float_equal(f, 1.5f, 0);
    assert_int_equal(g4_gguf_get_f32(&g, "k.f64", &f), 1);
    assert_float_equal(f, 0.25f, 0);
    assert_int_equal(g4_gguf_get_f32(&g, "k.u8", &f), -1);
    assert_int_equal(g4_gguf_get_bool(&g, "k.bool", &b), 1);
    assert_true(b);
    assert_int_equal(g4_gguf_get_bool(&g, "k.u8", &b), -1);
    assert_int_equal(g4_gguf_get_str(&g, "general.architecture", s, sizeof s), 1);
    assert_string_equal(s, "gemma4");
    assert_int_equal(g4_gguf_get_str(&g, "general.architecture", s, 6), -1);
    assert_non_null(strstr(g4_last_error(), "does not fit"));
    assert_int_equal(g4_gguf_get_str(&g, "k.u8", s, sizeof s), -1);

    const g4_gguf_kv *strs = g4_gguf_find(&g, "k.strs");
    assert_int_equal(strs->arr_n, 3);
    assert_int_equal(strs->arr_str_len[1], 0);
    assert_memory_equal(strs->arr_str[2], "ccc", 3);
    assert_int_equal(g4_gguf_arr_get_i64(strs, 0, &i), -1);
    const g4_gguf_kv *ints = g4_gguf_find(&g, "k.ints");
    assert_int_equal(g4_gguf_arr_get_i64(ints, 1, &i), 1);
    assert_int_equal(i, -2);
    assert_int_equal(g4_gguf_arr_get_i64(ints, 3, &i), -1);
    assert_non_null(strstr(g4_last_error(), "out of range"));
    assert_int_equal(g4_gguf_arr_get_f32(ints, 0, &f), -1);
    const g4_gguf_kv *bools = g4_gguf_find(&g, "k.bools");
    assert_int_equal(g4_gguf_arr_get_i64(bools, 0, &i), 1);
    assert_int_equal(i, 1);
    assert_int_equal(g4_gguf_arr_get_i64(g4_gguf_find(&g, "k.u8"), 0, &i), -1);
    g4_gguf_close(&g);
    tg_free(&w);
}

static void test_version2_and_custom_alignment(void **state) {
    (void)state;
    tg_buf w = { 0 };
    tg_header(&w, 2, 1, 1);
    tg_kv_u32(&w, "general.alignment", 64);
    tg_tensor_info(&w, "t", 1, (const uint64_t[]){ 32 }, G4_TYPE_Q8_0, 64);
    tg_pad_to(&w, 64);
    tg_fill(&w, 64 + 34);
    g4_gguf g;
    if (g4_gguf_parse(&g, w.p, w.n)) fail_msg("%s", g4_last_error());
    assert_int_equal(g.version, 2);
    assert_int_equal(g.alignment, 64);
    assert_int_equal(g.data_offset % 64, 0);
    assert_int_equal(g.tensors.tensors[0].nbytes, 34);
    assert_ptr_equal(g.tensors.tensors[0].data, w.p + g.data_offset + 64);
    g4_gguf_close(&g);
    tg_free(&w);
}

/* ---- malformed images ------------------------------------------------------------------ */

static void test_bad_magic_and_version(void **state) {
    (void)state;
    tg_buf w = { 0 };
    build_valid(&w);
    w.p[0] = 'X';
    expect_fail(&w, "bad magic");

    tg_header(&w, 1, 0, 0);
    expect_fail(&w, "version 1 is not supported");
    tg_header(&w, 4, 0, 0);
    expect_fail(&w, "unsupported GGUF version 4");
    tg_header(&w, 0x03000000, 0, 0);
    expect_fail(&w, "big-endian");
    tg_put(&w, "GGU", 3);
    expect_fail(&w, "truncated header");
    expect_fail(&w, "truncated header");   /* empty buffer */
}

static void test_every_truncation_fails(void **state) {
    (void)state;
    tg_buf w = { 0 };
    build_valid(&w);
    for (size_t n = 0; n < w.n; n++) {
        g4_gguf g;
        unsigned char *copy = malloc(n ? n : 1);   /* exact size, so ASan sees overreads */
        memcpy(copy, w.p, n);
        if (g4_gguf_parse(&g, copy, n) == 0) fail_msg("prefix of %zu bytes parsed", n);
        free(copy);
        const char *e = g4_last_error();
        if (!strstr(e, "truncated") && !strstr(e, "past the end") && !strstr(e, "impossible"))
            fail_msg("prefix of %zu bytes: unexpected error '%s'", n, e);
        assert_true(is_zeroed(&g));
    }
    tg_free(&w);
}

static void test_huge_counts_and_lengths(void **state) {
    (void)state;
    tg_buf w = { 0 };
    tg_header(&w, 3, 0, UINT64_MAX);
    expect_fail(&w, "n_kv 18446744073709551615 is impossible");
    tg_header(&w, 3, 1ull << 40, 0);
    tg_fill(&w, 100);
    expect_fail(&w, "n_tensors 1099511627776 is impossible");
    tg_header(&w, 3, 0, 1);
    tg_arr(&w, "k", G4_GGUF_UINT32, 1ull << 62);
    tg_fill(&w, 64);
    expect_fail(&w, "key 'k': array length 4611686018427387904 is impossible");
    tg_header(&w, 3, 0, 1);
    tg_arr(&w, "k", G4_GGUF_STRING, 100);
    tg_fill(&w, 64);
    expect_fail(&w, "key 'k': array length 100 is impossible");
    tg_header(&w, 3, 0, 1);
    tg_u64(&w, UINT64_MAX);
    tg_fill(&w, 64);
    expect_fail(&w, "kv 0: truncated key");
    tg_header(&w, 3, 0, 1);
    tg_key(&w, "k", G4_GGUF_STRING); tg_u64(&w, 1ull << 63);
    tg_fill(&w, 64);
    expect_fail(&w, "key 'k': truncated string value");
    tg_header(&w, 3, 0, 1);
    tg_arr(&w, "k", G4_GGUF_STRING, 2);
    tg_str(&w, "x"); tg_u64(&w, 1000); tg_fill(&w, 8);
    expect_fail(&w, "truncated string array element");
}

static void test_bad_value_types(void **state) {
    (void)state;
    tg_buf w = { 0 };
    tg_header(&w, 3, 0, 1);
    tg_key(&w, "k", 13); tg_u64(&w, 0);
    expect_fail(&w, "key 'k': unknown value type 13");
    tg_header(&w, 3, 0, 1);
    tg_arr(&w, "k", 99, 0);
    expect_fail(&w, "key 'k': array of unknown value type 99");
    tg_header(&w, 3, 0, 1);
    tg_arr(&w, "k", G4_GGUF_ARRAY, 1);
    tg_u32(&w, G4_GGUF_UINT8); tg_u64(&w, 0);
    expect_fail(&w, "key 'k': arrays of arrays are not supported");
    tg_header(&w, 3, 0, 1);
    tg_key(&w, "k", G4_GGUF_BOOL); tg_u8(&w, 2);
    expect_fail(&w, "key 'k': bool value 2 is not 0 or 1");
    tg_header(&w, 3, 0, 1);
    tg_arr(&w, "k", G4_GGUF_BOOL, 2);
    tg_u8(&w, 0); tg_u8(&w, 7);
    expect_fail(&w, "bool value 7");
}

static void test_bad_tensor_infos(void **state) {
    (void)state;
    tg_buf w = { 0 };
    build_one_tensor(&w, "blk.0.attn_q.weight", 1, (const uint64_t[]){ 4 }, 4, 0, 64);
    expect_fail(&w, "tensor 'blk.0.attn_q.weight': unknown or unsupported type id 4");
    build_one_tensor(&w, "t", 1, (const uint64_t[]){ 4 }, 0xffffffffu, 0, 64);
    expect_fail(&w, "unknown or unsupported type id 4294967295");
    build_one_tensor(&w, "t", 0, NULL, G4_TYPE_F32, 0, 64);
    expect_fail(&w, "tensor 't': 0 dimensions (must be 1 to 4)");
    build_one_tensor(&w, "t", 5, (const uint64_t[]){ 1, 1, 1, 1, 1 }, G4_TYPE_F32, 0, 64);
    expect_fail(&w, "tensor 't': 5 dimensions");
    build_one_tensor(&w, "t", 2, (const uint64_t[]){ 4, 0 }, G4_TYPE_F32, 0, 64);
    expect_fail(&w, "tensor 't': dimension 1 is zero");
    build_one_tensor(&w, "t", 3, (const uint64_t[]){ 1ull << 30, 1ull << 30, 1ull << 30 },
                     G4_TYPE_F32, 0, 64);
    expect_fail(&w, "shape overflows");
    build_one_tensor(&w, "t", 1, (const uint64_t[]){ UINT64_MAX }, G4_TYPE_F32, 0, 64);
    expect_fail(&w, "shape overflows");
    build_one_tensor(&w, "t", 2, (const uint64_t[]){ 1ull << 61, 2 }, G4_TYPE_F32, 0, 64);
    expect_fail(&w, "tensor 't' byte size overflows");   /* elements fit in int64, bytes do not */
    build_one_tensor(&w, "t", 1, (const uint64_t[]){ 1ull << 62 }, G4_TYPE_F32, 0, 64);
    expect_fail(&w, "tensor 't' row of 4611686018427387904 elements overflows the byte size");
    build_one_tensor(&w, "t", 1, (const uint64_t[]){ 16 }, G4_TYPE_Q8_0, 0, 64);
    expect_fail(&w, "tensor 't': row of 16 elements is not a multiple of the Q8_0 block size 32");
    build_one_tensor(&w, "t", 1, (const uint64_t[]){ 4 }, G4_TYPE_F32, 4, 64);
    expect_fail(&w, "offset 4 is not a multiple of the alignment 32");
    build_one_tensor(&w, "blk.0.attn_q.weight", 2, (const uint64_t[]){ 16, 4 }, G4_TYPE_F32, 32, 64);
    expect_fail(&w, "tensor 'blk.0.attn_q.weight' data [offset 128, 256 bytes] extends past the end "
                    "of the file (160 bytes)");
    build_one_tensor(&w, "t", 1, (const uint64_t[]){ 4 }, G4_TYPE_F32, UINT64_MAX - 31, 64);
    expect_fail(&w, "overflows past the data section start");
    build_one_tensor(&w, "t", 1, (const uint64_t[]){ 4 }, G4_TYPE_F32, 1ull << 62, 64);
    expect_fail(&w, "extends past the end of the file");
}

static void test_bad_alignment(void **state) {
    (void)state;
    const uint32_t bad[] = { 0, 3, 48 };
    tg_buf w = { 0 };
    for (size_t i = 0; i < 3; i++) {
        tg_header(&w, 3, 0, 1);
        tg_kv_u32(&w, "general.alignment", bad[i]);
        expect_fail(&w, "is not a nonzero power of two");
    }
    tg_header(&w, 3, 0, 1);
    tg_key(&w, "general.alignment", G4_GGUF_UINT64); tg_u64(&w, 32);
    expect_fail(&w, "general.alignment must be a u32, not u64");
}

static void test_duplicates_and_nul(void **state) {
    (void)state;
    tg_buf w = { 0 };
    tg_header(&w, 3, 2, 0);
    tg_tensor_info(&w, "same", 1, (const uint64_t[]){ 4 }, G4_TYPE_F32, 0);
    tg_tensor_info(&w, "same", 1, (const uint64_t[]){ 4 }, G4_TYPE_F32, 32);
    tg_pad_to(&w, 32);
    tg_fill(&w, 64);
    expect_fail(&w, "duplicate tensor name 'same'");

    tg_header(&w, 3, 0, 3);
    tg_kv_u32(&w, "a", 1);
    tg_kv_u32(&w, "b", 1);
    tg_kv_u32(&w, "a", 2);
    expect_fail(&w, "duplicate key 'a'");

    tg_header(&w, 3, 0, 1);
    tg_str_n(&w, "ab\0c", 4); tg_u32(&w, G4_GGUF_UINT8); tg_u8(&w, 1);
    expect_fail(&w, "kv 0: key contains a NUL byte");

    tg_header(&w, 3, 1, 0);
    tg_str_n(&w, "t\0x", 3); tg_u32(&w, 1); tg_u64(&w, 4); tg_u32(&w, 0); tg_u64(&w, 0);
    tg_pad_to(&w, 32);
    tg_fill(&w, 32);
    expect_fail(&w, "tensor info 0: tensor name contains a NUL byte");
}

/* Random byte flips in a fixture's header region: any result, but never a crash
 * (this test matters most under the sanitizer build). */
static void test_random_byte_flips(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    size_t size;
    unsigned char *buf =
        tu_read_file(tu_path("%s/fixtures/models/dense-bf16/model.gguf", tu_shared()), &size);
    assert_non_null(buf);
    g4_gguf g;
    assert_int_equal(g4_gguf_parse(&g, buf, size), 0);
    size_t header = g.data_offset;
    g4_gguf_close(&g);

    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int parsed = 0;
    for (int iter = 0; iter < 2000; iter++) {
        size_t pos[4];
        unsigned char old[4];
        int n = 1 + iter % 4;
        for (int k = 0; k < n; k++) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            /* mostly the header (kv and tensor infos), sometimes anywhere */
            pos[k] = (size_t)(rng >> 8) % (iter % 8 == 0 ? size : header);
            old[k] = buf[pos[k]];
            buf[pos[k]] ^= (unsigned char)(1u << (rng & 7));
        }
        if (g4_gguf_parse(&g, buf, size) == 0) {
            parsed++;
            for (size_t t = 0; t < g.tensors.n; t++) {
                const unsigned char *d = g.tensors.tensors[t].data;
                assert_true(d >= buf && d + g.tensors.tensors[t].nbytes <= buf + size);
            }
            g4_gguf_close(&g);
        } else {
            assert_true(is_zeroed(&g));
            assert_true(g4_last_error()[0] != '\0');
        }
        for (int k = n - 1; k >= 0; k--) buf[pos[k]] = old[k];
    }
    print_message("byte flips: %d of 2000 still parsed\n", parsed);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_models),
        cmocka_unit_test(test_fixture_vocab),
        cmocka_unit_test(test_open_missing_file),
        cmocka_unit_test(test_valid_image_and_getters),
        cmocka_unit_test(test_version2_and_custom_alignment),
        cmocka_unit_test(test_bad_magic_and_version),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_huge_counts_and_lengths),
        cmocka_unit_test(test_bad_value_types),
        cmocka_unit_test(test_bad_tensor_infos),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_duplicates_and_nul),
        cmocka_unit_test(test_random_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
