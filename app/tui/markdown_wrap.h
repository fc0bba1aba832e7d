/* markdown_wrap.h: the line filling under markdown.c (internal to app/tui/).
 *
 * mdw_runs holds a block's inline content as sanitized UTF-8 (no invalid bytes,
 * no control characters except '\n' for a hard break) with one style per run.
 * mdw_wrap fills it into lines at word boundaries, mdw_hard_break cuts it at the
 * width with a continuation mark (code), and mdw_lines collects styled lines
 * (all text in one buffer, a line grows only at the end) until mdw_finish turns
 * them into an md_doc in one allocation.
 *
 * Errors are sticky: after a failed allocation every call is a no-op and the
 * `oom` flag stays set; the caller checks it once at the end. */
#ifndef G4_TUI_MARKDOWN_WRAP_H
#define G4_TUI_MARKDOWN_WRAP_H

#include "tui/markdown.h"

#include <locale.h>
#include <stddef.h>

#define MDW_TAB_STOP 4  /* code blocks expand tabs to multiples of this column */

/* ---- styled lines ---------------------------------------------------------- */

typedef struct {
    size_t text_off, span_off;
    int len, n_spans, width;
} mdw_line_info;

typedef struct {
    char *text;
    size_t len, cap;
    md_span *spans;  /* start is relative to the line's text */
    size_t n_spans, cap_spans;
    mdw_line_info *lines;
    size_t n_lines, cap_lines;
    int oom;
} mdw_lines;

void mdw_lines_clear(mdw_lines *l);  /* keeps the buffers for reuse */
void mdw_lines_free(mdw_lines *l);
/* Sizes the buffers for about this much text and this many lines. */
void mdw_lines_reserve(mdw_lines *l, size_t bytes, size_t lines);
void mdw_new_line(mdw_lines *l);
/* Appends n bytes of sanitized UTF-8 of `width` columns to the last line. */
void mdw_put(mdw_lines *l, const char *s, size_t n, int width, unsigned style, int level);
/* Appends `count` copies of one character of `width` columns (a rule, padding). */
void mdw_put_repeat(mdw_lines *l, const char *ch, int width, int count, unsigned style, int level);
/* Appends line i of src (with its spans) to the last line of l. */
void mdw_copy_line(mdw_lines *l, const mdw_lines *src, size_t i);
/* Removes trailing spaces from the last line. */
void mdw_trim_right(mdw_lines *l);
/* Moves the lines into *out (one allocation; md_doc_free releases it) and clears
 * l. Returns 0, or -1 when out of memory now or before (out is then empty). */
int mdw_finish(mdw_lines *l, md_doc *out);

/* ---- inline content -------------------------------------------------------- */

typedef struct {
    char *text;
    size_t len, cap;
    md_span *runs;   /* start is an offset into text */
    size_t n_runs, cap_runs;
    size_t sealed;   /* runs [0, sealed) are not extended by later text */
    int oom;
} mdw_runs;

enum {
    MDW_INLINE,  /* '\n', '\r' and '\t' become spaces */
    MDW_LINES,   /* '\n' is a hard break, '\r' and '\t' become spaces */
    MDW_CODE,    /* tabs expand to MDW_TAB_STOP columns from the start of the call */
};

void mdw_runs_clear(mdw_runs *r);
/* Starts a new range (a table cell): returns its first run index. */
size_t mdw_runs_mark(mdw_runs *r);
void mdw_runs_free(mdw_runs *r);
/* Appends n bytes of untrusted text: invalid UTF-8 and control characters
 * become U+FFFD, whitespace as the mode says. */
void mdw_runs_add(mdw_runs *r, const char *s, size_t n, unsigned style, int level, int mode);
void mdw_runs_add_str(mdw_runs *r, const char *s, unsigned style, int level);
void mdw_runs_add_break(mdw_runs *r);  /* a hard line break */
/* Appends a copy of runs [first, last) with extra style bits. */
void mdw_runs_copy(mdw_runs *r, size_t first, size_t last, unsigned extra_style);

/* Display columns of runs [first, last) on one line, and of its widest word. */
void mdw_measure(const mdw_runs *r, size_t first, size_t last, int *total, int *widest_word);

/* Fills runs [first, last) into new lines of l, at most `avail` columns each:
 * breaks at spaces (and next to double-width characters), a word wider than
 * avail is cut, '\n' starts a new line. Appends no line for empty content. */
void mdw_wrap(const mdw_runs *r, size_t first, size_t last, int avail, mdw_lines *l);
/* Appends runs [first, last) as lines of at most `avail` columns cut anywhere;
 * a cut line ends with the continuation mark "↩" where it fits (avail 2 or more).
 * Always appends at least one line. */
void mdw_hard_break(const mdw_runs *r, size_t first, size_t last, int avail, mdw_lines *l);

/* ---- widths ---------------------------------------------------------------- */

/* Switches this thread to a UTF-8 LC_CTYPE (for wcwidth) and back. */
locale_t mdw_locale_begin(void);
void mdw_locale_end(locale_t previous);

/* Decodes one character of untrusted UTF-8 (n >= 1): returns its length, or 1
 * with *cp = U+FFFD for an invalid byte. */
int mdw_decode(const char *s, size_t n, unsigned *cp);
/* Columns of a printable character (inside mdw_locale_begin/end). */
int mdw_char_width(unsigned cp);

#endif
