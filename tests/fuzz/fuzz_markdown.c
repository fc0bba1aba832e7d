/* fuzz_markdown.c: libFuzzer target for the Markdown renderer (app/tui/markdown.h).
 *
 * The first two bytes pick the width (1..300), the rest is the Markdown. Every
 * line must be within the width (its width recounted with md_display_width),
 * NUL-free valid UTF-8 without control characters, with spans in order that
 * stay inside the line and cover it; heading levels 1..6 only on headings; the
 * plain-text variant must be the same lines. A broken invariant traps. */
#include "tui/markdown.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "fuzz_markdown: check failed: %s\n", #x); __builtin_trap(); } } while (0)

static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], cp, min;
        size_t len;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F) return 0;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
        else return 0;
        if (n - i < len) return 0;
        cp = c & (0x3F >> (len - 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp < 0xA0)) return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int width = 1 + (int)((data[0] << 8 | data[1]) % 300);
    const char *md = (const char *)data + 2;
    size_t len = size - 2;

    md_doc doc;
    CHECK(md_render(md, len, width, &doc) == 0);
    size_t total = 0;
    for (int i = 0; i < doc.n_lines; i++) {
        const md_line *l = &doc.lines[i];
        CHECK(l->text && l->len >= 0 && strlen(l->text) == (size_t)l->len);
        CHECK(l->width >= 0 && l->width <= width);
        CHECK(md_display_width(l->text, (size_t)l->len) == l->width);
        CHECK(valid_utf8((const unsigned char *)l->text, (size_t)l->len));
        CHECK(l->n_spans >= 0 && (l->n_spans > 0) == (l->len > 0));
        int pos = 0;
        for (int k = 0; k < l->n_spans; k++) {
            const md_span *s = &l->spans[k];
            CHECK(s->start == pos && s->len > 0 && s->start + s->len <= l->len);
            CHECK((s->style & MD_HEADING) ? s->level >= 1 && s->level <= 6 : s->level == 0);
            CHECK(s->style < (MD_TABLE << 1));
            pos += s->len;
        }
        CHECK(pos == l->len);
        total += (size_t)l->len + 1;
    }
    if (len < 4096) {
        char *plain = md_render_plain(md, len, width);
        CHECK(plain && strlen(plain) == total);
        char *p = plain;
        for (int i = 0; i < doc.n_lines; i++) {
            CHECK(memcmp(p, doc.lines[i].text, (size_t)doc.lines[i].len) == 0 && p[doc.lines[i].len] == '\n');
            p += doc.lines[i].len + 1;
        }
        free(plain);
    }
    md_doc_free(&doc);
    return 0;
}
