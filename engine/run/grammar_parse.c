/* grammar_parse.c: GBNF text -> struct g4_grammar (the format of llama.cpp's GBNF:
 * rules "name ::= body", alternation |, groups ( ), ? * + {m} {m,} {m,n}, "literals"
 * and [classes] with escapes, '.', # comments, plus token terminals <[N]> by id and
 * <["piece"]> by piece). Errors name line:column. The compiled grammar is checked:
 * every referenced rule is defined, none is left-recursive (also through rules that
 * can match nothing) and every rule can finish, so a matcher can never loop or stick. */
#include "run/grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define MAX_RULES 100000
#define MAX_REPEAT 10000
#define MAX_ELEMS (1u << 24)
#define MAX_NEST 200

typedef struct {
    g4_gelem *e;
    size_t n, cap;
} evec;

typedef struct {
    char *name;
    evec body;
    int defined;
    int line, col;   /* first reference, for "undefined rule" */
} prule;

typedef struct {
    const char *src, *p;
    prule *rules;
    int n_rules, cap_rules;
    g4_gtoken *tokens;
    int n_tokens, cap_tokens;
    int depth;
    int failed;
} parser;

static void where(const parser *ps, const char *at, int *line, int *col) {
    *line = 1, *col = 1;
    for (const char *q = ps->src; q < at; q++) {
        if (*q == '\n') (*line)++, *col = 1;
        else if (((unsigned char)*q & 0xC0) != 0x80) (*col)++;
    }
}

static int fail(parser *ps, const char *at, const char *msg, const char *detail) {
    if (ps->failed) return -1;
    int line, col;
    where(ps, at, &line, &col);
    ps->failed = 1;
    return g4_error("grammar %d:%d: %s%s", line, col, msg, detail ? detail : "");
}

static int push(parser *ps, evec *v, uint32_t type, uint32_t value) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        if (cap > MAX_ELEMS) return fail(ps, ps->p, "grammar too large", NULL);
        g4_gelem *e = realloc(v->e, cap * sizeof *e);
        if (!e) return fail(ps, ps->p, "out of memory", NULL);
        v->e = e, v->cap = cap;
    }
    v->e[v->n++] = (g4_gelem){type, value};
    return 0;
}

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Id of the rule called name[0..len), created if new. */
static int rule_id(parser *ps, const char *name, size_t len, const char *at) {
    for (int i = 0; i < ps->n_rules; i++)
        if (strlen(ps->rules[i].name) == len && memcmp(ps->rules[i].name, name, len) == 0) return i;
    if (ps->n_rules >= MAX_RULES) return fail(ps, at, "too many rules", NULL);
    if (ps->n_rules == ps->cap_rules) {
        int cap = ps->cap_rules ? ps->cap_rules * 2 : 32;
        prule *r = realloc(ps->rules, (size_t)cap * sizeof *r);
        if (!r) return fail(ps, at, "out of memory", NULL);
        ps->rules = r, ps->cap_rules = cap;
    }
    prule *r = &ps->rules[ps->n_rules];
    memset(r, 0, sizeof *r);
    r->name = strndup(name, len);
    if (!r->name) return fail(ps, at, "out of memory", NULL);
    where(ps, at, &r->line, &r->col);
    return ps->n_rules++;
}

/* A new rule named after `base` with a numeric suffix (for groups and repetitions). */
static int new_rule(parser *ps, int base) {
    char name[96];
    for (int k = ps->n_rules;; k++) {
        snprintf(name, sizeof name, "%.80s-%d", ps->rules[base].name, k);
        int found = 0;
        for (int i = 0; i < ps->n_rules && !found; i++) found = strcmp(ps->rules[i].name, name) == 0;
        if (!found) break;
    }
    int id = rule_id(ps, name, strlen(name), ps->p);
    if (id >= 0) ps->rules[id].defined = 1;
    return id;
}

/* Skips blanks and comments; newlines too when newline_ok. */
static void skip_space(parser *ps, int newline_ok) {
    for (;;) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) ps->p++;
        else if (c == '#') { while (*ps->p && *ps->p != '\n') ps->p++; }
        else break;
    }
}

/* At a top-level newline: does the rule go on (no "name ::=" and no end follows)? */
static int rule_continues(parser *ps) {
    const char *save = ps->p;
    skip_space(ps, 1);
    const char *q = ps->p;
    int more = *q != 0;
    if (more && is_name_char(*q)) {
        while (is_name_char(*q)) q++;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
        if (strncmp(q, "::=", 3) == 0) more = 0;
    }
    if (!more) ps->p = save;
    return more;
}

static int hex_value(parser *ps, int digits, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        char c = *ps->p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return fail(ps, ps->p, "expected a hex digit in an escape", NULL);
        v = v << 4 | (uint32_t)d;
        ps->p++;
    }
    if (v > 0x10FFFF) return fail(ps, ps->p, "code point above U+10FFFF", NULL);
    *out = v;
    return 0;
}

/* One character of a literal or class (escapes decoded, UTF-8 decoded). */
static int read_char(parser *ps, uint32_t *out) {
    const unsigned char *u = (const unsigned char *)ps->p;
    if (*u == 0) return fail(ps, ps->p, "unexpected end of grammar inside a literal or class", NULL);
    if (*u == '\\') {
        ps->p++;
        char c = *ps->p++;
        switch (c) {
        case 'n': *out = '\n'; return 0;
        case 'r': *out = '\r'; return 0;
        case 't': *out = '\t'; return 0;
        case '0': *out = 0; return 0;
        case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': *out = (uint32_t)c; return 0;
        case 'x': return hex_value(ps, 2, out);
        case 'u': return hex_value(ps, 4, out);
        case 'U': return hex_value(ps, 8, out);
        default: ps->p--; return fail(ps, ps->p - 1, "unknown escape \\", c ? (char[]){c, 0} : "(end)");
        }
    }
    size_t n = strlen(ps->p);
    size_t len = *u < 0x80 ? 1 : *u >= 0xC2 && *u <= 0xDF ? 2 : *u >= 0xE0 && *u <= 0xEF ? 3 : *u >= 0xF0 && *u <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return fail(ps, ps->p, "invalid UTF-8", NULL);
    uint32_t cp = len == 1 ? *u : len == 2 ? (uint32_t)(*u & 0x1F) : len == 3 ? (uint32_t)(*u & 0x0F) : (uint32_t)(*u & 0x07);
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return fail(ps, ps->p, "invalid UTF-8", NULL);
        cp = cp << 6 | (u[i] & 0x3F);
    }
    ps->p += len;
    *out = cp;
    return 0;
}

static int parse_alternates(parser *ps, int rule, evec *out);

/* Replaces the last symbol (elements [start, n)) by its repetition {lo, hi} (hi < 0: unbounded). */
static int repeat(parser *ps, int rule, evec *v, size_t start, long lo, long hi) {
    size_t end = v->n;
    size_t len = end - start;
    g4_gelem *sym = malloc(len * sizeof *sym);
    if (!sym) return fail(ps, ps->p, "out of memory", NULL);
    memcpy(sym, v->e + start, len * sizeof *sym);
    v->n = start;
    int rc = 0;
    for (long i = 0; i < lo && !rc; i++)
        for (size_t k = 0; k < len && !rc; k++) rc = push(ps, v, sym[k].type, sym[k].value);
    if (!rc && hi < 0) {   /* star ::= sym star | "" : a tail call, so stacks do not grow */
        int star = new_rule(ps, rule);
        if (star < 0) rc = -1;
        evec *b = star >= 0 ? &ps->rules[star].body : NULL;
        for (size_t k = 0; k < len && !rc; k++) rc = push(ps, b, sym[k].type, sym[k].value);
        if (!rc) rc = push(ps, b, GE_RULE, (uint32_t)star);
        if (!rc) rc = push(ps, b, GE_ALT, 0);
        if (!rc) rc = push(ps, b, GE_END, 0);
        if (!rc) rc = push(ps, v, GE_RULE, (uint32_t)star);
    } else if (!rc && hi > lo) {  /* opt_k ::= sym opt_{k-1} | "" */
        int prev = -1;
        for (long i = lo; i < hi && !rc; i++) {
            int opt = new_rule(ps, rule);
            if (opt < 0) { rc = -1; break; }
            evec *b = &ps->rules[opt].body;
            for (size_t k = 0; k < len && !rc; k++) rc = push(ps, b, sym[k].type, sym[k].value);
            if (!rc && prev >= 0) rc = push(ps, b, GE_RULE, (uint32_t)prev);
            if (!rc) rc = push(ps, b, GE_ALT, 0);
            if (!rc) rc = push(ps, b, GE_END, 0);
            prev = opt;
        }
        if (!rc) rc = push(ps, v, GE_RULE, (uint32_t)prev);
    }
    free(sym);
    return rc;
}

static int parse_count(parser *ps, long *out) {
    if (*ps->p < '0' || *ps->p > '9') return fail(ps, ps->p, "expected a number in {m,n}", NULL);
    long v = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (*ps->p++ - '0');
        if (v > MAX_REPEAT) return fail(ps, ps->p, "repetition count above 10000", NULL);
    }
    *out = v;
    return 0;
}

static int parse_token(parser *ps, evec *v) {
    const char *at = ps->p;
    ps->p += 2;   /* "<[" */
    g4_gtoken t = {-1, NULL};
    if (*ps->p == '"') {
        ps->p++;
        char buf[256];
        size_t n = 0;
        while (*ps->p != '"') {
            uint32_t c;
            if (read_char(ps, &c)) return -1;
            if (c == 0 || c > 0x7F || n + 1 >= sizeof buf) {
                /* pieces are stored as UTF-8; re-encode */
                if (n + 5 >= sizeof buf || c == 0) return fail(ps, at, "token piece too long or holds NUL", NULL);
            }
            if (c < 0x80) buf[n++] = (char)c;
            else if (c < 0x800) buf[n++] = (char)(0xC0 | c >> 6), buf[n++] = (char)(0x80 | (c & 0x3F));
            else if (c < 0x10000) buf[n++] = (char)(0xE0 | c >> 12), buf[n++] = (char)(0x80 | (c >> 6 & 0x3F)), buf[n++] = (char)(0x80 | (c & 0x3F));
            else buf[n++] = (char)(0xF0 | c >> 18), buf[n++] = (char)(0x80 | (c >> 12 & 0x3F)), buf[n++] = (char)(0x80 | (c >> 6 & 0x3F)), buf[n++] = (char)(0x80 | (c & 0x3F));
        }
        ps->p++;
        if (n == 0) return fail(ps, at, "empty token piece", NULL);
        t.piece = strndup(buf, n);
        if (!t.piece) return fail(ps, at, "out of memory", NULL);
    } else {
        long id = 0;
        if (*ps->p < '0' || *ps->p > '9') return fail(ps, ps->p, "expected a token id or a \"piece\" after <[", NULL);
        while (*ps->p >= '0' && *ps->p <= '9') {
            id = id * 10 + (*ps->p++ - '0');
            if (id > 0x7FFFFFFF) return fail(ps, at, "token id too large", NULL);
        }
        t.id = (int32_t)id;
    }
    if (strncmp(ps->p, "]>", 2) != 0) { free(t.piece); return fail(ps, ps->p, "expected ]> to end the token", NULL); }
    ps->p += 2;
    if (ps->n_tokens == ps->cap_tokens) {
        int cap = ps->cap_tokens ? ps->cap_tokens * 2 : 8;
        g4_gtoken *nt = realloc(ps->tokens, (size_t)cap * sizeof *nt);
        if (!nt) { free(t.piece); return fail(ps, at, "out of memory", NULL); }
        ps->tokens = nt, ps->cap_tokens = cap;
    }
    ps->tokens[ps->n_tokens] = t;
    return push(ps, v, GE_TOKEN, (uint32_t)ps->n_tokens++);
}

/* A sequence of symbols with postfix operators, appended to out. */
static int parse_sequence(parser *ps, int rule, evec *out, int nested) {
    size_t last = out->n;
    int have_last = 0;
    for (;;) {
        skip_space(ps, nested);
        if (!nested && (*ps->p == '\n' || *ps->p == '\r')) {
            if (!rule_continues(ps)) return 0;
            continue;
        }
        const char *at = ps->p;
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            last = out->n, have_last = 1;
            size_t first = out->n;
            while (*ps->p != '"') {
                uint32_t ch;
                if (*ps->p == 0 || *ps->p == '\n') return fail(ps, at, "unterminated string literal", NULL);
                if (read_char(ps, &ch) || push(ps, out, GE_CHAR, ch)) return -1;
            }
            ps->p++;
            if (out->n == first) have_last = 0;   /* "" matches nothing: no symbol to repeat */
        } else if (c == '[') {
            ps->p++;
            last = out->n, have_last = 1;
            uint32_t type = GE_CHAR;
            if (*ps->p == '^') ps->p++, type = GE_CHAR_NOT;
            size_t first = out->n;
            while (*ps->p != ']') {
                uint32_t lo, hi;
                if (*ps->p == 0 || *ps->p == '\n') return fail(ps, at, "unterminated character class", NULL);
                if (read_char(ps, &lo)) return -1;
                if (push(ps, out, out->n == first ? type : GE_CHAR_ALT, lo)) return -1;
                if (ps->p[0] == '-' && ps->p[1] != ']' && ps->p[1] != 0) {
                    ps->p++;
                    const char *hat = ps->p;
                    if (read_char(ps, &hi)) return -1;
                    if (hi < lo) return fail(ps, hat, "character range with its end before its start", NULL);
                    if (push(ps, out, GE_CHAR_RNG_UPPER, hi)) return -1;
                }
            }
            ps->p++;
            if (out->n == first) {
                if (type == GE_CHAR) return fail(ps, at, "empty character class [] matches nothing", NULL);
                if (push(ps, out, GE_CHAR_ANY, 0)) return -1;   /* [^] = any */
            }
        } else if (c == '.') {
            ps->p++;
            last = out->n, have_last = 1;
            if (push(ps, out, GE_CHAR_ANY, 0)) return -1;
        } else if (c == '<' && ps->p[1] == '[') {
            last = out->n, have_last = 1;
            if (parse_token(ps, out)) return -1;
        } else if (is_name_char(c)) {
            const char *name = ps->p;
            while (is_name_char(*ps->p)) ps->p++;
            int id = rule_id(ps, name, (size_t)(ps->p - name), name);
            if (id < 0) return -1;
            last = out->n, have_last = 1;
            if (push(ps, out, GE_RULE, (uint32_t)id)) return -1;
        } else if (c == '(') {
            ps->p++;
            if (++ps->depth > MAX_NEST) return fail(ps, at, "groups nested too deeply", NULL);
            int sub = new_rule(ps, rule);
            if (sub < 0) return -1;
            evec body = {0};
            int rc = parse_alternates(ps, rule, &body);
            ps->rules[sub].body = body;
            if (rc) return -1;
            skip_space(ps, 1);
            if (*ps->p != ')') return fail(ps, ps->p, "expected ')' to close the group", NULL);
            ps->p++;
            ps->depth--;
            last = out->n, have_last = 1;
            if (push(ps, out, GE_RULE, (uint32_t)sub)) return -1;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (!have_last) return fail(ps, at, "'", (char[]){c, '\'', ' ', 'w', 'i', 't', 'h', ' ', 'n', 'o', 't', 'h', 'i', 'n', 'g', ' ', 'b', 'e', 'f', 'o', 'r', 'e', ' ', 'i', 't', 0});
            ps->p++;
            long lo = 0, hi = -1;
            if (c == '+') lo = 1;
            else if (c == '?') hi = 1;
            else if (c == '{') {
                skip_space(ps, 0);
                if (*ps->p == ',') lo = 0;
                else if (parse_count(ps, &lo)) return -1;
                skip_space(ps, 0);
                if (*ps->p == ',') {
                    ps->p++;
                    skip_space(ps, 0);
                    if (*ps->p != '}' && parse_count(ps, &hi)) return -1;
                } else hi = lo;
                skip_space(ps, 0);
                if (*ps->p != '}') return fail(ps, ps->p, "expected '}' to close {m,n}", NULL);
                ps->p++;
                if (hi >= 0 && hi < lo) return fail(ps, at, "repetition {m,n} with n < m", NULL);
            }
            if (repeat(ps, rule, out, last, lo, hi)) return -1;
            have_last = 0;
        } else {
            return 0;   /* '|', ')', end or something the caller reports */
        }
    }
}

static int parse_alternates(parser *ps, int rule, evec *out) {
    for (;;) {
        if (parse_sequence(ps, rule, out, ps->depth > 0)) return -1;
        skip_space(ps, ps->depth > 0);
        if (*ps->p != '|') break;
        ps->p++;
        skip_space(ps, 1);
        if (push(ps, out, GE_ALT, 0)) return -1;
    }
    return push(ps, out, GE_END, 0);
}

static int parse_rules(parser *ps) {
    skip_space(ps, 1);
    if (!*ps->p) return fail(ps, ps->p, "empty grammar", NULL);
    while (*ps->p) {
        const char *name = ps->p;
        if (!is_name_char(*ps->p)) return fail(ps, ps->p, "expected a rule name", NULL);
        while (is_name_char(*ps->p)) ps->p++;
        int id = rule_id(ps, name, (size_t)(ps->p - name), name);
        if (id < 0) return -1;
        if (ps->rules[id].defined) return fail(ps, name, "rule defined twice: ", ps->rules[id].name);
        ps->rules[id].defined = 1;
        skip_space(ps, 1);
        if (strncmp(ps->p, "::=", 3) != 0) return fail(ps, ps->p, "expected ::= after the rule name", NULL);
        ps->p += 3;
        skip_space(ps, 1);
        evec body = {0};
        ps->depth = 0;
        int rc = parse_alternates(ps, id, &body);
        ps->rules[id].body = body;
        if (rc) return -1;
        skip_space(ps, 1);
        if (*ps->p == ')') return fail(ps, ps->p, "unbalanced ')'", NULL);
        if (*ps->p && !is_name_char(*ps->p)) return fail(ps, ps->p, "unexpected character '", (char[]){*ps->p, '\'', 0});
    }
    return 0;
}

/* ---- checks on the compiled grammar -------------------------------------------- */

static int rule_nullable_alt(const struct g4_grammar *g, uint32_t pos, const uint8_t *nullable) {
    for (;; pos++) {
        const g4_gelem *e = &g->elems[pos];
        if (e->type == GE_END || e->type == GE_ALT) return 1;
        if (e->type == GE_RULE) { if (!nullable[e->value]) return 0; }
        else if (e->type != GE_CHAR_RNG_UPPER && e->type != GE_CHAR_ALT) return 0;
    }
}

/* Calls fn on each alternative start of rule r. */
#define FOR_ALTS(g, r, pos) \
    for (uint32_t pos = (g)->rule_start[r], alt_done_ = 0; !alt_done_; \
         alt_done_ = next_alt(g, &pos))
static int next_alt(const struct g4_grammar *g, uint32_t *pos) {
    while (g->elems[*pos].type != GE_ALT && g->elems[*pos].type != GE_END) (*pos)++;
    if (g->elems[*pos].type == GE_END) return 1;
    (*pos)++;
    return 0;
}

/* Left recursion: rule r can reach itself without consuming a character. */
static int left_visit(const struct g4_grammar *g, int r, const uint8_t *nullable, uint8_t *mark) {
    if (mark[r] == 1) return r;
    if (mark[r] == 2) return -1;
    mark[r] = 1;
    FOR_ALTS(g, r, pos) {
        for (uint32_t p = pos;; p++) {
            const g4_gelem *e = &g->elems[p];
            if (e->type != GE_RULE) break;
            int hit = left_visit(g, (int)e->value, nullable, mark);
            if (hit >= 0) return hit;
            if (!nullable[e->value]) break;
        }
    }
    mark[r] = 2;
    return -1;
}

static int rule_of(const struct g4_grammar *g, uint32_t pos) {
    int r = 0;
    for (int i = 0; i < g->n_rules; i++)
        if (g->rule_start[i] <= pos && g->rule_start[i] >= g->rule_start[r]) r = i;
    return r;
}

static int check(struct g4_grammar *g) {
    int n = g->n_rules;
    uint8_t *nullable = calloc((size_t)n, 1), *productive = calloc((size_t)n, 1), *mark = calloc((size_t)n, 1);
    int rc = -1;
    if (!nullable || !productive || !mark) { g4_error("out of memory checking the grammar"); goto done; }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int r = 0; r < n; r++) {
            if (!nullable[r]) FOR_ALTS(g, r, pos) if (!nullable[r] && rule_nullable_alt(g, pos, nullable)) nullable[r] = 1, changed = 1;
            if (!productive[r]) FOR_ALTS(g, r, pos) {
                int ok = 1;
                for (uint32_t p = pos; g->elems[p].type != GE_END && g->elems[p].type != GE_ALT; p++)
                    if (g->elems[p].type == GE_RULE && !productive[g->elems[p].value]) ok = 0;
                if (ok && !productive[r]) productive[r] = 1, changed = 1;
            }
        }
    }
    for (int r = 0; r < n; r++)
        if (!productive[r]) { g4_error("grammar: rule %s can never finish (every alternative recurses forever)", g->rule_name[r]); goto done; }
    for (uint32_t p = 0; p < g->n_elems; p++) {
        uint32_t t = g->elems[p].type;
        if ((t == GE_CHAR || t == GE_CHAR_NOT) && !g4_gset_hits(g->elems, p, 0, 0xD7FF) && !g4_gset_hits(g->elems, p, 0xE000, 0x10FFFF)) {
            g4_error("grammar: a character class matches no character (rule %s)", g->rule_name[rule_of(g, p)]);
            goto done;
        }
    }
    for (int r = 0; r < n; r++) {
        int hit = left_visit(g, r, nullable, mark);
        if (hit >= 0) { g4_error("grammar: rule %s is left-recursive (it can reach itself before matching a character)", g->rule_name[hit]); goto done; }
    }
    rc = 0;
done:
    free(nullable), free(productive), free(mark);
    return rc;
}

static void free_parser(parser *ps) {
    for (int i = 0; i < ps->n_rules; i++) free(ps->rules[i].name), free(ps->rules[i].body.e);
    free(ps->rules);
    for (int i = 0; i < ps->n_tokens; i++) free(ps->tokens[i].piece);
    free(ps->tokens);
}

g4_grammar *g4_grammar_parse(const char *gbnf, const char *root) {
    if (!gbnf) { g4_error("grammar: no text"); return NULL; }
    if (!root) root = "root";
    parser ps = {.src = gbnf, .p = gbnf};
    g4_grammar *g = NULL;
    if (parse_rules(&ps)) goto fail;
    for (int i = 0; i < ps.n_rules; i++)
        if (!ps.rules[i].defined) {
            g4_error("grammar %d:%d: undefined rule %s", ps.rules[i].line, ps.rules[i].col, ps.rules[i].name);
            goto fail;
        }
    int root_id = -1;
    for (int i = 0; i < ps.n_rules; i++)
        if (strcmp(ps.rules[i].name, root) == 0) root_id = i;
    if (root_id < 0) { g4_error("grammar: no rule named %s (the start rule)", root); goto fail; }
    g = calloc(1, sizeof *g);
    size_t total = 0;
    for (int i = 0; i < ps.n_rules; i++) total += ps.rules[i].body.n;
    if (!g || total > MAX_ELEMS) { g4_error("grammar: out of memory or too large"); goto fail; }
    g->elems = malloc(total * sizeof *g->elems);
    g->rule_start = malloc((size_t)ps.n_rules * sizeof *g->rule_start);
    g->rule_name = calloc((size_t)ps.n_rules, sizeof *g->rule_name);
    if (!g->elems || !g->rule_start || !g->rule_name) { g4_error("grammar: out of memory"); goto fail; }
    g->n_rules = ps.n_rules;
    for (int i = 0; i < ps.n_rules; i++) {
        g->rule_start[i] = g->n_elems;
        memcpy(g->elems + g->n_elems, ps.rules[i].body.e, ps.rules[i].body.n * sizeof *g->elems);
        g->n_elems += (uint32_t)ps.rules[i].body.n;
        g->rule_name[i] = ps.rules[i].name;
        ps.rules[i].name = NULL;
    }
    g->root = root_id;
    g->tokens = ps.tokens, g->n_tokens = ps.n_tokens;
    ps.tokens = NULL, ps.n_tokens = 0;
    free_parser(&ps);
    if (check(g)) { g4_grammar_free(g); return NULL; }
    return g;
fail:
    free_parser(&ps);
    g4_grammar_free(g);
    return NULL;
}

void g4_grammar_free(g4_grammar *g) {
    if (!g) return;
    for (int i = 0; i < g->n_rules; i++) free(g->rule_name[i]);
    for (int i = 0; i < g->n_tokens; i++) free(g->tokens[i].piece);
    free(g->tokens), free(g->rule_name), free(g->rule_start), free(g->elems);
    free(g);
}
