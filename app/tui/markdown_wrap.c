/* markdown_wrap.c: line filling for the Markdown renderer: sanitizing untrusted
 * text into styled runs, display widths (wcwidth in a UTF-8 locale), word
 * wrapping, hard breaking of code lines, and the styled line buffer that
 * becomes an md_doc. See markdown_wrap.h. */
#include "tui/markdown_wrap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define REPLACEMENT "\xEF\xBF\xBD"  /* U+FFFD, 1 column */
#define CONTINUATION "\xE2\x86\xA9"  /* U+21A9 "↩", 1 column */

/* Grows *buf (of *cap elements of `size` bytes) to hold `need` elements. */
static int grow(void **buf, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size) return -1;
        n *= 2;
    }
    void *p = realloc(*buf, n * size);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* ---- widths ---------------------------------------------------------------- */

static pthread_once_t locale_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale;  /* created once, never changed */

static void locale_init(void) {
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!utf8_locale) utf8_locale = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
}

locale_t mdw_locale_begin(void) {
    pthread_once(&locale_once, locale_init);
    return utf8_locale ? uselocale(utf8_locale) : (locale_t)0;
}

void mdw_locale_end(locale_t previous) {
    if (previous) uselocale(previous);
}

int mdw_decode(const char *str, size_t n, unsigned *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0], v, min;
    int len;
    if (c < 0x80) return *cp = c, 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800, v = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000, v = c & 0x07;
    else return *cp = 0xFFFD, 1;
    if (n < (size_t)len) return *cp = 0xFFFD, 1;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return *cp = 0xFFFD, 1;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return *cp = 0xFFFD, 1;
    *cp = v;
    return len;
}

int mdw_char_width(unsigned cp) {
    if (cp >= 0x20 && cp < 0x7F) return 1;
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w;  /* unassigned: one column, as most terminals draw it */
}

static int is_control(unsigned cp) {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
}

int md_display_width(const char *utf8, size_t len) {
    locale_t previous = mdw_locale_begin();
    long long width = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        i += (size_t)mdw_decode(utf8 + i, len - i, &cp);
        width += is_control(cp) ? 1 : mdw_char_width(cp);
    }
    mdw_locale_end(previous);
    return width > INT32_MAX ? INT32_MAX : (int)width;
}

/* ---- styled lines ---------------------------------------------------------- */

void mdw_lines_clear(mdw_lines *l) {
    l->len = l->n_spans = l->n_lines = 0;
}

void mdw_lines_free(mdw_lines *l) {
    free(l->text);
    free(l->spans);
    free(l->lines);
    memset(l, 0, sizeof *l);
}

void mdw_new_line(mdw_lines *l) {
    if (l->oom) return;
    if (grow((void **)&l->lines, &l->cap_lines, l->n_lines + 1, sizeof *l->lines)) {
        l->oom = 1;
        return;
    }
    l->lines[l->n_lines++] = (mdw_line_info){.text_off = l->len, .span_off = l->n_spans};
}

void mdw_put(mdw_lines *l, const char *s, size_t n, int width, unsigned style, int level) {
    if (l->oom || n == 0) return;
    if (!l->n_lines) mdw_new_line(l);
    if (l->oom || n > INT32_MAX || grow((void **)&l->text, &l->cap, l->len + n + 1, 1) ||
        grow((void **)&l->spans, &l->cap_spans, l->n_spans + 1, sizeof *l->spans)) {
        l->oom = 1;
        return;
    }
    mdw_line_info *line = &l->lines[l->n_lines - 1];
    if ((size_t)line->len + n > INT32_MAX) {
        l->oom = 1;
        return;
    }
    memcpy(l->text + l->len, s, n);
    l->len += n;
    md_span *last = line->n_spans ? &l->spans[l->n_spans - 1] : NULL;
    if (last && last->style == style && last->level == level) {
        last->len += (int)n;
    } else {
        l->spans[l->n_spans++] = (md_span){line->len, (int)n, style, level};
        line->n_spans++;
    }
    line->len += (int)n;
    line->width += width;
}

void mdw_put_repeat(mdw_lines *l, const char *ch, int width, int count, unsigned style, int level) {
    char buf[256];
    size_t n = strlen(ch), per = n && n <= sizeof buf ? sizeof buf / n : 1, k = 0;
    for (size_t i = 0; i < per; i++) memcpy(buf + i * n, ch, n);
    while (count > 0 && !l->oom && n <= sizeof buf) {
        k = (size_t)count < per ? (size_t)count : per;
        mdw_put(l, buf, k * n, (int)k * width, style, level);
        count -= (int)k;
    }
}

void mdw_lines_reserve(mdw_lines *l, size_t bytes, size_t lines) {
    if (grow((void **)&l->text, &l->cap, bytes, 1) ||
        grow((void **)&l->spans, &l->cap_spans, lines * 2, sizeof *l->spans) ||
        grow((void **)&l->lines, &l->cap_lines, lines, sizeof *l->lines))
        l->oom = 1;
}

void mdw_copy_line(mdw_lines *l, const mdw_lines *src, size_t i) {
    const mdw_line_info *line = &src->lines[i];
    const char *text = src->text + line->text_off;
    for (int k = 0; k < line->n_spans; k++) {
        const md_span *sp = &src->spans[line->span_off + (size_t)k];
        mdw_put(l, text + sp->start, (size_t)sp->len, 0, sp->style, sp->level);
    }
    if (!l->oom && l->n_lines) l->lines[l->n_lines - 1].width += line->width;
}

void mdw_trim_right(mdw_lines *l) {
    if (l->oom || !l->n_lines) return;
    mdw_line_info *line = &l->lines[l->n_lines - 1];
    while (line->len > 0 && l->text[l->len - 1] == ' ') {
        l->len--;
        line->len--;
        line->width--;
        md_span *last = &l->spans[l->n_spans - 1];
        if (--last->len == 0) {
            l->n_spans--;
            line->n_spans--;
        }
    }
}

int mdw_finish(mdw_lines *l, md_doc *out) {
    out->lines = NULL;
    out->n_lines = 0;
    if (l->oom || l->n_lines > INT32_MAX) return -1;
    size_t n = l->n_lines;
    size_t head = n * sizeof(md_line), spans = l->n_spans * sizeof(md_span);
    if (head + spans < head || head + spans + l->len + n < l->len) return -1;
    char *block = malloc(head + spans + l->len + n + 1);
    if (!block) return -1;
    md_line *lines = (md_line *)block;
    md_span *span_out = (md_span *)(block + head);
    char *text = block + head + spans;
    memcpy(span_out, l->spans, spans);
    for (size_t i = 0; i < n; i++) {
        const mdw_line_info *info = &l->lines[i];
        memcpy(text, l->text + info->text_off, (size_t)info->len);
        text[info->len] = '\0';
        lines[i] = (md_line){text, info->len, info->width, span_out + info->span_off, info->n_spans};
        text += info->len + 1;
    }
    out->lines = n ? lines : NULL;
    out->n_lines = (int)n;
    if (!n) free(block);
    mdw_lines_clear(l);
    return 0;
}

/* ---- inline content -------------------------------------------------------- */

void mdw_runs_clear(mdw_runs *r) {
    r->len = r->n_runs = r->sealed = 0;
}

size_t mdw_runs_mark(mdw_runs *r) {
    return r->sealed = r->n_runs;
}

void mdw_runs_free(mdw_runs *r) {
    free(r->text);
    free(r->runs);
    memset(r, 0, sizeof *r);
}

/* Records text [start, r->len) as a run, merged into the previous one when the
 * style matches. */
static void add_run(mdw_runs *r, size_t start, unsigned style, int level) {
    if (r->oom || r->len == start) return;
    if (r->len > INT32_MAX) {
        r->oom = 1;
        return;
    }
    md_span *last = r->n_runs > r->sealed ? &r->runs[r->n_runs - 1] : NULL;
    if (last && last->style == style && last->level == level && (size_t)last->start + (size_t)last->len == start) {
        last->len += (int)(r->len - start);
        return;
    }
    if (grow((void **)&r->runs, &r->cap_runs, r->n_runs + 1, sizeof *r->runs)) {
        r->oom = 1;
        return;
    }
    r->runs[r->n_runs++] = (md_span){(int)start, (int)(r->len - start), style, level};
}

void mdw_runs_add(mdw_runs *r, const char *s, size_t n, unsigned style, int level, int mode) {
    if (r->oom || n == 0) return;
    /* worst cases: an invalid byte becomes 3 bytes, a tab MDW_TAB_STOP */
    if (n > SIZE_MAX / 4 - r->len || grow((void **)&r->text, &r->cap, r->len + n * 4, 1)) {
        r->oom = 1;
        return;
    }
    size_t start = r->len;
    char *o = r->text;
    long long column = 0;  /* for tabs in code */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F) {
            o[r->len++] = (char)c;
            i++;
            column++;
            continue;
        }
        unsigned cp;
        int k = mdw_decode(s + i, n - i, &cp);
        if (cp == '\t' && mode == MDW_CODE) {
            int spaces = MDW_TAB_STOP - (int)(column % MDW_TAB_STOP);
            memset(o + r->len, ' ', (size_t)spaces);
            r->len += (size_t)spaces;
            column += spaces;
        } else if (cp == '\n' && mode != MDW_INLINE) {
            o[r->len++] = '\n';
            column = 0;
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            o[r->len++] = ' ';
            column++;
        } else if (cp == 0xFFFD || is_control(cp)) {
            memcpy(o + r->len, REPLACEMENT, 3);
            r->len += 3;
            column++;
        } else {
            memcpy(o + r->len, s + i, (size_t)k);
            r->len += (size_t)k;
            column += mdw_char_width(cp);
        }
        i += (size_t)k;
    }
    add_run(r, start, style, level);
}

void mdw_runs_add_str(mdw_runs *r, const char *s, unsigned style, int level) {
    mdw_runs_add(r, s, strlen(s), style, level, MDW_INLINE);
}

void mdw_runs_add_break(mdw_runs *r) {
    if (r->oom) return;
    if (grow((void **)&r->text, &r->cap, r->len + 1, 1)) {
        r->oom = 1;
        return;
    }
    size_t start = r->len;
    r->text[r->len++] = '\n';
    add_run(r, start, MD_TEXT, 0);
}

void mdw_runs_copy(mdw_runs *r, size_t first, size_t last, unsigned extra_style) {
    for (size_t i = first; i < last && !r->oom; i++) {
        md_span run = r->runs[i];  /* copied: the arrays may move */
        if (grow((void **)&r->text, &r->cap, r->len + (size_t)run.len, 1)) {
            r->oom = 1;
            return;
        }
        size_t start = r->len;
        memcpy(r->text + r->len, r->text + run.start, (size_t)run.len);
        r->len += (size_t)run.len;
        add_run(r, start, run.style | extra_style, run.level);
    }
}

/* ---- filling --------------------------------------------------------------- */

/* A cursor over runs [first, last): the run holding a byte offset. */
typedef struct {
    const mdw_runs *r;
    size_t run, last;
} cursor;

static const md_span *run_at(cursor *c, size_t pos) {
    while (c->run + 1 < c->last && pos >= (size_t)c->r->runs[c->run].start + (size_t)c->r->runs[c->run].len) c->run++;
    return &c->r->runs[c->run];
}

/* Appends text [a, b) to the last line with its runs' styles. */
static void put_range(cursor *c, size_t a, size_t b, int width, mdw_lines *l) {
    int first = 1;
    while (a < b) {
        const md_span *run = run_at(c, a);
        size_t end = (size_t)run->start + (size_t)run->len;
        if (end > b) end = b;
        if (end <= a) end = b;  /* cannot happen with consistent runs */
        mdw_put(l, c->r->text + a, end - a, first ? width : 0, run->style, run->level);
        first = 0;
        a = end;
    }
}

/* Width of the character at text[pos] (sanitized, so valid), its length in *len. */
static int width_at(const char *text, size_t end, size_t pos, int *len) {
    unsigned cp;
    *len = mdw_decode(text + pos, end - pos, &cp);
    return mdw_char_width(cp);
}

/* Puts a word that does not fit an empty line: cut character by character. A
 * character wider than the whole line is shown as U+FFFD. */
static void put_cut(cursor *c, size_t a, size_t b, int avail, int *used, mdw_lines *l) {
    const char *text = c->r->text;
    while (a < b) {
        int len, w = width_at(text, b, a, &len);
        if (*used + w > avail && *used > 0) {
            mdw_new_line(l);
            *used = 0;
        }
        if (w > avail) {
            const md_span *run = run_at(c, a);
            mdw_put(l, REPLACEMENT, 3, 1, run->style, run->level);
            *used += 1;
        } else {
            put_range(c, a, a + (size_t)len, w, l);
            *used += w;
        }
        a += (size_t)len;
    }
}

void mdw_wrap(const mdw_runs *r, size_t first, size_t last, int avail, mdw_lines *l) {
    if (first >= last || r->oom) return;
    if (avail < 1) avail = 1;
    const char *text = r->text;
    size_t pos = (size_t)r->runs[first].start;
    size_t end = (size_t)r->runs[last - 1].start + (size_t)r->runs[last - 1].len;
    cursor c = {r, first, last};
    int open = 0, used = 0;              /* a line is open, columns used in it */
    size_t space_at = 0, space_end = 0;  /* pending spaces before the next word */
    while (pos < end && !l->oom) {
        char ch = text[pos];
        if (ch == '\n') {
            if (!open) mdw_new_line(l);
            open = 0;
            used = 0;
            space_at = space_end = ++pos;
            continue;
        }
        if (ch == ' ') {
            if (space_end != pos) space_at = pos;
            space_end = ++pos;
            continue;
        }
        /* a word: up to a space or newline, or around a double-width character */
        size_t word = pos;
        int word_w = 0;
        while (pos < end && text[pos] != ' ' && text[pos] != '\n') {
            int len, w = width_at(text, end, pos, &len);
            if (w == 2 && pos > word) break;
            pos += (size_t)len;
            word_w += w;
            if (w == 2) {
                while (pos < end && text[pos] != ' ' && text[pos] != '\n' && width_at(text, end, pos, &len) == 0)
                    pos += (size_t)len;
                break;
            }
        }
        int space_w = space_end == word ? (int)(space_end - space_at) : 0;
        if (open && used + space_w + word_w <= avail) {
            if (space_w) put_range(&c, space_at, space_end, space_w, l);
            put_range(&c, word, pos, word_w, l);
            used += space_w + word_w;
        } else {
            mdw_new_line(l);
            open = 1;
            used = 0;
            if (word_w <= avail) {
                put_range(&c, word, pos, word_w, l);
                used = word_w;
            } else {
                put_cut(&c, word, pos, avail, &used, l);
            }
        }
        space_at = space_end = 0;
    }
}

void mdw_measure(const mdw_runs *r, size_t first, size_t last, int *total, int *widest_word) {
    *total = *widest_word = 0;
    if (first >= last) return;
    const char *text = r->text;
    size_t pos = (size_t)r->runs[first].start;
    size_t end = (size_t)r->runs[last - 1].start + (size_t)r->runs[last - 1].len;
    long long sum = 0;
    int word = 0;
    while (pos < end) {
        int len, w = width_at(text, end, pos, &len);
        if (text[pos] == ' ' || text[pos] == '\n') {
            word = 0;
        } else {
            word += w;
            if (word > *widest_word) *widest_word = word;
        }
        sum += w;
        pos += (size_t)len;
    }
    *total = sum > INT32_MAX / 2 ? INT32_MAX / 2 : (int)sum;
}

void mdw_hard_break(const mdw_runs *r, size_t first, size_t last, int avail, mdw_lines *l) {
    mdw_new_line(l);
    if (first >= last || r->oom) return;
    if (avail < 1) avail = 1;
    const char *text = r->text;
    size_t pos = (size_t)r->runs[first].start;
    size_t end = (size_t)r->runs[last - 1].start + (size_t)r->runs[last - 1].len;
    cursor c = {r, first, last};
    int total, widest;
    mdw_measure(r, first, last, &total, &widest);
    int limit = avail >= 2 ? avail - 1 : avail;  /* room left for the mark */
    int used = 0;
    long long left = total;  /* columns not yet placed */
    while (pos < end && !l->oom) {
        int len, w = width_at(text, end, pos, &len);
        if (w > 0 && used + left > avail && used + w > limit && used > 0) {
            if (limit < avail && used < avail) {  /* no room after a wide character at width 2 */
                const md_span *run = run_at(&c, pos);
                mdw_put(l, CONTINUATION, 3, 1, run->style, run->level);
            }
            mdw_new_line(l);
            used = 0;
        }
        if (w > avail) {
            const md_span *run = run_at(&c, pos);
            mdw_put(l, REPLACEMENT, 3, 1, run->style, run->level);
            used += 1;
        } else {
            put_range(&c, pos, pos + (size_t)len, w, l);
            used += w;
        }
        left -= w;
        pos += (size_t)len;
    }
}
