/* tokentrie.c: builds struct g4_grammar_vocab: every text token's bytes (a normal
 * token's piece with "▁" as a space, a byte token's byte), sorted, as a trie laid out
 * in preorder with subtree ends; special tokens (control, user-defined) are kept out
 * of the trie because a grammar matches them only as token terminals. */
#include "run/tokentrie.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "text/tokenizer.h"

static int cmp_tokens(const void *a, const void *b, void *arg) {
    const struct g4_grammar_vocab *gv = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = gv->text_len[x], ly = gv->text_len[y];
    int c = memcmp(gv->text + gv->text_off[x], gv->text + gv->text_off[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

int g4_byte_class(uint8_t b) {
    if (b >= 0x80) return 0;
    if (b < 0x20 || b == 0x7F) return 1;
    if (b >= '0' && b <= '9') return 2;
    if (b >= 'a' && b <= 'z') return 3;
    if (b >= 'A' && b <= 'Z') return 4;
    static const char punct[] = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    return 5 + (int)(strchr(punct, b) - punct);
}

/* Whether s[0..len) is a sequence of whole, valid UTF-8 characters. */
static int whole_utf8(const unsigned char *s, uint32_t len) {
    for (uint32_t i = 0; i < len;) {
        size_t n = g4_utf8_len(s + i, len - i);
        if (n == 0) return 0;
        i += (uint32_t)n;
    }
    return 1;
}

static int fill_text(g4_grammar_vocab *gv) {
    const g4_vocab *v = gv->vocab;
    size_t total = 0;
    for (int i = 0; i < gv->n_vocab; i++) total += strlen(g4_vocab_piece(v, i));
    gv->text = malloc(total + 1);
    if (!gv->text) return -1;
    size_t at = 0;
    for (int i = 0; i < gv->n_vocab; i++) {
        const char *p = g4_vocab_piece(v, i);
        gv->text_off[i] = (uint32_t)at;
        int type = v->type[i];
        if (type == G4_TOK_CONTROL || type == G4_TOK_USER_DEFINED) gv->kind[i] = TT_SPECIAL;
        else if (type == G4_TOK_BYTE) gv->kind[i] = TT_TEXT, gv->text[at++] = (char)v->byte_val[i];
        else if (type == G4_TOK_NORMAL) {
            for (size_t k = 0; p[k];) {
                if (strncmp(p + k, "\xE2\x96\x81", 3) == 0) gv->text[at++] = ' ', k += 3;
                else gv->text[at++] = p[k++];
            }
            gv->kind[i] = at > gv->text_off[i] ? TT_TEXT : TT_NEVER;
        } else gv->kind[i] = TT_NEVER;
        gv->text_len[i] = (uint32_t)(at - gv->text_off[i]);
        if (g4_vocab_is_eog(v, i)) gv->n_eog++;
    }
    return 0;
}

static int build_trie(g4_grammar_vocab *gv) {
    int n_text = 0;
    size_t total = 0;
    for (int i = 0; i < gv->n_vocab; i++)
        if (gv->kind[i] == TT_TEXT) n_text++, total += gv->text_len[i];
    gv->sorted = malloc(((size_t)n_text + 1) * sizeof *gv->sorted);
    size_t cap = total + 1;
    gv->byte = malloc(cap), gv->depth = malloc(cap * sizeof *gv->depth), gv->end = malloc(cap * sizeof *gv->end);
    gv->tok_first = calloc(cap + 1, sizeof *gv->tok_first), gv->tok_count = calloc(cap, sizeof *gv->tok_count);
    gv->below = calloc(cap, sizeof *gv->below);
    uint32_t *parent = malloc(cap * sizeof *parent);
    if (!gv->sorted || !gv->byte || !gv->depth || !gv->end || !gv->tok_first || !gv->tok_count || !gv->below || !parent) {
        free(parent);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < gv->n_vocab; i++)
        if (gv->kind[i] == TT_TEXT) gv->sorted[k++] = i;
    qsort_r(gv->sorted, (size_t)n_text, sizeof *gv->sorted, cmp_tokens, gv);
    for (int i = 0; i < n_text; i++)
        if ((int)gv->text_len[gv->sorted[i]] > gv->max_depth) gv->max_depth = (int)gv->text_len[gv->sorted[i]];
    uint32_t *path = malloc(((size_t)gv->max_depth + 1) * sizeof *path);
    if (!path) { free(parent); return -1; }
    uint32_t n = 1;
    gv->byte[0] = 0, gv->depth[0] = 0, path[0] = 0;
    uint32_t path_len = 0;   /* depth of the deepest open node */
    const char *prev = NULL;
    uint32_t prev_len = 0;
    for (int i = 0; i < n_text; i++) {
        int32_t id = gv->sorted[i];
        const char *s = gv->text + gv->text_off[id];
        uint32_t len = gv->text_len[id], lcp = 0;
        while (prev && lcp < len && lcp < prev_len && s[lcp] == prev[lcp]) lcp++;
        for (; path_len > lcp; path_len--) gv->end[path[path_len]] = n;
        for (uint32_t d = lcp + 1; d <= len; d++) {
            gv->byte[n] = (uint8_t)s[d - 1], gv->depth[n] = (uint16_t)d;
            parent[n] = path[d - 1];
            gv->tok_first[n] = (uint32_t)i;   /* tokens so far come before this subtree's */
            path[d] = n++;
            path_len = d;
        }
        uint32_t node = path[len];
        if (gv->tok_count[node] == UINT16_MAX) { free(parent); free(path); return -1; }
        gv->tok_count[node]++;
        if (!whole_utf8((const unsigned char *)s, len)) gv->below[parent[node]] |= 1ull << G4_CLASS_NOT_UTF8;
        prev = s, prev_len = len;
    }
    for (; path_len > 0; path_len--) gv->end[path[path_len]] = n;
    gv->end[0] = n;
    gv->n_nodes = n;
    gv->tok_first[0] = 0;
    gv->tok_first[n] = (uint32_t)n_text;
    for (uint32_t i = n - 1; i >= 1; i--)
        gv->below[parent[i]] |= gv->below[i] | 1ull << g4_byte_class(gv->byte[i]);
    free(path);
    free(parent);
    return 0;
}

g4_grammar_vocab *g4_grammar_vocab_new(const g4_vocab *vocab) {
    if (!vocab) { g4_error("grammar: no vocabulary"); return NULL; }
    g4_grammar_vocab *gv = calloc(1, sizeof *gv);
    if (!gv) { g4_error("grammar: out of memory"); return NULL; }
    gv->vocab = vocab;
    gv->n_vocab = g4_vocab_size(vocab);
    gv->text_off = malloc((size_t)gv->n_vocab * sizeof *gv->text_off);
    gv->text_len = malloc((size_t)gv->n_vocab * sizeof *gv->text_len);
    gv->kind = malloc((size_t)gv->n_vocab);
    if (!gv->text_off || !gv->text_len || !gv->kind || fill_text(gv)) goto oom;
    gv->eog = malloc(((size_t)gv->n_eog + 1) * sizeof *gv->eog);
    if (!gv->eog) goto oom;
    gv->n_eog = 0;
    for (int i = 0; i < gv->n_vocab; i++)
        if (g4_vocab_is_eog(vocab, i)) gv->eog[gv->n_eog++] = i;
    if (build_trie(gv)) goto oom;
    return gv;
oom:
    g4_error("grammar: out of memory building the token trie");
    g4_grammar_vocab_free(gv);
    return NULL;
}

void g4_grammar_vocab_free(g4_grammar_vocab *gv) {
    if (!gv) return;
    free(gv->below), free(gv->eog), free(gv->sorted), free(gv->tok_count), free(gv->tok_first), free(gv->end);
    free(gv->depth), free(gv->byte), free(gv->kind), free(gv->text_len), free(gv->text_off), free(gv->text);
    free(gv);
}
