/* gemm_amx.c: weight matrix times a batch of tokens with AMX-BF16 tiles (gemm.h).
 *
 * The activations are rounded to bf16 once per call into A tiles (16 tokens x 32
 * elements, 1 KiB each, the token count padded with zero rows to a multiple of 32).
 * Split, they are hi + lo, both bf16 (16 bits of mantissa together), and every
 * product runs twice, hi then lo, into the same accumulators.
 * Each task owns up to ROWS_PER_TASK output rows and walks the inner dimension in
 * chunks of at most MAX_CHUNK: it unpacks its rows' chunk into B tiles (16 rows x 32 elements,
 * element pairs interleaved as TDPBF16PS wants them; Q8_0_R16 groups straight from their
 * interleaved blocks) in per-thread scratch, then for
 * every block of 32 tokens x 32 rows runs the chunk through four C tiles, which it
 * loads from y (zero for the first chunk) and stores back to y. Every element of y thus
 * sums its products in the one order the chunks and tiles fix, whoever runs the task.
 * The tasks of one call only differ in their output rows, so the result does not
 * depend on the number of threads. */
#include "cpu/gemm.h"
#include "cpu/pool.h"
#include "model/quant.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

#define TILE_ELEMS 512     /* bf16 in a 1 KiB A or B tile: 16 rows of 32 */
#define TILE_BYTES 1024
#define MAX_CHUNK 2048     /* inner-dimension elements per pass, at most */
#define UNPACK_STEP 256    /* elements of a row unpacked at a time (one K-quant block) */
#define ROWS_PER_TASK 256  /* output rows of a task, at most (a multiple of 32) */

/* Per-thread scratch: B tiles of ROWS_PER_TASK rows x MAX_CHUNK, 16 rows x UNPACK_STEP
 * being unpacked, and a C tile for the edges of y. */
#define PANEL_BYTES ((size_t)ROWS_PER_TASK * MAX_CHUNK * 2)
#define ROWBUF_BYTES ((size_t)16 * UNPACK_STEP * 2)
#define THREAD_SCRATCH (PANEL_BYTES + ROWBUF_BYTES + TILE_BYTES)
_Static_assert(PANEL_BYTES >= G4K_MAX_ROW * 8, "the panel holds an activation row (hi, lo, rest) while they are converted");

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* ---- can this process use AMX? ----------------------------------------------------------- */

static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static bool detect_amx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 27 & 1) || !(c >> 29 & 1)) return false; /* OSXSAVE, F16C */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const unsigned max_subleaf = a;
    const bool avx512 = (b >> 16 & 1) && (b >> 17 & 1) && (b >> 30 & 1) && (b >> 31 & 1); /* F, DQ, BW, VL */
    const bool amx = (d >> 22 & 1) && (d >> 24 & 1);                                     /* AMX-BF16, AMX-TILE */
    if (!avx512 || !amx || max_subleaf < 1) return false;
    __get_cpuid_count(7, 1, &a, &b, &c, &d);
    if (!(a >> 5 & 1)) return false; /* AVX512-BF16 */
    /* the OS saves x87/SSE/AVX (bits 0-2), the AVX-512 state (5-7) and the tile state (17, 18) */
    const uint64_t need = 0x7 | 0xe0 | 1u << 17 | 1u << 18;
    if ((xcr0() & need) != need) return false;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

bool g4k_amx_available(void) {
    static atomic_int state; /* 0 not asked yet, 1 available, -1 not */
    int s = atomic_load(&state);
    if (s == 0) {
        s = detect_amx() ? 1 : -1;
        atomic_store(&state, s);
    }
    return s > 0;
}

/* ---- the job ----------------------------------------------------------------------------- */

typedef struct {
    const g4k_matrix *w;
    g4k_bf16_unpacker unpack; /* NULL for Q8_0_R16, whose groups pack_panel unpacks */
    size_t block_bytes;      /* bytes of the weight type's block */
    int block_size;          /* elements of it */
    const float *x;
    float *y;
    int n_tok;
    int n_tb;                /* 16-token blocks of xb (even) */
    int n_kb;                /* 32-element blocks of a row */
    uint16_t *xb;            /* the activations: A tile (tb, kb) at xb + (tb * n_kb + kb) * TILE_ELEMS */
    uint16_t *xb_lo;         /* split: what bf16 missed of them, the same way; else NULL */
    int chunk;               /* inner-dimension elements per pass */
    int rows_per_task;
    char *scratch;           /* THREAD_SCRATCH bytes per thread */
} gemm_job;

/* The A tiles of 16 tokens (tb) from rows of n_in bf16 (NULL past n_tok: zeros). */
static void put_a_rows(const gemm_job *j, uint16_t *xb, int tb, int r, const uint16_t *row) {
    uint16_t *dst = xb + (size_t)tb * j->n_kb * TILE_ELEMS + (size_t)r * 32;
    for (int kb = 0; kb < j->n_kb; kb++, dst += TILE_ELEMS) {
        if (row)
            memcpy(dst, row + kb * 32, 64);
        else
            memset(dst, 0, 64);
    }
}

/* Rounds the activations of 16 tokens to bf16 into their A tiles (zero rows past n_tok),
 * a token at a time through the thread's panel, which is free until the product. When
 * split, the rounding error x - hi goes to the xb_lo tiles, rounded to bf16 in turn. */
AMX static void convert_task(void *arg, int tb, int thread) {
    const gemm_job *j = arg;
    const int64_t n_in = j->w->n_in;
    uint16_t *hi = (uint16_t *)(j->scratch + (size_t)thread * THREAD_SCRATCH), *lo = hi + n_in;
    float *rest = (float *)(lo + n_in);
    for (int r = 0; r < 16; r++) {
        const int t = tb * 16 + r;
        const float *x = j->x + (size_t)t * n_in;
        if (t < j->n_tok) g4k_f32_to_bf16(x, hi, n_in);
        put_a_rows(j, j->xb, tb, r, t < j->n_tok ? hi : NULL);
        if (!j->xb_lo) continue;
        if (t < j->n_tok) {
            for (int64_t i = 0; i < n_in; i += 16) {
                const __m512 h = _mm512_castsi512_ps(
                    _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(hi + i))), 16));
                _mm512_storeu_ps(rest + i, _mm512_sub_ps(_mm512_loadu_ps(x + i), h));
            }
            g4k_f32_to_bf16(rest, lo, n_in);
        }
        put_a_rows(j, j->xb_lo, tb, r, t < j->n_tok ? lo : NULL);
    }
}

/* ---- B tiles ------------------------------------------------------------------------------- */

/* 16 rows of 32 bf16 (rows[r * stride]) into a B tile: tile row k2 holds, for each of the
 * 16 rows n, the pair (row n element 2*k2, element 2*k2+1), i.e. the 16x16 transpose of
 * the rows taken as 32-bit pairs. Four pairs at a time: x[m] gets pairs 4g .. 4g+3 of
 * row 4l + m into its 128-bit lane l straight from memory (masked broadcast loads, which
 * spare the shuffle port), then a 4x4 transpose within the lanes gathers pair 4g + c of
 * rows 4l .. 4l+3 into lane l: tile row 4g + c. */
AMX static void interleave_pairs(const uint16_t *rows, int64_t stride, uint16_t *tile) {
    for (int g = 0; g < 4; g++) {
        __m512i x[4];
        for (int m = 0; m < 4; m++) {
            const uint16_t *p = rows + m * stride + 8 * g;
            x[m] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
            x[m] = _mm512_mask_broadcast_i32x4(x[m], 0x00f0, _mm_loadu_si128((const __m128i *)(p + 4 * stride)));
            x[m] = _mm512_mask_broadcast_i32x4(x[m], 0x0f00, _mm_loadu_si128((const __m128i *)(p + 8 * stride)));
            x[m] = _mm512_mask_broadcast_i32x4(x[m], 0xf000, _mm_loadu_si128((const __m128i *)(p + 12 * stride)));
        }
        const __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]), t1 = _mm512_unpackhi_epi32(x[0], x[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]), t3 = _mm512_unpackhi_epi32(x[2], x[3]);
        _mm512_storeu_si512(tile + (4 * g + 0) * 32, _mm512_unpacklo_epi64(t0, t2));
        _mm512_storeu_si512(tile + (4 * g + 1) * 32, _mm512_unpackhi_epi64(t0, t2));
        _mm512_storeu_si512(tile + (4 * g + 2) * 32, _mm512_unpacklo_epi64(t1, t3));
        _mm512_storeu_si512(tile + (4 * g + 3) * 32, _mm512_unpackhi_epi64(t1, t3));
    }
}

/* Asks for the cache lines of p[0 .. bytes) to be fetched into L2. */
static void prefetch(const char *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i, 0, 2);
    __builtin_prefetch(p + bytes - 1, 0, 2);
}

/* Unpacks elements [k0, k0 + nk) of output rows [o0, o0 + rows) into B tiles: 16-row
 * block ob, 32-element block kb at panel + (ob * nk/32 + kb) * TILE_ELEMS; rows of the
 * n_ob blocks past `rows` are zero. UNPACK_STEP elements of 16 rows at a time, which
 * stay in L1 between the unpacking and the interleaving; meanwhile the same elements of
 * the next 16 rows are prefetched (the hardware does not follow 16 interleaved streams). */
AMX static void pack_panel(const gemm_job *j, int64_t o0, int rows, int n_ob, int64_t k0, int nk, uint16_t *panel,
                           uint16_t *rowbuf) {
    const g4k_matrix *w = j->w;
    const int nkb = nk / 32;
    if (w->type == G4_TYPE_Q8_0_R16) { /* 16-row groups, straight to tiles (rows is a multiple of 16) */
        for (int ob = 0; ob < n_ob; ob++) {
            uint16_t *tiles = panel + (size_t)ob * nkb * TILE_ELEMS;
            if (ob * 16 < rows)
                g4k_unpack_tiles_q8_0_r16((const char *)w->data + (size_t)(o0 + ob * 16) * w->row_bytes, k0, nk, tiles);
            else
                memset(tiles, 0, (size_t)nkb * TILE_BYTES);
        }
        return;
    }
    for (int ob = 0; ob < n_ob; ob++) {
        for (int s = 0; s < nk; s += UNPACK_STEP) {
            const int step = nk - s < UNPACK_STEP ? nk - s : UNPACK_STEP;
            const char *src = (const char *)w->data + (size_t)((k0 + s) / j->block_size) * j->block_bytes;
            const size_t step_bytes = (size_t)(step / j->block_size) * j->block_bytes;
            for (int r = 0; r < 16; r++) {
                const int row = ob * 16 + r;
                uint16_t *dst = rowbuf + r * UNPACK_STEP;
                if (row + 16 < rows) prefetch(src + (size_t)(o0 + row + 16) * w->row_bytes, step_bytes);
                if (row < rows)
                    j->unpack(src + (size_t)(o0 + row) * w->row_bytes, dst, step);
                else
                    memset(dst, 0, (size_t)step * 2);
            }
            for (int kb = 0; kb < step / 32; kb++)
                interleave_pairs(rowbuf + kb * 32, UNPACK_STEP, panel + ((size_t)ob * nkb + s / 32 + kb) * TILE_ELEMS);
        }
    }
}

/* ---- C tiles ------------------------------------------------------------------------------ */

/* The part of y a C tile covers: tokens t0 .., outputs o0 .., rows x cols of them
 * (16 x 16 inside y, fewer or none at its edges). */
typedef struct {
    float *p;
    int rows, cols;
} c_block;

static c_block c_block_at(const gemm_job *j, int tb, int64_t o0) {
    const int64_t n_out = j->w->n_out;
    const int t0 = tb * 16;
    c_block c = {NULL, j->n_tok - t0, (int)(n_out - o0 < 16 ? n_out - o0 : 16)};
    if (c.rows > 16) c.rows = 16;
    if (c.rows <= 0 || c.cols <= 0) return (c_block){NULL, 0, 0};
    c.p = j->y + (size_t)t0 * n_out + o0;
    return c;
}

static bool c_full(c_block c) {
    return c.rows == 16 && c.cols == 16;
}

/* Copies an edge block between y (row stride n_out) and a 16x16 tile image. */
static void c_copy_in(c_block c, int64_t n_out, float *tile) {
    for (int r = 0; r < c.rows; r++) memcpy(tile + r * 16, c.p + r * n_out, (size_t)c.cols * 4);
}

static void c_copy_out(c_block c, int64_t n_out, const float *tile) {
    for (int r = 0; r < c.rows; r++) memcpy(c.p + r * n_out, tile + r * 16, (size_t)c.cols * 4);
}

/* C tile `tile` from c (zero when `first`) / back to c; edges go through `edge`. They use
 * the caller's n_out and stride (bytes between the rows of y). */
#define LOAD_C(tile, c, first, edge)                                   \
    do {                                                               \
        if (first)                                                     \
            _tile_zero(tile);                                          \
        else if (c_full(c))                                            \
            _tile_loadd(tile, (c).p, stride);                          \
        else {                                                         \
            c_copy_in(c, n_out, edge);                                 \
            _tile_loadd(tile, edge, 64);                               \
        }                                                              \
    } while (0)

#define STORE_C(tile, c, edge)                                         \
    do {                                                               \
        if (c_full(c))                                                 \
            _tile_stored(tile, (c).p, stride);                         \
        else {                                                         \
            _tile_stored(tile, edge, 64);                              \
            c_copy_out(c, n_out, edge);                                \
        }                                                              \
    } while (0)

/* ---- the product ---------------------------------------------------------------------------- */

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Output rows [task * rows_per_task, +rows_per_task) for every token. Tiles 0-3 accumulate
 * (token block tb or tb+1) x (row block ob or ob+1), 4-5 hold the activations, 6-7 the weights. */
AMX static void gemm_task(void *arg, int task, int thread) {
    const gemm_job *j = arg;
    const int64_t n_in = j->w->n_in, n_out = j->w->n_out, stride = n_out * 4;
    char *scratch = j->scratch + (size_t)thread * THREAD_SCRATCH;
    uint16_t *panel = (uint16_t *)scratch, *rowbuf = (uint16_t *)(scratch + PANEL_BYTES);
    float *edge = (float *)(scratch + PANEL_BYTES + ROWBUF_BYTES);

    tile_config cfg = {.palette = 1};
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);

    const size_t lo_offset = j->xb_lo ? (size_t)(j->xb_lo - j->xb) : 0;
    const int64_t o0 = (int64_t)task * j->rows_per_task;
    const int rows = (int)(n_out - o0 < j->rows_per_task ? n_out - o0 : j->rows_per_task);
    const int n_ob = (rows + 31) / 32 * 2;
    for (int64_t k0 = 0; k0 < n_in; k0 += j->chunk) {
        const int nk = (int)(n_in - k0 < j->chunk ? n_in - k0 : j->chunk), nkb = nk / 32;
        const bool first = k0 == 0;
        pack_panel(j, o0, rows, n_ob, k0, nk, panel, rowbuf);
        for (int tb = 0; tb < j->n_tb; tb += 2) {
            const uint16_t *a0 = j->xb + ((size_t)tb * j->n_kb + (size_t)(k0 / 32)) * TILE_ELEMS;
            const uint16_t *a1 = a0 + (size_t)j->n_kb * TILE_ELEMS;
            for (int ob = 0; ob < n_ob; ob += 2) {
                const uint16_t *b0 = panel + (size_t)ob * nkb * TILE_ELEMS, *b1 = b0 + (size_t)nkb * TILE_ELEMS;
                const c_block c0 = c_block_at(j, tb, o0 + ob * 16), c1 = c_block_at(j, tb, o0 + ob * 16 + 16);
                const c_block c2 = c_block_at(j, tb + 1, o0 + ob * 16), c3 = c_block_at(j, tb + 1, o0 + ob * 16 + 16);
                LOAD_C(0, c0, first, edge);
                LOAD_C(1, c1, first, edge);
                LOAD_C(2, c2, first, edge);
                LOAD_C(3, c3, first, edge);
                for (int kb = 0; kb < nkb; kb++) {
                    _tile_loadd(4, a0 + (size_t)kb * TILE_ELEMS, 64);
                    _tile_loadd(6, b0 + (size_t)kb * TILE_ELEMS, 64);
                    _tile_loadd(5, a1 + (size_t)kb * TILE_ELEMS, 64);
                    _tile_loadd(7, b1 + (size_t)kb * TILE_ELEMS, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                    if (j->xb_lo) {
                        _tile_loadd(4, a0 + lo_offset + (size_t)kb * TILE_ELEMS, 64);
                        _tile_loadd(5, a1 + lo_offset + (size_t)kb * TILE_ELEMS, 64);
                        _tile_dpbf16ps(0, 4, 6);
                        _tile_dpbf16ps(1, 4, 7);
                        _tile_dpbf16ps(2, 5, 6);
                        _tile_dpbf16ps(3, 5, 7);
                    }
                }
                STORE_C(0, c0, edge);
                STORE_C(1, c1, edge);
                STORE_C(2, c2, edge);
                STORE_C(3, c3, edge);
            }
        }
    }
    _tile_release();
}

/* Inner-dimension elements per pass: the row cut into equal chunks of at most MAX_CHUNK,
 * rounded up to whole 256-element blocks (32 for the 32-element and float types). */
static int chunk_size(int64_t n_in, int block_size) {
    const int64_t n_chunks = (n_in + MAX_CHUNK - 1) / MAX_CHUNK, align = block_size > 32 ? block_size : 32;
    const int64_t chunk = (n_in + n_chunks - 1) / n_chunks;
    return (int)((chunk + align - 1) / align * align);
}

/* Output rows per task: a multiple of 32, at most ROWS_PER_TASK, and small enough to give
 * every thread about two tasks (the split does not change the result). */
static int rows_per_task(int64_t n_out, int n_threads) {
    int64_t rows = (n_out + 2 * n_threads - 1) / (2 * n_threads);
    rows = (rows + 31) / 32 * 32;
    return (int)(rows < ROWS_PER_TASK ? rows : ROWS_PER_TASK);
}

bool g4k_gemm_amx(g4k_pool *pool, const g4k_matrix *w, const float *x, int n_tok, float *y, bool split) {
    /* Q8_0_R16 is unpacked by its groups (pack_panel), in Q8_0's blocks */
    const bool r16 = w->type == G4_TYPE_Q8_0_R16;
    const g4_type_traits *info = g4_type_info(r16 ? G4_TYPE_Q8_0 : w->type);
    const g4k_bf16_unpacker unpack = r16 ? NULL : g4k_bf16_unpacker_for(w->type);
    if (!g4k_amx_available() || !info || !(unpack || r16) || w->n_in < 32 || w->n_in % 32 ||
        w->n_in % info->block_size || w->n_in > G4K_MAX_ROW)
        return false;
    if (n_tok < 1 || w->n_out < 1) return true;

    const int n_threads = g4k_pool_size(pool);
    gemm_job job = {
        .w = w, .unpack = unpack, .block_bytes = (size_t)info->type_size, .block_size = info->block_size,
        .x = x, .y = y, .n_tok = n_tok, .n_tb = (n_tok + 31) / 32 * 2, .n_kb = (int)(w->n_in / 32),
        .chunk = chunk_size(w->n_in, info->block_size), .rows_per_task = rows_per_task(w->n_out, n_threads),
    };
    const size_t xb_elems = (size_t)job.n_tb * 16 * (size_t)w->n_in;
    job.xb = g4k_pool_scratch(pool, 1, xb_elems * 2 * (split ? 2 : 1));
    job.scratch = g4k_pool_scratch(pool, 2, (size_t)n_threads * THREAD_SCRATCH);
    if (!job.xb || !job.scratch) return false;
    if (split) job.xb_lo = job.xb + xb_elems;

    g4k_pool_run(pool, job.n_tb, convert_task, &job);
    g4k_pool_run(pool, (int)((w->n_out + job.rows_per_task - 1) / job.rows_per_task), gemm_task, &job);
    return true;
}

#else /* not x86-64 */

bool g4k_amx_available(void) {
    return false;
}

bool g4k_gemm_amx(g4k_pool *pool, const g4k_matrix *w, const float *x, int n_tok, float *y, bool split) {
    (void)pool, (void)w, (void)x, (void)n_tok, (void)y, (void)split;
    return false;
}

#endif
