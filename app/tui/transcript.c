/* transcript.c: the transcript view: a list of message blocks (user, assistant with its thinking
 * and tool calls, notes, errors), each rendered to styled lines cached for one width and redrawn
 * only where visible; scrolling by lines and pages from the bottom. */
#include "tui/ui.h"
#include "tui/markdown.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tui_block *tui_transcript_add(tui_transcript *t, tui_block_kind kind, const char *text) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 32;
        tui_block **v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        t->v = v, t->cap = cap;
    }
    tui_block *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->kind = kind;
    if (text) tui_buf_set(&b->content, text);
    t->v[t->n++] = b;
    return b;
}

static void block_free(tui_block *b) {
    tui_buf_free(&b->content);
    tui_buf_free(&b->reasoning);
    for (int i = 0; i < b->n_tools; i++)
        free(b->tools[i].name), free(b->tools[i].arguments), free(b->tools[i].id), free(b->tools[i].result);
    free(b->tools);
    tui_lines_clear(&b->lines);
    free(b);
}

void tui_transcript_truncate(tui_transcript *t, int n) {
    while (t->n > n && t->n > 0) block_free(t->v[--t->n]);
}

void tui_transcript_clear(tui_transcript *t) {
    for (int i = 0; i < t->n; i++) block_free(t->v[i]);
    free(t->v);
    *t = (tui_transcript){0};
}

void tui_block_touch(tui_block *b) { b->cache_width = 0; }

void tui_transcript_invalidate(tui_transcript *t) {
    for (int i = 0; i < t->n; i++) tui_block_touch(t->v[i]);
}

/* The attribute for a Markdown span's style bits: the innermost construct gives the colour
 * (a link inside a quote is a link); strong and emphasis inside a coloured construct add their
 * attributes (bold, italic) to its colour; strikethrough dims. */
static attr_t md_attr(const attr_t *roles, unsigned style) {
    static const struct { unsigned bit; theme_role role; } outer_to_inner[] = {
        {MD_QUOTE, THEME_QUOTE},         {MD_TABLE, THEME_TABLE},         {MD_HEADING, THEME_HEADING},
        {MD_LIST_MARKER, THEME_LIST_MARKER}, {MD_RULE, THEME_RULE},       {MD_CODE_BLOCK, THEME_CODE_BLOCK},
        {MD_CODE_LANG, THEME_CODE_LANG}, {MD_CODE, THEME_CODE},           {MD_LINK, THEME_LINK},
        {MD_LINK_URL, THEME_DIM},
    };
    attr_t a = roles[THEME_TEXT];
    bool coloured = false;
    for (size_t i = 0; i < sizeof outer_to_inner / sizeof *outer_to_inner; i++)
        if (style & outer_to_inner[i].bit) a = roles[outer_to_inner[i].role], coloured = true;
    if (style & MD_STRONG) a = coloured ? a | (roles[THEME_STRONG] & ~A_COLOR) | A_BOLD : roles[THEME_STRONG];
    if (style & MD_EMPHASIS)
        a = coloured || (style & MD_STRONG) ? a | (roles[THEME_EMPHASIS] & ~A_COLOR) | A_ITALIC : roles[THEME_EMPHASIS];
    if (style & MD_STRIKETHROUGH) a |= A_DIM;
    return a;
}

/* Appends the Markdown rendering of text, each line indented by indent columns. */
static int add_markdown(tui_lines *out, const char *text, size_t len, int width, const char *indent,
                        const attr_t *roles) {
    md_doc doc = {0};
    if (md_render(text, len, width, &doc)) return -1;
    int rc = 0;
    for (int i = 0; i < doc.n_lines && !rc; i++) {
        const md_line *ml = &doc.lines[i];
        rc = tui_lines_add(out, indent, strlen(indent), roles[THEME_TEXT]);
        if (rc) break;
        tui_line *line = &out->v[out->n - 1];
        tui_buf b = {line->text, strlen(line->text), strlen(line->text) + 1};
        size_t tlen = (size_t)ml->len;
        int at = 0;
        for (int s = 0; s <= ml->n_spans && !rc; s++) {
            int start = s < ml->n_spans ? ml->spans[s].start : (int)tlen;
            if (start > at) { /* text between spans */
                tui_span *v = realloc(line->spans, (size_t)(line->n_spans + 1) * sizeof *v);
                if (!v || tui_buf_append(&b, ml->text + at, (size_t)(start - at))) { rc = -1; if (v) line->spans = v; break; }
                line->spans = v;
                v[line->n_spans++] = (tui_span){(int)(b.len - (size_t)(start - at)), start - at, roles[THEME_TEXT]};
                at = start;
            }
            if (s == ml->n_spans) break;
            const md_span *sp = &ml->spans[s];
            if (sp->start < at || sp->len <= 0 || (size_t)(sp->start + sp->len) > tlen) continue;
            tui_span *v = realloc(line->spans, (size_t)(line->n_spans + 1) * sizeof *v);
            if (!v || tui_buf_append(&b, ml->text + sp->start, (size_t)sp->len)) { rc = -1; if (v) line->spans = v; break; }
            line->spans = v;
            v[line->n_spans++] = (tui_span){(int)(b.len - (size_t)sp->len), sp->len, md_attr(roles, sp->style)};
            at = sp->start + sp->len;
        }
        line->text = b.s;
    }
    md_doc_free(&doc);
    return rc;
}

static const char *block_label(const tui_block *b) {
    switch (b->kind) {
    case TUI_BLOCK_USER: return "▌ you";
    case TUI_BLOCK_ASSISTANT: return "▌ gemma";
    default: return NULL;
    }
}

enum { RESULT_LINES = 3 }; /* lines of a tool result shown while it is closed */

/* A call's result under it: "← result" and the text, cut to RESULT_LINES wrapped lines
 * unless open (r opens and closes them). */
static int render_result(tui_lines *l, const tui_tool_call *tc, bool open, int width, const attr_t *roles) {
    attr_t text_attr = roles[tc->result_error ? THEME_ERROR : THEME_DIM];
    size_t len = strlen(tc->result);
    tui_lines body = {0};
    int rc = tui_lines_wrap(&body, tc->result, len, width, "    │ ", roles[THEME_TOOL], text_attr);
    int total = body.n;
    tui_lines_clear(&body);
    if (rc) return -1;
    int shown = open || total <= RESULT_LINES ? total : RESULT_LINES;
    const char *what = tc->result_error ? "error" : "result";
    char head[160];
    if (shown < total) snprintf(head, sizeof head, "    ← %s (%d of %d lines — press r)", what, shown, total);
    else snprintf(head, sizeof head, "    ← %s%s", what, total > RESULT_LINES ? " (press r to fold)" : "");
    if (tui_lines_add(l, head, strlen(head), roles[THEME_TOOL])) return -1;
    int before = l->n;
    if (tui_lines_wrap(l, tc->result, len, width, "    │ ", roles[THEME_TOOL], text_attr)) return -1;
    while (l->n > before + shown) { /* the folded part */
        tui_line *line = &l->v[--l->n];
        free(line->text), free(line->spans);
    }
    return 0;
}

static int render_block(tui_block *b, int width, const attr_t *roles) {
    tui_lines_clear(&b->lines);
    tui_lines *l = &b->lines;
    int inner = width - 2 > 4 ? width - 2 : 4;
    const char *label = block_label(b);
    if (label) {
        char head[96];
        snprintf(head, sizeof head, "%s%s", label, b->cancelled ? "  (cancelled)" : "");
        if (tui_lines_add(l, head, strlen(head),
                          roles[b->kind == TUI_BLOCK_USER ? THEME_USER_LABEL : THEME_ASSISTANT_LABEL]))
            return -1;
    }
    if (b->kind == TUI_BLOCK_NOTE || b->kind == TUI_BLOCK_ERROR) {
        attr_t a = roles[b->kind == TUI_BLOCK_NOTE ? THEME_DIM : THEME_ERROR];
        return tui_lines_wrap(l, b->content.s ? b->content.s : "", b->content.len, width, "", a, a);
    }
    if (b->kind == TUI_BLOCK_USER) {
        if (tui_lines_wrap(l, b->content.s ? b->content.s : "", b->content.len, width, "  ",
                           roles[THEME_USER], roles[THEME_USER]))
            return -1;
        return tui_lines_add(l, "", 0, roles[THEME_TEXT]);
    }
    /* assistant: thinking (open or summarised), answer, tool calls, stats */
    if (b->reasoning.len) {
        bool open = b->thinking_open || (b->streaming && !b->answering);
        char head[160];
        if (b->streaming && !b->answering)
            snprintf(head, sizeof head, "  ▾ thinking… %d tokens", b->think_tokens);
        else if (b->think_tokens > 0)
            snprintf(head, sizeof head, "  %s thought for %.1f s, %d tokens — press t", open ? "▾" : "▸",
                     b->think_seconds, b->think_tokens);
        else /* a session saved without the count */
            snprintf(head, sizeof head, "  %s thought for %.1f s — press t", open ? "▾" : "▸", b->think_seconds);
        if (tui_lines_add(l, head, strlen(head), roles[THEME_THINKING_LABEL])) return -1;
        if (open && tui_lines_wrap(l, b->reasoning.s, b->reasoning.len, width, "  │ ",
                                   roles[THEME_THINKING_LABEL], roles[THEME_THINKING]))
            return -1;
    }
    if (b->content.len && add_markdown(l, b->content.s, b->content.len, inner, "  ", roles)) return -1;
    for (int i = 0; i < b->n_tools; i++) {
        const tui_tool_call *tc = &b->tools[i];
        char head[256];
        snprintf(head, sizeof head, "  ⚙ %s %s", tc->name ? tc->name : "?", tc->done ? "" : "…");
        if (tui_lines_add(l, head, strlen(head), roles[THEME_TOOL])) return -1;
        if (tc->arguments && tui_lines_wrap(l, tc->arguments, strlen(tc->arguments), width, "    ",
                                            roles[THEME_TOOL], roles[THEME_DIM]))
            return -1;
        if (tc->asking) {
            snprintf(head, sizeof head, "  Run %s? [y]es / [n]o / [a]lways", tc->name ? tc->name : "?");
            if (tui_lines_add(l, head, strlen(head), roles[THEME_TOOL] | A_BOLD)) return -1;
        }
        if (tc->result && render_result(l, tc, b->results_open, width, roles)) return -1;
    }
    if (b->has_stats) {
        char stats[160];
        snprintf(stats, sizeof stats, "  %d tokens · %.1f tok/s · %.1f s · %s", b->completion_tokens,
                 b->tokens_per_second, b->seconds, b->finish);
        if (tui_lines_add(l, stats, strlen(stats), roles[THEME_DIM])) return -1;
    }
    return tui_lines_add(l, "", 0, roles[THEME_TEXT]);
}

static int layout(tui_transcript *t, int width, const attr_t *roles) {
    int total = 0;
    for (int i = 0; i < t->n; i++) {
        tui_block *b = t->v[i];
        if (b->cache_width != width) {
            if (render_block(b, width, roles)) tui_lines_clear(&b->lines); /* out of memory: show nothing */
            b->cache_width = width;
        }
        total += b->lines.n;
    }
    return total;
}

void tui_transcript_draw(tui_transcript *t, WINDOW *win, const attr_t *roles) {
    int height = getmaxy(win), width = getmaxx(win);
    t->total_lines = layout(t, width, roles);
    int max_scroll = t->total_lines > height ? t->total_lines - height : 0;
    if (t->scroll > max_scroll) t->scroll = max_scroll;
    if (t->scroll < 0) t->scroll = 0;
    int top = t->total_lines - height - t->scroll; /* index of the first visible line; may be < 0 */
    wbkgdset(win, ' ' | roles[THEME_TEXT]);
    werase(win);
    int index = 0;
    for (int i = 0; i < t->n; i++) {
        const tui_block *b = t->v[i];
        if (index + b->lines.n <= top) { index += b->lines.n; continue; } /* above the window */
        for (int k = 0; k < b->lines.n; k++, index++) {
            int y = top >= 0 ? index - top : index; /* a short transcript starts at the top */
            if (y < 0) continue;
            if (y >= height) return;
            tui_line_draw(win, y, &b->lines.v[k], roles[THEME_TEXT]);
        }
    }
}

void tui_transcript_scroll(tui_transcript *t, int lines) {
    t->scroll += lines; /* clamped to the content at the next draw */
    if (t->scroll < 0) t->scroll = 0;
}

tui_block *tui_transcript_last_thinking(tui_transcript *t) {
    for (int i = t->n - 1; i >= 0; i--)
        if (t->v[i]->kind == TUI_BLOCK_ASSISTANT && t->v[i]->reasoning.len) return t->v[i];
    return NULL;
}
