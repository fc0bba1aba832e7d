/* jinja_strings.c: the methods of str that templates call (strip, split,
 * startswith, replace, find, join, upper, title, ...), with Python's semantics
 * on code points, and the helpers the filters share with them. */
#include "jinja_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------------------------- */

/* [start, end) of s in bytes from optional code-point bounds, as Python's slice rules. */
static void str_bounds(const jv_str *s, jv start, jv end, size_t *lo, size_t *hi) {
    int64_t n = (int64_t)s->ncp, a = 0, b = n;
    if (start.kind == JV_INT || start.kind == JV_BOOL) a = start.u.i;
    if (end.kind == JV_INT || end.kind == JV_BOOL) b = end.u.i;
    if (a < 0 && (a += n) < 0) a = 0;
    if (b < 0 && (b += n) < 0) b = 0;
    if (a > n) a = n;
    if (b > n) b = n;
    if (b < a) b = a;
    *lo = utf8_offset(s->s, s->len, s->ncp, (size_t)a);
    *hi = utf8_offset(s->s, s->len, s->ncp, (size_t)b);
}

static int64_t cp_index(const jv_str *s, size_t byte) {
    return s->ncp == s->len ? (int64_t)byte : (int64_t)utf8_count(s->s, byte);
}

/* The code point that ends at byte *i; with step, *i moves to its start. */
static uint32_t cp_before(const jv_str *s, size_t *i, int step) {
    size_t start = *i - 1;
    while (start > 0 && ((unsigned char)s->s[start] & 0xC0) == 0x80) start--;
    size_t k = start;
    uint32_t cp = utf8_decode(s->s, *i, &k);
    if (step) *i = start;
    return cp;
}

static int in_chars(uint32_t cp, const jv_str *chars) {
    if (!chars) return py_isspace(cp);
    for (size_t i = 0; i < chars->len;)
        if (utf8_decode(chars->s, chars->len, &i) == cp) return 1;
    return 0;
}

/* ---- methods ------------------------------------------------------------------------------ */

static int strip_impl(jrender *r, const jnode *at, jv self, const jcall *c, jv *out, int left, int right) {
    static const char *const params[] = {"chars", NULL};
    jv a[1];
    if (jcall_bind(r, at, "strip", c, params, a)) return -1;
    const jv_str *chars = NULL;
    if (a[0].kind == JV_STRING) chars = JSTR(a[0]);
    else if (a[0].kind != JV_MISSING && a[0].kind != JV_NONE) return jr_need_str(r, at, a[0], "strip arg");
    const jv_str *s = JSTR(self);
    size_t lo = 0, hi = s->len, i = 0;
    if (left)
        while (i < s->len) {
            size_t start = i;
            if (!in_chars(utf8_decode(s->s, s->len, &i), chars)) {
                i = start;
                break;
            }
        }
    lo = i;
    if (right) {
        size_t keep = lo;
        for (size_t k = lo; k < s->len;)
            if (!in_chars(utf8_decode(s->s, s->len, &k), chars)) keep = k;
        hi = keep;
    }
    if (lo == 0 && hi == s->len) {
        jv_incref(self);
        *out = self;
        return 0;
    }
    return jv_new_str(&r->heap, s->s + lo, hi - lo, out) ? jr_fail_oom(r, at) : 0;
}

static int m_strip(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return strip_impl(r, at, self, c, out, 1, 1); }
static int m_lstrip(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return strip_impl(r, at, self, c, out, 1, 0); }
static int m_rstrip(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return strip_impl(r, at, self, c, out, 0, 1); }

int jstr_case(jrender *r, const jnode *at, jv self, int mode, jv *out) {
    const jv_str *s = JSTR(self);
    jbuf b;
    jr_buf_init(r, &b);
    int prev_cased = 0, first = 1;
    for (size_t i = 0; i < s->len && !b.over;) {
        uint32_t cp = utf8_decode(s->s, s->len, &i), m = cp;
        int cased = py_isupper(cp) || py_islower(cp);
        switch (mode) {
        case CASE_UPPER: m = py_toupper(cp); break;
        case CASE_LOWER: m = py_tolower(cp); break;
        case CASE_TITLE: m = cased ? (prev_cased ? py_tolower(cp) : py_toupper(cp)) : cp; break;
        case CASE_CAPITALIZE: m = first ? py_toupper(cp) : py_tolower(cp); break;
        default: m = py_isupper(cp) ? py_tolower(cp) : py_toupper(cp); break;
        }
        prev_cased = cased;
        first = 0;
        jbuf_put_cp(&b, m);
    }
    return jr_str_from_buf(r, at, &b, out);
}

static int m_upper(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return jstr_case(r, at, self, CASE_UPPER, out); }
static int m_lower(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return jstr_case(r, at, self, CASE_LOWER, out); }
static int m_title(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return jstr_case(r, at, self, CASE_TITLE, out); }
static int m_capitalize(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return jstr_case(r, at, self, CASE_CAPITALIZE, out); }
static int m_swapcase(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return jstr_case(r, at, self, CASE_SWAP, out); }

static int affix_impl(jrender *r, const jnode *at, jv self, const jcall *c, jv *out, int suffix) {
    static const char *const params[] = {"prefix", "start", "end", NULL};
    jv a[3];
    if (jcall_bind(r, at, suffix ? "endswith" : "startswith", c, params, a)) return -1;
    if (a[0].kind == JV_MISSING) return jr_fail(r, at, "%s() takes at least 1 argument (0 given)", suffix ? "endswith" : "startswith");
    size_t lo, hi;
    str_bounds(JSTR(self), a[1], a[2], &lo, &hi);
    const char *s = JSTR(self)->s + lo;
    size_t n = hi - lo;
    jv_list single = {.len = 1, .items = &a[0]};
    const jv_list *options = a[0].kind == JV_LIST && JLIST(a[0])->tuple ? JLIST(a[0]) : &single;
    int hit = 0;
    for (size_t i = 0; i < options->len && !hit; i++) {
        jv p = options->items[i];
        if (p.kind != JV_STRING)
            return jr_fail(r, at, "%s first arg must be str or a tuple of str, not %s", suffix ? "endswith" : "startswith",
                           jv_type_name(p));
        size_t k = JSTR(p)->len;
        hit = k <= n && !memcmp(suffix ? s + n - k : s, JSTR(p)->s, k);
    }
    *out = jv_bool(hit);
    return 0;
}

static int m_startswith(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return affix_impl(r, at, self, c, out, 0); }
static int m_endswith(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return affix_impl(r, at, self, c, out, 1); }

/* Finds sub in self[start:end]: the byte offset or SIZE_MAX; reverse searches from the end. */
static size_t find_impl(const jv_str *s, const jv_str *sub, size_t lo, size_t hi, int reverse) {
    if (sub->len > hi - lo) return SIZE_MAX;
    if (!reverse) {
        if (!sub->len) return lo;
        const char *p = memmem(s->s + lo, hi - lo, sub->s, sub->len);
        return p ? (size_t)(p - s->s) : SIZE_MAX;
    }
    for (size_t i = hi - sub->len + 1; i-- > lo;)
        if (!memcmp(s->s + i, sub->s, sub->len)) return i;
    return SIZE_MAX;
}

static int find_method(jrender *r, const jnode *at, jv self, const jcall *c, jv *out, const char *name, int reverse,
                       int raise) {
    static const char *const params[] = {"sub", "start", "end", NULL};
    jv a[3];
    if (jcall_bind(r, at, name, c, params, a)) return -1;
    if (a[0].kind == JV_MISSING) return jr_fail(r, at, "%s() takes at least 1 argument (0 given)", name);
    if (jr_need_str(r, at, a[0], "the substring")) return -1;
    size_t lo, hi;
    str_bounds(JSTR(self), a[1], a[2], &lo, &hi);
    size_t at_byte = find_impl(JSTR(self), JSTR(a[0]), lo, hi, reverse);
    if (at_byte == SIZE_MAX && raise) return jr_fail(r, at, "substring not found");
    *out = jv_int(at_byte == SIZE_MAX ? -1 : cp_index(JSTR(self), at_byte));
    return 0;
}

static int m_find(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return find_method(r, at, self, c, out, "find", 0, 0); }
static int m_rfind(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return find_method(r, at, self, c, out, "rfind", 1, 0); }
static int m_index(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return find_method(r, at, self, c, out, "index", 0, 1); }
static int m_rindex(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return find_method(r, at, self, c, out, "rindex", 1, 1); }

static int m_str_count(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    static const char *const params[] = {"sub", "start", "end", NULL};
    jv a[3];
    if (jcall_bind(r, at, "count", c, params, a)) return -1;
    if (a[0].kind == JV_MISSING) return jr_fail(r, at, "count() takes at least 1 argument (0 given)");
    if (jr_need_str(r, at, a[0], "the substring")) return -1;
    size_t lo, hi;
    str_bounds(JSTR(self), a[1], a[2], &lo, &hi);
    const jv_str *sub = JSTR(a[0]);
    int64_t n = 0;
    if (!sub->len) {
        n = cp_index(JSTR(self), hi) - cp_index(JSTR(self), lo) + 1;
    } else {
        for (size_t p = lo; (p = find_impl(JSTR(self), sub, p, hi, 0)) != SIZE_MAX; p += sub->len) n++;
    }
    *out = jv_int(n);
    return 0;
}

int jstr_replace(jrender *r, const jnode *at, jv self, jv old, jv new_, int64_t count, jv *out) {
    const jv_str *s = JSTR(self), *o = JSTR(old), *w = JSTR(new_);
    jbuf b;
    jr_buf_init(r, &b);
    if (!o->len) { /* inserts new before every character and at the end */
        int64_t done = 0;
        for (size_t i = 0; i <= s->len && !b.over;) {
            if (count < 0 || done < count) {
                jbuf_put(&b, w->s, w->len);
                done++;
            }
            if (i == s->len) break;
            size_t start = i;
            utf8_decode(s->s, s->len, &i);
            jbuf_put(&b, s->s + start, i - start);
        }
        return jr_str_from_buf(r, at, &b, out);
    }
    size_t p = 0;
    for (int64_t done = 0; (count < 0 || done < count) && !b.over; done++) {
        size_t hit = find_impl(s, o, p, s->len, 0);
        if (hit == SIZE_MAX) break;
        jbuf_put(&b, s->s + p, hit - p);
        jbuf_put(&b, w->s, w->len);
        p = hit + o->len;
    }
    jbuf_put(&b, s->s + p, s->len - p);
    return jr_str_from_buf(r, at, &b, out);
}

static int m_replace(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    static const char *const params[] = {"old", "new", "count", NULL};
    jv a[3];
    int64_t count = -1;
    if (jcall_bind(r, at, "replace", c, params, a)) return -1;
    if (a[0].kind == JV_MISSING || a[1].kind == JV_MISSING) return jr_fail(r, at, "replace() takes at least 2 arguments");
    if (jr_need_str(r, at, a[0], "replace() argument 1") || jr_need_str(r, at, a[1], "replace() argument 2")) return -1;
    if (a[2].kind != JV_MISSING && jr_need_int(r, at, a[2], &count)) return -1;
    return jstr_replace(r, at, self, a[0], a[1], count, out);
}

/* str.split / str.rsplit */
static int jstr_split(jrender *r, const jnode *at, jv self, jv sep, int64_t maxsplit, int reverse, jv *out) {
    const jv_str *s = JSTR(self);
    if (jv_new_list(&r->heap, 0, 0, out)) return jr_fail_oom(r, at);
    jv_list *parts = JLIST(*out);
    int64_t splits = 0;
    size_t n = s->len;
    /* pieces are collected as byte ranges, then reversed for rsplit */
    size_t cap = 16, count = 0;
    size_t *ranges = malloc(cap * 2 * sizeof *ranges);
    if (!ranges) goto oom;
    if (sep.kind != JV_STRING) { /* runs of whitespace */
        if (!reverse) {
            size_t i = 0;
            for (;;) {
                while (i < n) {
                    size_t k = i;
                    if (!py_isspace(utf8_decode(s->s, n, &k))) break;
                    i = k;
                }
                if (i >= n) break;
                size_t start = i, end;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    end = n;
                } else {
                    while (i < n) {
                        size_t k = i;
                        if (py_isspace(utf8_decode(s->s, n, &k))) break;
                        i = k;
                    }
                    end = i;
                    splits++;
                }
                if (count == cap) {
                    size_t *p = realloc(ranges, (cap *= 2) * 2 * sizeof *ranges);
                    if (!p) goto oom;
                    ranges = p;
                }
                ranges[2 * count] = start, ranges[2 * count + 1] = end, count++;
                if (end == n) break;
            }
        } else {
            size_t i = n;
            for (;;) {
                while (i > 0 && py_isspace(cp_before(s, &i, 0))) cp_before(s, &i, 1);
                if (i == 0) break;
                size_t end = i, start;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    start = 0;
                } else {
                    while (i > 0 && !py_isspace(cp_before(s, &i, 0))) cp_before(s, &i, 1);
                    start = i;
                    splits++;
                }
                if (count == cap) {
                    size_t *p = realloc(ranges, (cap *= 2) * 2 * sizeof *ranges);
                    if (!p) goto oom;
                    ranges = p;
                }
                ranges[2 * count] = start, ranges[2 * count + 1] = end, count++;
                if (start == 0) break;
            }
        }
    } else {
        const jv_str *d = JSTR(sep);
        if (!d->len) {
            free(ranges);
            jv_decref(*out);
            return jr_fail(r, at, "empty separator");
        }
        size_t lo = 0, hi = n;
        for (;;) {
            size_t hit = (maxsplit >= 0 && splits >= maxsplit) ? SIZE_MAX : find_impl(s, d, lo, hi, reverse);
            if (count == cap) {
                size_t *p = realloc(ranges, (cap *= 2) * 2 * sizeof *ranges);
                if (!p) goto oom;
                ranges = p;
            }
            if (hit == SIZE_MAX) {
                ranges[2 * count] = lo, ranges[2 * count + 1] = hi, count++;
                break;
            }
            splits++;
            if (!reverse) {
                ranges[2 * count] = lo, ranges[2 * count + 1] = hit, count++;
                lo = hit + d->len;
            } else {
                ranges[2 * count] = hit + d->len, ranges[2 * count + 1] = hi, count++;
                hi = hit;
            }
        }
    }
    for (size_t k = 0; k < count; k++) {
        size_t idx = reverse ? count - 1 - k : k;
        jv piece;
        if (jv_new_str(&r->heap, s->s + ranges[2 * idx], ranges[2 * idx + 1] - ranges[2 * idx], &piece) ||
            jv_list_push(parts, piece))
            goto oom;
    }
    free(ranges);
    return 0;
oom:
    free(ranges);
    jv_decref(*out);
    return jr_fail_oom(r, at);
}

static int split_method(jrender *r, const jnode *at, jv self, const jcall *c, jv *out, int reverse) {
    static const char *const params[] = {"sep", "maxsplit", NULL};
    jv a[2];
    int64_t maxsplit = -1;
    if (jcall_bind(r, at, reverse ? "rsplit" : "split", c, params, a)) return -1;
    if (a[0].kind != JV_MISSING && a[0].kind != JV_NONE && jr_need_str(r, at, a[0], "the separator")) return -1;
    if (a[1].kind != JV_MISSING && jr_need_int(r, at, a[1], &maxsplit)) return -1;
    return jstr_split(r, at, self, a[0], maxsplit, reverse, out);
}

static int m_split(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return split_method(r, at, self, c, out, 0); }
static int m_rsplit(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return split_method(r, at, self, c, out, 1); }

static int is_line_break(uint32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 11 || cp == 12 || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
           cp == 0x2028 || cp == 0x2029;
}

static int m_splitlines(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    static const char *const params[] = {"keepends", NULL};
    jv a[1];
    if (jcall_bind(r, at, "splitlines", c, params, a)) return -1;
    int keep = a[0].kind != JV_MISSING && jv_truthy(a[0]);
    const jv_str *s = JSTR(self);
    if (jv_new_list(&r->heap, 0, 0, out)) return jr_fail_oom(r, at);
    size_t start = 0, i = 0;
    while (i < s->len) {
        size_t at_break = i;
        uint32_t cp = utf8_decode(s->s, s->len, &i);
        if (!is_line_break(cp)) continue;
        if (cp == '\r' && i < s->len && s->s[i] == '\n') i++;
        jv line;
        if (jv_new_str(&r->heap, s->s + start, (keep ? i : at_break) - start, &line) || jv_list_push(JLIST(*out), line))
            goto oom;
        start = i;
    }
    if (start < s->len) {
        jv line;
        if (jv_new_str(&r->heap, s->s + start, s->len - start, &line) || jv_list_push(JLIST(*out), line)) goto oom;
    }
    return 0;
oom:
    jv_decref(*out);
    return jr_fail_oom(r, at);
}

static int m_join(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    static const char *const params[] = {"iterable", NULL};
    jv a[1], items;
    if (jcall_bind(r, at, "join", c, params, a)) return -1;
    if (a[0].kind == JV_MISSING) return jr_fail(r, at, "join() takes exactly one argument (0 given)");
    if (jeval_iterate(r, at, a[0], &items)) return -1;
    jbuf b;
    jr_buf_init(r, &b);
    for (size_t i = 0; i < JLIST(items)->len && !b.over; i++) {
        jv item = JLIST(items)->items[i];
        if (item.kind != JV_STRING) {
            jbuf_free(&b);
            jv_decref(items);
            return jr_fail(r, at, "sequence item %zu: expected str instance, %s found", i, jv_type_name(item));
        }
        if (i) jbuf_put(&b, JSTR(self)->s, JSTR(self)->len);
        jbuf_put(&b, JSTR(item)->s, JSTR(item)->len);
    }
    jv_decref(items);
    return jr_str_from_buf(r, at, &b, out);
}

static int predicate(jv self, int (*test)(uint32_t)) {
    const jv_str *s = JSTR(self);
    if (!s->len) return 0;
    for (size_t i = 0; i < s->len;)
        if (!test(utf8_decode(s->s, s->len, &i))) return 0;
    return 1;
}

static int is_alnum(uint32_t cp) { return py_isalpha(cp) || py_isdigit(cp); }
static int m_isalpha(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)r, (void)at, (void)c; *out = jv_bool(predicate(self, py_isalpha)); return 0; }
static int m_isdigit(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)r, (void)at, (void)c; *out = jv_bool(predicate(self, py_isdigit)); return 0; }
static int m_isalnum(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)r, (void)at, (void)c; *out = jv_bool(predicate(self, is_alnum)); return 0; }
static int m_isspace(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)r, (void)at, (void)c; *out = jv_bool(predicate(self, py_isspace)); return 0; }

/* isupper/islower: at least one cased character and none of the other case. */
int jstr_is_case(jv self, int upper) {
    const jv_str *s = JSTR(self);
    int cased = 0;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp = utf8_decode(s->s, s->len, &i);
        if (upper ? py_islower(cp) : py_isupper(cp)) return 0;
        if (upper ? py_isupper(cp) : py_islower(cp)) cased = 1;
    }
    return cased;
}

static int m_isupper(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)r, (void)at, (void)c; *out = jv_bool(jstr_is_case(self, 1)); return 0; }
static int m_islower(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)r, (void)at, (void)c; *out = jv_bool(jstr_is_case(self, 0)); return 0; }

/* center / ljust / rjust / zfill */
int jstr_pad(jrender *r, const jnode *at, jv self, int64_t width, uint32_t fill, int align, jv *out) {
    const jv_str *s = JSTR(self);
    if (width <= (int64_t)s->ncp) {
        jv_incref(self);
        *out = self;
        return 0;
    }
    if ((uint64_t)width > r->heap.max_string) {
        r->heap.exceeded = 2;
        return jr_fail_oom(r, at);
    }
    size_t pad = (size_t)width - s->ncp, left = align == '<' ? 0 : align == '>' ? pad : pad / 2 + (pad & (size_t)width & 1);
    jbuf b;
    jr_buf_init(r, &b);
    for (size_t i = 0; i < left; i++) jbuf_put_cp(&b, fill);
    jbuf_put(&b, s->s, s->len);
    for (size_t i = left; i < pad; i++) jbuf_put_cp(&b, fill);
    return jr_str_from_buf(r, at, &b, out);
}

static int pad_method(jrender *r, const jnode *at, jv self, const jcall *c, jv *out, const char *name, int align) {
    static const char *const params[] = {"width", "fillchar", NULL};
    jv a[2];
    int64_t width = 0;
    uint32_t fill = ' ';
    if (jcall_bind(r, at, name, c, params, a)) return -1;
    if (a[0].kind == JV_MISSING) return jr_fail(r, at, "%s() takes at least 1 argument (0 given)", name);
    if (jr_need_int(r, at, a[0], &width)) return -1;
    if (a[1].kind != JV_MISSING) {
        if (a[1].kind != JV_STRING || JSTR(a[1])->ncp != 1)
            return jr_fail(r, at, "The fill character must be exactly one character long");
        size_t i = 0;
        fill = utf8_decode(JSTR(a[1])->s, JSTR(a[1])->len, &i);
    }
    return jstr_pad(r, at, self, width, fill, align, out);
}

static int m_center(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return pad_method(r, at, self, c, out, "center", '^'); }
static int m_ljust(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return pad_method(r, at, self, c, out, "ljust", '<'); }
static int m_rjust(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return pad_method(r, at, self, c, out, "rjust", '>'); }

static int m_zfill(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    static const char *const params[] = {"width", NULL};
    jv a[1];
    int64_t width = 0;
    if (jcall_bind(r, at, "zfill", c, params, a) || a[0].kind == JV_MISSING || jr_need_int(r, at, a[0], &width))
        return r->failed ? -1 : jr_fail(r, at, "zfill() takes exactly one argument");
    const jv_str *s = JSTR(self);
    if (width <= (int64_t)s->ncp) {
        jv_incref(self);
        *out = self;
        return 0;
    }
    if ((uint64_t)width > r->heap.max_string) {
        r->heap.exceeded = 2;
        return jr_fail_oom(r, at);
    }
    jbuf b;
    jr_buf_init(r, &b);
    size_t skip = s->len && (s->s[0] == '+' || s->s[0] == '-');
    jbuf_put(&b, s->s, skip);
    for (size_t i = s->ncp; i < (size_t)width; i++) jbuf_putc(&b, '0');
    jbuf_put(&b, s->s + skip, s->len - skip);
    return jr_str_from_buf(r, at, &b, out);
}

static int affix_remove(jrender *r, const jnode *at, jv self, const jcall *c, jv *out, int suffix) {
    static const char *const params[] = {"affix", NULL};
    jv a[1];
    if (jcall_bind(r, at, suffix ? "removesuffix" : "removeprefix", c, params, a)) return -1;
    if (a[0].kind == JV_MISSING || jr_need_str(r, at, a[0], "the argument")) return r->failed ? -1 : jr_fail(r, at, "an argument is required");
    const jv_str *s = JSTR(self), *p = JSTR(a[0]);
    if (p->len && p->len <= s->len && !memcmp(suffix ? s->s + s->len - p->len : s->s, p->s, p->len))
        return jv_new_str(&r->heap, suffix ? s->s : s->s + p->len, s->len - p->len, out) ? jr_fail_oom(r, at) : 0;
    jv_incref(self);
    *out = self;
    return 0;
}

static int m_removeprefix(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return affix_remove(r, at, self, c, out, 0); }
static int m_removesuffix(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return affix_remove(r, at, self, c, out, 1); }

static int partition_impl(jrender *r, const jnode *at, jv self, const jcall *c, jv *out, int reverse) {
    static const char *const params[] = {"sep", NULL};
    jv a[1];
    if (jcall_bind(r, at, reverse ? "rpartition" : "partition", c, params, a)) return -1;
    if (a[0].kind == JV_MISSING || jr_need_str(r, at, a[0], "the separator")) return r->failed ? -1 : jr_fail(r, at, "a separator is required");
    const jv_str *s = JSTR(self), *d = JSTR(a[0]);
    if (!d->len) return jr_fail(r, at, "empty separator");
    size_t hit = find_impl(s, d, 0, s->len, reverse);
    if (jv_new_list(&r->heap, 3, 1, out)) return jr_fail_oom(r, at);
    jv parts[3];
    int rc = 0;
    if (hit == SIZE_MAX) {
        rc |= jv_new_str(&r->heap, reverse ? "" : s->s, reverse ? 0 : s->len, &parts[0]);
        rc |= jv_new_str(&r->heap, "", 0, &parts[1]);
        rc |= jv_new_str(&r->heap, reverse ? s->s : "", reverse ? s->len : 0, &parts[2]);
    } else {
        rc |= jv_new_str(&r->heap, s->s, hit, &parts[0]);
        rc |= jv_new_str(&r->heap, d->s, d->len, &parts[1]);
        rc |= jv_new_str(&r->heap, s->s + hit + d->len, s->len - hit - d->len, &parts[2]);
    }
    if (rc) {
        jv_decref(*out);
        return jr_fail_oom(r, at);
    }
    for (int i = 0; i < 3; i++) jv_list_push(JLIST(*out), parts[i]);
    return 0;
}

static int m_partition(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return partition_impl(r, at, self, c, out, 0); }
static int m_rpartition(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { return partition_impl(r, at, self, c, out, 1); }

/* ---- the table ------------------------------------------------------------------------------ */

const jbuiltin jstr_methods[] = {
    {"capitalize", JV_STRING, 0, m_capitalize},
    {"center", JV_STRING, 0, m_center},
    {"count", JV_STRING, 0, m_str_count},
    {"endswith", JV_STRING, 0, m_endswith},
    {"find", JV_STRING, 0, m_find},
    {"format", JV_STRING, 0, jstr_format},
    {"index", JV_STRING, 0, m_index},
    {"isalnum", JV_STRING, 0, m_isalnum},
    {"isalpha", JV_STRING, 0, m_isalpha},
    {"isdigit", JV_STRING, 0, m_isdigit},
    {"islower", JV_STRING, 0, m_islower},
    {"isspace", JV_STRING, 0, m_isspace},
    {"isupper", JV_STRING, 0, m_isupper},
    {"join", JV_STRING, 0, m_join},
    {"ljust", JV_STRING, 0, m_ljust},
    {"lower", JV_STRING, 0, m_lower},
    {"lstrip", JV_STRING, 0, m_lstrip},
    {"partition", JV_STRING, 0, m_partition},
    {"removeprefix", JV_STRING, 0, m_removeprefix},
    {"removesuffix", JV_STRING, 0, m_removesuffix},
    {"replace", JV_STRING, 0, m_replace},
    {"rfind", JV_STRING, 0, m_rfind},
    {"rindex", JV_STRING, 0, m_rindex},
    {"rjust", JV_STRING, 0, m_rjust},
    {"rpartition", JV_STRING, 0, m_rpartition},
    {"rsplit", JV_STRING, 0, m_rsplit},
    {"rstrip", JV_STRING, 0, m_rstrip},
    {"split", JV_STRING, 0, m_split},
    {"splitlines", JV_STRING, 0, m_splitlines},
    {"startswith", JV_STRING, 0, m_startswith},
    {"strip", JV_STRING, 0, m_strip},
    {"swapcase", JV_STRING, 0, m_swapcase},
    {"title", JV_STRING, 0, m_title},
    {"upper", JV_STRING, 0, m_upper},
    {"zfill", JV_STRING, 0, m_zfill},
};
const int jstr_nmethods = (int)(sizeof jstr_methods / sizeof jstr_methods[0]);
