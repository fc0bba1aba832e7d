/* jinja_text.c: text for the template engine: output buffers, UTF-8, the
 * Unicode character classes and case mappings Python's str methods need,
 * Python's str() and repr() of values (floats as repr prints them), JSON out
 * (json.dumps, which Hugging Face's tojson is) and JSON in (jansson -> values). */
#include "jinja_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffers -------------------------------------------------------------------- */

void jbuf_init(jbuf *b, size_t limit) {
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void jbuf_free(jbuf *b) {
    if (b->heap) b->heap->live -= b->cap;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int jbuf_put(jbuf *b, const char *s, size_t n) {
    if (b->over) return -1;
    if (n > b->limit - b->len) {
        b->over = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        if (cap > b->limit + 1) cap = b->limit + 1;
        size_t delta = cap - b->cap;
        if (b->heap && delta > b->heap->limit - b->heap->live) {
            b->heap->exceeded = 1;
            b->over = 2;
            return -1;
        }
        char *p = realloc(b->data, cap);
        if (!p) {
            b->over = 2;
            return -1;
        }
        if (b->heap) b->heap->live += delta;
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int jbuf_puts(jbuf *b, const char *s) { return jbuf_put(b, s, strlen(s)); }
int jbuf_putc(jbuf *b, char c) { return jbuf_put(b, &c, 1); }

int jbuf_printf(jbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof tmp) return jbuf_put(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = jbuf_put(b, big, (size_t)n);
    free(big);
    return rc;
}

int jbuf_put_cp(jbuf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return jbuf_put(b, u, n);
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

uint32_t utf8_decode(const char *s, size_t n, size_t *i) {
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = n - *i;
    unsigned c = p[0];
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len == 1 || len > left) {
        (*i)++;
        return c;
    }
    uint32_t cp = c & (0x3F >> (len - 1));
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            (*i)++;
            return c;
        }
        cp = cp << 6 | (p[k] & 0x3F);
    }
    *i += len;
    return cp;
}

size_t utf8_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

size_t utf8_offset(const char *s, size_t n, size_t ncp, size_t index) {
    if (ncp == n) return index < n ? index : n;
    size_t i = 0;
    for (size_t k = 0; k < index && i < n; k++) utf8_decode(s, n, &i);
    return i;
}

int utf8_valid(const char *s, size_t n, size_t *bad) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c < 0xE0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c < 0xF0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c < 0xF5) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            break;
        }
        if (len > n - i) break;
        size_t k;
        for (k = 1; k < len && (p[i + k] & 0xC0) == 0x80; k++) cp = cp << 6 | (p[i + k] & 0x3F);
        if (k < len || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) break;
        i += len;
    }
    if (bad) *bad = i;
    return i == n;
}

/* ---- character classes (Python's str methods) ---------------------------------------- */

int py_isspace(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

int py_isdigit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

/* Letters: ASCII, Latin, Greek, Cyrillic, and the common scripts by block. */
int py_isalpha(uint32_t cp) {
    if (cp < 0x80) return (cp | 32) >= 'a' && (cp | 32) <= 'z';
    if (cp == 0xAA || cp == 0xB5 || cp == 0xBA) return 1;
    if (cp >= 0xC0 && cp <= 0x24F) return cp != 0xD7 && cp != 0xF7;
    return (cp >= 0x370 && cp <= 0x3FF && cp != 0x37E && cp != 0x387) || (cp >= 0x400 && cp <= 0x52F) ||
           (cp >= 0x531 && cp <= 0x587) || (cp >= 0x5D0 && cp <= 0x5EA) || (cp >= 0x620 && cp <= 0x64A) ||
           (cp >= 0x900 && cp <= 0xDFF) || (cp >= 0xE01 && cp <= 0xE30) || (cp >= 0x1100 && cp <= 0x11FF) ||
           (cp >= 0x1E00 && cp <= 0x1FFF) || (cp >= 0x3041 && cp <= 0x30FF && cp != 0x30FB) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF);
}

/* Case pairs: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic. */
uint32_t py_toupper(uint32_t cp) {
    if (cp < 0x80) return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
    if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) return cp - 32;
    if (cp == 0xFF) return 0x178;
    if (cp == 0xB5) return 0x39C;
    if (cp >= 0x100 && cp <= 0x17F) {
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp & 1) ? cp : cp - 1;
        if (cp == 0x131) return 'I';
        if (cp == 0x17F) return 'S';
        if (cp == 0x130 || cp == 0x138 || cp == 0x149 || cp == 0x178) return cp;
        return (cp & 1) ? cp - 1 : cp;
    }
    if (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2) return cp - 32;
    if (cp == 0x3C2) return 0x3A3;
    if (cp >= 0x3AC && cp <= 0x3AF) return cp == 0x3AC ? 0x386 : cp - 37;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
    return cp;
}

uint32_t py_tolower(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp == 0x178) return 0xFF;
    if (cp >= 0x100 && cp <= 0x17F) {
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp & 1) ? cp + 1 : cp;
        if (cp == 0x130) return 'i';
        if (cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F) return cp;
        return (cp & 1) ? cp : cp + 1;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    return cp;
}

int py_isupper(uint32_t cp) { return py_tolower(cp) != cp; }
int py_islower(uint32_t cp) { return py_toupper(cp) != cp || cp == 0xDF; }

/* ---- Python's float repr ----------------------------------------------------------------- */

void py_float_repr(double x, char out[40]) {
    if (isnan(x)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(x)) {
        strcpy(out, x > 0 ? "inf" : "-inf");
        return;
    }
    if (x == 0) {
        strcpy(out, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    /* the shortest digit string that reads back as x */
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    char digits[24];
    int nd = 0, neg = 0;
    const char *p = buf;
    if (*p == '-') neg = 1, p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < 20) digits[nd++] = *p;
    int exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    int decpt = exp10 + 1; /* digits are 0.d1d2... x 10^decpt */
    char *o = out;
    if (neg) *o++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            memcpy(o, digits, (size_t)nd);
            o += nd;
        } else if (decpt >= nd) {
            memcpy(o, digits, (size_t)nd);
            o += nd;
            for (int i = nd; i < decpt; i++) *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            memcpy(o, digits, (size_t)decpt);
            o += decpt;
            *o++ = '.';
            memcpy(o, digits + decpt, (size_t)(nd - decpt));
            o += nd - decpt;
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)(nd - 1));
            o += nd - 1;
        }
        snprintf(o, 16, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    }
}

/* ---- str() and repr() --------------------------------------------------------------------- */

static int py_isprintable(uint32_t cp) {
    if (cp < 0x20 || cp == 0x7F) return 0;
    if (cp < 0x7F) return 1;
    if (cp <= 0xA0 || cp == 0xAD) return 0;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
        (cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000)
        return 0;
    return 1;
}

static int write_str_repr(jbuf *b, const char *s, size_t n) {
    int has_single = memchr(s, '\'', n) != NULL, has_double = memchr(s, '"', n) != NULL;
    char quote = has_single && !has_double ? '"' : '\'';
    if (jbuf_putc(b, quote)) return -1;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = utf8_decode(s, n, &i);
        int rc;
        if (cp == (uint32_t)quote || cp == '\\') rc = jbuf_putc(b, '\\') || jbuf_putc(b, (char)cp);
        else if (cp == '\n') rc = jbuf_puts(b, "\\n");
        else if (cp == '\r') rc = jbuf_puts(b, "\\r");
        else if (cp == '\t') rc = jbuf_puts(b, "\\t");
        else if (py_isprintable(cp)) rc = jbuf_put(b, s + start, i - start);
        else if (cp < 0x100) rc = jbuf_printf(b, "\\x%02x", cp);
        else if (cp < 0x10000) rc = jbuf_printf(b, "\\u%04x", cp);
        else rc = jbuf_printf(b, "\\U%08x", cp);
        if (rc) return -1;
    }
    return jbuf_putc(b, quote);
}

static int write_scalar(jbuf *b, jv v) {
    char num[40];
    switch (v.kind) {
    case JV_NONE: return jbuf_puts(b, "None");
    case JV_BOOL: return jbuf_puts(b, v.u.i ? "True" : "False");
    case JV_INT: return jbuf_printf(b, "%" PRId64, v.u.i);
    case JV_FLOAT: py_float_repr(v.u.f, num); return jbuf_puts(b, num);
    case JV_MACRO: {
        const jnode *def = ((jv_macro *)v.u.obj)->def;
        if (def->kind == K_CALL_BLOCK) return jbuf_puts(b, "<Macro 'caller'>");
        return jbuf_printf(b, "<Macro '%s'>", JSTR(def->value)->s);
    }
    case JV_FUNC: return jbuf_printf(b, "<built-in function %s>", jbuiltin_name(((jv_func *)v.u.obj)->id));
    case JV_LOOP: {
        jv_loop *l = (jv_loop *)v.u.obj;
        return jbuf_printf(b, "<LoopContext %" PRId64 "/%" PRId64 ">", l->index0 + 1, l->length);
    }
    default: return jbuf_puts(b, "<object>");
    }
}

int jv_write_repr(jbuf *b, jv v, int depth) {
    if (depth > JV_MAX_NESTING) return -1;
    switch (v.kind) {
    case JV_UNDEFINED: return jbuf_puts(b, "Undefined");
    case JV_STRING: return write_str_repr(b, JSTR(v)->s, JSTR(v)->len);
    case JV_LIST: {
        jv_list *l = JLIST(v);
        if (jbuf_putc(b, l->tuple ? '(' : '[')) return -1;
        for (size_t i = 0; i < l->len; i++)
            if ((i && jbuf_puts(b, ", ")) || jv_write_repr(b, l->items[i], depth + 1)) return -1;
        if (l->tuple && l->len == 1 && jbuf_putc(b, ',')) return -1;
        return jbuf_putc(b, l->tuple ? ')' : ']');
    }
    case JV_DICT: {
        jv_dict *d = JDICT(v);
        if (jbuf_putc(b, '{')) return -1;
        for (size_t i = 0; i < d->len; i++)
            if ((i && jbuf_puts(b, ", ")) || jv_write_repr(b, d->keys[i], depth + 1) || jbuf_puts(b, ": ") ||
                jv_write_repr(b, d->vals[i], depth + 1))
                return -1;
        return jbuf_putc(b, '}');
    }
    case JV_NAMESPACE: {
        jv dict = v;
        dict.kind = JV_DICT;
        return jbuf_puts(b, "<Namespace ") || jv_write_repr(b, dict, depth + 1) || jbuf_putc(b, '>');
    }
    default: return write_scalar(b, v);
    }
}

int jv_write_str(jbuf *b, jv v) {
    switch (v.kind) {
    case JV_UNDEFINED: return 0;
    case JV_STRING: return jbuf_put(b, JSTR(v)->s, JSTR(v)->len);
    case JV_LIST: case JV_DICT: case JV_NAMESPACE: return jv_write_repr(b, v, 0);
    default: return write_scalar(b, v);
    }
}

/* ---- JSON out: Python's json.dumps ---------------------------------------------------------- */

static int json_write_string(jbuf *b, const char *s, size_t n, int ensure_ascii) {
    if (jbuf_putc(b, '"')) return -1;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = utf8_decode(s, n, &i);
        int rc = 0;
        switch (cp) {
        case '"': rc = jbuf_puts(b, "\\\""); break;
        case '\\': rc = jbuf_puts(b, "\\\\"); break;
        case '\n': rc = jbuf_puts(b, "\\n"); break;
        case '\r': rc = jbuf_puts(b, "\\r"); break;
        case '\t': rc = jbuf_puts(b, "\\t"); break;
        case '\b': rc = jbuf_puts(b, "\\b"); break;
        case '\f': rc = jbuf_puts(b, "\\f"); break;
        default:
            if (cp < 0x20 || (ensure_ascii && cp == 0x7F)) rc = jbuf_printf(b, "\\u%04x", cp);
            else if (ensure_ascii && cp >= 0x80) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    rc = jbuf_printf(b, "\\u%04x\\u%04x", 0xD800 | (v >> 10), 0xDC00 | (v & 0x3FF));
                } else {
                    rc = jbuf_printf(b, "\\u%04x", cp);
                }
            } else {
                rc = jbuf_put(b, s + start, i - start);
            }
        }
        if (rc) return -1;
    }
    return jbuf_putc(b, '"');
}

static int json_newline(jbuf *b, const jjson_opts *o, int level) {
    if (!o->indent) return 0;
    if (jbuf_putc(b, '\n')) return -1;
    for (int i = 0; i < level; i++)
        if (jbuf_puts(b, o->indent)) return -1;
    return 0;
}

/* A dict key as json.dumps converts it. */
static int json_key(jbuf *b, jv k, const jjson_opts *o, char *err, size_t errsz) {
    char num[40];
    switch (k.kind) {
    case JV_STRING: return json_write_string(b, JSTR(k)->s, JSTR(k)->len, o->ensure_ascii);
    case JV_NONE: return jbuf_puts(b, "\"null\"");
    case JV_BOOL: return jbuf_puts(b, k.u.i ? "\"true\"" : "\"false\"");
    case JV_INT: return jbuf_printf(b, "\"%" PRId64 "\"", k.u.i);
    case JV_FLOAT:
        if (isnan(k.u.f)) strcpy(num, "NaN");
        else if (isinf(k.u.f)) strcpy(num, k.u.f > 0 ? "Infinity" : "-Infinity");
        else py_float_repr(k.u.f, num);
        return jbuf_printf(b, "\"%s\"", num);
    default:
        snprintf(err, errsz, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
        return -1;
    }
}

static int sort_keys_order(const jv_dict *d, size_t *order, char *err, size_t errsz) {
    for (size_t i = 0; i < d->len; i++) order[i] = i;
    for (size_t i = 1; i < d->len; i++) { /* insertion sort: stable, and dicts here are small */
        size_t cur = order[i], j = i;
        while (j > 0) {
            int cmp;
            if (jv_compare(d->keys[order[j - 1]], d->keys[cur], &cmp)) {
                snprintf(err, errsz, "'<' not supported between instances of '%s' and '%s'",
                         jv_type_name(d->keys[cur]), jv_type_name(d->keys[order[j - 1]]));
                return -1;
            }
            if (cmp <= 0) break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = cur;
    }
    return 0;
}

int jv_write_json(jbuf *b, jv v, const jjson_opts *o, int depth, char *err, size_t errsz) {
    char num[40];
    if (depth > JV_MAX_NESTING) {
        snprintf(err, errsz, "value nested too deeply for tojson");
        return -1;
    }
    switch (v.kind) {
    case JV_NONE: return jbuf_puts(b, "null");
    case JV_BOOL: return jbuf_puts(b, v.u.i ? "true" : "false");
    case JV_INT: return jbuf_printf(b, "%" PRId64, v.u.i);
    case JV_FLOAT:
        if (isnan(v.u.f)) return jbuf_puts(b, "NaN");
        if (isinf(v.u.f)) return jbuf_puts(b, v.u.f > 0 ? "Infinity" : "-Infinity");
        py_float_repr(v.u.f, num);
        return jbuf_puts(b, num);
    case JV_STRING: return json_write_string(b, JSTR(v)->s, JSTR(v)->len, o->ensure_ascii);
    case JV_LIST: {
        jv_list *l = JLIST(v);
        if (!l->len) return jbuf_puts(b, "[]");
        if (jbuf_putc(b, '[')) return -1;
        for (size_t i = 0; i < l->len; i++) {
            if (i && jbuf_puts(b, o->item_sep)) return -1;
            if (json_newline(b, o, depth + 1) || jv_write_json(b, l->items[i], o, depth + 1, err, errsz)) return -1;
        }
        return json_newline(b, o, depth) || jbuf_putc(b, ']');
    }
    case JV_DICT: {
        jv_dict *d = JDICT(v);
        if (!d->len) return jbuf_puts(b, "{}");
        size_t *order = NULL;
        if (o->sort_keys) {
            order = malloc(d->len * sizeof *order);
            if (!order) return -1;
            if (sort_keys_order(d, order, err, errsz)) {
                free(order);
                return -1;
            }
        }
        int rc = jbuf_putc(b, '{');
        for (size_t k = 0; !rc && k < d->len; k++) {
            size_t i = order ? order[k] : k;
            rc = (k && jbuf_puts(b, o->item_sep)) || json_newline(b, o, depth + 1) ||
                 json_key(b, d->keys[i], o, err, errsz) || jbuf_puts(b, o->key_sep) ||
                 jv_write_json(b, d->vals[i], o, depth + 1, err, errsz);
        }
        free(order);
        return rc ? -1 : json_newline(b, o, depth) || jbuf_putc(b, '}');
    }
    default:
        snprintf(err, errsz, "Object of type %s is not JSON serializable", jv_type_name(v));
        return -1;
    }
}

/* ---- JSON in ------------------------------------------------------------------------------ */

static int from_json_at(jv_heap *h, json_t *j, jv *out, int depth) {
    if (depth > 4096) {
        h->exceeded = 1;
        return -1;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        if (jv_new_dict(h, JV_DICT, out)) return -1;
        for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
            jv key, val;
            if (jv_new_str(h, json_object_iter_key(it), json_object_iter_key_len(it), &key)) goto fail;
            if (from_json_at(h, json_object_iter_value(it), &val, depth + 1)) {
                jv_decref(key);
                goto fail;
            }
            if (jv_dict_set(JDICT(*out), key, val)) goto fail;
        }
        return 0;
    }
    case JSON_ARRAY: {
        if (jv_new_list(h, json_array_size(j), 0, out)) return -1;
        for (size_t i = 0; i < json_array_size(j); i++) {
            jv item;
            if (from_json_at(h, json_array_get(j, i), &item, depth + 1) || jv_list_push(JLIST(*out), item)) goto fail;
        }
        return 0;
    }
    case JSON_STRING: return jv_new_str(h, json_string_value(j), json_string_length(j), out);
    case JSON_INTEGER: *out = jv_int((int64_t)json_integer_value(j)); return 0;
    case JSON_REAL: *out = jv_float(json_real_value(j)); return 0;
    case JSON_TRUE: *out = jv_bool(1); return 0;
    case JSON_FALSE: *out = jv_bool(0); return 0;
    default: *out = jv_none(); return 0;
    }
fail:
    jv_decref(*out);
    return -1;
}

int jv_from_json(jv_heap *h, json_t *j, jv *out) { return from_json_at(h, j, out, 0); }
