/* markdown.h: Markdown (CommonMark + GitHub tables, strikethrough, autolinks and
 * task lists, parsed by cmark-gfm) rendered into styled, wrapped terminal lines.
 *
 * A pure module: no terminal and no ncurses. The chat UI re-renders the whole
 * (possibly partial) answer after each streamed chunk and draws the lines with
 * its theme; /copy-like features and the tests use the plain-text variant.
 *
 * Every line is valid UTF-8 of at most `width` display columns (wcwidth in a
 * UTF-8 locale, whatever the caller's locale: CJK and emoji take 2 columns,
 * combining marks 0). Invalid UTF-8 and control characters in the input are
 * shown as U+FFFD, so a line never carries a terminal escape. */
#ifndef G4_TUI_MARKDOWN_H
#define G4_TUI_MARKDOWN_H

#include <stddef.h>

/* Style roles, matching the UI's theme roles. A span carries every role in
 * effect, OR'd together (strong inside a heading inside a quote is
 * MD_STRONG | MD_HEADING | MD_QUOTE); MD_TEXT (0) is plain text. */
enum {
    MD_TEXT = 0,
    MD_HEADING = 1u << 0,       /* heading text and its underline; md_span.level is 1..6 */
    MD_STRONG = 1u << 1,        /* also the header row of a table */
    MD_EMPHASIS = 1u << 2,
    MD_STRIKETHROUGH = 1u << 3,
    MD_CODE = 1u << 4,          /* inline code */
    MD_CODE_BLOCK = 1u << 5,    /* fenced or indented code, with its continuation mark */
    MD_CODE_LANG = 1u << 6,     /* the language label line above a fenced block */
    MD_QUOTE = 1u << 7,         /* the "│ " gutter and everything inside a block quote */
    MD_LIST_MARKER = 1u << 8,   /* "• ", "◦ ", "▪ ", "3. ", "[x] " */
    MD_LINK = 1u << 9,          /* link text, "[image: alt]" */
    MD_LINK_URL = 1u << 10,     /* "(url)" after the link text: draw it dimmed */
    MD_RULE = 1u << 11,         /* thematic break, heading underline */
    MD_TABLE = 1u << 12,        /* table borders (cell text has its own roles) */
};

/* A run of one style: bytes [start, start + len) of the line's text. The spans
 * of a line are in order, do not overlap and cover the whole text. */
typedef struct {
    int start, len;
    unsigned style;  /* MD_* bits */
    int level;       /* heading level 1..6 when style has MD_HEADING, else 0 */
} md_span;

typedef struct {
    char *text;      /* UTF-8, NUL-terminated, no control characters */
    int len;         /* bytes in text */
    int width;       /* display columns, at most the width rendered for */
    md_span *spans;
    int n_spans;     /* 0 for an empty line */
} md_line;

typedef struct {
    md_line *lines;
    int n_lines;
} md_doc;

/* Renders len bytes of Markdown into lines of at most width columns (a width
 * below 1 counts as 1, above 4096 as 4096; input past 64 MiB is left out).
 * Returns 0, or -1 when out of memory (out is then empty).
 * Free the result with md_doc_free. */
int md_render(const char *markdown, size_t len, int width, md_doc *out);
void md_doc_free(md_doc *doc);

/* The same lines without styles, each ended by '\n' (malloc'd, caller frees);
 * NULL when out of memory. */
char *md_render_plain(const char *markdown, size_t len, int width);

/* Display columns of len bytes of UTF-8 as the renderer counts them (an invalid
 * byte or a control character counts as the 1-column U+FFFD shown for it). */
int md_display_width(const char *utf8, size_t len);

#endif
