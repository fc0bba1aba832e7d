/* markdown.c: Markdown to styled terminal lines (see markdown.h). Parses with
 * cmark-gfm (tables, strikethrough, autolinks, task lists), walks the block
 * tree with its iterator (no recursion, so any nesting depth is safe) and lays
 * out each block: paragraphs and headings wrapped, code hard-broken, tables
 * with box-drawing borders, block quotes and list items as line prefixes.
 * Filling and the line buffer live in markdown_wrap.c. */
#include "tui/markdown.h"
#include "tui/markdown_wrap.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WIDTH 4096              /* wider requests render at this width */
#define MAX_INPUT ((size_t)64 << 20)  /* bytes of Markdown rendered at most */

static const char *const bullets[] = {"\xE2\x80\xA2 ", "\xE2\x97\xA6 ", "\xE2\x96\xAA "};  /* • ◦ ▪ */
#define GUTTER "\xE2\x94\x82 "  /* "│ " */
#define RULE_LIGHT "\xE2\x94\x80"   /* ─ */
#define RULE_DOUBLE "\xE2\x95\x90"  /* ═ */

/* ---- cmark-gfm extensions (registered once, then read-only) ----------------- */

static pthread_once_t extensions_once = PTHREAD_ONCE_INIT;
static cmark_syntax_extension *extensions[4];

static void extensions_init(void) {
    static const char *const names[] = {"table", "strikethrough", "autolink", "tasklist"};
    cmark_gfm_core_extensions_ensure_registered();
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) extensions[i] = cmark_find_syntax_extension(names[i]);
}

static int is_type(cmark_node *node, const char *name) {
    const char *type = cmark_node_get_type_string(node);
    return type && strcmp(type, name) == 0;
}

/* ---- layout state ---------------------------------------------------------- */

enum { BOX_QUOTE, BOX_LIST, BOX_ITEM };

/* An open container: a block quote draws its gutter on every line, a list item
 * its marker on its first line and the marker's width of indent after it. */
typedef struct {
    int kind;
    int tight;              /* a list, or an item of a list, with no blank lines */
    unsigned style;         /* of the gutter or marker */
    char marker[64];
    int marker_w;
    size_t lines_at_push;   /* output lines when the box opened */
    int ordered, number_w;  /* lists */
    long long next_number;
    char delim;
} box;

typedef struct {
    int width;
    box *stack;
    int depth, cap;
    int n_used;         /* boxes whose first line is out: stack[n_used..] still owe theirs */
    int quote_depth, bullet_depth;
    int pending_blank;  /* a block ended: the next one starts with a blank line... */
    int blank_depth;    /* ...unless the box at this depth (their common parent) is tight */
    mdw_lines out;      /* the document */
    mdw_lines block;    /* the block being laid out, without prefixes */
    mdw_lines cells;    /* a table row's wrapped cells */
    mdw_runs runs;      /* inline content */
    int oom;
} layout;

static int failed(const layout *L) {
    return L->oom || L->out.oom || L->block.oom || L->cells.oom || L->runs.oom;
}

static unsigned base_style(const layout *L) {
    return L->quote_depth > 0 ? MD_QUOTE : MD_TEXT;
}

static int text_width(const char *s) {
    int w = 0;
    for (size_t i = 0, n = strlen(s); i < n;) {
        unsigned cp;
        i += (size_t)mdw_decode(s + i, n - i, &cp);
        w += mdw_char_width(cp);
    }
    return w;
}

static void put_spaces(mdw_lines *l, int n, unsigned style) {
    static const char spaces[] = "                                ";
    while (n > 0) {
        int k = n < 32 ? n : 32;
        mdw_put(l, spaces, (size_t)k, k, style, 0);
        n -= k;
    }
}

/* ---- prefixes and block spacing -------------------------------------------- */

/* Prefixes take at most this much, so that some text always fits. */
static int prefix_room(int width) {
    int room = width * 2 / 3;
    return room < width - 1 ? room : width - 1;
}

static int box_width(const box *b) {
    return b->kind == BOX_QUOTE ? 2 : b->kind == BOX_ITEM ? b->marker_w : 0;
}

/* Where the prefixes of boxes [0, upto) start when they must fit `room`: the
 * innermost show, the outermost are cut from the left. Returns the first box
 * shown, with *cut of its leading columns hidden and *width the total shown.
 * Walks only as many boxes as fit, so deep nesting costs nothing per line. */
static int visible_prefix(const layout *L, int upto, int *cut, int *width) {
    int room = prefix_room(L->width), w = 0;
    for (int i = upto; i > 0; i--) {
        int bw = box_width(&L->stack[i - 1]);
        if (w + bw > room) {
            *cut = w + bw - room;
            *width = room;
            return i - 1;
        }
        w += bw;
    }
    *cut = 0;
    *width = w;
    return 0;
}

static int content_width(const layout *L) {
    int cut, width;
    visible_prefix(L, L->depth, &cut, &width);
    return L->width - width;
}

/* Puts s without its first `cut` columns. */
static void put_cut_left(mdw_lines *l, const char *s, int cut, unsigned style) {
    for (size_t i = 0, n = strlen(s); i < n;) {
        unsigned cp;
        int k = mdw_decode(s + i, n - i, &cp), w = mdw_char_width(cp);
        if (cut > 0) cut -= w;
        else mdw_put(l, s + i, (size_t)k, w, style, 0);
        i += (size_t)k;
    }
}

/* Starts an output line with the prefixes of boxes [0, upto). A blank line
 * shows no item markers (they wait for the item's first text) and no trailing
 * spaces. */
static void start_line(layout *L, int upto, int blank) {
    mdw_new_line(&L->out);
    int cut, width;
    for (int i = visible_prefix(L, upto, &cut, &width); i < upto; i++, cut = 0) {
        const box *b = &L->stack[i];
        if (b->kind == BOX_QUOTE) {
            put_cut_left(&L->out, GUTTER, cut, b->style);
        } else if (b->kind == BOX_ITEM && i >= L->n_used && !blank) {
            put_cut_left(&L->out, b->marker, cut, b->style);
        } else if (b->kind == BOX_ITEM) {
            put_spaces(&L->out, b->marker_w - cut, b->style & ~MD_LIST_MARKER);
        }
    }
    if (blank) mdw_trim_right(&L->out);
    else L->n_used = L->depth;
}

static void begin_block(layout *L) {
    if (L->pending_blank) {
        int m = L->blank_depth;
        if (!(m > 0 && L->stack[m - 1].tight)) start_line(L, m, 1);
    }
    L->pending_blank = 0;
}

static void end_block(layout *L) {
    L->pending_blank = 1;
    L->blank_depth = L->depth;
}

/* Moves the laid-out block into the document, each line behind the prefixes. */
static void emit_block(layout *L) {
    if (L->block.n_lines == 0 || failed(L)) {
        mdw_lines_clear(&L->block);
        return;
    }
    begin_block(L);
    for (size_t i = 0; i < L->block.n_lines; i++) {
        start_line(L, L->depth, 0);
        mdw_copy_line(&L->out, &L->block, i);
    }
    mdw_lines_clear(&L->block);
    end_block(L);
}

/* A container that ended without a line of its own still shows: "•", "│". */
static void emit_empty_box(layout *L) {
    begin_block(L);
    start_line(L, L->depth, 0);
    mdw_trim_right(&L->out);
    end_block(L);
}

static box *push(layout *L, int kind) {
    if (L->depth == L->cap) {
        int cap = L->cap ? L->cap * 2 : 16;
        box *stack = L->cap < INT32_MAX / 2 ? realloc(L->stack, (size_t)cap * sizeof *stack) : NULL;
        if (!stack) {
            L->oom = 1;
            return NULL;
        }
        L->stack = stack;
        L->cap = cap;
    }
    box *b = &L->stack[L->depth++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->lines_at_push = L->out.n_lines;
    return b;
}

static void push_quote(layout *L) {
    box *b = push(L, BOX_QUOTE);
    if (!b) return;
    b->style = MD_QUOTE;
    L->quote_depth++;
}

static void push_list(layout *L, cmark_node *list) {
    int ordered = cmark_node_get_list_type(list) == CMARK_ORDERED_LIST;
    long long start = ordered ? cmark_node_get_list_start(list) : 0, items = 0;
    for (cmark_node *item = cmark_node_first_child(list); item; item = cmark_node_next(item)) items++;
    box *b = push(L, BOX_LIST);
    if (!b) return;
    b->tight = cmark_node_get_list_tight(list);
    b->ordered = ordered;
    b->next_number = start;
    b->delim = cmark_node_get_list_delim(list) == CMARK_PAREN_DELIM ? ')' : '.';
    char digits[32];
    long long last = start + (items > 0 ? items - 1 : 0);
    b->number_w = snprintf(digits, sizeof digits, "%lld", last > start ? last : start);
    if (!ordered) L->bullet_depth++;
}

static void push_item(layout *L, cmark_node *item) {
    box *list = L->depth > 0 && L->stack[L->depth - 1].kind == BOX_LIST ? &L->stack[L->depth - 1] : NULL;
    int tight = list ? list->tight : 0, ordered = list ? list->ordered : 0;
    char marker[64];
    const char *task = !is_type(item, "tasklist") ? ""
                       : cmark_gfm_extensions_get_tasklist_item_checked(item) ? "[x] " : "[ ] ";
    if (ordered) {
        snprintf(marker, sizeof marker, "%*lld%c %s", list->number_w, list->next_number++, list->delim, task);
    } else if (*task) {
        snprintf(marker, sizeof marker, "%s", task);
    } else {
        int depth = L->bullet_depth > 0 ? L->bullet_depth - 1 : 0;
        snprintf(marker, sizeof marker, "%s", bullets[depth % 3]);
    }
    box *b = push(L, BOX_ITEM);
    if (!b) return;
    b->tight = tight;
    b->style = base_style(L) | MD_LIST_MARKER;
    memcpy(b->marker, marker, sizeof marker);
    b->marker_w = text_width(marker);
}

static void pop(layout *L) {
    if (L->depth == 0) return;
    box *b = &L->stack[L->depth - 1];
    if ((b->kind == BOX_ITEM && L->depth - 1 >= L->n_used) ||
        (b->kind == BOX_QUOTE && L->out.n_lines == b->lines_at_push))
        emit_empty_box(L);
    if (b->kind == BOX_QUOTE) L->quote_depth--;
    if (b->kind == BOX_LIST && !b->ordered) L->bullet_depth--;
    L->depth--;
    if (L->n_used > L->depth) L->n_used = L->depth;
    if (L->blank_depth > L->depth) L->blank_depth = L->depth;
}

/* ---- inline content -------------------------------------------------------- */

/* Whether a link's text already says its URL (autolinks). */
static int text_is_url(const char *text, size_t n, const char *url) {
    static const char *const schemes[] = {"", "http://", "https://", "mailto:"};
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        size_t k = strlen(schemes[i]);
        if (strncmp(url, schemes[i], k) == 0 && strlen(url + k) == n && memcmp(url + k, text, n) == 0) return 1;
    }
    return 0;
}

/* Appends the inline content of a paragraph, heading or table cell to L->runs. */
static void collect_inlines(layout *L, cmark_node *node, unsigned base, int level) {
    cmark_iter *it = cmark_iter_new(node);
    if (!it) {
        L->oom = 1;
        return;
    }
    mdw_runs *r = &L->runs;
    int emph = 0, strong = 0, strike = 0, link = 0;
    size_t link_start = 0;
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *n = cmark_iter_get_node(it);
        if (n == node) continue;
        int enter = ev == CMARK_EVENT_ENTER, step = enter ? 1 : -1;
        unsigned style = base | (emph > 0 ? MD_EMPHASIS : 0) | (strong > 0 ? MD_STRONG : 0) |
                         (strike > 0 ? MD_STRIKETHROUGH : 0) | (link > 0 ? MD_LINK : 0);
        const char *s;
        switch (cmark_node_get_type(n)) {
        case CMARK_NODE_TEXT:
        case CMARK_NODE_HTML_INLINE:
            s = cmark_node_get_literal(n);
            if (s) mdw_runs_add(r, s, strlen(s), style, level, MDW_INLINE);
            break;
        case CMARK_NODE_CODE:
            s = cmark_node_get_literal(n);
            if (s) mdw_runs_add(r, s, strlen(s), style | MD_CODE, level, MDW_INLINE);
            break;
        case CMARK_NODE_SOFTBREAK: mdw_runs_add_str(r, " ", style, level); break;
        case CMARK_NODE_LINEBREAK: mdw_runs_add_break(r); break;
        case CMARK_NODE_EMPH: emph += step; break;
        case CMARK_NODE_STRONG: strong += step; break;
        case CMARK_NODE_LINK:
            link += step;
            if (enter) {
                link_start = r->len;
            } else {
                const char *url = cmark_node_get_url(n);
                unsigned outside = style & ~MD_LINK;
                if (url && *url && !r->oom && !text_is_url(r->text + link_start, r->len - link_start, url)) {
                    mdw_runs_add_str(r, " ", outside, level);
                    mdw_runs_add_str(r, "(", outside | MD_LINK_URL, level);
                    mdw_runs_add_str(r, url, outside | MD_LINK_URL, level);
                    mdw_runs_add_str(r, ")", outside | MD_LINK_URL, level);
                }
            }
            break;
        case CMARK_NODE_IMAGE:
            link += step;
            mdw_runs_add_str(r, enter ? "[image: " : "]", style | MD_LINK, level);
            break;
        default:
            if (is_type(n, "strikethrough")) {
                strike += step;
            } else if (enter && (s = cmark_node_get_literal(n))) {
                mdw_runs_add(r, s, strlen(s), style, level, MDW_INLINE);  /* future inline kinds: as text */
            }
            break;
        }
    }
    cmark_iter_free(it);
}

/* ---- blocks ---------------------------------------------------------------- */

static void layout_paragraph(layout *L, cmark_node *node) {
    mdw_runs_clear(&L->runs);
    collect_inlines(L, node, base_style(L), 0);
    mdw_wrap(&L->runs, 0, L->runs.n_runs, content_width(L), &L->block);
}

/* Level 1 and 2 are underlined with a double and a single rule; a heading with
 * no text yet ("# " while streaming) shows nothing. */
static void layout_heading(layout *L, cmark_node *node) {
    int level = cmark_node_get_heading_level(node);
    if (level < 1 || level > 6) level = 1;
    unsigned style = base_style(L) | MD_HEADING;
    mdw_runs_clear(&L->runs);
    collect_inlines(L, node, style, level);
    mdw_wrap(&L->runs, 0, L->runs.n_runs, content_width(L), &L->block);
    if (level <= 2 && L->block.n_lines > 0 && !failed(L)) {
        int w = 1;
        for (size_t i = 0; i < L->block.n_lines; i++)
            if (L->block.lines[i].width > w) w = L->block.lines[i].width;
        mdw_new_line(&L->block);
        mdw_put_repeat(&L->block, level == 1 ? RULE_DOUBLE : RULE_LIGHT, 1, w, style | MD_RULE, level);
    }
}

/* The language label (the info string's first word), then each line cut at the
 * width. */
static void layout_code(layout *L, cmark_node *node) {
    int avail = content_width(L);
    unsigned base = base_style(L);
    const char *info = cmark_node_get_fence_info(node);
    if (info) {
        size_t n = strcspn(info, " \t");
        if (n > 0) {
            mdw_runs_clear(&L->runs);
            mdw_runs_add(&L->runs, info, n, base | MD_CODE_LANG, 0, MDW_INLINE);
            mdw_hard_break(&L->runs, 0, L->runs.n_runs, avail, &L->block);
        }
    }
    const char *code = cmark_node_get_literal(node);
    if (!code) return;
    for (const char *line = code; *line && !failed(L);) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        mdw_runs_clear(&L->runs);
        mdw_runs_add(&L->runs, line, n, base | MD_CODE_BLOCK, 0, MDW_CODE);
        mdw_hard_break(&L->runs, 0, L->runs.n_runs, avail, &L->block);
        line += n + (eol ? 1 : 0);
    }
}

/* HTML is shown as it was written, its lines wrapped. */
static void layout_html(layout *L, cmark_node *node) {
    const char *html = cmark_node_get_literal(node);
    if (!html) return;
    size_t n = strlen(html);
    while (n > 0 && html[n - 1] == '\n') n--;
    mdw_runs_clear(&L->runs);
    mdw_runs_add(&L->runs, html, n, base_style(L), 0, MDW_LINES);
    mdw_wrap(&L->runs, 0, L->runs.n_runs, content_width(L), &L->block);
}

static void layout_rule(layout *L) {
    mdw_new_line(&L->block);
    mdw_put_repeat(&L->block, RULE_LIGHT, 1, content_width(L), base_style(L) | MD_RULE, 0);
}

/* ---- tables ---------------------------------------------------------------- */

typedef struct {
    size_t first, last;  /* runs of the cell's content */
    int natural;         /* its width on one line */
} cell;

typedef struct {
    int n_rows, n_cols;
    cell *cells;         /* n_rows x n_cols */
    int *header;         /* per row */
    int *natural, *col_w, *line0, *n_lines;  /* per column */
    const uint8_t *align;
} table;

static cell *cell_at(const table *t, int row, int col) {
    return &t->cells[(size_t)row * (size_t)t->n_cols + (size_t)col];
}

/* Column widths: natural when the table fits, else each column capped at the
 * largest C that fits (water filling), the rest handed out left to right.
 * Returns -1 when not even 3 columns per cell (or its natural width) fit. */
static int size_columns(table *t, int budget) {
    long long need = 0, total = 0;
    int widest = 1;
    for (int c = 0; c < t->n_cols; c++) {
        need += t->natural[c] < 3 ? t->natural[c] : 3;
        total += t->natural[c];
        if (t->natural[c] > widest) widest = t->natural[c];
    }
    if (need > budget) return -1;
    if (total <= budget) {
        memcpy(t->col_w, t->natural, (size_t)t->n_cols * sizeof *t->col_w);
        return 0;
    }
    int lo = 1, hi = widest;  /* lo always fits (3 does) */
    if (lo < 3) lo = 3;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        long long sum = 0;
        for (int c = 0; c < t->n_cols; c++) sum += t->natural[c] < mid ? t->natural[c] : mid;
        if (sum <= budget) lo = mid;
        else hi = mid - 1;
    }
    long long used = 0;
    for (int c = 0; c < t->n_cols; c++) {
        t->col_w[c] = t->natural[c] < lo ? t->natural[c] : lo;
        used += t->col_w[c];
    }
    for (int c = 0; c < t->n_cols && used < budget; c++)
        if (t->natural[c] > t->col_w[c]) t->col_w[c]++, used++;
    return 0;
}

static void table_border(layout *L, const table *t, const char *left, const char *mid, const char *right) {
    unsigned style = base_style(L) | MD_TABLE;
    mdw_new_line(&L->block);
    mdw_put(&L->block, left, strlen(left), 1, style, 0);
    for (int c = 0; c < t->n_cols; c++) {
        mdw_put_repeat(&L->block, RULE_LIGHT, 1, t->col_w[c] + 2, style, 0);
        mdw_put(&L->block, c + 1 < t->n_cols ? mid : right, 3, 1, style, 0);
    }
}

static void table_row(layout *L, table *t, int row) {
    unsigned base = base_style(L), border = base | MD_TABLE;
    int height = 1;
    mdw_lines_clear(&L->cells);
    for (int c = 0; c < t->n_cols; c++) {
        const cell *x = cell_at(t, row, c);
        t->line0[c] = (int)L->cells.n_lines;
        mdw_wrap(&L->runs, x->first, x->last, t->col_w[c], &L->cells);
        t->n_lines[c] = (int)L->cells.n_lines - t->line0[c];
        if (t->n_lines[c] > height) height = t->n_lines[c];
    }
    for (int k = 0; k < height && !failed(L); k++) {
        mdw_new_line(&L->block);
        mdw_put(&L->block, "\xE2\x94\x82", 3, 1, border, 0);
        for (int c = 0; c < t->n_cols; c++) {
            int pad = t->col_w[c], left = 0;
            if (k < t->n_lines[c]) {
                size_t i = (size_t)(t->line0[c] + k);
                pad -= L->cells.lines[i].width;
                uint8_t a = t->align ? t->align[c] : 0;
                left = a == 'r' ? pad : a == 'c' ? pad / 2 : 0;
                put_spaces(&L->block, 1 + left, base);
                mdw_copy_line(&L->block, &L->cells, i);
            } else {
                put_spaces(&L->block, 1, base);
            }
            put_spaces(&L->block, pad - left + 1, base);
            mdw_put(&L->block, "\xE2\x94\x82", 3, 1, border, 0);
        }
    }
}

/* Too narrow for a grid: each row as "header: value" lines, rows between rules. */
static void table_as_records(layout *L, table *t) {
    int avail = content_width(L), first_body = 0;
    while (first_body < t->n_rows && t->header[first_body]) first_body++;
    if (first_body == t->n_rows) first_body = 0;  /* a header alone: show its cells */
    for (int row = first_body; row < t->n_rows && !failed(L); row++) {
        if (row > first_body) {
            mdw_new_line(&L->block);
            mdw_put_repeat(&L->block, RULE_LIGHT, 1, avail, base_style(L) | MD_TABLE, 0);
        }
        for (int c = 0; c < t->n_cols; c++) {
            const cell *head = cell_at(t, 0, c), *x = cell_at(t, row, c);
            size_t first = mdw_runs_mark(&L->runs);
            if (row != 0) {
                mdw_runs_copy(&L->runs, head->first, head->last, 0);
                if (head->last > head->first) mdw_runs_add_str(&L->runs, ": ", base_style(L) | MD_STRONG, 0);
            }
            mdw_runs_copy(&L->runs, x->first, x->last, 0);
            mdw_wrap(&L->runs, first, L->runs.n_runs, avail, &L->block);
        }
    }
}

static void layout_table(layout *L, cmark_node *node) {
    table t = {0};
    t.n_cols = cmark_gfm_extensions_get_table_columns(node);
    t.align = cmark_gfm_extensions_get_table_alignments(node);
    for (cmark_node *row = cmark_node_first_child(node); row; row = cmark_node_next(row)) t.n_rows++;
    if (t.n_cols <= 0 || t.n_rows <= 0) return;
    size_t n_cells = (size_t)t.n_rows * (size_t)t.n_cols;
    t.cells = calloc(n_cells, sizeof *t.cells);
    t.header = calloc((size_t)t.n_rows, sizeof *t.header);
    int *cols = calloc((size_t)t.n_cols * 4, sizeof *cols);
    if (!t.cells || !t.header || !cols) {
        L->oom = 1;
        goto done;
    }
    t.natural = cols;
    t.col_w = cols + t.n_cols;
    t.line0 = cols + 2 * t.n_cols;
    t.n_lines = cols + 3 * t.n_cols;

    mdw_runs_clear(&L->runs);
    int row = 0;
    for (cmark_node *r = cmark_node_first_child(node); r; r = cmark_node_next(r), row++) {
        t.header[row] = cmark_gfm_extensions_get_table_row_is_header(r);
        int col = 0;
        for (cmark_node *c = cmark_node_first_child(r); c && col < t.n_cols; c = cmark_node_next(c), col++) {
            cell *x = cell_at(&t, row, col);
            x->first = mdw_runs_mark(&L->runs);
            collect_inlines(L, c, base_style(L) | (t.header[row] ? MD_STRONG : 0), 0);
            x->last = mdw_runs_mark(&L->runs);
        }
        for (; col < t.n_cols; col++) cell_at(&t, row, col)->first = cell_at(&t, row, col)->last = L->runs.n_runs;
    }
    if (failed(L)) goto done;

    int multi_line = 0, widest_word;
    for (row = 0; row < t.n_rows; row++)
        for (int c = 0; c < t.n_cols; c++) {
            cell *x = cell_at(&t, row, c);
            mdw_measure(&L->runs, x->first, x->last, &x->natural, &widest_word);
            if (x->natural > t.natural[c]) t.natural[c] = x->natural;
        }
    for (int c = 0; c < t.n_cols; c++)
        if (t.natural[c] < 1) t.natural[c] = 1;
    if (size_columns(&t, content_width(L) - 3 * t.n_cols - 1) < 0) {
        table_as_records(L, &t);
        goto done;
    }
    for (row = 0; row < t.n_rows; row++)
        for (int c = 0; c < t.n_cols; c++)
            if (!t.header[row] && cell_at(&t, row, c)->natural > t.col_w[c]) multi_line = 1;

    table_border(L, &t, "\xE2\x94\x8C", "\xE2\x94\xAC", "\xE2\x94\x90");  /* ┌ ┬ ┐ */
    for (row = 0; row < t.n_rows && !failed(L); row++) {
        int after_header = row > 0 && t.header[row - 1] && !t.header[row];
        if (after_header || (row > 0 && multi_line && !t.header[row]))
            table_border(L, &t, "\xE2\x94\x9C", "\xE2\x94\xBC", "\xE2\x94\xA4");  /* ├ ┼ ┤ */
        table_row(L, &t, row);
    }
    table_border(L, &t, "\xE2\x94\x94", "\xE2\x94\xB4", "\xE2\x94\x98");  /* └ ┴ ┘ */
done:
    free(t.cells);
    free(t.header);
    free(cols);
}

/* ---- the walk -------------------------------------------------------------- */

static void walk(layout *L, cmark_node *doc) {
    cmark_iter *it = cmark_iter_new(doc);
    if (!it) {
        L->oom = 1;
        return;
    }
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE && !failed(L)) {
        cmark_node *node = cmark_iter_get_node(it);
        cmark_node_type type = cmark_node_get_type(node);
        if (ev == CMARK_EVENT_EXIT) {
            if (type == CMARK_NODE_BLOCK_QUOTE || type == CMARK_NODE_LIST || type == CMARK_NODE_ITEM) pop(L);
            continue;
        }
        int skip_children = 1;
        switch (type) {
        case CMARK_NODE_BLOCK_QUOTE: push_quote(L); skip_children = 0; break;
        case CMARK_NODE_LIST: push_list(L, node); skip_children = 0; break;
        case CMARK_NODE_ITEM: push_item(L, node); skip_children = 0; break;
        case CMARK_NODE_PARAGRAPH: layout_paragraph(L, node); break;
        case CMARK_NODE_HEADING: layout_heading(L, node); break;
        case CMARK_NODE_CODE_BLOCK: layout_code(L, node); break;
        case CMARK_NODE_HTML_BLOCK: layout_html(L, node); break;
        case CMARK_NODE_THEMATIC_BREAK: layout_rule(L); break;
        default:
            if (is_type(node, "table")) layout_table(L, node);
            else skip_children = 0;  /* the document, other containers: their blocks */
            break;
        }
        if (skip_children) {
            emit_block(L);
            if (cmark_node_first_child(node)) cmark_iter_reset(it, node, CMARK_EVENT_EXIT);
        }
    }
    cmark_iter_free(it);
}

int md_render(const char *markdown, size_t len, int width, md_doc *out) {
    out->lines = NULL;
    out->n_lines = 0;
    if (!markdown) len = 0;
    if (len > MAX_INPUT) len = MAX_INPUT;
    pthread_once(&extensions_once, extensions_init);
    cmark_parser *parser = cmark_parser_new(CMARK_OPT_VALIDATE_UTF8);
    if (!parser) return -1;
    for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++)
        if (extensions[i]) cmark_parser_attach_syntax_extension(parser, extensions[i]);
    cmark_parser_feed(parser, markdown ? markdown : "", len);
    cmark_node *doc = cmark_parser_finish(parser);

    layout L = {.width = width < 1 ? 1 : width > MAX_WIDTH ? MAX_WIDTH : width};
    /* rendered text is mostly the input plus borders, gutters and rules */
    mdw_lines_reserve(&L.out, len + len / 2 + 4096, len / 24 + 64);
    mdw_lines_reserve(&L.block, 4096, 64);
    locale_t previous = mdw_locale_begin();
    if (doc) walk(&L, doc);
    mdw_locale_end(previous);
    int rc = !doc || failed(&L) ? -1 : mdw_finish(&L.out, out);

    mdw_lines_free(&L.out);
    mdw_lines_free(&L.block);
    mdw_lines_free(&L.cells);
    mdw_runs_free(&L.runs);
    free(L.stack);
    if (doc) cmark_node_free(doc);
    cmark_parser_free(parser);
    return rc;
}

void md_doc_free(md_doc *doc) {
    if (!doc) return;
    free(doc->lines);  /* lines, spans and text are one allocation */
    doc->lines = NULL;
    doc->n_lines = 0;
}

char *md_render_plain(const char *markdown, size_t len, int width) {
    md_doc doc;
    if (md_render(markdown, len, width, &doc) < 0) return NULL;
    size_t total = 1;
    for (int i = 0; i < doc.n_lines; i++) total += (size_t)doc.lines[i].len + 1;
    char *text = malloc(total), *p = text;
    if (text) {
        for (int i = 0; i < doc.n_lines; i++) {
            memcpy(p, doc.lines[i].text, (size_t)doc.lines[i].len);
            p += doc.lines[i].len;
            *p++ = '\n';
        }
        *p = '\0';
    }
    md_doc_free(&doc);
    return text;
}
