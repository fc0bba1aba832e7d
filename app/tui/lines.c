/* lines.c: styled terminal lines for the chat UI: growable text, plain-text word wrapping by
 * display columns (wide characters, invalid UTF-8 as one column), and drawing a line into an
 * ncurses window span by span. */
#include "tui/ui.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

int tui_buf_append(tui_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return -1;
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return 0;
}

void tui_buf_set(tui_buf *b, const char *s) {
    b->len = 0;
    if (b->s) b->s[0] = 0;
    if (s) tui_buf_append(b, s, strlen(s));
}

void tui_buf_free(tui_buf *b) {
    free(b->s);
    *b = (tui_buf){0};
}

void tui_lines_clear(tui_lines *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i].text), free(l->v[i].spans);
    free(l->v);
    *l = (tui_lines){0};
}

static tui_line *new_line(tui_lines *l) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        tui_line *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        l->v = v, l->cap = cap;
    }
    tui_line *line = &l->v[l->n++];
    *line = (tui_line){0};
    return line;
}

static int add_span(tui_line *line, tui_buf *text, const char *s, size_t n, attr_t attr) {
    tui_span *v = realloc(line->spans, (size_t)(line->n_spans + 1) * sizeof *v);
    if (!v) return -1;
    line->spans = v;
    line->spans[line->n_spans++] = (tui_span){(int)text->len, (int)n, attr};
    return tui_buf_append(text, s, n);
}

int tui_lines_add(tui_lines *l, const char *text, size_t len, attr_t attr) {
    tui_line *line = new_line(l);
    if (!line) return -1;
    tui_buf b = {0};
    if (add_span(line, &b, text, len, attr) || (!b.s && tui_buf_append(&b, "", 0))) {
        free(b.s);
        return -1;
    }
    line->text = b.s;
    return 0;
}

/* Decodes one character at s (n bytes left): its byte length and display width. */
static int char_at(const char *s, size_t n, int *width) {
    mbstate_t st = {0};
    wchar_t wc;
    size_t k = mbrtowc(&wc, s, n, &st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
        *width = 1;
        return 1;
    }
    int w = wcwidth(wc);
    *width = w < 0 ? (wc == '\t' ? 4 : 1) : w;
    return (int)k;
}

int tui_text_width(const char *s, size_t len) {
    int cols = 0, w;
    for (size_t i = 0; i < len;) {
        i += (size_t)char_at(s + i, len - i, &w);
        cols += w;
    }
    return cols;
}

int tui_lines_wrap(tui_lines *l, const char *text, size_t len, int width, const char *prefix,
                   attr_t prefix_attr, attr_t attr) {
    int prefix_cols = tui_text_width(prefix, strlen(prefix));
    int avail = width - prefix_cols > 4 ? width - prefix_cols : 4;
    size_t pos = 0;
    for (;;) {
        /* one source line (up to '\n') is cut into display lines of at most avail columns */
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        size_t at = pos;
        do {
            size_t i = at, last_space = 0;
            int cols = 0, w;
            while (i < end) {
                int k = char_at(text + i, end - i, &w);
                if (cols + w > avail) break;
                if (text[i] == ' ') last_space = i;
                cols += w;
                i += (size_t)k;
            }
            if (i == at && i < end) i += (size_t)char_at(text + i, end - i, &w); /* too wide */
            /* a full line breaks at the space after it or at its last space, else mid-word */
            size_t cut = i < end && text[i] != ' ' && last_space > at ? last_space : i;
            tui_line *line = new_line(l);
            tui_buf b = {0};
            if (!line || add_span(line, &b, prefix, strlen(prefix), prefix_attr) ||
                add_span(line, &b, text + at, cut - at, attr)) {
                free(b.s);
                return -1;
            }
            line->text = b.s;
            at = cut;
            if (at < end && text[at] == ' ') at++; /* the space the line broke at */
        } while (at < end);
        if (end >= len) break;
        pos = end + 1;
    }
    return 0;
}

void tui_line_draw(WINDOW *win, int y, const tui_line *line, attr_t base) {
    int width = getmaxx(win);
    wmove(win, y, 0);
    int col = 0;
    for (int s = 0; s < line->n_spans && col < width; s++) {
        const char *p = line->text + line->spans[s].start;
        size_t n = (size_t)line->spans[s].len;
        wattrset(win, line->spans[s].attr ? line->spans[s].attr : base);
        /* clip by display columns so a wide character never wraps to the next row */
        size_t i = 0;
        int w;
        while (i < n) {
            int k = char_at(p + i, n - i, &w);
            if (col + w > width) break;
            if (p[i] == '\t') waddstr(win, "    ");
            else if ((unsigned char)p[i] < 0x20) waddch(win, ' ');
            else waddnstr(win, p + i, k);
            col += w;
            i += (size_t)k;
        }
    }
    wattrset(win, base);
}
