/* jinja_tests.c: jinja2's tests ({% if x is defined %}, x is divisibleby 3,
 * x is mapping, ...): the names it knows and what each one checks. */
#include "jinja_internal.h"

#include <math.h>
#include <string.h>

enum {
    TS_BOOLEAN, TS_CALLABLE, TS_DEFINED, TS_DIVISIBLEBY, TS_EQ, TS_ESCAPED, TS_EVEN, TS_FALSE, TS_FILTER, TS_FLOAT, TS_GE,
    TS_GT, TS_IN, TS_INTEGER, TS_ITERABLE, TS_LE, TS_LOWER, TS_LT, TS_MAPPING, TS_NE, TS_NONE, TS_NUMBER, TS_ODD,
    TS_SAMEAS, TS_SEQUENCE, TS_STRING, TS_TEST, TS_TRUE, TS_UNDEFINED, TS_UPPER,
};

static const struct {
    const char *name;
    int id;
} tests[] = {
    {"!=", TS_NE}, {"<", TS_LT}, {"<=", TS_LE}, {"==", TS_EQ}, {">", TS_GT}, {">=", TS_GE},
    {"boolean", TS_BOOLEAN}, {"callable", TS_CALLABLE}, {"defined", TS_DEFINED}, {"divisibleby", TS_DIVISIBLEBY},
    {"eq", TS_EQ}, {"equalto", TS_EQ}, {"escaped", TS_ESCAPED}, {"even", TS_EVEN}, {"false", TS_FALSE},
    {"filter", TS_FILTER}, {"float", TS_FLOAT}, {"ge", TS_GE}, {"greaterthan", TS_GT}, {"gt", TS_GT}, {"in", TS_IN},
    {"integer", TS_INTEGER}, {"iterable", TS_ITERABLE}, {"le", TS_LE}, {"lessthan", TS_LT}, {"lower", TS_LOWER},
    {"lt", TS_LT}, {"mapping", TS_MAPPING}, {"ne", TS_NE}, {"none", TS_NONE}, {"number", TS_NUMBER}, {"odd", TS_ODD},
    {"sameas", TS_SAMEAS}, {"sequence", TS_SEQUENCE}, {"string", TS_STRING}, {"test", TS_TEST}, {"true", TS_TRUE},
    {"undefined", TS_UNDEFINED}, {"upper", TS_UPPER},
};

int jtest_lookup(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (strlen(tests[i].name) == n && !memcmp(tests[i].name, name, n)) return tests[i].id;
    return -1;
}

/* The comparison tests map onto the operators: eq is ==, lt is <, in is in. */
static int compare_test(jrender *r, const jnode *at, int id, jv a, jv b, int *result) {
    int op = id == TS_EQ ? T_EQ : id == TS_NE ? T_NE : id == TS_LT ? T_LT : id == TS_LE ? T_LTEQ : id == TS_GT ? T_GT
           : id == TS_GE ? T_GTEQ : JOP_IN;
    return jeval_compare(r, at, op, a, b, result);
}

static int remainder_is_zero(jrender *r, const jnode *at, jv v, jv d, int *result) {
    if (v.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, v);
    if (!jv_is_number(v) || !jv_is_number(d))
        return jr_fail(r, at, "unsupported operand type(s) for %%: '%s' and '%s'", jv_type_name(v), jv_type_name(d));
    if (v.kind == JV_FLOAT || d.kind == JV_FLOAT) {
        double y = d.kind == JV_FLOAT ? d.u.f : (double)d.u.i;
        if (y == 0) return jr_fail(r, at, "float modulo by zero");
        *result = fmod(v.kind == JV_FLOAT ? v.u.f : (double)v.u.i, y) == 0;
        return 0;
    }
    if (d.u.i == 0) return jr_fail(r, at, "integer division or modulo by zero");
    *result = d.u.i == -1 || v.u.i % d.u.i == 0;
    return 0;
}

int jtest_apply(jrender *r, const jnode *at, int id, jv v, const jcall *c, int *result) {
    jv arg = c->nargs ? c->args[0] : jv_missing();
    int needs_arg = id == TS_DIVISIBLEBY || id == TS_EQ || id == TS_NE || id == TS_LT || id == TS_LE || id == TS_GT ||
                    id == TS_GE || id == TS_IN || id == TS_SAMEAS;
    if (needs_arg && arg.kind == JV_MISSING) return jr_fail(r, at, "the test '%s' needs an argument", JSTR(at->value)->s);
    switch (id) {
    case TS_BOOLEAN: *result = v.kind == JV_BOOL; return 0;
    case TS_CALLABLE: *result = v.kind == JV_MACRO || v.kind == JV_FUNC || v.kind == JV_LOOP; return 0;
    case TS_DEFINED: *result = v.kind != JV_UNDEFINED; return 0;
    case TS_UNDEFINED: *result = v.kind == JV_UNDEFINED; return 0;
    case TS_DIVISIBLEBY: return remainder_is_zero(r, at, v, arg, result);
    case TS_EVEN: case TS_ODD: {
        if (remainder_is_zero(r, at, v, jv_int(2), result)) return -1;
        if (id == TS_ODD) *result = !*result;
        return 0;
    }
    case TS_EQ: case TS_NE: case TS_LT: case TS_LE: case TS_GT: case TS_GE:
        return compare_test(r, at, id, v, arg, result);
    case TS_ESCAPED: *result = 0; return 0;
    case TS_FALSE: *result = v.kind == JV_BOOL && !v.u.i; return 0;
    case TS_TRUE: *result = v.kind == JV_BOOL && v.u.i; return 0;
    case TS_FILTER: case TS_TEST:
        *result = v.kind == JV_STRING && (id == TS_FILTER ? jfilter_lookup(JSTR(v)->s, JSTR(v)->len)
                                                         : jtest_lookup(JSTR(v)->s, JSTR(v)->len)) >= 0;
        return 0;
    case TS_FLOAT: *result = v.kind == JV_FLOAT; return 0;
    case TS_INTEGER: *result = v.kind == JV_INT; return 0;
    case TS_NUMBER: *result = jv_is_number(v); return 0;
    case TS_IN: return compare_test(r, at, id, v, arg, result);
    case TS_ITERABLE:
        *result = v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_STRING || v.kind == JV_UNDEFINED ||
                  v.kind == JV_LOOP;
        return 0;
    case TS_SEQUENCE:
        *result = v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_STRING || v.kind == JV_UNDEFINED;
        return 0;
    case TS_LOWER: case TS_UPPER: {
        jv s;
        if (jeval_to_str(r, at, v, &s)) return -1;
        *result = jstr_is_case(s, id == TS_UPPER);
        jv_decref(s);
        return 0;
    }
    case TS_MAPPING: *result = v.kind == JV_DICT; return 0;
    case TS_NONE: *result = v.kind == JV_NONE; return 0;
    case TS_SAMEAS:
        if (v.kind != arg.kind) *result = 0;
        else if (v.kind == JV_NONE || v.kind == JV_UNDEFINED) *result = 1;
        else if (v.kind == JV_BOOL || v.kind == JV_INT) *result = v.u.i == arg.u.i;
        else if (v.kind == JV_FLOAT) *result = 0;
        else *result = v.u.obj == arg.u.obj;
        return 0;
    case TS_STRING: *result = v.kind == JV_STRING; return 0;
    default: return jr_fail(r, at, "No test named '%s'.", JSTR(at->value)->s);
    }
}
