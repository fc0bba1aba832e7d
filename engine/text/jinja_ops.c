/* jinja_ops.c: the operators of template expressions with Python's semantics:
 * + - * / // % ** on ints (overflow is an error, not a big int) and floats
 * (// and % floor like Python's divmod), str and list + and *, "fmt" % args,
 * comparisons (== by value, < by Python's ordering), and in / not in. */
#include "jinja_internal.h"

#include <math.h>
#include <string.h>

static const char *op_text(int op) {
    switch (op) {
    case T_ADD: return "+";
    case T_SUB: return "-";
    case T_MUL: return "*";
    case T_DIV: return "/";
    case T_FLOORDIV: return "//";
    case T_MOD: return "%";
    case T_POW: return "**";
    case T_EQ: return "==";
    case T_NE: return "!=";
    case T_LT: return "<";
    case T_LTEQ: return "<=";
    case T_GT: return ">";
    case T_GTEQ: return ">=";
    default: return "?";
    }
}

static double as_double(jv v) { return v.kind == JV_FLOAT ? v.u.f : (double)v.u.i; }

/* Python's float divmod (Objects/floatobject.c). */
static void float_divmod(double x, double y, double *floordiv, double *mod) {
    double m = fmod(x, y), div = (x - m) / y;
    if (m != 0) {
        if ((y < 0) != (m < 0)) {
            m += y;
            div -= 1.0;
        }
    } else {
        m = copysign(0.0, y);
    }
    double fd;
    if (div != 0) {
        fd = floor(div);
        if (div - fd > 0.5) fd += 1.0;
    } else {
        fd = copysign(0.0, x / y);
    }
    *floordiv = fd;
    *mod = m;
}

static int int_pow(jrender *r, const jnode *at, int64_t base, int64_t exp, jv *out) {
    if (exp < 0) {
        if (base == 0) return jr_fail(r, at, "0.0 cannot be raised to a negative power");
        *out = jv_float(pow((double)base, (double)exp));
        return 0;
    }
    int64_t result = 1;
    while (exp) {
        if (exp & 1 && __builtin_mul_overflow(result, base, &result)) goto overflow;
        exp >>= 1;
        if (exp && __builtin_mul_overflow(base, base, &base)) {
            if (result == 0) break;
            goto overflow;
        }
    }
    *out = jv_int(result);
    return 0;
overflow:
    return jr_fail(r, at, "integer overflow in **");
}

/* s * count or l * count. */
static int repeat(jrender *r, const jnode *at, jv seq, int64_t count, jv *out) {
    if (count < 0) count = 0;
    if (seq.kind == JV_STRING) {
        jv_str *s = JSTR(seq);
        if (s->len && (uint64_t)count > r->heap.max_string / s->len) {
            r->heap.exceeded = 2;
            return jr_fail_oom(r, at);
        }
        jv_str *res = jv_str_alloc(&r->heap, s->len * (size_t)count);
        if (!res) return jr_fail_oom(r, at);
        for (int64_t i = 0; i < count; i++) memcpy(res->s + (size_t)i * s->len, s->s, s->len);
        res->ncp = s->ncp * (size_t)count;
        *out = jv_obj_value(res);
        return 0;
    }
    jv_list *l = JLIST(seq);
    if (l->len && (uint64_t)count > (r->heap.limit / sizeof(jv)) / l->len) {
        r->heap.exceeded = 1;
        return jr_fail_oom(r, at);
    }
    if (jv_new_list(&r->heap, l->len * (size_t)count, l->tuple, out)) return jr_fail_oom(r, at);
    for (int64_t i = 0; i < count; i++)
        for (size_t k = 0; k < l->len; k++) {
            jv_incref(l->items[k]);
            if (jv_list_push(JLIST(*out), l->items[k])) {
                jv_decref(*out);
                return jr_fail_oom(r, at);
            }
        }
    return 0;
}

static int concat2(jrender *r, const jnode *at, jv a, jv b, jv *out) {
    if (a.kind == JV_STRING) {
        jv_str *x = JSTR(a), *y = JSTR(b);
        if (y->len > r->heap.max_string - x->len) {
            r->heap.exceeded = 2;
            return jr_fail_oom(r, at);
        }
        jv_str *s = jv_str_alloc(&r->heap, x->len + y->len);
        if (!s) return jr_fail_oom(r, at);
        memcpy(s->s, x->s, x->len);
        memcpy(s->s + x->len, y->s, y->len);
        s->ncp = x->ncp + y->ncp;
        *out = jv_obj_value(s);
        return 0;
    }
    jv_list *x = JLIST(a), *y = JLIST(b);
    if (jv_new_list(&r->heap, x->len + y->len, x->tuple, out)) return jr_fail_oom(r, at);
    for (int pass = 0; pass < 2; pass++) {
        jv_list *src = pass ? y : x;
        for (size_t i = 0; i < src->len; i++) {
            jv_incref(src->items[i]);
            if (jv_list_push(JLIST(*out), src->items[i])) {
                jv_decref(*out);
                return jr_fail_oom(r, at);
            }
        }
    }
    return 0;
}

int jeval_binop(jrender *r, const jnode *at, int op, jv a, jv b, jv *out) {
    if (a.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, a);
    if (b.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, b);
    if (jv_is_number(a) && jv_is_number(b)) {
        int ints = a.kind != JV_FLOAT && b.kind != JV_FLOAT;
        int64_t x = a.u.i, y = b.u.i, z;
        double fx = as_double(a), fy = as_double(b), q, m;
        switch (op) {
        case T_ADD:
            if (!ints) return *out = jv_float(fx + fy), 0;
            if (__builtin_add_overflow(x, y, &z)) break;
            return *out = jv_int(z), 0;
        case T_SUB:
            if (!ints) return *out = jv_float(fx - fy), 0;
            if (__builtin_sub_overflow(x, y, &z)) break;
            return *out = jv_int(z), 0;
        case T_MUL:
            if (!ints) return *out = jv_float(fx * fy), 0;
            if (__builtin_mul_overflow(x, y, &z)) break;
            return *out = jv_int(z), 0;
        case T_DIV:
            if (fy == 0) return jr_fail(r, at, "division by zero");
            return *out = jv_float(fx / fy), 0;
        case T_FLOORDIV: case T_MOD:
            if (ints) {
                if (y == 0) return jr_fail(r, at, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) break;
                int64_t d = x / y, rem = x % y;
                if (rem != 0 && ((rem < 0) != (y < 0))) d--, rem += y;
                return *out = jv_int(op == T_MOD ? rem : d), 0;
            }
            if (fy == 0) return jr_fail(r, at, op == T_MOD ? "float modulo by zero" : "float floor division by zero");
            float_divmod(fx, fy, &q, &m);
            return *out = jv_float(op == T_MOD ? m : q), 0;
        case T_POW:
            if (ints) return int_pow(r, at, x, y, out);
            if (fx == 0 && fy < 0) return jr_fail(r, at, "0.0 cannot be raised to a negative power");
            if (fx < 0 && fy != floor(fy)) return jr_fail(r, at, "a negative number cannot be raised to a fractional power");
            return *out = jv_float(pow(fx, fy)), 0;
        }
        return jr_fail(r, at, "integer overflow in %s", op_text(op));
    }
    if (op == T_ADD && a.kind == JV_STRING && b.kind == JV_STRING) return concat2(r, at, a, b, out);
    if (op == T_ADD && a.kind == JV_LIST && b.kind == JV_LIST && JLIST(a)->tuple == JLIST(b)->tuple)
        return concat2(r, at, a, b, out);
    if (op == T_MUL && (a.kind == JV_STRING || a.kind == JV_LIST) && (b.kind == JV_INT || b.kind == JV_BOOL))
        return repeat(r, at, a, b.u.i, out);
    if (op == T_MUL && (b.kind == JV_STRING || b.kind == JV_LIST) && (a.kind == JV_INT || a.kind == JV_BOOL))
        return repeat(r, at, b, a.u.i, out);
    if (op == T_MOD && a.kind == JV_STRING) return jpy_percent_format(r, at, a, b, out);
    if (op == T_ADD && (a.kind == JV_STRING || a.kind == JV_LIST))
        return jr_fail(r, at, "can only concatenate %s (not \"%s\") to %s", jv_type_name(a), jv_type_name(b),
                       jv_type_name(a));
    return jr_fail(r, at, "unsupported operand type(s) for %s: '%s' and '%s'", op_text(op), jv_type_name(a),
                   jv_type_name(b));
}

static int contains(jrender *r, const jnode *at, jv item, jv container, int *result) {
    switch (container.kind) {
    case JV_STRING:
        if (item.kind != JV_STRING)
            return jr_fail(r, at, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        *result = !JSTR(item)->len ||
                  memmem(JSTR(container)->s, JSTR(container)->len, JSTR(item)->s, JSTR(item)->len) != NULL;
        return 0;
    case JV_LIST:
        *result = 0;
        for (size_t i = 0; i < JLIST(container)->len && !*result; i++) *result = jv_equal(JLIST(container)->items[i], item);
        return 0;
    case JV_DICT:
        if (!jv_hashable(item)) return jr_fail(r, at, "unhashable type: '%s'", jv_type_name(item));
        *result = jv_dict_find(JDICT(container), item) != NULL;
        return 0;
    case JV_UNDEFINED:
        *result = 0;
        return 0;
    default: return jr_fail(r, at, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

int jeval_compare(jrender *r, const jnode *at, int op, jv a, jv b, int *result) {
    if (op == T_EQ || op == T_NE) {
        *result = jv_equal(a, b) == (op == T_EQ);
        return 0;
    }
    if (op == JOP_IN || op == JOP_NOTIN) {
        if (contains(r, at, a, b, result)) return -1;
        if (op == JOP_NOTIN) *result = !*result;
        return 0;
    }
    if (a.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, a);
    if (b.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, b);
    int cmp;
    if (jv_compare(a, b, &cmp))
        return jr_fail(r, at, "'%s' not supported between instances of '%s' and '%s'", op_text(op), jv_type_name(a),
                       jv_type_name(b));
    if (cmp == 2) { /* NaN: every ordering is false */
        *result = 0;
        return 0;
    }
    switch (op) {
    case T_LT: *result = cmp < 0; break;
    case T_LTEQ: *result = cmp <= 0; break;
    case T_GT: *result = cmp > 0; break;
    default: *result = cmp >= 0; break;
    }
    return 0;
}

