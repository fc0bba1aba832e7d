/* jinja_filters.c: jinja2's built-in filters ({{ x | name(args) }}) on
 * strings, numbers and values, with the semantics of jinja2's filters.py, and
 * Hugging Face's tojson (json.dumps with ensure_ascii=False, indent,
 * separators and sort_keys); the filters on sequences are in
 * jinja_filters_seq.c. Also the lookup of every filter by name. */
#include "jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static int bind(jrender *r, const jnode *at, const jcall *c, const char *const *params, jv *slots) {
    return jcall_bind(r, at, JSTR(at->value)->s, c, params, slots);
}

static jv arg_or(jv a, jv fallback) { return a.kind == JV_MISSING ? fallback : a; }

static int str_of(jrender *r, const jnode *at, jv v, jv *out) { return jeval_to_str(r, at, v, out); }

/* ---- filters on strings ----------------------------------------------------------------------- */

static int case_filter(jrender *r, const jnode *at, jv v, jv *out, int mode) {
    jv s;
    if (str_of(r, at, v, &s)) return -1;
    int rc = jstr_case(r, at, s, mode, out);
    jv_decref(s);
    return rc;
}

static int f_upper(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { (void)c; return case_filter(r, at, v, out, CASE_UPPER); }
static int f_lower(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { (void)c; return case_filter(r, at, v, out, CASE_LOWER); }
static int f_capitalize(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { (void)c; return case_filter(r, at, v, out, CASE_CAPITALIZE); }

/* jinja2's title: words start after runs of whitespace, '-', '(', '{', '[' or '<'. */
static int f_title(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    jv s;
    if (str_of(r, at, v, &s)) return -1;
    jbuf b;
    jr_buf_init(r, &b);
    int start = 1;
    for (size_t i = 0; i < JSTR(s)->len;) {
        uint32_t cp = utf8_decode(JSTR(s)->s, JSTR(s)->len, &i);
        if (py_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<') {
            jbuf_put_cp(&b, cp);
            start = 1;
        } else {
            jbuf_put_cp(&b, start ? py_toupper(cp) : py_tolower(cp));
            start = 0;
        }
    }
    jv_decref(s);
    return jr_str_from_buf(r, at, &b, out);
}

static int strip_this(uint32_t cp, const jv_str *chars) {
    if (!chars) return py_isspace(cp);
    for (size_t k = 0; k < chars->len;)
        if (utf8_decode(chars->s, chars->len, &k) == cp) return 1;
    return 0;
}

static int f_trim(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"chars", NULL};
    jv a[1], s;
    if (bind(r, at, c, params, a) || str_of(r, at, v, &s)) return -1;
    const jv_str *str = JSTR(s), *chars = a[0].kind == JV_STRING ? JSTR(a[0]) : NULL;
    size_t lo = 0;
    while (lo < str->len) {
        size_t next = lo;
        if (!strip_this(utf8_decode(str->s, str->len, &next), chars)) break;
        lo = next;
    }
    size_t hi = lo;
    for (size_t i = lo; i < str->len;)
        if (!strip_this(utf8_decode(str->s, str->len, &i), chars)) hi = i;
    int rc = jv_new_str(&r->heap, str->s + lo, hi - lo, out) ? jr_fail_oom(r, at) : 0;
    jv_decref(s);
    return rc;
}

static int f_replace(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"old", "new", "count", NULL};
    jv a[3], s, old, new_;
    int64_t count = -1;
    if (bind(r, at, c, params, a)) return -1;
    if (a[0].kind == JV_MISSING || a[1].kind == JV_MISSING) return jr_fail(r, at, "replace needs old and new strings");
    if (a[2].kind != JV_MISSING && a[2].kind != JV_NONE && jr_need_int(r, at, a[2], &count)) return -1;
    if (str_of(r, at, v, &s)) return -1;
    int rc = -1;
    if (!str_of(r, at, a[0], &old)) {
        if (!str_of(r, at, a[1], &new_)) {
            rc = jstr_replace(r, at, s, old, new_, count, out);
            jv_decref(new_);
        }
        jv_decref(old);
    }
    jv_decref(s);
    return rc;
}

static int f_center(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"width", NULL};
    jv a[1], s;
    int64_t width = 80;
    if (bind(r, at, c, params, a)) return -1;
    if (a[0].kind != JV_MISSING && jr_need_int(r, at, a[0], &width)) return -1;
    if (str_of(r, at, v, &s)) return -1;
    int rc = jstr_pad(r, at, s, width, ' ', '^', out);
    jv_decref(s);
    return rc;
}

static int f_indent(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"width", "first", "blank", NULL};
    jv a[3], s, pad;
    if (bind(r, at, c, params, a)) return -1;
    jv width = arg_or(a[0], jv_int(4));
    if (width.kind == JV_STRING) {
        pad = width;
        jv_incref(pad);
    } else {
        int64_t w = 0;
        if (jr_need_int(r, at, width, &w)) return -1;
        if (w < 0) w = 0;
        if ((uint64_t)w > r->heap.max_string) w = (int64_t)r->heap.max_string;
        jv_str *p = jv_str_alloc(&r->heap, (size_t)w);
        if (!p) return jr_fail_oom(r, at);
        memset(p->s, ' ', (size_t)w);
        p->ncp = (size_t)w;
        pad = jv_obj_value(p);
    }
    int first = a[1].kind != JV_MISSING && jv_truthy(a[1]), blank = a[2].kind != JV_MISSING && jv_truthy(a[2]);
    if (str_of(r, at, v, &s)) {
        jv_decref(pad);
        return -1;
    }
    /* the lines of s + "\n" as str.splitlines() gives them: every segment between line breaks */
    const jv_str *str = JSTR(s), *p = JSTR(pad);
    jbuf b;
    jr_buf_init(r, &b);
    if (first) jbuf_put(&b, p->s, p->len);
    size_t start = 0, line = 0;
    for (size_t i = 0; i <= str->len;) {
        size_t end = i;
        int at_end = i == str->len;
        if (!at_end) {
            uint32_t cp = utf8_decode(str->s, str->len, &i);
            if (cp != '\n' && cp != '\r') continue;
            if (cp == '\r' && i < str->len && str->s[i] == '\n') i++;
        } else {
            i++;
        }
        if (line > 0) {
            jbuf_putc(&b, '\n');
            if (blank || end > start) jbuf_put(&b, p->s, p->len);
        }
        jbuf_put(&b, str->s + start, end - start);
        start = i;
        line++;
        if (at_end) break;
    }
    jv_decref(pad);
    jv_decref(s);
    return jr_str_from_buf(r, at, &b, out);
}

static int f_wordcount(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    jv s;
    if (str_of(r, at, v, &s)) return -1;
    int64_t n = 0;
    int in_word = 0;
    for (size_t i = 0; i < JSTR(s)->len;) {
        uint32_t cp = utf8_decode(JSTR(s)->s, JSTR(s)->len, &i);
        int word = py_isalpha(cp) || py_isdigit(cp) || cp == '_';
        if (word && !in_word) n++;
        in_word = word;
    }
    jv_decref(s);
    *out = jv_int(n);
    return 0;
}

static int f_truncate(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"length", "killwords", "end", "leeway", NULL};
    jv a[4], s, end;
    int64_t length = 255, leeway = 5;
    if (bind(r, at, c, params, a)) return -1;
    if (a[0].kind != JV_MISSING && jr_need_int(r, at, a[0], &length)) return -1;
    if (a[3].kind != JV_MISSING && a[3].kind != JV_NONE && jr_need_int(r, at, a[3], &leeway)) return -1;
    if (str_of(r, at, v, &s)) return -1;
    if (a[2].kind != JV_MISSING) {
        if (str_of(r, at, a[2], &end)) {
            jv_decref(s);
            return -1;
        }
    } else if (jv_new_cstr(&r->heap, "...", &end)) {
        jv_decref(s);
        return jr_fail_oom(r, at);
    }
    const jv_str *str = JSTR(s), *e = JSTR(end);
    int rc = 0;
    if (length < (int64_t)e->ncp || leeway < 0) {
        rc = jr_fail(r, at, "expected length >= %zu and leeway >= 0", e->ncp);
    } else if ((int64_t)str->ncp <= length + leeway) {
        jv_incref(s);
        *out = s;
    } else {
        size_t keep = utf8_offset(str->s, str->len, str->ncp, (size_t)(length - (int64_t)e->ncp));
        if (!(a[1].kind != JV_MISSING && jv_truthy(a[1]))) { /* rsplit(" ", 1)[0] */
            size_t k = keep;
            while (k > 0 && str->s[k - 1] != ' ') k--;
            if (k > 0) keep = k - 1;
        }
        jbuf b;
        jr_buf_init(r, &b);
        jbuf_put(&b, str->s, keep);
        jbuf_put(&b, e->s, e->len);
        rc = jr_str_from_buf(r, at, &b, out);
    }
    jv_decref(end);
    jv_decref(s);
    return rc;
}

static int f_string(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { (void)c; return str_of(r, at, v, out); }

static int f_safe(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)r, (void)at, (void)c;
    jv_incref(v);
    *out = v;
    return 0;
}

static int f_escape(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    jv s;
    if (str_of(r, at, v, &s)) return -1;
    jbuf b;
    jr_buf_init(r, &b);
    for (size_t i = 0; i < JSTR(s)->len; i++) {
        char ch = JSTR(s)->s[i];
        switch (ch) {
        case '&': jbuf_puts(&b, "&amp;"); break;
        case '<': jbuf_puts(&b, "&lt;"); break;
        case '>': jbuf_puts(&b, "&gt;"); break;
        case '"': jbuf_puts(&b, "&#34;"); break;
        case '\'': jbuf_puts(&b, "&#39;"); break;
        default: jbuf_putc(&b, ch);
        }
    }
    jv_decref(s);
    return jr_str_from_buf(r, at, &b, out);
}

static int f_format(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    jv s, args;
    if (str_of(r, at, v, &s)) return -1;
    int rc;
    if (c->nkw) {
        if (jv_new_dict(&r->heap, JV_DICT, &args)) rc = jr_fail_oom(r, at);
        else {
            rc = 0;
            for (size_t k = 0; k < c->nkw && !rc; k++) {
                jv key;
                jv_incref(c->kw[k].val);
                if (jv_new_cstr(&r->heap, c->kw[k].name, &key) || jv_dict_set(JDICT(args), key, c->kw[k].val))
                    rc = jr_fail_oom(r, at);
            }
        }
    } else if (jv_new_list(&r->heap, c->nargs, 1, &args)) {
        rc = jr_fail_oom(r, at);
    } else {
        rc = 0;
        for (size_t i = 0; i < c->nargs; i++) {
            jv_incref(c->args[i]);
            jv_list_push(JLIST(args), c->args[i]);
        }
    }
    if (!rc) {
        rc = jpy_percent_format(r, at, s, args, out);
        jv_decref(args);
    }
    jv_decref(s);
    return rc;
}

/* ---- numbers ------------------------------------------------------------------------------ */

/* Whitespace int() and float() strip (ASCII here; a UTF-8 byte is never one). */
static int ascii_space(char c) { return (unsigned char)c < 0x80 && py_isspace((unsigned char)c); }

/* Python's float("...") syntax check, then the value. */
static int parse_py_float(const char *s, size_t n, double *out) {
    char buf[128];
    size_t i = 0, k = 0;
    while (i < n && ascii_space(s[i])) i++;
    while (n > i && ascii_space(s[n - 1])) n--;
    if (i == n || n - i >= sizeof buf) return -1;
    if (s[i] == '+' || s[i] == '-') buf[k++] = s[i++];
    const char *names[] = {"inf", "infinity", "nan"};
    for (int w = 0; w < 3; w++)
        if (n - i == strlen(names[w]) && !strncasecmp(s + i, names[w], n - i)) {
            memcpy(buf + k, names[w], n - i);
            buf[k + n - i] = '\0';
            *out = strtod(buf, NULL);
            return 0;
        }
    int digits = 0, dot = 0, exp = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            digits = 1;
            buf[k++] = ch;
        } else if (ch == '_' && digits && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9' && s[i - 1] >= '0' && s[i - 1] <= '9') {
            continue;
        } else if (ch == '.' && !dot && !exp) {
            dot = 1;
            buf[k++] = ch;
        } else if ((ch == 'e' || ch == 'E') && digits && !exp) {
            exp = 1;
            digits = 0;
            buf[k++] = ch;
            if (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-')) buf[k++] = s[++i];
        } else {
            return -1;
        }
    }
    if (!digits) return -1;
    buf[k] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

/* Python's int("...", base): 0 on success. */
static int parse_py_int(const char *s, size_t n, int base, int64_t *out) {
    size_t i = 0;
    while (i < n && ascii_space(s[i])) i++;
    while (n > i && ascii_space(s[n - 1])) n--;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (n - i >= 2 && s[i] == '0') {
        char p = (char)(s[i + 1] | 32);
        if ((p == 'x' && base == 16) || (p == 'o' && base == 8) || (p == 'b' && base == 2)) i += 2;
    }
    if (i == n) return -1;
    uint64_t v = 0;
    int prev_digit = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '_' && prev_digit && i + 1 < n) {
            prev_digit = 0;
            continue;
        }
        int d = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 32) >= 'a' && (ch | 32) <= 'z' ? (ch | 32) - 'a' + 10 : 99;
        if (d >= base) return -1;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return -2;
        v = v * (uint64_t)base + (uint64_t)d;
        prev_digit = 1;
    }
    if (!prev_digit) return -1;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return -2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int float_to_int(jrender *r, const jnode *at, double f, jv *out) {
    if (isnan(f)) return 1;
    if (isinf(f)) return jr_fail(r, at, "cannot convert float infinity to integer");
    if (f >= 9.2233720368547758e18 || f < -9.2233720368547758e18) return jr_fail(r, at, "integer too large");
    *out = jv_int((int64_t)f);
    return 0;
}

static int f_int(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"default", "base", NULL};
    jv a[2];
    int64_t base = 10;
    if (bind(r, at, c, params, a)) return -1;
    if (a[1].kind != JV_MISSING && jr_need_int(r, at, a[1], &base)) return -1;
    jv dflt = arg_or(a[0], jv_int(0));
    double f;
    int rc = 1;
    if (v.kind == JV_INT || v.kind == JV_BOOL) {
        *out = jv_int(v.u.i);
        return 0;
    }
    if (v.kind == JV_FLOAT) {
        rc = float_to_int(r, at, v.u.f, out);
    } else if (v.kind == JV_STRING) {
        int64_t i = 0;
        int prc = base >= 2 && base <= 36 ? parse_py_int(JSTR(v)->s, JSTR(v)->len, (int)base, &i) : -1;
        if (prc == 0) {
            *out = jv_int(i);
            return 0;
        }
        if (prc == -2) return jr_fail(r, at, "integer too large");
        if (parse_py_float(JSTR(v)->s, JSTR(v)->len, &f) == 0) rc = float_to_int(r, at, f, out);
    }
    if (rc < 0) return -1;
    if (rc > 0) {
        *out = dflt;
        jv_incref(dflt);
    }
    return 0;
}

static int f_float(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"default", NULL};
    jv a[1];
    double f;
    if (bind(r, at, c, params, a)) return -1;
    if (v.kind == JV_FLOAT) return *out = v, 0;
    if (v.kind == JV_INT || v.kind == JV_BOOL) return *out = jv_float((double)v.u.i), 0;
    if (v.kind == JV_STRING && parse_py_float(JSTR(v)->s, JSTR(v)->len, &f) == 0) return *out = jv_float(f), 0;
    *out = arg_or(a[0], jv_float(0.0));
    jv_incref(*out);
    return 0;
}

static int f_abs(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    if (v.kind == JV_FLOAT) return *out = jv_float(fabs(v.u.f)), 0;
    if (v.kind == JV_INT || v.kind == JV_BOOL) {
        if (v.u.i == INT64_MIN) return jr_fail(r, at, "integer overflow in abs");
        return *out = jv_int(v.u.i < 0 ? -v.u.i : v.u.i), 0;
    }
    if (v.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, v);
    return jr_fail(r, at, "bad operand type for abs(): '%s'", jv_type_name(v));
}

static int f_round(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"precision", "method", NULL};
    jv a[2];
    int64_t prec = 0;
    if (bind(r, at, c, params, a)) return -1;
    if (a[0].kind != JV_MISSING && jr_need_int(r, at, a[0], &prec)) return -1;
    const char *method = a[1].kind == JV_STRING ? JSTR(a[1])->s : "common";
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        return jr_fail(r, at, "method must be common, ceil or floor");
    if (v.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, v);
    if (!jv_is_number(v)) return jr_fail(r, at, "type %s doesn't define __round__ method", jv_type_name(v));
    if (prec > 400) prec = 400;
    if (prec < -400) prec = -400;
    double x = v.kind == JV_FLOAT ? v.u.f : (double)v.u.i, scale = pow(10.0, (double)prec);
    if (strcmp(method, "common")) {
        double y = x * scale;
        *out = jv_float((method[0] == 'c' ? ceil(y) : floor(y)) / scale);
        return 0;
    }
    if (v.kind != JV_FLOAT) { /* round(int, n) stays an int */
        if (prec >= 0) return *out = jv_int(v.u.i), 0;
        double y = nearbyint((double)v.u.i * scale) / scale;
        return *out = jv_int((int64_t)y), 0;
    }
    if (!isfinite(x)) return *out = v, 0;
    if (prec >= 0) {
        char buf[512];
        snprintf(buf, sizeof buf, "%.*f", (int)(prec > 340 ? 340 : prec), x);
        *out = jv_float(strtod(buf, NULL));
    } else {
        *out = jv_float(nearbyint(x * scale) / scale);
    }
    return 0;
}

/* ---- other values ------------------------------------------------------------------------------ */

static int f_default(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"default_value", "boolean", NULL};
    jv a[2];
    if (bind(r, at, c, params, a)) return -1;
    int boolean = a[1].kind != JV_MISSING && jv_truthy(a[1]);
    if (v.kind == JV_UNDEFINED || (boolean && !jv_truthy(v))) {
        if (a[0].kind == JV_MISSING) return jv_new_str(&r->heap, "", 0, out) ? jr_fail_oom(r, at) : 0;
        *out = a[0];
    } else {
        *out = v;
    }
    jv_incref(*out);
    return 0;
}

static int f_attr(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"name", NULL};
    jv a[1];
    if (bind(r, at, c, params, a)) return -1;
    if (a[0].kind != JV_STRING) return jr_fail(r, at, "attr needs an attribute name");
    if (v.kind == JV_DICT) { /* getattr only: a dict's keys are not attributes */
        int id;
        if (jmethod_lookup(v, JSTR(a[0])->s, JSTR(a[0])->len, &id) == 1) return jbuiltin_new_method(r, id, v, out) ? jr_fail_oom(r, at) : 0;
        jv_incref(a[0]);
        *out = jv_undef(JU_ATTR, JV_DICT, a[0]);
        return 0;
    }
    return jeval_getattr(r, at, v, JSTR(a[0])->s, JSTR(a[0])->len, out);
}

static int f_tojson(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
    jv a[4];
    if (bind(r, at, c, params, a)) return -1;
    char indent[64];
    jjson_opts o = {.ensure_ascii = a[0].kind != JV_MISSING && jv_truthy(a[0]),
                    .sort_keys = a[3].kind != JV_MISSING && jv_truthy(a[3])};
    if (a[1].kind == JV_INT || a[1].kind == JV_BOOL) {
        int64_t n = a[1].u.i < 0 ? 0 : a[1].u.i > 32 ? 32 : a[1].u.i;
        memset(indent, ' ', (size_t)n);
        indent[n] = '\0';
        o.indent = indent;
    } else if (a[1].kind == JV_STRING) {
        o.indent = JSTR(a[1])->s;
    } else if (a[1].kind != JV_MISSING && a[1].kind != JV_NONE) {
        return jr_fail(r, at, "tojson indent must be an integer or a string");
    }
    o.item_sep = o.indent ? "," : ", ";
    o.key_sep = ": ";
    if (a[2].kind == JV_LIST && JLIST(a[2])->len == 2 && JLIST(a[2])->items[0].kind == JV_STRING &&
        JLIST(a[2])->items[1].kind == JV_STRING) {
        o.item_sep = JSTR(JLIST(a[2])->items[0])->s;
        o.key_sep = JSTR(JLIST(a[2])->items[1])->s;
    } else if (a[2].kind != JV_MISSING && a[2].kind != JV_NONE) {
        return jr_fail(r, at, "tojson separators must be a pair of strings");
    }
    jbuf b;
    jr_buf_init(r, &b);
    char err[200] = "";
    if (jv_write_json(&b, v, &o, 0, err, sizeof err)) {
        if (b.over) return jr_str_from_buf(r, at, &b, out);
        jbuf_free(&b);
        return jr_fail(r, at, "%s", err[0] ? err : "cannot convert the value to JSON");
    }
    return jr_str_from_buf(r, at, &b, out);
}

static int f_pprint(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    jbuf b;
    jr_buf_init(r, &b);
    if (jv_write_repr(&b, v, 0) && !b.over) {
        jbuf_free(&b);
        return jr_fail(r, at, "value nested too deeply to print");
    }
    return jr_str_from_buf(r, at, &b, out);
}

/* ---- the table ------------------------------------------------------------------------------ */

/* Filter ids: this table, then jseq_filters[]. */
static const jfilter filters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"d", f_default},
    {"default", f_default},
    {"e", f_escape},
    {"escape", f_escape},
    {"float", f_float},
    {"forceescape", f_escape},
    {"format", f_format},
    {"indent", f_indent},
    {"int", f_int},
    {"lower", f_lower},
    {"pprint", f_pprint},
    {"replace", f_replace},
    {"round", f_round},
    {"safe", f_safe},
    {"string", f_string},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"upper", f_upper},
    {"wordcount", f_wordcount},
};

#define N_OWN (int)(sizeof filters / sizeof filters[0])

static const jfilter *filter_at(int id) {
    if (id >= 0 && id < N_OWN) return &filters[id];
    if (id >= N_OWN && id < N_OWN + jseq_nfilters) return &jseq_filters[id - N_OWN];
    return NULL;
}

int jfilter_lookup(const char *name, size_t n) {
    for (int i = 0; i < N_OWN + jseq_nfilters; i++) {
        const jfilter *f = filter_at(i);
        if (strlen(f->name) == n && !memcmp(f->name, name, n)) return i;
    }
    return -1;
}

int jfilter_apply(jrender *r, const jnode *at, int id, jv input, const jcall *c, jv *out) {
    const jfilter *f = filter_at(id);
    if (!f) return jr_fail(r, at, "unknown filter");
    return f->fn(r, at, input, c, out);
}
