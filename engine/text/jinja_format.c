/* jinja_format.c: Python's string formatting for templates: str.format
 * ("{0} {name!r:>10.2f}") and printf-style "fmt % args", both with fill,
 * alignment, sign, width, precision, grouping and the usual conversions. */
#include "jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t fill;
    char align, sign, type;
    int alt, zero, grouping;
    int64_t width, precision; /* -1: not given */
} fmt_spec;

static void put_grouped(jbuf *b, const char *digits, size_t n, char sep) {
    for (size_t i = 0; i < n; i++) {
        jbuf_putc(b, digits[i]);
        if (sep && (n - 1 - i) % 3 == 0 && i + 1 < n) jbuf_putc(b, sep);
    }
}

/* Formats a number (already a string of digits with its sign and prefix separated) with width/align/fill. */
static void put_aligned(jbuf *b, const fmt_spec *f, const char *sign, const char *prefix, const char *body, size_t body_cp,
                        int numeric) {
    size_t len = strlen(sign) + strlen(prefix) + body_cp;
    size_t pad = f->width > 0 && (size_t)f->width > len ? (size_t)f->width - len : 0;
    char align = f->align ? f->align : numeric ? '>' : '<';
    uint32_t fill = f->fill ? f->fill : ' ';
    if (f->zero && !f->align && numeric) align = '=', fill = '0';
    size_t left = align == '<' ? 0 : align == '^' ? pad / 2 : align == '=' ? 0 : pad;
    size_t mid = align == '=' ? pad : 0, right = pad - left - mid;
    for (size_t i = 0; i < left; i++) jbuf_put_cp(b, fill);
    jbuf_puts(b, sign);
    jbuf_puts(b, prefix);
    for (size_t i = 0; i < mid; i++) jbuf_put_cp(b, fill);
    jbuf_puts(b, body);
    for (size_t i = 0; i < right; i++) jbuf_put_cp(b, fill);
}

static int format_int(jbuf *b, const fmt_spec *f, int64_t v) {
    char type = f->type ? f->type : 'd';
    int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char digits[80], grouped[120];
    int n = 0;
    do {
        int d = (int)(mag % (uint64_t)base);
        digits[n++] = (char)(d < 10 ? '0' + d : (type == 'X' ? 'A' : 'a') + d - 10);
        mag /= (uint64_t)base;
    } while (mag);
    for (int i = 0; i < n / 2; i++) {
        char t = digits[i];
        digits[i] = digits[n - 1 - i];
        digits[n - 1 - i] = t;
    }
    jbuf g;
    jbuf_init(&g, sizeof grouped - 1);
    put_grouped(&g, digits, (size_t)n, f->grouping);
    snprintf(grouped, sizeof grouped, "%s", g.data ? g.data : "");
    jbuf_free(&g);
    const char *sign = v < 0 ? "-" : f->sign == '+' ? "+" : f->sign == ' ' ? " " : "";
    const char *prefix = !f->alt ? "" : base == 16 ? (type == 'X' ? "0X" : "0x") : base == 8 ? "0o" : base == 2 ? "0b" : "";
    put_aligned(b, f, sign, prefix, grouped, strlen(grouped), 1);
    return b->over ? -1 : 0;
}

static int format_float(jbuf *b, const fmt_spec *f, double v) {
    char type = f->type, body[400];
    int prec = f->precision >= 0 ? (int)(f->precision > 300 ? 300 : f->precision) : 6;
    double mag = fabs(v);
    if (!type) {
        if (f->precision < 0) py_float_repr(mag, body);
        else snprintf(body, sizeof body, "%.*g", prec ? prec : 1, mag);
    } else if (type == '%') {
        snprintf(body, sizeof body, "%.*f%%", prec, mag * 100);
    } else {
        char spec[16];
        snprintf(spec, sizeof spec, "%%%s.*%c", f->alt ? "#" : "", type == 'n' ? 'g' : type);
        snprintf(body, sizeof body, spec, prec, mag);
    }
    if (isnan(v)) strcpy(body, type == 'F' || type == 'E' || type == 'G' ? "NAN" : "nan");
    else if (isinf(v)) strcpy(body, type == 'F' || type == 'E' || type == 'G' ? "INF" : "inf");
    const char *sign = signbit(v) && !isnan(v) ? "-" : f->sign == '+' ? "+" : f->sign == ' ' ? " " : "";
    if (f->grouping && !isnan(v) && !isinf(v)) {
        char grouped[600];
        size_t intlen = strspn(body, "0123456789");
        jbuf g;
        jbuf_init(&g, sizeof grouped - 1);
        put_grouped(&g, body, intlen, f->grouping);
        jbuf_puts(&g, body + intlen);
        snprintf(grouped, sizeof grouped, "%s", g.data ? g.data : "");
        jbuf_free(&g);
        put_aligned(b, f, sign, "", grouped, strlen(grouped), 1);
    } else {
        put_aligned(b, f, sign, "", body, strlen(body), 1);
    }
    return b->over ? -1 : 0;
}

/* Formats v by a format spec (the part after ':' in "{:>10}"); -1 with a message in err. */
static int format_value(jbuf *b, jv v, const char *spec, size_t n, char *err, size_t errsz) {
    fmt_spec f = {.width = -1, .precision = -1};
    size_t i = 0;
    if (n >= 2) {
        size_t k = 0;
        uint32_t cp = utf8_decode(spec, n, &k);
        if (k < n && strchr("<>^=", spec[k])) f.fill = cp, f.align = spec[k], i = k + 1;
    }
    if (!f.align && i < n && strchr("<>^=", spec[i])) f.align = spec[i++];
    if (i < n && strchr("+- ", spec[i])) f.sign = spec[i++];
    if (i < n && spec[i] == '#') f.alt = 1, i++;
    if (i < n && spec[i] == '0') f.zero = 1, i++;
    if (i < n && spec[i] >= '0' && spec[i] <= '9') {
        f.width = 0;
        while (i < n && spec[i] >= '0' && spec[i] <= '9' && f.width < 100000) f.width = f.width * 10 + (spec[i++] - '0');
    }
    if (i < n && (spec[i] == ',' || spec[i] == '_')) f.grouping = spec[i++];
    if (i < n && spec[i] == '.') {
        f.precision = 0;
        i++;
        while (i < n && spec[i] >= '0' && spec[i] <= '9' && f.precision < 100000) f.precision = f.precision * 10 + (spec[i++] - '0');
    }
    if (i < n) f.type = spec[i++];
    if (i < n || f.width > 10000) {
        snprintf(err, errsz, "Invalid format specifier");
        return -1;
    }
    if (v.kind == JV_STRING || (!jv_is_number(v) && (!f.type || f.type == 's'))) {
        if (f.type && f.type != 's') {
            snprintf(err, errsz, "Unknown format code '%c' for object of type '%s'", f.type, jv_type_name(v));
            return -1;
        }
        jbuf tmp;
        jbuf_init(&tmp, b->limit);
        if (jv_write_str(&tmp, v)) {
            jbuf_free(&tmp);
            return -1;
        }
        size_t len = tmp.len, ncp = utf8_count(tmp.data ? tmp.data : "", tmp.len);
        if (f.precision >= 0 && (size_t)f.precision < ncp) {
            len = utf8_offset(tmp.data, tmp.len, ncp, (size_t)f.precision);
            ncp = (size_t)f.precision;
            tmp.data[len] = '\0';
        }
        put_aligned(b, &f, "", "", tmp.data ? tmp.data : "", ncp, 0);
        jbuf_free(&tmp);
        return b->over ? -1 : 0;
    }
    if (v.kind == JV_FLOAT || (f.type && strchr("eEfFgGn%", f.type))) {
        if (f.type && !strchr("eEfFgGn%", f.type)) {
            snprintf(err, errsz, "Unknown format code '%c' for object of type 'float'", f.type);
            return -1;
        }
        return format_float(b, &f, v.kind == JV_FLOAT ? v.u.f : (double)v.u.i);
    }
    if (f.type == 'c') return jbuf_put_cp(b, (uint32_t)(v.u.i & 0x1FFFFF));
    if (f.type && !strchr("dbxXo", f.type)) {
        snprintf(err, errsz, "Unknown format code '%c' for object of type 'int'", f.type);
        return -1;
    }
    if (v.kind == JV_BOOL && !f.type) return put_aligned(b, &f, "", "", v.u.i ? "True" : "False", v.u.i ? 4 : 5, 0), 0;
    return format_int(b, &f, v.u.i);
}

/* Resolves a replacement field name ("0", "name", "name.attr", "0[key]") to a value. */
static int field_value(jrender *r, const jnode *at, const char *name, size_t n, const jcall *c, size_t *auto_index,
                       jv *out) {
    size_t head = 0;
    while (head < n && name[head] != '.' && name[head] != '[') head++;
    jv v;
    if (head == 0) {
        if (*auto_index >= c->nargs) return jr_fail(r, at, "Replacement index %zu out of range for positional args tuple", *auto_index);
        v = c->args[(*auto_index)++];
    } else if (name[0] >= '0' && name[0] <= '9') {
        size_t idx = 0;
        for (size_t i = 0; i < head; i++) idx = idx * 10 + (size_t)(name[i] - '0');
        if (idx >= c->nargs) return jr_fail(r, at, "Replacement index %zu out of range for positional args tuple", idx);
        v = c->args[idx];
    } else {
        size_t k = 0;
        while (k < c->nkw && (strlen(c->kw[k].name) != head || memcmp(c->kw[k].name, name, head))) k++;
        if (k == c->nkw) return jr_fail(r, at, "KeyError: '%.*s'", (int)head, name);
        v = c->kw[k].val;
    }
    jv_incref(v);
    for (size_t i = head; i < n;) {
        jv next;
        int rc;
        if (name[i] == '.') {
            size_t j = ++i;
            while (j < n && name[j] != '.' && name[j] != '[') j++;
            rc = jeval_getattr(r, at, v, name + i, j - i, &next);
            i = j;
        } else {
            size_t j = ++i;
            while (j < n && name[j] != ']') j++;
            jv key;
            int digits = j > i;
            for (size_t k = i; k < j; k++) digits &= name[k] >= '0' && name[k] <= '9';
            if (digits) {
                int64_t idx = 0;
                for (size_t k = i; k < j && idx < INT64_MAX / 10; k++) idx = idx * 10 + (name[k] - '0');
                key = jv_int(idx);
            } else if (jv_new_str(&r->heap, name + i, j - i, &key)) {
                jv_decref(v);
                return jr_fail_oom(r, at);
            }
            rc = jeval_getitem(r, at, v, key, &next);
            jv_decref(key);
            i = j + 1;
        }
        jv_decref(v);
        if (rc) return -1;
        v = next;
    }
    *out = v;
    return 0;
}

int jstr_format(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    const jv_str *s = JSTR(self);
    jbuf b;
    jr_buf_init(r, &b);
    size_t auto_index = 0;
    char err[160];
    for (size_t i = 0; i < s->len && !b.over;) {
        char ch = s->s[i];
        if ((ch == '{' || ch == '}') && i + 1 < s->len && s->s[i + 1] == ch) {
            jbuf_putc(&b, ch);
            i += 2;
            continue;
        }
        if (ch == '}') {
            jbuf_free(&b);
            return jr_fail(r, at, "Single '}' encountered in format string");
        }
        if (ch != '{') {
            jbuf_putc(&b, ch);
            i++;
            continue;
        }
        size_t end = i + 1;
        while (end < s->len && s->s[end] != '}') end++;
        if (end >= s->len) {
            jbuf_free(&b);
            return jr_fail(r, at, "Single '{' encountered in format string");
        }
        const char *field = s->s + i + 1;
        size_t flen = end - i - 1, name_len = 0;
        while (name_len < flen && field[name_len] != '!' && field[name_len] != ':') name_len++;
        char conv = 0;
        size_t spec_at = name_len;
        if (spec_at < flen && field[spec_at] == '!') {
            conv = spec_at + 1 < flen ? field[spec_at + 1] : 0;
            spec_at += 2;
        }
        const char *spec = spec_at < flen && field[spec_at] == ':' ? field + spec_at + 1 : "";
        size_t spec_len = spec_at < flen && field[spec_at] == ':' ? flen - spec_at - 1 : 0;
        jv v;
        if (field_value(r, at, field, name_len, c, &auto_index, &v)) {
            jbuf_free(&b);
            return -1;
        }
        int rc;
        if (conv == 'r' || conv == 'a') {
            jbuf tmp;
            jbuf_init(&tmp, r->lim.max_output);
            rc = jv_write_repr(&tmp, v, 0);
            jv_decref(v);
            if (!rc) rc = jv_new_str(&r->heap, tmp.data ? tmp.data : "", tmp.len, &v);
            jbuf_free(&tmp);
            if (rc) {
                jbuf_free(&b);
                return jr_fail_oom(r, at);
            }
        }
        err[0] = '\0';
        rc = format_value(&b, v, spec, spec_len, err, sizeof err);
        jv_decref(v);
        if (rc && err[0]) {
            jbuf_free(&b);
            return jr_fail(r, at, "%s", err);
        }
        i = end + 1;
    }
    return jr_str_from_buf(r, at, &b, out);
}

int jpy_percent_format(jrender *r, const jnode *at, jv fmt, jv args, jv *out) {
    const jv_str *s = JSTR(fmt);
    int is_tuple = args.kind == JV_LIST && JLIST(args)->tuple;
    size_t nargs = is_tuple ? JLIST(args)->len : 1, next = 0;
    const jv *argv = is_tuple ? JLIST(args)->items : &args;
    int used_mapping = 0;
    jbuf b;
    jr_buf_init(r, &b);
    char err[160];
    for (size_t i = 0; i < s->len && !b.over;) {
        if (s->s[i] != '%') {
            jbuf_putc(&b, s->s[i++]);
            continue;
        }
        i++;
        fmt_spec f = {.width = -1, .precision = -1};
        jv v = jv_none();
        int have = 0;
        if (i < s->len && s->s[i] == '(') {
            size_t end = i + 1;
            while (end < s->len && s->s[end] != ')') end++;
            if (end >= s->len || args.kind != JV_DICT) {
                jbuf_free(&b);
                return jr_fail(r, at, end >= s->len ? "incomplete format key" : "format requires a mapping");
            }
            jv *found = jv_dict_find_str(JDICT(args), s->s + i + 1, end - i - 1);
            if (!found) {
                jbuf_free(&b);
                return jr_fail(r, at, "KeyError: '%.*s'", (int)(end - i - 1), s->s + i + 1);
            }
            v = *found;
            have = used_mapping = 1;
            i = end + 1;
        }
        while (i < s->len && strchr("-+ #0", s->s[i])) {
            char fl = s->s[i++];
            if (fl == '-') f.align = '<';
            else if (fl == '0') f.zero = 1;
            else if (fl == '#') f.alt = 1;
            else f.sign = f.sign == '+' ? '+' : fl;
        }
        for (int part = 0; part < 2; part++) {
            int64_t *dst = part ? &f.precision : &f.width;
            if (part) {
                if (i >= s->len || s->s[i] != '.') break;
                i++;
                f.precision = 0;
            }
            if (i < s->len && s->s[i] == '*') {
                i++;
                if (next >= nargs || (argv[next].kind != JV_INT && argv[next].kind != JV_BOOL)) {
                    jbuf_free(&b);
                    return jr_fail(r, at, "* wants int");
                }
                *dst = argv[next++].u.i;
                if (!part && *dst < 0) f.align = '<', *dst = -*dst;
            } else {
                while (i < s->len && s->s[i] >= '0' && s->s[i] <= '9' && *dst < 100000)
                    *dst = (*dst < 0 ? 0 : *dst) * 10 + (s->s[i++] - '0');
            }
        }
        while (i < s->len && strchr("hlL", s->s[i])) i++;
        if (i >= s->len) {
            jbuf_free(&b);
            return jr_fail(r, at, "incomplete format");
        }
        char conv = s->s[i++];
        if (conv == '%') {
            jbuf_putc(&b, '%');
            continue;
        }
        if (!have) {
            if (next >= nargs) {
                jbuf_free(&b);
                return jr_fail(r, at, "not enough arguments for format string");
            }
            v = argv[next++];
        }
        int rc = 0;
        err[0] = '\0';
        if (conv == 's' || conv == 'r' || conv == 'a') {
            if (!f.align) f.align = '>';
            jbuf tmp;
            jbuf_init(&tmp, r->lim.max_output);
            rc = conv == 's' ? jv_write_str(&tmp, v) : jv_write_repr(&tmp, v, 0);
            if (!rc) {
                size_t ncp = utf8_count(tmp.data ? tmp.data : "", tmp.len);
                if (f.precision >= 0 && (size_t)f.precision < ncp) {
                    tmp.data[utf8_offset(tmp.data, tmp.len, ncp, (size_t)f.precision)] = '\0';
                    ncp = (size_t)f.precision;
                }
                put_aligned(&b, &f, "", "", tmp.data ? tmp.data : "", ncp, 0);
            }
            jbuf_free(&tmp);
        } else if (strchr("diuoxXeEfFgGc", conv)) {
            if (!jv_is_number(v)) {
                jbuf_free(&b);
                return jr_fail(r, at, "%%%c format: a real number is required, not %s", conv, jv_type_name(v));
            }
            if (conv == 'c') {
                rc = jbuf_put_cp(&b, (uint32_t)(v.u.i & 0x1FFFFF));
            } else if (strchr("diuoxX", conv)) {
                f.type = conv == 'i' || conv == 'u' ? 'd' : conv;
                int64_t iv = v.kind == JV_FLOAT ? (int64_t)v.u.f : v.u.i;
                if (f.precision >= 0 && f.width < f.precision) f.width = f.precision, f.zero = 1;
                rc = format_int(&b, &f, iv);
            } else {
                f.type = conv;
                if (f.precision < 0) f.precision = 6;
                rc = format_float(&b, &f, v.kind == JV_FLOAT ? v.u.f : (double)v.u.i);
            }
        } else {
            jbuf_free(&b);
            return jr_fail(r, at, "unsupported format character '%c'", conv);
        }
        if (rc && !b.over) {
            jbuf_free(&b);
            return jr_fail(r, at, "%s", err[0] ? err : "cannot format this value");
        }
    }
    if (!used_mapping && next < nargs && is_tuple) {
        jbuf_free(&b);
        return jr_fail(r, at, "not all arguments converted during string formatting");
    }
    if (!used_mapping && !is_tuple && next == 0 && args.kind != JV_DICT) {
        jbuf_free(&b);
        return jr_fail(r, at, "not all arguments converted during string formatting");
    }
    return jr_str_from_buf(r, at, &b, out);
}

