/* schema.c: JSON Schema -> GBNF (g4_grammar_from_json_schema), for JSON text and,
 * through the same compiler, for Gemma 4 tool-call arguments (schema_toolcall.c).
 * Every construct is compiled exactly or refused with its name and JSON pointer:
 * a value the grammar allows always validates against the schema. Whitespace is
 * bounded and numbers have at most 16 digits, so sampling cannot run on forever
 * inside one token class. */
#include "run/schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gemma4.h"

#define MAX_SCHEMA_DEPTH 64
#define MAX_ENUM_RANGE 1000

void g4_sb_put(g4_sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void g4_sb_puts(g4_sb *b, const char *s) { g4_sb_put(b, s, strlen(s)); }

static void sb_printf(g4_sb *b, const char *fmt, ...) G4_PRINTF(2, 3);
static void sb_printf(g4_sb *b, const char *fmt, ...) {
    char buf[512];
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof buf) g4_sb_put(b, buf, (size_t)n);
    else { /* longer than buf (e.g. an array of objects repeats its item's expression) */
        char *big = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (big && vsnprintf(big, (size_t)n + 1, fmt, again) == n) g4_sb_put(b, big, (size_t)n);
        else b->oom = 1;
        free(big);
    }
    va_end(again);
}

void g4_sb_literal(g4_sb *b, const char *s, size_t n) {
    g4_sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; g4_sb_put(b, e, 2); }
        else if (c < 0x20 || c == 0x7F) sb_printf(b, "\\x%02X", c);
        else g4_sb_put(b, (const char *)&c, 1);
    }
    g4_sb_put(b, "\"", 1);
}

/* Base rules, emitted when used. */
enum {
    R_NONE, R_WS, R_JCHAR, R_STRING, R_INTEGER, R_NUMBER, R_BOOLEAN, R_NULL, R_VALUE, R_OBJECT, R_ARRAY,
    R_GQ, R_GSTRING, R_GKEY, R_GVALUE, R_GOBJECT, R_GARRAY, R_DATE, R_TIME, R_UUID, R_EMAIL, R_COUNT
};
static const char *const base_rule[R_COUNT] = {
    [R_WS] = "ws ::= ( \" \" | \"\\n\" \" \"{0,8} )?\n",
    [R_JCHAR] = "jchar ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )\n",
    [R_STRING] = "string ::= \"\\\"\" jchar* \"\\\"\"\n",
    [R_INTEGER] = "integer ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} )\n",
    [R_NUMBER] = "number ::= integer ( \".\" [0-9]{1,15} )? ( [eE] [-+]? [0-9]{1,2} )?\n",
    [R_BOOLEAN] = "boolean ::= \"true\" | \"false\"\n",
    [R_NULL] = "null ::= \"null\"\n",
    [R_VALUE] = "value ::= object | array | string | number | boolean | null\n",
    [R_OBJECT] = "object ::= \"{\" ws ( string ws \":\" ws value ( ws \",\" ws string ws \":\" ws value )* )? ws \"}\"\n",
    [R_ARRAY] = "array ::= \"[\" ws ( value ( ws \",\" ws value )* )? ws \"]\"\n",
    [R_GQ] = "gq ::= <[\"<|\\\"|>\"]>\n",
    [R_GSTRING] = "gstring ::= gq .* gq\n",
    [R_GKEY] = "gkey ::= [a-zA-Z_] [a-zA-Z0-9_]{0,40}\n",
    [R_GVALUE] = "gvalue ::= gobject | garray | gstring | number | boolean | null\n",
    [R_GOBJECT] = "gobject ::= \"{\" ( gkey \":\" gvalue ( \",\" gkey \":\" gvalue )* )? \"}\"\n",
    [R_GARRAY] = "garray ::= \"[\" ( gvalue ( \",\" gvalue )* )? \"]\"\n",
    [R_DATE] = "date ::= [0-9]{4} \"-\" ( ( \"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )"
               " | ( \"04\" | \"06\" | \"09\" | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) | \"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) )\n",
    [R_TIME] = "time ::= ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? ( \"Z\" | [-+] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )\n",
    [R_UUID] = "uuid ::= [0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}\n",
    [R_EMAIL] = "email ::= [a-z0-9_+-]{1,32} ( \".\" [a-z0-9_+-]{1,32} ){0,3} \"@\" ( [a-z0-9] [a-z0-9-]{0,20} [a-z0-9] \".\" ){1,3} [a-z]{2,6}\n",
};
/* the base rules each one references */
static const int base_deps[R_COUNT][4] = {
    [R_STRING] = {R_JCHAR, -1}, [R_NUMBER] = {R_INTEGER, -1},
    [R_VALUE] = {R_OBJECT, R_ARRAY, R_NUMBER, -1}, [R_OBJECT] = {R_WS, R_STRING, R_VALUE, -1},
    [R_ARRAY] = {R_WS, R_VALUE, -1}, [R_GSTRING] = {R_GQ, -1}, [R_GVALUE] = {R_GOBJECT, R_GARRAY, R_GSTRING, R_NUMBER},
    [R_GOBJECT] = {R_GKEY, R_GVALUE, -1}, [R_GARRAY] = {R_GVALUE, -1},
};

typedef struct {
    char *ptr;      /* the target's JSON pointer */
    char name[24];
} ref_rule;

struct g4_schema_compiler {
    json_t *root;
    int gemma;
    uint8_t used[R_COUNT];
    g4_sb rules;
    ref_rule *refs;
    int n_refs, cap_refs;
    int n_named;
    int depth;
};

static void use(g4_schema_compiler *sc, int r) {
    if (sc->used[r]) return;
    sc->used[r] = 1;
    if (r == R_VALUE || r == R_GVALUE) use(sc, R_BOOLEAN), use(sc, R_NULL);
    if (r == R_VALUE) use(sc, R_STRING);
    for (int i = 0; i < 4 && base_deps[r][i] > 0; i++) use(sc, base_deps[r][i]);
}

g4_schema_compiler *g4_schema_compiler_new(json_t *root, int dialect) {
    g4_schema_compiler *sc = calloc(1, sizeof *sc);
    if (!sc) { g4_error("schema: out of memory"); return NULL; }
    sc->root = root, sc->gemma = dialect;
    return sc;
}

void g4_schema_compiler_free(g4_schema_compiler *sc) {
    if (!sc) return;
    for (int i = 0; i < sc->n_refs; i++) free(sc->refs[i].ptr);
    free(sc->refs), free(sc->rules.s);
    free(sc);
}

/* The error for a construct not compiled; control characters (from keys in the
 * schema) are shown as '?' so that the reason stays one line. */
static int unsupported(const char *what, const char *ptr) {
    char w[160], p[256];
    snprintf(w, sizeof w, "%s", what);
    snprintf(p, sizeof p, "%s", *ptr ? ptr : "/");
    for (char *c = w; *c; c++) if ((unsigned char)*c < 0x20) *c = '?';
    for (char *c = p; *c; c++) if ((unsigned char)*c < 0x20) *c = '?';
    return g4_error("schema: %s is not supported (at %s)", w, p);
}

static void child_ptr(char *out, size_t cap, const char *ptr, const char *key) {
    size_t n = (size_t)snprintf(out, cap, "%s/", ptr);
    for (const char *k = key; *k && n + 3 < cap; k++) {
        if (*k == '~') out[n++] = '~', out[n++] = '0';
        else if (*k == '/') out[n++] = '~', out[n++] = '1';
        else out[n++] = *k;
    }
    out[n < cap ? n : cap - 1] = 0;
}

/* ---- literal values (enum, const) --------------------------------------------- */

static int value_literal(g4_schema_compiler *sc, json_t *v, g4_sb *out) {
    if (!sc->gemma) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) return g4_error("schema: out of memory");
        g4_sb_literal(out, text, strlen(text));
        free(text);
        return 0;
    }
    if (json_is_string(v)) {
        use(sc, R_GQ);
        g4_sb_puts(out, "gq ");
        if (json_string_length(v)) g4_sb_literal(out, json_string_value(v), json_string_length(v));
        g4_sb_puts(out, " gq");
    } else if (json_is_object(v)) {
        g4_sb_puts(out, "\"{\"");
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach(v, k, x) {
            g4_sb_puts(out, first ? " " : " \",\" ");
            first = 0;
            for (const char *c = k; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
                    return g4_error("schema: key '%s' of a const/enum object cannot be written as a bare tool-call key", k);
            g4_sb_literal(out, k, strlen(k));
            g4_sb_puts(out, " \":\" ");
            if (value_literal(sc, x, out)) return -1;
        }
        g4_sb_puts(out, " \"}\"");
    } else if (json_is_array(v)) {
        g4_sb_puts(out, "\"[\"");
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            g4_sb_puts(out, i ? " \",\" " : " ");
            if (value_literal(sc, x, out)) return -1;
        }
        g4_sb_puts(out, " \"]\"");
    } else {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) return g4_error("schema: out of memory");
        g4_sb_literal(out, text, strlen(text));
        free(text);
    }
    return 0;
}

/* ---- strings -------------------------------------------------------------------- */

/* One regex atom's translation: appends a GBNF element for a JSON string character class. */
static int regex_to_gbnf(g4_schema_compiler *sc, const char *re, const char *ptr, g4_sb *out) {
    size_t n = strlen(re);
    size_t i = 0;
    int anchored_start = n > 0 && re[0] == '^';
    int anchored_end = n > 0 && re[n - 1] == '$' && (n < 2 || re[n - 2] != '\\');
    if (anchored_start) i++;
    if (anchored_end) n--;
    const char *any = sc->gemma ? "." : "[^\"\\\\\\x00-\\x1F]";
    if (!anchored_start) sb_printf(out, "%s* ", any);
    g4_sb_puts(out, "( ");
    int depth = 0, atom = 0;   /* atom: a quantifier may follow */
    for (; i < n; i++) {
        char c = re[i];
        int was_atom = atom;
        atom = 1;
        if ((c == '*' || c == '+' || c == '?' || c == '{') && !was_atom)
            return unsupported("a pattern with a quantifier that follows nothing", ptr);
        if (c == '(' || c == '|' || c == '*' || c == '+' || c == '?' || c == '{') atom = 0;
        if (c == '(') {
            if (i + 1 < n && re[i + 1] == '?') {
                if (i + 2 < n && re[i + 2] == ':') i += 2;
                else return unsupported("a pattern with lookaround or named groups", ptr);
            }
            depth++, g4_sb_puts(out, "( ");
        } else if (c == ')') {
            if (--depth < 0) return unsupported("a pattern with unbalanced parentheses", ptr);
            g4_sb_puts(out, ") ");
        } else if (c == '|') g4_sb_puts(out, "| ");
        else if (c == '*' || c == '+' || c == '?') {
            if (i + 1 < n && (re[i + 1] == '?' || re[i + 1] == '+')) return unsupported("a pattern with lazy or possessive quantifiers", ptr);
            char q[3] = {c, ' ', 0};
            g4_sb_puts(out, q);
        } else if (c == '{') {
            size_t j = i + 1;
            long lo = -1, hi = -1, *cur = &lo;
            int commas = 0;
            for (; j < n && re[j] != '}'; j++) {
                if (re[j] == ',' && commas++ == 0) { cur = &hi; continue; }
                if (re[j] < '0' || re[j] > '9') break;
                *cur = (*cur < 0 ? 0 : *cur) * 10 + (re[j] - '0');
                if (*cur > 1000) return unsupported("a pattern repetition above 1000", ptr);
            }
            if (j >= n || re[j] != '}' || lo < 0 || (commas && hi >= 0 && hi < lo))
                return unsupported("a pattern with a malformed {m,n}", ptr);
            if (!commas) sb_printf(out, "{%ld} ", lo);
            else if (hi < 0) sb_printf(out, "{%ld,} ", lo);
            else sb_printf(out, "{%ld,%ld} ", lo, hi);
            i = j;
        } else if (c == '.') {
            sb_printf(out, "%s ", sc->gemma ? "[^\\n]" : "[^\"\\\\\\x00-\\x1F]");
        } else if (c == '[') {
            size_t j = i + 1;
            int neg = j < n && re[j] == '^';
            if (neg) j++;
            g4_sb_puts(out, neg ? "[^" : "[");
            if (neg && !sc->gemma) g4_sb_puts(out, "\"\\\\\\x00-\\x1F");
            if (j < n && re[j] == ']') g4_sb_puts(out, "\\]"), j++;
            for (; j < n && re[j] != ']'; j++) {
                char d = re[j];
                if (d == '\\') {
                    if (++j >= n) return unsupported("a pattern ending in a backslash", ptr);
                    char e = re[j];
                    if (e == 'd') g4_sb_puts(out, "0-9");
                    else if (e == 'w') g4_sb_puts(out, "a-zA-Z0-9_");
                    else if (e == '.' || e == '/') g4_sb_put(out, &e, 1);
                    else if (e && strchr("-[]^", e)) { char t[3] = {'\\', e, 0}; g4_sb_puts(out, t); }
                    else if (e == '\\' && sc->gemma) g4_sb_puts(out, "\\\\");
                    else return unsupported("a pattern class escape other than \\d \\w or punctuation", ptr);
                } else if (d == '-' && j > i + 1 && j + 1 < n && re[j + 1] != ']') {
                    unsigned char a = (unsigned char)re[j - 1], z = (unsigned char)re[j + 1];
                    if (a >= 0x80 || z >= 0x80 || z == '\\' || re[j - 2] == '\\' || z < a ||
                        (!sc->gemma && ((a <= '"' && z >= '"') || (a <= '\\' && z >= '\\'))))
                        return unsupported("a pattern class range that is reversed, escaped, not ASCII or holds a quote or backslash", ptr);
                    g4_sb_put(out, &d, 1);
                } else if ((d == '"' || d == '\\' || (unsigned char)d < 0x20) && !sc->gemma) {
                    return unsupported("a pattern with a quote or control character", ptr);
                } else g4_sb_put(out, &d, 1);
            }
            if (j >= n) return unsupported("a pattern with an unterminated class", ptr);
            g4_sb_puts(out, "] ");
            i = j;
        } else if (c == '\\') {
            if (++i >= n) return unsupported("a pattern ending in a backslash", ptr);
            char e = re[i];
            if (e == 'd') g4_sb_puts(out, "[0-9] ");
            else if (e == 'w') g4_sb_puts(out, "[a-zA-Z0-9_] ");
            else if (e == 's') g4_sb_puts(out, sc->gemma ? "[ \\t\\n] " : "\" \" ");
            else if (strchr(".*+?()[]{}|^$/-", e)) g4_sb_literal(out, &e, 1), g4_sb_puts(out, " ");
            else return unsupported("a pattern escape other than \\d \\w \\s or punctuation", ptr);
        } else if (c == '^' || c == '$') {
            return unsupported("a pattern with ^ or $ inside it", ptr);
        } else if ((c == '"' || (unsigned char)c < 0x20) && !sc->gemma) {
            return unsupported("a pattern with a quote or control character", ptr);
        } else {
            size_t len = 1;
            while (i + len < n && ((unsigned char)re[i + len] & 0xC0) == 0x80) len++;
            g4_sb_literal(out, re + i, len), g4_sb_puts(out, " ");
            i += len - 1;
        }
    }
    if (depth != 0) return unsupported("a pattern with unbalanced parentheses", ptr);
    g4_sb_puts(out, ")");
    if (!anchored_end) sb_printf(out, " %s*", any);
    return 0;
}

static long get_count(json_t *s, const char *key, long dflt) {
    json_t *v = json_object_get(s, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0) return (long)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) == floor(json_real_value(v)) && json_real_value(v) < 1e9)
        return (long)json_real_value(v);
    return dflt;
}

static int string_expr(g4_schema_compiler *sc, json_t *s, const char *ptr, g4_sb *out) {
    const char *q = sc->gemma ? "gq" : "\"\\\"\"";
    if (sc->gemma) use(sc, R_GQ);
    json_t *format = json_object_get(s, "format"), *pattern = json_object_get(s, "pattern");
    int has_len = json_object_get(s, "minLength") || json_object_get(s, "maxLength");
    if (format && json_is_string(format)) {
        const char *f = json_string_value(format);
        if (pattern || has_len) return unsupported("format together with pattern or lengths", ptr);
        const char *rule = NULL;
        if (!strcmp(f, "date")) use(sc, R_DATE), rule = "date";
        else if (!strcmp(f, "time")) use(sc, R_TIME), rule = "time";
        else if (!strcmp(f, "date-time")) use(sc, R_DATE), use(sc, R_TIME), rule = "date \"T\" time";
        else if (!strcmp(f, "uuid")) use(sc, R_UUID), rule = "uuid";
        else if (!strcmp(f, "email")) use(sc, R_EMAIL), rule = "email";
        else { char what[96]; snprintf(what, sizeof what, "format \"%.40s\"", f); return unsupported(what, ptr); }
        sb_printf(out, "%s %s %s", q, rule, q);
        return 0;
    }
    if (pattern) {
        if (!json_is_string(pattern)) return unsupported("a pattern that is not a string", ptr);
        if (has_len) return unsupported("pattern together with minLength/maxLength", ptr);
        sb_printf(out, "%s ", q);
        if (regex_to_gbnf(sc, json_string_value(pattern), ptr, out)) return -1;
        sb_printf(out, " %s", q);
        return 0;
    }
    long lo = get_count(s, "minLength", 0), hi = get_count(s, "maxLength", -1);
    if (hi >= 0 && hi < lo) return unsupported("maxLength below minLength", ptr);
    if (hi > 10000 || lo > 10000) return unsupported("string lengths above 10000", ptr);
    if (!sc->gemma) use(sc, R_JCHAR);
    const char *ch = sc->gemma ? "." : "jchar";
    if (lo == 0 && hi < 0) sb_printf(out, "%s %s* %s", q, ch, q);
    else if (hi < 0) sb_printf(out, "%s %s{%ld,} %s", q, ch, lo, q);
    else sb_printf(out, "%s %s{%ld,%ld} %s", q, ch, lo, hi, q);
    return 0;
}

/* ---- numbers -------------------------------------------------------------------- */

static int bound(json_t *s, const char *key, double *out) {
    json_t *v = json_object_get(s, key);
    if (!v) return 0;
    if (!json_is_number(v)) return -1;
    *out = json_number_value(v);
    return 1;
}

static int number_expr(g4_schema_compiler *sc, json_t *s, int integer, const char *ptr, g4_sb *out) {
    double lo = -INFINITY, hi = INFINITY, v;
    int r;
    if ((r = bound(s, "minimum", &v)) < 0) return unsupported("a minimum that is not a number", ptr);
    if (r) lo = v;
    if ((r = bound(s, "maximum", &v)) < 0) return unsupported("a maximum that is not a number", ptr);
    if (r) hi = v;
    int xlo = 0, xhi = 0;
    if ((r = bound(s, "exclusiveMinimum", &v)) < 0) return unsupported("a boolean exclusiveMinimum", ptr);
    if (r && v >= lo) lo = v, xlo = 1;
    if ((r = bound(s, "exclusiveMaximum", &v)) < 0) return unsupported("a boolean exclusiveMaximum", ptr);
    if (r && v <= hi) hi = v, xhi = 1;
    if (json_object_get(s, "multipleOf")) return unsupported("multipleOf", ptr);
    use(sc, R_INTEGER);
    if (!integer) use(sc, R_NUMBER);
    if (lo == -INFINITY && hi == INFINITY) { g4_sb_puts(out, integer ? "integer" : "number"); return 0; }
    if (integer) {
        double a = xlo ? floor(lo) + 1 : ceil(lo), z = xhi ? ceil(hi) - 1 : floor(hi);
        if (hi == INFINITY && a >= 0 && a <= 1) {   /* non-negative / positive integers */
            g4_sb_puts(out, a == 0 ? "( \"0\" | [1-9] [0-9]{0,15} )" : "( [1-9] [0-9]{0,15} )");
            return 0;
        }
        if (lo > -INFINITY && hi < INFINITY && z >= a && z - a <= MAX_ENUM_RANGE && fabs(a) < 1e15 && fabs(z) < 1e15) {
            g4_sb_puts(out, "( ");
            for (double x = a; x <= z; x++) sb_printf(out, "%s\"%.0f\"", x > a ? " | " : "", x);
            g4_sb_puts(out, " )");
            return 0;
        }
        if (lo > -INFINITY && hi < INFINITY && z < a) return unsupported("an integer range that is empty", ptr);
        return unsupported("integer minimum/maximum other than a range of at most 1000 values or minimum 0/1", ptr);
    }
    if (hi == INFINITY && lo == 0 && !xlo) {   /* non-negative numbers */
        g4_sb_puts(out, "( ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,15} )? ( [eE] [-+]? [0-9]{1,2} )? )");
        return 0;
    }
    if (lo == 0 && hi == 1 && !xlo && !xhi) {   /* probabilities, fractions */
        g4_sb_puts(out, "( \"0\" ( \".\" [0-9]{1,15} )? | \"1\" ( \".\" \"0\"{1,15} )? )");
        return 0;
    }
    return unsupported("number minimum/maximum other than minimum 0 or the range 0..1", ptr);
}

/* ---- objects and arrays ---------------------------------------------------------- */

static int gen(g4_schema_compiler *sc, json_t *s, const char *ptr, g4_sb *out);

static const char *ws(g4_schema_compiler *sc) {
    if (sc->gemma) return "";
    use(sc, R_WS);
    return " ws ";
}

/* A key as the dialect writes it. */
static int key_expr(g4_schema_compiler *sc, const char *key, g4_sb *out) {
    if (!sc->gemma) {
        json_t *tmp = json_string(key);
        char *text = tmp ? json_dumps(tmp, JSON_ENCODE_ANY) : NULL;
        json_decref(tmp);
        if (!text) return g4_error("schema: out of memory");
        g4_sb_literal(out, text, strlen(text));
        free(text);
        return 0;
    }
    int bare = *key != 0;
    for (const char *c = key; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')) bare = 0;
    if (bare) g4_sb_literal(out, key, strlen(key));
    else {
        use(sc, R_GQ);
        g4_sb_puts(out, "gq ");
        g4_sb_literal(out, key, strlen(key));
        g4_sb_puts(out, " gq");
    }
    return 0;
}

/* A new rule name for a generated rule whose body the caller appends. */
static void new_rule(g4_schema_compiler *sc, char *name, size_t cap) {
    snprintf(name, cap, "r%d", sc->n_named++);
}

/* Key strings other than the known ones: the complement of a set of strings, as
 * rules over the unescaped string characters (escapes could spell a known key). */
static int other_key_rule(g4_schema_compiler *sc, const char **keys, int n, size_t depth, const char *prefix,
                          size_t plen, char *name, size_t cap) {
    new_rule(sc, name, cap);
    const char *anych = sc->gemma ? "[a-zA-Z0-9_]" : "[^\"\\\\\\x00-\\x1F]";
    g4_sb body = {0};
    /* the prefix itself is a fine key unless it is a known one */
    int is_key = 0;
    char seen[256] = {0};
    for (int i = 0; i < n; i++) {
        if (strlen(keys[i]) < plen || memcmp(keys[i], prefix, plen) != 0) continue;
        if (strlen(keys[i]) == plen) is_key = 1;
        else seen[(unsigned char)keys[i][plen]] = 1;
    }
    sb_printf(&body, "%s ::= %s", name, is_key || (sc->gemma && plen == 0) ? "" : "\"\" |");
    /* a first byte no known key continues with: anything may follow */
    g4_sb_puts(&body, " ");
    g4_sb_puts(&body, sc->gemma ? "[a-zA-Z_" : "[^\"\\\\\\x00-\\x1F");
    if (sc->gemma && plen > 0) g4_sb_puts(&body, "0-9");
    int any_seen = 0;
    for (int c = 0; c < 256; c++)
        if (seen[c]) {
            any_seen = 1;
            if (sc->gemma) continue;
            sb_printf(&body, "\\x%02X", c);
        }
    g4_sb_puts(&body, "]");
    if (sc->gemma && any_seen) {
        /* rebuild as a negation would cover non-key bytes: list the allowed ones instead */
        body.len = 0;
        sb_printf(&body, "%s ::= %s [", name, is_key || plen == 0 ? "" : "\"\" |");
        for (int c = '0'; c <= 'z'; c++)
            if (((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (plen > 0 && c >= '0' && c <= '9')) && !seen[c])
                g4_sb_put(&body, (const char *)&(char){(char)c}, 1);
        g4_sb_puts(&body, "]");
    }
    sb_printf(&body, " %s*", anych);
    if (sc->gemma) body.len -= 1, g4_sb_puts(&body, "{0,40}");
    for (int c = 0; c < 256; c++) {
        if (!seen[c]) continue;
        if (depth > 64) { free(body.s); return unsupported("property names longer than 64 bytes with additionalProperties", "/"); }
        char *np = malloc(plen + 2);
        if (!np) { free(body.s); return g4_error("schema: out of memory"); }
        memcpy(np, prefix, plen);
        np[plen] = (char)c;
        char child[24];
        int rc = other_key_rule(sc, keys, n, depth + 1, np, plen + 1, child, sizeof child);
        free(np);
        if (rc) { free(body.s); return -1; }
        g4_sb_puts(&body, " | ");
        char ch = (char)c;
        if ((unsigned char)c < 0x80) g4_sb_literal(&body, &ch, 1);
        else sb_printf(&body, "[\\x%02X]", c);
        sb_printf(&body, " %s", child);
    }
    g4_sb_puts(&body, "\n");
    if (body.oom) { free(body.s); return g4_error("schema: out of memory"); }
    /* byte-level alternatives above 0x7F are not code points: refuse such keys */
    for (int c = 0x80; c < 256; c++)
        if (seen[c]) { free(body.s); return unsupported("non-ASCII property names with additionalProperties", "/"); }
    g4_sb_put(&sc->rules, body.s, body.len);
    free(body.s);
    return 0;
}

static int object_expr(g4_schema_compiler *sc, json_t *s, const char *ptr, g4_sb *out) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return unsupported("properties that is not an object", ptr);
    if (req && !json_is_array(req)) return unsupported("required that is not an array", ptr);
    if (json_object_get(s, "patternProperties")) return unsupported("patternProperties", ptr);
    if (json_object_get(s, "minProperties") || json_object_get(s, "maxProperties")) return unsupported("minProperties/maxProperties", ptr);
    if (json_object_get(s, "dependentRequired") || json_object_get(s, "dependentSchemas")) return unsupported("dependentRequired/dependentSchemas", ptr);
    if (json_object_get(s, "propertyNames")) return unsupported("propertyNames", ptr);
    if (json_object_get(s, "unevaluatedProperties")) return unsupported("unevaluatedProperties", ptr);
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r) {
        if (!json_is_string(r)) return unsupported("a required entry that is not a string", ptr);
        if (!json_object_get(props, json_string_value(r))) return unsupported("a required property without a schema in properties", ptr);
    }
    const char *w = ws(sc);
    const char *comma = sc->gemma ? "\",\"" : "ws \",\" ws";
    int n = props ? (int)json_object_size(props) : 0;
    const char **keys = calloc((size_t)n + 1, sizeof *keys);
    g4_sb *kv = calloc((size_t)n + 1, sizeof *kv);
    int *required = calloc((size_t)n + 1, sizeof *required);
    int rc = -1;
    if (!keys || !kv || !required) { g4_error("schema: out of memory"); goto done; }
    const char *k;
    json_t *v;
    int idx = 0;
    char cptr[1024], pptr[1024];
    snprintf(pptr, sizeof pptr, "%s/properties", ptr);
    json_object_foreach(props, k, v) {
        keys[idx] = k;
        json_array_foreach(req, i, r) if (!strcmp(json_string_value(r), k)) required[idx] = 1;
        if (key_expr(sc, k, &kv[idx])) goto done;
        sb_printf(&kv[idx], " %s\":\"%s", sc->gemma ? "" : "ws ", w);
        child_ptr(cptr, sizeof cptr, pptr, k);
        g4_sb_puts(&kv[idx], "( ");
        if (gen(sc, v, cptr, &kv[idx])) goto done;
        g4_sb_puts(&kv[idx], " )");
        idx++;
    }
    /* additional properties: schema for their values, or none */
    g4_sb add = {0};
    int has_add = addl && !json_is_false(addl);
    if (has_add) {
        char kname[24];
        /* known keys that extra keys cannot spell (tool calls: not bare, so written
         * quoted; JSON: with a quote, backslash or control character) need no exclusion */
        int n_cmp = 0;
        for (int j = 0; j < n; j++) {
            int bare = 1;
            if (!sc->gemma) {
                for (const char *c = keys[j]; *c; c++)
                    if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) bare = 0;
            } else {
                bare = *keys[j] != 0;
                for (const char *c = keys[j]; *c; c++)
                    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')) bare = 0;
            }
            if (bare) keys[n_cmp++] = keys[j];
        }
        if (other_key_rule(sc, keys, n_cmp, 0, "", 0, kname, sizeof kname)) { free(add.s); goto done; }
        if (sc->gemma) sb_printf(&add, "%s \":\" ( ", kname);
        else sb_printf(&add, "\"\\\"\" %s \"\\\"\" ws \":\" ws ( ", kname);
        char aptr[1024];
        snprintf(aptr, sizeof aptr, "%s/additionalProperties", ptr);
        if (json_is_true(addl)) { use(sc, sc->gemma ? R_GVALUE : R_VALUE); g4_sb_puts(&add, sc->gemma ? "gvalue" : "value"); }
        else if (gen(sc, addl, aptr, &add)) { free(add.s); goto done; }
        g4_sb_puts(&add, " )");
    }
    /* optional chain: A_i ::= kv_i ( comma A_{i+1} )? | A_{i+1} over the optional ones */
    char chain[24] = "";
    for (int j = n - 1; j >= 0; j--) {
        if (required[j]) continue;
        char name[24];
        new_rule(sc, name, sizeof name);
        sb_printf(&sc->rules, "%s ::= %s", name, kv[j].s);
        if (*chain) sb_printf(&sc->rules, " ( %s %s )? | %s", comma, chain, chain);
        g4_sb_puts(&sc->rules, "\n");
        snprintf(chain, sizeof chain, "%s", name);
    }
    g4_sb_puts(out, "\"{\"");
    g4_sb_puts(out, w);
    int any_req = 0;
    for (int j = 0; j < n; j++) {
        if (!required[j]) continue;
        if (any_req) sb_printf(out, " %s ", comma);
        g4_sb_puts(out, kv[j].s);
        any_req = 1;
    }
    if (any_req) {
        if (*chain) sb_printf(out, " ( %s %s )?", comma, chain);
        if (has_add) sb_printf(out, " ( %s %s )*", comma, add.s);
    } else {
        if (*chain && has_add) sb_printf(out, " ( %s ( %s %s )* | %s ( %s %s )* )?", chain, comma, add.s, add.s, comma, add.s);
        else if (*chain) sb_printf(out, " %s?", chain);
        else if (has_add) sb_printf(out, " ( %s ( %s %s )* )?", add.s, comma, add.s);
    }
    g4_sb_puts(out, w);
    g4_sb_puts(out, "\"}\"");
    free(add.s);
    rc = out->oom || sc->rules.oom ? g4_error("schema: out of memory") : 0;
done:
    if (kv) for (int j = 0; j < n; j++) free(kv[j].s);
    free(kv), free(keys), free(required);
    return rc;
}

static int array_expr(g4_schema_compiler *sc, json_t *s, const char *ptr, g4_sb *out) {
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    if (json_object_get(s, "uniqueItems") && !json_is_false(json_object_get(s, "uniqueItems"))) return unsupported("uniqueItems", ptr);
    if (json_object_get(s, "contains")) return unsupported("contains", ptr);
    if (json_object_get(s, "unevaluatedItems")) return unsupported("unevaluatedItems", ptr);
    if (prefix && !json_is_array(prefix)) return unsupported("prefixItems that is not an array", ptr);
    long lo = get_count(s, "minItems", 0), hi = get_count(s, "maxItems", -1);
    if (hi >= 0 && hi < lo) return unsupported("maxItems below minItems", ptr);
    if (lo > 1000 || hi > 1000) return unsupported("minItems/maxItems above 1000", ptr);
    long k = prefix ? (long)json_array_size(prefix) : 0;
    if (hi >= 0 && k > hi) return unsupported("more prefixItems than maxItems", ptr);
    const char *w = ws(sc);
    const char *comma = sc->gemma ? "\",\"" : "ws \",\" ws";
    char cptr[1024];
    g4_sb item = {0};
    int extra = 1;   /* items beyond the prefix allowed */
    if (items && json_is_false(items)) extra = 0;
    else if (!items && prefix) extra = 0;   /* allowed by the schema, but not needed */
    if (extra) {
        snprintf(cptr, sizeof cptr, "%s/items", ptr);
        if (!items || json_is_true(items)) { use(sc, sc->gemma ? R_GVALUE : R_VALUE); g4_sb_puts(&item, sc->gemma ? "gvalue" : "value"); }
        else {
            g4_sb_puts(&item, "( ");
            if (gen(sc, items, cptr, &item)) { free(item.s); return -1; }
            g4_sb_puts(&item, " )");
        }
    }
    if (!extra && lo > k) { free(item.s); return unsupported("minItems above the number of prefixItems with no items", ptr); }
    g4_sb_puts(out, "\"[\"");
    g4_sb_puts(out, w);
    size_t idx;
    json_t *p;
    json_array_foreach(prefix, idx, p) {
        if (idx) sb_printf(out, " %s ", comma);
        snprintf(cptr, sizeof cptr, "%s/prefixItems/%zu", ptr, idx);
        g4_sb_puts(out, "( ");
        if (gen(sc, p, cptr, out)) { free(item.s); return -1; }
        g4_sb_puts(out, " )");
    }
    if (extra) {
        long elo = lo > k ? lo - k : 0, ehi = hi >= 0 ? hi - k : -1;
        if (k > 0) {   /* each extra item after a comma */
            if (ehi < 0) sb_printf(out, " ( %s %s ){%ld,}", comma, item.s, elo);
            else if (ehi > 0) sb_printf(out, " ( %s %s ){%ld,%ld}", comma, item.s, elo, ehi);
        } else if (ehi != 0) {
            char more[48];
            if (ehi < 0) snprintf(more, sizeof more, "{%ld,}", elo > 0 ? elo - 1 : 0);
            else snprintf(more, sizeof more, "{%ld,%ld}", elo > 0 ? elo - 1 : 0, ehi - 1);
            sb_printf(out, " ( %s ( %s %s )%s )%s", item.s, comma, item.s, more, elo > 0 ? "" : "?");
        }
    }
    g4_sb_puts(out, w);
    g4_sb_puts(out, "\"]\"");
    free(item.s);
    return 0;
}

/* ---- $ref ------------------------------------------------------------------------ */

static json_t *resolve(g4_schema_compiler *sc, const char *ref) {
    if (ref[0] != '#') return NULL;
    json_t *at = sc->root;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof tok) {
            if (p[0] == '~' && p[1] == '0') tok[n++] = '~', p += 2;
            else if (p[0] == '~' && p[1] == '1') tok[n++] = '/', p += 2;
            else tok[n++] = *p++;
        }
        tok[n] = 0;
        if (json_is_object(at)) at = json_object_get(at, tok);
        else if (json_is_array(at)) {
            char *end;
            long i = strtol(tok, &end, 10);
            at = *end || i < 0 ? NULL : json_array_get(at, (size_t)i);
        } else at = NULL;
        if (!at) return NULL;
    }
    return *p ? NULL : at;
}

static int ref_expr(g4_schema_compiler *sc, const char *ref, const char *ptr, g4_sb *out) {
    for (int i = 0; i < sc->n_refs; i++)
        if (!strcmp(sc->refs[i].ptr, ref)) { g4_sb_puts(out, sc->refs[i].name); return 0; }
    json_t *target = resolve(sc, ref);
    if (!target) {
        char what[300];
        snprintf(what, sizeof what, "$ref \"%.200s\" (only references within the document, #/...)", ref);
        return unsupported(what, ptr);
    }
    if (sc->n_refs == sc->cap_refs) {
        int cap = sc->cap_refs ? sc->cap_refs * 2 : 8;
        ref_rule *r = realloc(sc->refs, (size_t)cap * sizeof *r);
        if (!r) return g4_error("schema: out of memory");
        sc->refs = r, sc->cap_refs = cap;
    }
    ref_rule *rr = &sc->refs[sc->n_refs];
    rr->ptr = strdup(ref);
    if (!rr->ptr) return g4_error("schema: out of memory");
    new_rule(sc, rr->name, sizeof rr->name);
    char name[24];
    memcpy(name, rr->name, sizeof name);
    sc->n_refs++;
    g4_sb body = {0};
    sb_printf(&body, "%s ::= ", name);
    int rc = gen(sc, target, ref + 1, &body);
    g4_sb_puts(&body, "\n");
    if (!rc) g4_sb_put(&sc->rules, body.s ? body.s : "", body.len);
    free(body.s);
    if (!rc) g4_sb_puts(out, name);
    return rc;
}

/* ---- a schema --------------------------------------------------------------------- */

static const char *const known_keys[] = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "items", "prefixItems",
    "minItems", "maxItems", "anyOf", "oneOf", "allOf", "nullable", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "$ref", "$defs", "definitions", "format",
    "title", "description", "$schema", "$id", "default", "examples", "$comment", "readOnly", "writeOnly",
    "deprecated", "uniqueItems", NULL,
};

static int type_expr(g4_schema_compiler *sc, json_t *s, const char *type, const char *ptr, g4_sb *out) {
    if (!strcmp(type, "object")) return object_expr(sc, s, ptr, out);
    if (!strcmp(type, "array")) return array_expr(sc, s, ptr, out);
    if (!strcmp(type, "string")) return string_expr(sc, s, ptr, out);
    if (!strcmp(type, "number")) return number_expr(sc, s, 0, ptr, out);
    if (!strcmp(type, "integer")) return number_expr(sc, s, 1, ptr, out);
    if (!strcmp(type, "boolean")) { use(sc, R_BOOLEAN); g4_sb_puts(out, "boolean"); return 0; }
    if (!strcmp(type, "null")) { use(sc, R_NULL); g4_sb_puts(out, "null"); return 0; }
    if (!strcmp(type, "json_object")) { use(sc, sc->gemma ? R_GOBJECT : R_OBJECT); g4_sb_puts(out, sc->gemma ? "gobject" : "object"); return 0; }
    char what[96];
    snprintf(what, sizeof what, "type \"%.40s\"", type);
    return unsupported(what, ptr);
}

/* The keywords that only constrain one type of value, by the type they imply. */
static const struct {
    const char *key, *type;
} typed_keys[] = {
    {"properties", "object"}, {"required", "object"},  {"additionalProperties", "object"},
    {"items", "array"},       {"prefixItems", "array"}, {"minItems", "array"}, {"maxItems", "array"},
    {"uniqueItems", "array"}, {"minLength", "string"}, {"maxLength", "string"}, {"pattern", "string"},
    {"format", "string"},     {"minimum", "number"},   {"maximum", "number"}, {"exclusiveMinimum", "number"},
    {"exclusiveMaximum", "number"},
};
#define N_TYPED_KEYS (sizeof typed_keys / sizeof typed_keys[0])

/* The first type-specific keyword of s, or NULL. */
static const char *typed_keyword(json_t *s) {
    for (size_t i = 0; i < N_TYPED_KEYS; i++)
        if (json_object_get(s, typed_keys[i].key)) return typed_keys[i].key;
    return NULL;
}

/* Whether a value has the JSON type named (integer within number). */
static int value_has_type(json_t *v, const char *type) {
    if (!strcmp(type, "string")) return json_is_string(v);
    if (!strcmp(type, "integer")) return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
    if (!strcmp(type, "number")) return json_is_number(v);
    if (!strcmp(type, "boolean")) return json_is_boolean(v);
    if (!strcmp(type, "null")) return json_is_null(v);
    if (!strcmp(type, "object") || !strcmp(type, "json_object")) return json_is_object(v);
    if (!strcmp(type, "array")) return json_is_array(v);
    return 0;
}

/* A schema without "type" whose keywords constrain some types only: the value is
 * one of those types, each with its keywords (a narrower choice than "any value
 * where those keywords hold", so the output still validates). */
static int implied_types_expr(g4_schema_compiler *sc, json_t *s, const char *ptr, g4_sb *out) {
    const char *types[4];
    int n = 0;
    for (size_t i = 0; i < N_TYPED_KEYS; i++) {
        if (!json_object_get(s, typed_keys[i].key)) continue;
        int seen = 0;
        for (int k = 0; k < n; k++) seen |= !strcmp(types[k], typed_keys[i].type);
        if (!seen) types[n++] = typed_keys[i].type;
    }
    if (n == 1) return type_expr(sc, s, types[0], ptr, out);
    g4_sb_puts(out, "( ");
    for (int k = 0; k < n; k++) {
        if (k) g4_sb_puts(out, " | ");
        if (type_expr(sc, s, types[k], ptr, out)) return -1;
    }
    g4_sb_puts(out, " )");
    return 0;
}

static int gen_inner(g4_schema_compiler *sc, json_t *s, const char *ptr, g4_sb *out) {
    if (json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0)) {
        use(sc, sc->gemma ? R_GVALUE : R_VALUE);
        g4_sb_puts(out, sc->gemma ? "gvalue" : "value");
        return 0;
    }
    if (json_is_false(s)) return unsupported("the schema false (no value is valid)", ptr);
    if (!json_is_object(s)) return unsupported("a schema that is not an object or boolean", ptr);
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        int known = 0;
        for (int i = 0; known_keys[i] && !known; i++) known = !strcmp(known_keys[i], k);
        if (!known) {
            char what[96];
            snprintf(what, sizeof what, "keyword \"%.40s\"", k);
            return unsupported(what, ptr);
        }
    }
    char cptr[1024];
    int nullable = json_is_true(json_object_get(s, "nullable"));
    if (nullable) { use(sc, R_NULL); g4_sb_puts(out, "( null | "); }
    int rc = 0;
    json_t *ref = json_object_get(s, "$ref"), *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    json_t *any = json_object_get(s, "anyOf");
    if (!any) any = json_object_get(s, "oneOf");
    json_t *all = json_object_get(s, "allOf");
    json_t *type = json_object_get(s, "type");
    const char *typed = typed_keyword(s);
    if ((ref || cn || en || any || all) && typed) {
        char what[128];
        snprintf(what, sizeof what, "keyword \"%s\" next to %s", typed,
                 ref ? "$ref" : cn ? "const" : en ? "enum" : any ? "anyOf/oneOf" : "allOf");
        return unsupported(what, ptr);
    }
    if ((cn || en) && json_is_string(type)) {
        size_t i;
        json_t *e;
        int ok = cn ? value_has_type(cn, json_string_value(type)) : 1;
        if (en && json_is_array(en)) json_array_foreach(en, i, e) ok &= value_has_type(e, json_string_value(type));
        if (!ok) return unsupported(cn ? "a const that does not have the schema's type" : "an enum value that does not have the schema's type", ptr);
    }
    if (ref) {
        if (!json_is_string(ref)) return unsupported("a $ref that is not a string", ptr);
        rc = ref_expr(sc, json_string_value(ref), ptr, out);
    } else if (cn) {
        rc = value_literal(sc, cn, out);
    } else if (en) {
        if (!json_is_array(en) || json_array_size(en) == 0) return unsupported("an enum that is not a non-empty array", ptr);
        size_t i;
        g4_sb_puts(out, "( ");
        json_array_foreach(en, i, v) {
            if (i) g4_sb_puts(out, " | ");
            if (value_literal(sc, v, out)) return -1;
        }
        g4_sb_puts(out, " )");
    } else if (any) {
        if (type || json_object_get(s, "properties")) return unsupported("anyOf/oneOf together with type or properties", ptr);
        if (!json_is_array(any) || json_array_size(any) == 0) return unsupported("anyOf/oneOf that is not a non-empty array", ptr);
        const char *which = json_object_get(s, "anyOf") ? "anyOf" : "oneOf";
        size_t i;
        g4_sb_puts(out, "( ");
        json_array_foreach(any, i, v) {
            if (i) g4_sb_puts(out, " | ");
            snprintf(cptr, sizeof cptr, "%s/%s/%zu", ptr, which, i);
            g4_sb_puts(out, "( ");
            if (gen(sc, v, cptr, out)) return -1;
            g4_sb_puts(out, " )");
        }
        g4_sb_puts(out, " )");
    } else if (all) {
        if (!json_is_array(all) || json_array_size(all) != 1 || type) return unsupported("allOf (other than one schema alone)", ptr);
        snprintf(cptr, sizeof cptr, "%s/allOf/0", ptr);
        rc = gen(sc, json_array_get(all, 0), cptr, out);
    } else if (json_is_array(type)) {
        size_t i;
        g4_sb_puts(out, "( ");
        json_array_foreach(type, i, v) {
            if (!json_is_string(v)) return unsupported("a type list entry that is not a string", ptr);
            if (i) g4_sb_puts(out, " | ");
            if (type_expr(sc, s, json_string_value(v), ptr, out)) return -1;
        }
        g4_sb_puts(out, " )");
    } else if (json_is_string(type)) {
        rc = type_expr(sc, s, json_string_value(type), ptr, out);
    } else if (type) {
        return unsupported("a type that is not a string or list", ptr);
    } else if (typed) {
        rc = implied_types_expr(sc, s, ptr, out);
    } else {
        use(sc, sc->gemma ? R_GVALUE : R_VALUE);
        g4_sb_puts(out, sc->gemma ? "gvalue" : "value");
    }
    if (!rc && nullable) g4_sb_puts(out, " )");
    return rc;
}

static int gen(g4_schema_compiler *sc, json_t *s, const char *ptr, g4_sb *out) {
    if (++sc->depth > MAX_SCHEMA_DEPTH) { sc->depth--; return unsupported("nesting deeper than 64 levels", ptr); }
    int rc = gen_inner(sc, s, ptr, out);
    sc->depth--;
    if (!rc && (out->oom || sc->rules.oom)) rc = g4_error("schema: out of memory");
    return rc;
}

int g4_schema_expr(g4_schema_compiler *sc, json_t *schema, const char *ptr, g4_sb *out) {
    return gen(sc, schema, ptr, out);
}

int g4_schema_rules(g4_schema_compiler *sc, g4_sb *out) {
    for (int r = 0; r < R_COUNT; r++)
        if (sc->used[r]) g4_sb_puts(out, base_rule[r]);
    if (sc->rules.len) g4_sb_put(out, sc->rules.s, sc->rules.len);
    return out->oom ? g4_error("schema: out of memory") : 0;
}

void g4_schema_json_error(const char *who, const json_error_t *err) {
    char text[JSON_ERROR_TEXT_LENGTH];
    snprintf(text, sizeof text, "%s", err->text);
    for (char *c = text; *c; c++) if ((unsigned char)*c < 0x20) *c = '?';
    g4_error("%s: invalid JSON at line %d column %d: %s", who, err->line, err->column, text);
}

char *g4_grammar_from_json_schema(const char *schema_json) {
    if (!schema_json) { g4_error("schema: no text"); return NULL; }
    json_error_t err;
    json_t *root = json_loads(schema_json, JSON_DECODE_ANY, &err);
    if (!root) { g4_schema_json_error("schema", &err); return NULL; }
    g4_schema_compiler *sc = g4_schema_compiler_new(root, 0);
    g4_sb out = {0};
    char *result = NULL;
    if (!sc) goto done;
    g4_sb_puts(&out, "root ::= ");
    if (g4_schema_expr(sc, root, "", &out)) goto done;
    g4_sb_puts(&out, "\n");
    if (g4_schema_rules(sc, &out)) goto done;
    result = out.s, out.s = NULL;
done:
    free(out.s);
    g4_schema_compiler_free(sc);
    json_decref(root);
    return result;
}
