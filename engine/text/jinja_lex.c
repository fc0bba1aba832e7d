/* jinja_lex.c: template source -> tokens, as jinja2's lexer does it with
 * trim_blocks and lstrip_blocks on: line ends normalized to \n and one trailing
 * newline dropped; {%- -%} {{- -}} {#- -#} strip whitespace, {%+ +%} keep it;
 * a block tag eats the newline after it (trim_blocks) and the spaces before it
 * on its line (lstrip_blocks); comments vanish; {% raw %} text is kept as is.
 * Inside tags: names, numbers (with _ and 0x/0o/0b), strings with Python
 * escapes, and operators, with brackets balanced so that "}}" inside a dict
 * literal does not end the tag. Also the arena that parsed templates live in. */
#include "jinja_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena -------------------------------------------------------------------------- */

struct jarena_chunk {
    jarena_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *jarena_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    jarena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > 32768 ? n : 32768;
        c = malloc(sizeof *c + size);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void jarena_free(jarena *a) {
    while (a->head) {
        jarena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- errors --------------------------------------------------------------------------- */

void jsource_line_col(const char *src, size_t len, size_t pos, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (src[i] == '\n') l++, c = 1;
        else if (((unsigned char)src[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

void jone_line(char *msg) {
    for (; *msg; msg++)
        if ((unsigned char)*msg < 0x20 || *msg == 0x7F) *msg = ' ';
}

int jsyntax_error(const char *src, size_t len, size_t pos, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jone_line(msg);
    int line, col;
    jsource_line_col(src, len, pos, &line, &col);
    return g4_error("template:%d:%d: %s", line, col, msg);
}

/* ---- the token list --------------------------------------------------------------------- */

typedef struct {
    g4_jinja_template *t;
    const char *src;
    size_t n, pos;
    size_t cap;
    int line_starting;   /* the last match ended with a newline (lstrip_blocks applies) */
    char balance[256];   /* the closing brackets awaited inside a tag */
    int depth;
} lexer;

static jtoken *push(lexer *lx, jtok_type type, size_t pos) {
    g4_jinja_template *t = lx->t;
    if (t->ntoks == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        jtoken *p = realloc(t->toks, cap * sizeof *p);
        if (!p) {
            g4_error("template: out of memory");
            return NULL;
        }
        t->toks = p;
        lx->cap = cap;
    }
    jtoken *tok = &t->toks[t->ntoks++];
    memset(tok, 0, sizeof *tok);
    tok->type = (uint8_t)type;
    tok->pos = (uint32_t)pos;
    return tok;
}

static int fail(lexer *lx, size_t pos, const char *fmt, const char *arg) {
    return jsyntax_error(lx->src, lx->n, pos, fmt, arg);
}

/* ---- whitespace -------------------------------------------------------------------------- */

static size_t space_len(const char *s, size_t n, size_t i) {
    size_t j = i;
    uint32_t cp = utf8_decode(s, n, &j);
    return py_isspace(cp) ? j - i : 0;
}

static size_t skip_space(const char *s, size_t n, size_t i) {
    size_t k;
    while (i < n && (k = space_len(s, n, i))) i += k;
    return i;
}

/* The end of [start, end) with trailing whitespace removed (str.rstrip). */
static size_t rstrip_end(const char *s, size_t start, size_t end) {
    size_t keep = start, i = start, k;
    while (i < end) {
        if ((k = space_len(s, end, i))) {
            i += k;
        } else {
            utf8_decode(s, end, &i);
            keep = i;
        }
    }
    return keep;
}

/* Text before a tag, after the tag's whitespace control (sign: '-', '+' or 0). */
static size_t text_end_before_tag(lexer *lx, size_t start, size_t tag, char sign, int is_variable) {
    if (sign == '-') return rstrip_end(lx->src, start, tag);
    if (sign == '+' || is_variable) return tag;
    size_t lpos = tag;
    while (lpos > start && lx->src[lpos - 1] != '\n') lpos--;
    if (lpos == tag || (lpos == start && !lx->line_starting)) return tag;
    if (skip_space(lx->src, tag, lpos) != tag) return tag;
    return lpos;
}

static int push_data(lexer *lx, size_t start, size_t end) {
    if (end <= start) return 0;
    jtoken *tok = push(lx, T_DATA, start);
    if (!tok) return -1;
    tok->s = lx->src + start;
    tok->len = end - start;
    return 0;
}

/* ---- string literals ------------------------------------------------------------------------ */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if ((c | 32) >= 'a' && (c | 32) <= 'f') return (c | 32) - 'a' + 10;
    return -1;
}

/* Decodes the body of a string literal with Python's escapes into arena text. */
static int decode_string(lexer *lx, size_t at, const char *s, size_t n, jtoken *tok) {
    char *out = jarena_alloc(&lx->t->arena, n + 1);
    if (!out) return g4_error("template: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\' || i + 1 >= n) {
            out[o++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        i += 2;
        uint32_t cp;
        switch (c) {
        case '\n': continue;
        case '\\': out[o++] = '\\'; continue;
        case '\'': out[o++] = '\''; continue;
        case '"': out[o++] = '"'; continue;
        case 'a': out[o++] = '\a'; continue;
        case 'b': out[o++] = '\b'; continue;
        case 'f': out[o++] = '\f'; continue;
        case 'n': out[o++] = '\n'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'v': out[o++] = '\v'; continue;
        case 'x': case 'u': case 'U': {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i + (size_t)k < n ? hex_value(s[i + (size_t)k]) : -1;
                if (h < 0) {
                    const char *what = c == 'x' ? "truncated \\xXX escape" : c == 'u' ? "truncated \\uXXXX escape"
                                                                                      : "truncated \\UXXXXXXXX escape";
                    return fail(lx, at, "%s in a string literal", what);
                }
                cp = cp << 4 | (uint32_t)h;
            }
            i += (size_t)digits;
            break;
        }
        case 'N': return fail(lx, at, "%s", "\\N{...} escapes are not supported in string literals");
        default:
            if (c >= '0' && c <= '7') {
                cp = (uint32_t)(c - '0');
                for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++) cp = cp * 8 + (uint32_t)(s[i++] - '0');
                break;
            }
            out[o++] = '\\';
            i--; /* the character after the backslash is kept as it is */
            continue;
        }
        if (cp > 0x10FFFF) return fail(lx, at, "%s", "illegal Unicode character in a string literal");
        if (cp >= 0xD800 && cp < 0xE000) return fail(lx, at, "%s", "surrogate code points are not supported in strings");
        jbuf tmp;
        jbuf_init(&tmp, 8);
        jbuf_put_cp(&tmp, cp);
        memcpy(out + o, tmp.data, tmp.len); /* an escape is never shorter than its UTF-8 */
        o += tmp.len;
        jbuf_free(&tmp);
    }
    out[o] = '\0';
    tok->s = out;
    tok->len = o;
    return 0;
}

/* ---- numbers ----------------------------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* (\d+_)*\d+ from i; returns the end or i when there is none. */
static size_t digits_run(const char *s, size_t n, size_t i) {
    if (i >= n || !is_digit(s[i])) return i;
    size_t j = i;
    while (j < n && is_digit(s[j])) {
        j++;
        if (j + 1 < n && s[j] == '_' && is_digit(s[j + 1])) j++;
    }
    return j;
}

/* jinja2's float_re, not after a '.'; returns the end or i. */
static size_t float_end(const char *s, size_t n, size_t i) {
    if (i > 0 && s[i - 1] == '.') return i;
    size_t j = digits_run(s, n, i);
    if (j == i) return i;
    size_t frac = j;
    if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) frac = digits_run(s, n, j + 1);
    if (frac < n && (s[frac] | 32) == 'e') {
        size_t k = frac + 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        size_t e = digits_run(s, n, k);
        if (e > k) return e;
    }
    return frac > j ? frac : i;
}

/* jinja2's integer_re: 0b.., 0o.., 0x.., [1-9](_?\d)*, 0(_?0)*; returns the end, base in *base. */
static size_t int_end(const char *s, size_t n, size_t i, int *base) {
    *base = 10;
    if (s[i] == '0' && i + 1 < n) {
        char p = (char)(s[i + 1] | 32);
        int b = p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 0;
        if (b) {
            size_t j = i + 2, end = i;
            for (;;) {
                size_t k = j < n && s[j] == '_' ? j + 1 : j;
                int h = k < n ? hex_value(s[k]) : -1;
                if (h < 0 || h >= b) break;
                j = k + 1;
                end = j;
            }
            if (end > i) {
                *base = b;
                return end;
            }
        }
    }
    size_t j = i + 1;
    for (;;) {
        size_t k = j < n && s[j] == '_' ? j + 1 : j;
        if (k >= n || !is_digit(s[k]) || (s[i] == '0' && s[k] != '0')) break;
        j = k + 1;
    }
    return j;
}

static int lex_number(lexer *lx) {
    const char *s = lx->src;
    size_t i = lx->pos, end = float_end(s, lx->n, i);
    char buf[128];
    size_t k = 0;
    if (end > i) {
        for (size_t j = i; j < end && k < sizeof buf - 1; j++)
            if (s[j] != '_') buf[k++] = s[j];
        buf[k] = '\0';
        if (k >= sizeof buf - 1) return fail(lx, i, "%s", "number literal too long");
        jtoken *tok = push(lx, T_FLOAT, i);
        if (!tok) return -1;
        tok->f = strtod(buf, NULL);
        lx->pos = end;
        return 0;
    }
    int base;
    end = int_end(s, lx->n, i, &base);
    for (size_t j = i + (base != 10 ? 2 : 0); j < end && k < sizeof buf - 1; j++)
        if (s[j] != '_') buf[k++] = s[j];
    buf[k] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, base);
    if (errno || v > INT64_MAX || k >= sizeof buf - 1) return fail(lx, i, "%s", "integer literal too large");
    jtoken *tok = push(lx, T_INT, i);
    if (!tok) return -1;
    tok->i = (int64_t)v;
    lx->pos = end;
    return 0;
}

/* ---- tags ---------------------------------------------------------------------------------- */

static const struct {
    const char *text;
    jtok_type type;
} operators[] = {
    {"//", T_FLOORDIV}, {"**", T_POW}, {"==", T_EQ}, {"!=", T_NE}, {">=", T_GTEQ}, {"<=", T_LTEQ},
    {"+", T_ADD}, {"-", T_SUB}, {"/", T_DIV}, {"*", T_MUL}, {"%", T_MOD}, {"~", T_TILDE},
    {"[", T_LBRACKET}, {"]", T_RBRACKET}, {"(", T_LPAREN}, {")", T_RPAREN}, {"{", T_LBRACE},
    {"}", T_RBRACE}, {">", T_GT}, {"<", T_LT}, {"=", T_ASSIGN}, {".", T_DOT}, {":", T_COLON},
    {"|", T_PIPE}, {",", T_COMMA}, {";", T_SEMICOLON},
};

static int is_name_char(unsigned char c, int first) {
    return c == '_' || (unsigned)((c | 32) - 'a') < 26u || c >= 0x80 || (!first && is_digit((char)c));
}

static int lex_operator(lexer *lx) {
    const char *s = lx->src + lx->pos;
    size_t left = lx->n - lx->pos;
    for (size_t k = 0; k < sizeof operators / sizeof operators[0]; k++) {
        size_t len = strlen(operators[k].text);
        if (len > left || memcmp(s, operators[k].text, len)) continue;
        char c = s[0];
        if (c == '{' || c == '(' || c == '[') {
            if (lx->depth >= (int)sizeof lx->balance) return fail(lx, lx->pos, "%s", "brackets nested too deeply");
            lx->balance[lx->depth++] = c == '{' ? '}' : c == '(' ? ')' : ']';
        } else if (c == '}' || c == ')' || c == ']') {
            char text[2] = {c, 0};
            if (!lx->depth) return fail(lx, lx->pos, "unexpected '%s'", text);
            char want = lx->balance[--lx->depth];
            if (want != c) {
                char msg[64];
                snprintf(msg, sizeof msg, "unexpected '%c', expected '%c'", c, want);
                return fail(lx, lx->pos, "%s", msg);
            }
        }
        if (!push(lx, operators[k].type, lx->pos)) return -1;
        lx->pos += len;
        return 0;
    }
    char shown[8] = {0};
    size_t i = lx->pos;
    utf8_decode(lx->src, lx->n, &i);
    memcpy(shown, s, i - lx->pos < 4 ? i - lx->pos : 4);
    return fail(lx, lx->pos, "unexpected char '%s'", shown);
}

static int lex_token(lexer *lx) {
    const char *s = lx->src;
    size_t i = lx->pos;
    unsigned char c = (unsigned char)s[i];
    if (is_digit((char)c)) return lex_number(lx);
    if (is_name_char(c, 1)) {
        size_t j = i;
        while (j < lx->n && is_name_char((unsigned char)s[j], 0)) j++;
        jtoken *tok = push(lx, T_NAME, i);
        if (!tok) return -1;
        tok->s = s + i;
        tok->len = j - i;
        lx->pos = j;
        return 0;
    }
    if (c == '\'' || c == '"') {
        size_t j = i + 1;
        while (j < lx->n && s[j] != (char)c) j += s[j] == '\\' ? 2 : 1;
        if (j >= lx->n) {
            char text[2] = {(char)c, 0};
            return fail(lx, i, "unexpected char '%s' (unterminated string)", text);
        }
        jtoken *tok = push(lx, T_STRING, i);
        if (!tok || decode_string(lx, i, s + i + 1, j - i - 1, tok)) return -1;
        lx->pos = j + 1;
        return 0;
    }
    return lex_operator(lx);
}

/* The end of a tag at pos ("-%}", "+%}", "%}" or "-}}", "}}"); 0 if there is none here. */
static size_t tag_end_len(lexer *lx, char close, char *sign) {
    const char *s = lx->src + lx->pos;
    size_t left = lx->n - lx->pos;
    *sign = 0;
    if (left >= 3 && (s[0] == '-' || (s[0] == '+' && close == '%')) && s[1] == close && s[2] == '}') {
        *sign = s[0];
        return 3;
    }
    if (left >= 2 && s[0] == close && s[1] == '}') return 2;
    return 0;
}

/* After a tag's end: "-" strips all whitespace, a block's plain end eats one newline. */
static void after_tag_end(lexer *lx, char sign, int trim_newline) {
    if (sign == '-') lx->pos = skip_space(lx->src, lx->n, lx->pos);
    else if (trim_newline && lx->pos < lx->n && lx->src[lx->pos] == '\n') lx->pos++;
    lx->line_starting = lx->src[lx->pos - 1] == '\n';
}

static int lex_tag(lexer *lx, char kind) {
    char close = kind == '{' ? '}' : '%';
    size_t begin = lx->pos;
    if (!push(lx, kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, begin)) return -1;
    lx->pos += 2;
    if (lx->pos < lx->n && (lx->src[lx->pos] == '-' || lx->src[lx->pos] == '+')) lx->pos++;
    lx->depth = 0;
    for (;;) {
        lx->pos = skip_space(lx->src, lx->n, lx->pos);
        if (lx->pos >= lx->n) return push(lx, T_EOF, lx->n) ? 0 : -1;
        char sign;
        size_t end = lx->depth ? 0 : tag_end_len(lx, close, &sign);
        if (end) {
            if (!push(lx, kind == '{' ? T_VAR_END : T_BLOCK_END, lx->pos)) return -1;
            lx->pos += end;
            after_tag_end(lx, sign, kind == '%' && sign != '+');
            return 0;
        }
        if (lex_token(lx)) return -1;
    }
}

static int lex_comment(lexer *lx) {
    size_t start = lx->pos + 2;
    if (start < lx->n && (lx->src[start] == '-' || lx->src[start] == '+')) start++;
    const char *end = NULL;
    for (size_t i = start; i + 1 < lx->n; i++)
        if (lx->src[i] == '#' && lx->src[i + 1] == '}') {
            end = lx->src + i;
            break;
        }
    if (!end) return fail(lx, lx->pos, "%s", "Missing end of comment tag");
    size_t q = (size_t)(end - lx->src);
    char sign = q > start && (lx->src[q - 1] == '-' || lx->src[q - 1] == '+') ? lx->src[q - 1] : 0;
    lx->pos = q + 2;
    after_tag_end(lx, sign, sign != '+');
    return 0;
}

/* {% raw %} at pos: 1 and the text kept verbatim, 0 if this is another tag. */
static int lex_raw(lexer *lx) {
    const char *s = lx->src;
    size_t n = lx->n, i = lx->pos + 2;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    i = skip_space(s, n, i);
    if (n - i < 3 || memcmp(s + i, "raw", 3)) return 0;
    i = skip_space(s, n, i + 3);
    if (n - i >= 3 && s[i] == '-' && s[i + 1] == '%' && s[i + 2] == '}') i = skip_space(s, n, i + 3);
    else if (n - i >= 2 && s[i] == '%' && s[i + 1] == '}') i += 2;
    else return 0;
    size_t raw_begin = lx->pos;
    lx->line_starting = s[i - 1] == '\n';
    for (size_t p = i; p + 1 < n; p++) {
        if (s[p] != '{' || s[p + 1] != '%') continue;
        size_t k = p + 2;
        char sign = k < n && (s[k] == '-' || s[k] == '+') ? s[k] : 0;
        if (sign) k++;
        k = skip_space(s, n, k);
        if (n - k < 6 || memcmp(s + k, "endraw", 6)) continue;
        lx->pos = skip_space(s, n, k + 6);
        char end_sign;
        size_t end = tag_end_len(lx, '%', &end_sign);
        if (!end) continue;
        if (push_data(lx, i, text_end_before_tag(lx, i, p, sign, 0))) return -1;
        lx->pos += end;
        after_tag_end(lx, end_sign, end_sign != '+');
        return 1;
    }
    fail(lx, raw_begin, "%s", "Missing end of raw directive");
    return -1;
}

/* ---- the whole source ------------------------------------------------------------------------ */

static int normalize(g4_jinja_template *t, const char *src, size_t len) {
    size_t bad;
    if (!utf8_valid(src, len, &bad)) return jsyntax_error(src, len, bad, "the template is not valid UTF-8");
    if (len > UINT32_MAX - 1) return g4_error("template: longer than 4 GiB");
    t->src = malloc(len + 1);
    if (!t->src) return g4_error("template: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            t->src[o++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            t->src[o++] = src[i];
        }
    }
    if (o && t->src[o - 1] == '\n') o--; /* keep_trailing_newline=False */
    t->src[o] = '\0';
    t->len = o;
    return 0;
}

int jlex(g4_jinja_template *t, const char *src, size_t len) {
    if (normalize(t, src, len)) return -1;
    lexer lx = {.t = t, .src = t->src, .n = t->len, .line_starting = 1};
    while (lx.pos < lx.n) {
        const char *s = lx.src;
        size_t tag = lx.pos;
        while (tag + 1 < lx.n && !(s[tag] == '{' && (s[tag + 1] == '{' || s[tag + 1] == '%' || s[tag + 1] == '#'))) tag++;
        if (tag + 1 >= lx.n) {
            if (push_data(&lx, lx.pos, lx.n)) return -1;
            break;
        }
        char kind = s[tag + 1];
        char sign = tag + 2 < lx.n && (s[tag + 2] == '-' || s[tag + 2] == '+') ? s[tag + 2] : 0;
        if (push_data(&lx, lx.pos, text_end_before_tag(&lx, lx.pos, tag, sign, kind == '{'))) return -1;
        lx.pos = tag;
        int rc;
        if (kind == '#') {
            rc = lex_comment(&lx);
        } else if (kind == '%' && (rc = lex_raw(&lx)) != 0) {
            rc = rc < 0 ? -1 : 0;
        } else {
            rc = lex_tag(&lx, kind);
        }
        if (rc) return -1;
    }
    return push(&lx, T_EOF, lx.n) ? 0 : -1;
}
