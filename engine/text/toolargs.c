/* toolargs.c: the Gemma 4 tool-call argument syntax -> JSON, incrementally
 * (shared/docs/gemma4-chat-protocol.md §3.3; API in text/parse.h).
 *
 * Input grammar, as vLLM and llama.cpp read it:
 *   object := '{' { key ':' value | ',' | blank } '}'
 *   array  := '[' { value | ',' | blank } ']'
 *   key    := bare text up to ':' (trimmed) | <|"|> text <|"|>
 *   value  := <|"|> verbatim text <|"|> | object | array | bare text up to , } ]
 * Bare values: true/false (also True/False), null/none/nil in any case -> null,
 * a valid JSON number -> copied as written, empty -> null, anything else -> a
 * JSON string of the trimmed text (vLLM's fallback).
 * Output is Python json.dumps(..., ensure_ascii=False): ", " and ": ", control
 * characters as \n \t ... or \u00XX, invalid UTF-8 replaced by U+FFFD.
 * Tolerated: a key without a value (null), a closer of the wrong kind (closes
 * up to the matching opener, or is ignored), text after a string or after the
 * top-level '}' (ignored), <|"|> where no string can start (ignored),
 * duplicate keys (kept; a stream cannot retract the first one). */
#include "text/parse.h"

#include <stdlib.h>
#include <string.h>

enum {
    TA_TOP,         /* before the opening '{' */
    TA_KEY,         /* in an object, before a key: skips blanks and ',' */
    TA_KEY_BARE,    /* reading a bare key up to ':' */
    TA_KEY_QUOTED,  /* reading a <|"|>-wrapped key */
    TA_KEY_COLON,   /* after a wrapped key, before its ':' */
    TA_VALUE,       /* before a value: after "key:" or in an array */
    TA_STRING,      /* inside a <|"|>-delimited string */
    TA_BARE,        /* reading a bare value up to , } ] */
    TA_AFTER,       /* after a value: expects ',' or a closer */
    TA_DONE,        /* the top-level object is closed; the rest is ignored */
};

/* Room kept free for finish(): one closer per open level, "null" or '"'. */
#define RESERVE(ta) ((size_t)(ta)->depth + 8)

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* ---- JSON text ------------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at s[0..n), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* JSON-escapes s[0..n) into out (NULL: only counts); returns the length. */
static size_t escape(const char *str, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        const char *e = NULL;
        char u[6];
        size_t k;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        default: break;
        }
        if (e) {
            k = strlen(e);
            if (out) memcpy(out + o, e, k);
            o += k, i++;
        } else if (c < 0x20) {
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4], u[5] = hex[c & 15];
            if (out) memcpy(out + o, u, 6);
            o += 6, i++;
        } else if ((k = utf8_len(s + i, n - i)) != 0) {
            if (out) memcpy(out + o, s + i, k);
            o += k, i += k;
        } else {  /* invalid byte -> U+FFFD */
            if (out) memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, i++;
        }
    }
    return o;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static int is_json_number(const char *s, size_t n) {
    size_t i = 0, d;
    if (i < n && s[i] == '-') i++;
    if (i < n && s[i] == '0') i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return 0;
    if (i < n && s[i] == '.') {
        for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9';) i++;
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        for (d = i; i < n && s[i] >= '0' && s[i] <= '9';) i++;
        if (i == d) return 0;
    }
    return i == n;
}

static int equals_nocase(const char *s, size_t n, const char *word) {
    if (strlen(word) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != word[i]) return 0;
    }
    return 1;
}

/* ---- output buffer --------------------------------------------------------- */

/* Stops taking input; leaves a state that finish() can close. */
static void truncate_input(g4_toolargs *ta) {
    ta->truncated = 1;
    ta->tok_len = 0;
    if (ta->state == TA_BARE) ta->state = ta->stack[ta->depth - 1] == '{' ? TA_VALUE : TA_AFTER;
    else if (ta->state == TA_KEY_BARE || ta->state == TA_KEY_QUOTED || ta->state == TA_KEY_COLON)
        ta->state = TA_KEY;
}

/* Makes room for n more bytes (plus the closing reserve, with extra_depth more
 * levels open). Returns 0, or -1 after truncating the input. */
static int reserve(g4_toolargs *ta, size_t n, int extra_depth) {
    size_t need = ta->len + n + RESERVE(ta) + (size_t)extra_depth + 1;
    if (n > ta->limit || need > ta->limit) {
        truncate_input(ta);
        return -1;
    }
    if (need > ta->cap) {
        size_t cap = ta->cap * 2;
        if (cap < need) cap = need;
        if (cap > ta->limit) cap = ta->limit;
        char *j = realloc(ta->json, cap);
        if (!j) {
            truncate_input(ta);
            return -1;
        }
        ta->json = j, ta->cap = cap;
    }
    return 0;
}

/* Appends within the space reserve() guaranteed. */
static void put(g4_toolargs *ta, const char *s, size_t n) {
    if (ta->len + n + 1 > ta->cap) return;  /* cannot happen: reserve() kept room */
    memcpy(ta->json + ta->len, s, n);
    ta->len += n;
    ta->json[ta->len] = 0;
}

/* The ", " before a new item of the innermost level, if it has one. */
static size_t sep_len(const g4_toolargs *ta) { return ta->items[ta->depth - 1] ? 2 : 0; }

static void put_sep(g4_toolargs *ta) {
    if (ta->items[ta->depth - 1]) put(ta, ", ", 2);
    ta->items[ta->depth - 1] = 1;
}

static int tok_add(g4_toolargs *ta, const char *s, size_t n) {
    if (ta->tok_len + n > G4_TOOLARGS_MAX_TOKEN) {
        truncate_input(ta);
        return -1;
    }
    if (ta->tok_len + n > ta->tok_cap) {
        size_t cap = ta->tok_cap ? ta->tok_cap * 2 : 64;
        while (cap < ta->tok_len + n) cap *= 2;
        char *t = realloc(ta->tok, cap);
        if (!t) {
            truncate_input(ta);
            return -1;
        }
        ta->tok = t, ta->tok_cap = cap;
    }
    memcpy(ta->tok + ta->tok_len, s, n);
    ta->tok_len += n;
    return 0;
}

static void trim(const char **s, size_t *n) {
    while (*n && is_blank((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && is_blank((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* ---- structure ------------------------------------------------------------- */

/* Opens '{' or '[': the top-level object, a value after "key: ", or an array item. */
static void open_level(g4_toolargs *ta, char c) {
    int in_array = ta->depth > 0 && ta->stack[ta->depth - 1] == '[';
    if (ta->depth >= G4_TOOLARGS_MAX_DEPTH) {
        truncate_input(ta);
        return;
    }
    if (reserve(ta, (in_array ? sep_len(ta) : 0) + 1, 1) != 0) return;
    if (in_array) put_sep(ta);
    put(ta, &c, 1);
    ta->stack[ta->depth] = (unsigned char)c;
    ta->items[ta->depth] = 0;
    ta->depth++;
    ta->state = c == '{' ? TA_KEY : TA_VALUE;
}

/* Writes the bare value held in tok (after "key: " or as an array item). */
static void put_bare(g4_toolargs *ta) {
    const char *s = ta->tok;
    size_t n = ta->tok_len;
    int in_array = ta->stack[ta->depth - 1] == '[';
    const char *lit = NULL;
    trim(&s, &n);
    ta->tok_len = 0;
    if (n == 0 || equals_nocase(s, n, "null") || equals_nocase(s, n, "none") || equals_nocase(s, n, "nil"))
        lit = "null";
    else if ((n == 4 && !memcmp(s, "true", 4)) || (n == 4 && !memcmp(s, "True", 4))) lit = "true";
    else if ((n == 5 && !memcmp(s, "false", 5)) || (n == 5 && !memcmp(s, "False", 5))) lit = "false";
    size_t body = lit ? strlen(lit) : is_json_number(s, n) ? n : escape(s, n, NULL) + 2;
    size_t sep = in_array ? sep_len(ta) : 0;
    if (reserve(ta, sep + body, 0) != 0) {
        /* truncate_input() left TA_VALUE in an object: finish() writes null */
        return;
    }
    if (in_array) put_sep(ta);
    if (lit) put(ta, lit, body);
    else if (is_json_number(s, n)) put(ta, s, n);
    else {
        put(ta, "\"", 1);
        ta->len += escape(s, n, ta->json + ta->len);
        put(ta, "\"", 1);
    }
    ta->state = TA_AFTER;
}

/* Writes `"key": ` for the key held in tok. */
static void put_key(g4_toolargs *ta) {
    const char *s = ta->tok;
    size_t n = ta->tok_len;
    trim(&s, &n);
    ta->tok_len = 0;
    size_t body = escape(s, n, NULL);
    if (reserve(ta, sep_len(ta) + body + 4, 0) != 0) return;
    put_sep(ta);
    put(ta, "\"", 1);
    ta->len += escape(s, n, ta->json + ta->len);
    put(ta, "\": ", 3);
    ta->state = TA_VALUE;
}

/* Completes the item in progress at the innermost level before it closes:
 * a pending bare value is written, a key without a value gets null, a
 * half-read key is dropped, an open string is closed. Uses only the reserve
 * when the input is truncated. */
static void end_item(g4_toolargs *ta) {
    switch (ta->state) {
    case TA_BARE:
        put_bare(ta);
        if (ta->state == TA_VALUE) put(ta, "null", 4);  /* truncated in an object */
        break;
    case TA_VALUE:
        if (ta->stack[ta->depth - 1] == '{') put(ta, "null", 4);
        break;
    case TA_STRING:
        put(ta, "\"", 1);
        break;
    case TA_KEY_BARE: case TA_KEY_QUOTED: case TA_KEY_COLON:
        ta->tok_len = 0;
        break;
    default:
        break;
    }
    ta->state = TA_AFTER;
}

static void close_top(g4_toolargs *ta) {
    char c = ta->stack[ta->depth - 1] == '{' ? '}' : ']';
    end_item(ta);
    put(ta, &c, 1);
    ta->depth--;
    ta->state = ta->depth ? TA_AFTER : TA_DONE;
}

/* A '}' or ']': closes levels up to the matching opener; ignored if none. */
static void close_level(g4_toolargs *ta, char c) {
    unsigned char want = c == '}' ? '{' : '[';
    int i = ta->depth - 1;
    while (i >= 0 && ta->stack[i] != want) i--;
    if (i < 0) {
        /* stray closer: it still ends a bare value or a bare key */
        if (ta->state == TA_BARE) put_bare(ta);
        else if (ta->state == TA_KEY_BARE) ta->tok_len = 0, ta->state = TA_KEY;
        return;
    }
    while (ta->depth > i) close_top(ta);
}

/* ---- input ----------------------------------------------------------------- */

/* Consumes bytes of s in the current state; returns how many it used. */
static size_t step(g4_toolargs *ta, const char *s, size_t n) {
    char c = s[0];
    size_t k;
    switch (ta->state) {
    case TA_TOP:
        if (c == '{') open_level(ta, '{');
        return 1;
    case TA_KEY:
        if (c == '}' || c == ']') close_level(ta, c);
        else if (!is_blank((unsigned char)c) && c != ',') {
            ta->state = TA_KEY_BARE;
            return 0;
        }
        return 1;
    case TA_KEY_BARE:
        if (c == ':') {
            put_key(ta);
            return 1;
        }
        if (c == '}' || c == ']') {
            close_level(ta, c);
            return 1;
        }
        for (k = 0; k < n && s[k] != ':' && s[k] != '}' && s[k] != ']';) k++;
        tok_add(ta, s, k);
        return k;
    case TA_KEY_QUOTED:
        tok_add(ta, s, n);
        return n;
    case TA_KEY_COLON:
        if (c == ':') put_key(ta);
        else if (c == '}' || c == ']') close_level(ta, c);
        return 1;
    case TA_VALUE:
        if (is_blank((unsigned char)c)) return 1;
        if (c == ',') {
            if (ta->stack[ta->depth - 1] == '{' && reserve(ta, 4, 0) == 0) {  /* "key:," */
                put(ta, "null", 4);
                ta->state = TA_KEY;
            }
            return 1;
        }
        if (c == '}' || c == ']') close_level(ta, c);
        else if (c == '{' || c == '[') open_level(ta, c);
        else {
            ta->state = TA_BARE;
            return 0;
        }
        return 1;
    case TA_STRING:
        k = escape(s, n, NULL);
        if (reserve(ta, k, 0) == 0) ta->len += escape(s, n, ta->json + ta->len), ta->json[ta->len] = 0;
        return n;
    case TA_BARE:
        if (c == ',' || c == '}' || c == ']') {
            put_bare(ta);
            if (ta->truncated) return 1;
            if (c == ',') ta->state = ta->stack[ta->depth - 1] == '{' ? TA_KEY : TA_VALUE;
            else close_level(ta, c);
            return 1;
        }
        for (k = 0; k < n && s[k] != ',' && s[k] != '}' && s[k] != ']';) k++;
        tok_add(ta, s, k);
        return k;
    case TA_AFTER:
        if (c == ',') ta->state = ta->stack[ta->depth - 1] == '{' ? TA_KEY : TA_VALUE;
        else if (c == '}' || c == ']') close_level(ta, c);
        return 1;
    default:
        return n;
    }
}

void g4_toolargs_feed(g4_toolargs *ta, const char *text, size_t len) {
    while (len > 0 && !ta->truncated && !ta->finished && ta->state != TA_DONE) {
        size_t k = step(ta, text, len);
        text += k, len -= k;
    }
}

void g4_toolargs_quote(g4_toolargs *ta) {
    if (ta->truncated || ta->finished) return;
    switch (ta->state) {
    case TA_KEY:
        ta->state = TA_KEY_QUOTED;
        break;
    case TA_KEY_QUOTED:
        ta->state = TA_KEY_COLON;
        break;
    case TA_VALUE:
        if (ta->stack[ta->depth - 1] == '[') {
            if (reserve(ta, sep_len(ta) + 1, 0) != 0) return;
            put_sep(ta);
        } else if (reserve(ta, 1, 0) != 0) {
            return;
        }
        put(ta, "\"", 1);
        ta->state = TA_STRING;
        break;
    case TA_STRING:
        put(ta, "\"", 1);
        ta->state = TA_AFTER;
        break;
    default:  /* no string can start here: ignored */
        break;
    }
}

void g4_toolargs_finish(g4_toolargs *ta) {
    if (ta->finished) return;
    if (ta->state == TA_TOP) put(ta, "{}", 2);
    while (ta->depth > 0) close_top(ta);
    ta->state = TA_DONE;
    ta->finished = 1;
}

/* ---- lifetime -------------------------------------------------------------- */

void g4_toolargs_init(g4_toolargs *ta, size_t limit) {
    memset(ta, 0, sizeof *ta);
    ta->limit = limit == 0 ? G4_TOOLARGS_MAX_JSON : limit < 64 ? 64 : limit;
    g4_toolargs_reset(ta);
}

void g4_toolargs_reset(g4_toolargs *ta) {
    if (!ta->json) {
        /* the closers of every possible level always fit: finish() never allocates */
        size_t cap = G4_TOOLARGS_MAX_DEPTH + 64;
        ta->json = malloc(cap);
        ta->cap = ta->json ? cap : 0;
    }
    ta->len = 0;
    if (ta->json) ta->json[0] = 0;
    ta->tok_len = 0;
    ta->depth = 0;
    ta->state = TA_TOP;
    ta->truncated = ta->json == NULL;
    ta->finished = 0;
}

void g4_toolargs_free(g4_toolargs *ta) {
    free(ta->json);
    free(ta->tok);
    memset(ta, 0, sizeof *ta);
}

char *g4_toolargs_to_json(const char *args, size_t len, size_t *out_len) {
    static const char quote[] = "<|\"|>";
    g4_toolargs ta;
    g4_toolargs_init(&ta, 0);
    if (!ta.json) return NULL;
    size_t i = 0;
    while (i < len) {
        const char *q = NULL;
        for (size_t j = i; j + 5 <= len; j++)
            if (args[j] == '<' && !memcmp(args + j, quote, 5)) {
                q = args + j;
                break;
            }
        size_t n = q ? (size_t)(q - (args + i)) : len - i;
        g4_toolargs_feed(&ta, args + i, n);
        i += n;
        if (q) g4_toolargs_quote(&ta), i += 5;
    }
    g4_toolargs_finish(&ta);
    char *json = ta.json;
    if (out_len) *out_len = ta.len;
    ta.json = NULL;
    g4_toolargs_free(&ta);
    return json;
}
