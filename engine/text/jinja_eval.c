/* jinja_eval.c: evaluating expressions: literals, names, and/or returning
 * operands, chained comparisons, conditional expressions, attribute and item
 * access (the sandbox's getattr-then-getitem and getitem-then-getattr),
 * slicing, iteration, str(), and calls of macros, builtins, methods, filters
 * and tests with positional, keyword, *args and **kwargs arguments. Undefined
 * values behave like jinja2's default Undefined. Operators are in jinja_ops.c. */
#include "jinja_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- calls: evaluating arguments ------------------------------------------------------------ */

#define INLINE_ARGS 8

typedef struct {
    jcall c;
    jv args_inline[INLINE_ARGS];
    jkwarg kw_inline[INLINE_ARGS];
    jv spread_kwargs;    /* the dict of **kwargs, kept alive for its key names */
} argpack;

static void args_free(argpack *ap) {
    for (size_t i = 0; i < ap->c.nargs; i++) jv_decref(ap->c.args[i]);
    for (size_t i = 0; i < ap->c.nkw; i++) jv_decref(ap->c.kw[i].val);
    if (ap->c.args != ap->args_inline) free(ap->c.args);
    if (ap->c.kw != ap->kw_inline) free(ap->c.kw);
    jv_decref(ap->spread_kwargs);
    ap->c.nargs = ap->c.nkw = 0;
}

/* Evaluates the arguments of a call, filter or test node: list, list2 (K_KEYWORD), *b, **c. */
static int args_eval(jrender *r, const jnode *e, jscope *sc, argpack *ap) {
    memset(ap, 0, sizeof *ap);
    ap->spread_kwargs = jv_none();
    ap->c.args = ap->args_inline;
    ap->c.kw = ap->kw_inline;
    jv star = jv_none();
    size_t nargs = e->list.n, nkw = e->list2.n;
    if (e->b) {
        jv v;
        if (jeval(r, e->b, sc, &v)) return -1;
        int rc = jeval_iterate(r, e->b, v, &star);
        jv_decref(v);
        if (rc) return -1;
        nargs += JLIST(star)->len;
    }
    if (e->c) {
        if (jeval(r, e->c, sc, &ap->spread_kwargs)) goto fail;
        if (ap->spread_kwargs.kind != JV_DICT) {
            jr_fail(r, e->c, "argument after ** must be a mapping, not %s", jv_type_name(ap->spread_kwargs));
            goto fail;
        }
        nkw += JDICT(ap->spread_kwargs)->len;
    }
    if (nargs > INLINE_ARGS && !(ap->c.args = malloc(nargs * sizeof(jv)))) goto oom;
    if (nkw > INLINE_ARGS && !(ap->c.kw = malloc(nkw * sizeof(jkwarg)))) goto oom;
    for (uint32_t i = 0; i < e->list.n; i++) {
        if (jeval(r, e->list.v[i], sc, &ap->c.args[ap->c.nargs])) goto fail;
        ap->c.nargs++;
    }
    if (star.kind == JV_LIST)
        for (size_t i = 0; i < JLIST(star)->len; i++) {
            ap->c.args[ap->c.nargs] = JLIST(star)->items[i];
            jv_incref(ap->c.args[ap->c.nargs++]);
        }
    for (uint32_t i = 0; i < e->list2.n; i++) {
        const jnode *kw = e->list2.v[i];
        ap->c.kw[ap->c.nkw].name = JSTR(kw->value)->s;
        if (jeval(r, kw->a, sc, &ap->c.kw[ap->c.nkw].val)) goto fail;
        ap->c.nkw++;
    }
    if (ap->spread_kwargs.kind == JV_DICT) {
        jv_dict *d = JDICT(ap->spread_kwargs);
        for (size_t i = 0; i < d->len; i++) {
            if (d->keys[i].kind != JV_STRING) {
                jr_fail(r, e->c, "keywords must be strings");
                goto fail;
            }
            ap->c.kw[ap->c.nkw].name = JSTR(d->keys[i])->s;
            ap->c.kw[ap->c.nkw].val = d->vals[i];
            jv_incref(d->vals[i]);
            ap->c.nkw++;
        }
    }
    jv_decref(star);
    return 0;
oom:
    r->heap.exceeded = 1;
fail:
    jv_decref(star);
    args_free(ap);
    return -1;
}

int jcall_bind(jrender *r, const jnode *at, const char *fname, const jcall *c, const char *const *params,
               jv *slots) {
    size_t np = 0;
    while (params[np]) np++;
    if (c->nargs > np)
        return jr_fail(r, at, "%s() takes at most %zu argument%s (%zu given)", fname, np, np == 1 ? "" : "s", c->nargs);
    for (size_t i = 0; i < np; i++) slots[i] = i < c->nargs ? c->args[i] : jv_missing();
    for (size_t k = 0; k < c->nkw; k++) {
        size_t i = 0;
        while (i < np && strcmp(params[i], c->kw[k].name)) i++;
        if (i == np) return jr_fail(r, at, "%s() got an unexpected keyword argument '%s'", fname, c->kw[k].name);
        if (slots[i].kind != JV_MISSING)
            return jr_fail(r, at, "%s() got multiple values for argument '%s'", fname, c->kw[k].name);
        slots[i] = c->kw[k].val;
    }
    return 0;
}

/* ---- str(), iteration --------------------------------------------------------------------- */

void jr_buf_init(jrender *r, jbuf *b) {
    jbuf_init(b, r->lim.max_output);
    b->heap = &r->heap;
}

int jr_need_str(jrender *r, const jnode *at, jv v, const char *what) {
    if (v.kind == JV_STRING) return 0;
    if (v.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, v);
    return jr_fail(r, at, "%s must be str, not %s", what, jv_type_name(v));
}

int jr_need_int(jrender *r, const jnode *at, jv v, int64_t *out) {
    if (v.kind == JV_INT || v.kind == JV_BOOL) {
        *out = v.u.i;
        return 0;
    }
    if (v.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, v);
    return jr_fail(r, at, "'%s' object cannot be interpreted as an integer", jv_type_name(v));
}

int jr_str_from_buf(jrender *r, const jnode *at, jbuf *b, jv *out) {
    if (b->over) {
        if (b->over == 1) r->heap.exceeded = 2;
        jbuf_free(b);
        return jr_fail_oom(r, at);
    }
    int rc = jv_new_str(&r->heap, b->data ? b->data : "", b->len, out);
    jbuf_free(b);
    return rc ? jr_fail_oom(r, at) : 0;
}

int jeval_to_str(jrender *r, const jnode *at, jv v, jv *out) {
    if (v.kind == JV_STRING) {
        jv_incref(v);
        *out = v;
        return 0;
    }
    jbuf b;
    jbuf_init(&b, r->lim.max_output);
    b.heap = &r->heap;
    if (jv_write_str(&b, v)) {
        int too_deep = !b.over;
        jbuf_free(&b);
        if (too_deep) return jr_fail(r, at, "value nested too deeply to print");
        if (b.over == 1) r->heap.exceeded = 2;
        return jr_fail_oom(r, at);
    }
    int rc = jv_new_str(&r->heap, b.data ? b.data : "", b.len, out);
    jbuf_free(&b);
    return rc ? jr_fail_oom(r, at) : 0;
}

int jeval_iterate(jrender *r, const jnode *at, jv v, jv *out) {
    switch (v.kind) {
    case JV_LIST:
        jv_incref(v);
        *out = v;
        return 0;
    case JV_UNDEFINED:
        return jv_new_list(&r->heap, 0, 0, out) ? jr_fail_oom(r, at) : 0;
    case JV_DICT: {
        jv_dict *d = JDICT(v);
        if (jv_new_list(&r->heap, d->len, 0, out)) return jr_fail_oom(r, at);
        for (size_t i = 0; i < d->len; i++) {
            jv_incref(d->keys[i]);
            if (jv_list_push(JLIST(*out), d->keys[i])) goto oom;
        }
        return 0;
    }
    case JV_STRING: {
        jv_str *s = JSTR(v);
        if (jv_new_list(&r->heap, s->ncp, 0, out)) return jr_fail_oom(r, at);
        for (size_t i = 0; i < s->len;) {
            size_t start = i;
            utf8_decode(s->s, s->len, &i);
            jv ch;
            if (jv_new_str(&r->heap, s->s + start, i - start, &ch) || jv_list_push(JLIST(*out), ch)) goto oom;
        }
        return 0;
    }
    default:
        return jr_fail(r, at, "'%s' object is not iterable", jv_type_name(v));
    }
oom:
    jv_decref(*out);
    return jr_fail_oom(r, at);
}

/* ---- attributes and items ------------------------------------------------------------------- */

static int loop_attr(jv_loop *l, const char *name, jv *out) {
    int64_t i = l->index0, n = l->length;
    if (!strcmp(name, "index")) *out = jv_int(i + 1);
    else if (!strcmp(name, "index0")) *out = jv_int(i);
    else if (!strcmp(name, "revindex")) *out = jv_int(n - i);
    else if (!strcmp(name, "revindex0")) *out = jv_int(n - i - 1);
    else if (!strcmp(name, "first")) *out = jv_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(i == n - 1);
    else if (!strcmp(name, "length")) *out = jv_int(n);
    else if (!strcmp(name, "depth")) *out = jv_int(1);
    else if (!strcmp(name, "depth0")) *out = jv_int(0);
    else if (!strcmp(name, "previtem") || !strcmp(name, "nextitem")) {
        int64_t k = name[0] == 'p' ? i - 1 : i + 1;
        jv_list *items = JLIST(l->items);
        if (k < 0 || k >= (int64_t)items->len) {
            *out = jv_undef_hint(name[0] == 'p' ? "there is no previous item" : "there is no next item");
        } else {
            *out = items->items[k];
            jv_incref(*out);
        }
    } else {
        return 1;
    }
    return 0;
}

int jeval_getattr(jrender *r, const jnode *at, jv obj, const char *name, size_t n, jv *out) {
    if (obj.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, obj);
    int id, found = jmethod_lookup(obj, name, n, &id);
    if (found == 1) return jbuiltin_new_method(r, id, obj, out) ? jr_fail_oom(r, at) : 0;
    jv key;
    if (jv_new_str(&r->heap, name, n, &key)) return jr_fail_oom(r, at);
    if (found == -2) {
        *out = jv_undef(JU_UNSAFE, (jv_kind)obj.kind, key);
        return 0;
    }
    jv *v = NULL;
    if (obj.kind == JV_DICT || obj.kind == JV_NAMESPACE) {
        v = jv_dict_find_str(JDICT(obj), name, n);
    } else if (obj.kind == JV_LOOP) {
        if (loop_attr((jv_loop *)obj.u.obj, JSTR(key)->s, out) == 0) {
            jv_decref(key);
            return 0;
        }
    } else if (obj.kind == JV_MACRO && n == 4 && !memcmp(name, "name", 4)) {
        const jnode *def = ((jv_macro *)obj.u.obj)->def;
        jv_decref(key);
        if (def->kind == K_MACRO) {
            *out = def->value;
            return 0;
        }
        return jv_new_cstr(&r->heap, "caller", out) ? jr_fail_oom(r, at) : 0;
    }
    if (v) {
        jv_decref(key);
        *out = *v;
        jv_incref(*v);
        return 0;
    }
    *out = jv_undef(JU_ATTR, (jv_kind)obj.kind, key);
    return 0;
}

/* A Python index into a sequence of n items; -1 when out of range. */
static int64_t seq_index(jv key, size_t n) {
    int64_t i = key.u.i;
    if (i < 0) i += (int64_t)n;
    return i < 0 || i >= (int64_t)n ? -1 : i;
}

int jeval_getitem(jrender *r, const jnode *at, jv obj, jv key, jv *out) {
    if (obj.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, obj);
    int int_key = key.kind == JV_INT || key.kind == JV_BOOL;
    if (obj.kind == JV_DICT) {
        jv *v = jv_dict_find(JDICT(obj), key);
        if (v) {
            *out = *v;
            jv_incref(*v);
            return 0;
        }
    } else if (obj.kind == JV_LIST && int_key) {
        int64_t i = seq_index(key, JLIST(obj)->len);
        if (i >= 0) {
            *out = JLIST(obj)->items[i];
            jv_incref(*out);
            return 0;
        }
    } else if (obj.kind == JV_STRING && int_key) {
        jv_str *s = JSTR(obj);
        int64_t i = seq_index(key, s->ncp);
        if (i >= 0) {
            size_t start = utf8_offset(s->s, s->len, s->ncp, (size_t)i), end = start;
            utf8_decode(s->s, s->len, &end);
            return jv_new_str(&r->heap, s->s + start, end - start, out) ? jr_fail_oom(r, at) : 0;
        }
    }
    if (key.kind == JV_STRING && obj.kind != JV_DICT) /* obj[name] failed: try the attribute */
        return jeval_getattr(r, at, obj, JSTR(key)->s, JSTR(key)->len, out);
    if (key.kind == JV_STRING) {
        int id;
        if (jmethod_lookup(obj, JSTR(key)->s, JSTR(key)->len, &id) == 1)
            return jbuiltin_new_method(r, id, obj, out) ? jr_fail_oom(r, at) : 0;
        jv_incref(key);
        *out = jv_undef(JU_ATTR, (jv_kind)obj.kind, key);
        return 0;
    }
    *out = int_key ? jv_undef_element((jv_kind)obj.kind, key.u.i) : jv_undef_hint("no such element");
    return 0;
}

/* Python's slice index adjustment; returns the number of items selected. */
static size_t slice_indices(int64_t len, jv start, jv stop, int64_t step, int64_t *first) {
    int64_t lo, hi;
    if (step > 0) {
        lo = start.kind == JV_NONE ? 0 : start.u.i;
        hi = stop.kind == JV_NONE ? len : stop.u.i;
        if (lo < 0 && (lo += len) < 0) lo = 0;
        if (lo > len) lo = len;
        if (hi < 0 && (hi += len) < 0) hi = 0;
        if (hi > len) hi = len;
        *first = lo;
        return hi > lo ? (size_t)((hi - lo - 1) / step + 1) : 0;
    }
    lo = start.kind == JV_NONE ? len - 1 : start.u.i;
    hi = stop.kind == JV_NONE ? -1 : stop.u.i;
    if (start.kind != JV_NONE) {
        if (lo < 0 && (lo += len) < 0) lo = -1;
        if (lo >= len) lo = len - 1;
    }
    if (stop.kind != JV_NONE) {
        if (hi < 0 && (hi += len) < 0) hi = -1;
        if (hi >= len) hi = len - 1;
    }
    *first = lo;
    return lo > hi ? (size_t)((lo - hi - 1) / -step + 1) : 0;
}

static int eval_slice(jrender *r, const jnode *e, jv obj, jscope *sc, jv *out) {
    const jnode *s = e->b;
    jv parts[3] = {jv_none(), jv_none(), jv_none()};
    const jnode *nodes[3] = {s->a, s->b, s->c};
    int rc = -1;
    for (int i = 0; i < 3; i++)
        if (nodes[i] && jeval(r, nodes[i], sc, &parts[i])) goto done;
    if (obj.kind == JV_UNDEFINED) {
        rc = jr_fail_undefined(r, e, obj);
        goto done;
    }
    for (int i = 0; i < 3; i++)
        if (parts[i].kind != JV_NONE && parts[i].kind != JV_INT && parts[i].kind != JV_BOOL) {
            *out = jv_undef_hint("slice indices must be integers or None");
            rc = 0;
            goto done;
        }
    int64_t step = parts[2].kind == JV_NONE ? 1 : parts[2].u.i;
    if (step == 0) {
        rc = jr_fail(r, e, "slice step cannot be zero");
        goto done;
    }
    if (step == INT64_MIN) step = -INT64_MAX;
    int64_t first = 0;
    if (obj.kind == JV_LIST) {
        jv_list *l = JLIST(obj);
        size_t count = slice_indices((int64_t)l->len, parts[0], parts[1], step, &first);
        if (jv_new_list(&r->heap, count, l->tuple, out)) goto oom;
        for (size_t k = 0; k < count; k++) {
            jv item = l->items[first + (int64_t)k * step];
            jv_incref(item);
            if (jv_list_push(JLIST(*out), item)) goto oom_out;
        }
        rc = 0;
    } else if (obj.kind == JV_STRING) {
        jv_str *str = JSTR(obj);
        size_t count = slice_indices((int64_t)str->ncp, parts[0], parts[1], step, &first);
        size_t *offs = NULL;
        if (str->ncp != str->len) { /* code point offsets */
            if (!(offs = malloc((str->ncp + 1) * sizeof *offs))) goto oom;
            size_t i = 0, k = 0;
            while (i < str->len) {
                offs[k++] = i;
                utf8_decode(str->s, str->len, &i);
            }
            offs[k] = str->len;
        }
        jbuf b;
        jbuf_init(&b, r->lim.max_output);
        b.heap = &r->heap;
        for (size_t k = 0; k < count && !b.over; k++) {
            size_t cp = (size_t)(first + (int64_t)k * step);
            if (offs) jbuf_put(&b, str->s + offs[cp], offs[cp + 1] - offs[cp]);
            else jbuf_putc(&b, str->s[cp]);
        }
        free(offs);
        if (b.over == 1) r->heap.exceeded = 2;
        rc = b.over ? -1 : jv_new_str(&r->heap, b.data ? b.data : "", b.len, out);
        jbuf_free(&b);
        if (rc) goto oom;
    } else {
        *out = jv_undef_hint("this value cannot be sliced");
        rc = 0;
    }
    goto done;
oom_out:
    jv_decref(*out);
oom:
    rc = jr_fail_oom(r, e);
done:
    for (int i = 0; i < 3; i++) jv_decref(parts[i]);
    return rc;
}

int jeval_call(jrender *r, const jnode *at, jv fn, const jcall *c, jv *out) {
    switch (fn.kind) {
    case JV_MACRO: return jcall_macro(r, at, (jv_macro *)fn.u.obj, c, jv_missing(), out);
    case JV_FUNC: return jbuiltin_call(r, at, ((jv_func *)fn.u.obj)->id, ((jv_func *)fn.u.obj)->self, c, out);
    case JV_UNDEFINED: return jr_fail_undefined(r, at, fn);
    default: return jr_fail(r, at, "'%s' object is not callable", jv_type_name(fn));
    }
}

int jeval_filter_on(jrender *r, const jnode *f, jscope *sc, jv input, jv *out) {
    if (f->op < 0) return jr_fail(r, f, "No filter named '%s'.", JSTR(f->value)->s);
    argpack ap;
    if (args_eval(r, f, sc, &ap)) return -1;
    int rc = jfilter_apply(r, f, f->op, input, &ap.c, out);
    args_free(&ap);
    return rc;
}

int jeval_call_with_caller(jrender *r, const jnode *call, jscope *sc, jv caller, jv *out) {
    jv fn;
    if (jeval(r, call->a, sc, &fn)) return -1;
    argpack ap;
    int rc = args_eval(r, call, sc, &ap);
    if (!rc) {
        if (fn.kind == JV_MACRO) rc = jcall_macro(r, call, (jv_macro *)fn.u.obj, &ap.c, caller, out);
        else if (fn.kind == JV_UNDEFINED) rc = jr_fail_undefined(r, call, fn);
        else rc = jr_fail(r, call, "a call block needs a macro, not '%s'", jv_type_name(fn));
        args_free(&ap);
    }
    jv_decref(fn);
    return rc;
}

/* ---- the evaluator --------------------------------------------------------------------------- */

static int eval_sequence(jrender *r, const jnode *e, jscope *sc, jv *out) {
    if (jv_new_list(&r->heap, e->list.n, e->kind == K_TUPLE, out)) return jr_fail_oom(r, e);
    for (uint32_t i = 0; i < e->list.n; i++) {
        jv item;
        if (jeval(r, e->list.v[i], sc, &item)) goto fail;
        if (jv_list_push(JLIST(*out), item)) {
            jr_fail_oom(r, e);
            goto fail;
        }
    }
    return 0;
fail:
    jv_decref(*out);
    return -1;
}

static int eval_dict(jrender *r, const jnode *e, jscope *sc, jv *out) {
    if (jv_new_dict(&r->heap, JV_DICT, out)) return jr_fail_oom(r, e);
    for (uint32_t i = 0; i < e->list.n; i++) {
        jv key, val;
        if (jeval(r, e->list.v[i], sc, &key)) goto fail;
        if (!jv_hashable(key)) {
            jr_fail(r, e->list.v[i], "unhashable type: '%s'", jv_type_name(key));
            jv_decref(key);
            goto fail;
        }
        if (jeval(r, e->list2.v[i], sc, &val)) {
            jv_decref(key);
            goto fail;
        }
        if (jv_dict_set(JDICT(*out), key, val)) {
            jr_fail_oom(r, e);
            goto fail;
        }
    }
    return 0;
fail:
    jv_decref(*out);
    return -1;
}

/* obj.name(args): calls a builtin method without making a bound method first. */
static int eval_method_call(jrender *r, const jnode *e, jscope *sc, jv *out) {
    const jnode *attr = e->a;
    jv obj;
    if (jeval(r, attr->a, sc, &obj)) return -1;
    int id, found = obj.kind == JV_UNDEFINED ? 0 : jmethod_lookup(obj, JSTR(attr->value)->s, JSTR(attr->value)->len, &id);
    int rc;
    if (found == 1) {
        argpack ap;
        rc = args_eval(r, e, sc, &ap);
        if (!rc) {
            rc = jbuiltin_call(r, e, id, obj, &ap.c, out);
            args_free(&ap);
        }
    } else {
        jv fn;
        rc = jeval_getattr(r, attr, obj, JSTR(attr->value)->s, JSTR(attr->value)->len, &fn);
        if (!rc) {
            argpack ap;
            rc = args_eval(r, e, sc, &ap);
            if (!rc) {
                rc = jeval_call(r, e, fn, &ap.c, out);
                args_free(&ap);
            }
            jv_decref(fn);
        }
    }
    jv_decref(obj);
    return rc;
}

static int eval_call(jrender *r, const jnode *e, jscope *sc, jv *out) {
    if (e->a->kind == K_GETATTR) return eval_method_call(r, e, sc, out);
    jv fn;
    if (jeval(r, e->a, sc, &fn)) return -1;
    argpack ap;
    int rc = args_eval(r, e, sc, &ap);
    if (!rc) {
        rc = jeval_call(r, e, fn, &ap.c, out);
        args_free(&ap);
    }
    jv_decref(fn);
    return rc;
}

static int eval_filter_or_test(jrender *r, const jnode *e, jscope *sc, jv *out) {
    const char *kind = e->kind == K_FILTER ? "filter" : "test";
    if (e->op < 0) return jr_fail(r, e, "No %s named '%s'.", kind, JSTR(e->value)->s);
    if (!e->a) return jr_fail(r, e, "a %s needs a value", kind);
    jv input;
    if (jeval(r, e->a, sc, &input)) return -1;
    argpack ap;
    int rc = args_eval(r, e, sc, &ap);
    if (!rc) {
        if (e->kind == K_FILTER) {
            rc = jfilter_apply(r, e, e->op, input, &ap.c, out);
        } else {
            int result = 0;
            rc = jtest_apply(r, e, e->op, input, &ap.c, &result);
            *out = jv_bool(result);
        }
        args_free(&ap);
    }
    jv_decref(input);
    return rc;
}

static int eval_compare(jrender *r, const jnode *e, jscope *sc, jv *out) {
    jv left;
    if (jeval(r, e->a, sc, &left)) return -1;
    int result = 1;
    for (uint32_t i = 0; i < e->list.n && result; i++) {
        const jnode *operand = e->list.v[i];
        jv right;
        if (jeval(r, operand->a, sc, &right)) {
            jv_decref(left);
            return -1;
        }
        int rc = jeval_compare(r, operand, operand->op, left, right, &result);
        jv_decref(left);
        left = right;
        if (rc) {
            jv_decref(left);
            return -1;
        }
    }
    jv_decref(left);
    *out = jv_bool(result);
    return 0;
}

static int eval_concat(jrender *r, const jnode *e, jscope *sc, jv *out) {
    jbuf b;
    jbuf_init(&b, r->lim.max_output);
    b.heap = &r->heap;
    for (uint32_t i = 0; i < e->list.n; i++) {
        jv v;
        if (jeval(r, e->list.v[i], sc, &v)) {
            jbuf_free(&b);
            return -1;
        }
        int rc = jv_write_str(&b, v);
        jv_decref(v);
        if (rc) {
            if (b.over == 1) r->heap.exceeded = 2;
            jbuf_free(&b);
            return b.over ? jr_fail_oom(r, e) : jr_fail(r, e, "value nested too deeply to print");
        }
    }
    int rc = jv_new_str(&r->heap, b.data ? b.data : "", b.len, out);
    jbuf_free(&b);
    return rc ? jr_fail_oom(r, e) : 0;
}

static int eval_unary(jrender *r, const jnode *e, jscope *sc, jv *out) {
    jv v;
    if (jeval(r, e->a, sc, &v)) return -1;
    if (e->kind == K_NOT) {
        *out = jv_bool(!jv_truthy(v));
        jv_decref(v);
        return 0;
    }
    if (v.kind == JV_UNDEFINED) return jr_fail_undefined(r, e, v);
    if (v.kind == JV_FLOAT) {
        *out = jv_float(e->kind == K_NEG ? -v.u.f : v.u.f);
        return 0;
    }
    if (v.kind == JV_INT || v.kind == JV_BOOL) {
        if (e->kind == K_NEG && v.u.i == INT64_MIN) return jr_fail(r, e, "integer overflow in unary -");
        *out = jv_int(e->kind == K_NEG ? -v.u.i : v.u.i);
        return 0;
    }
    int rc = jr_fail(r, e, "bad operand type for unary %s: '%s'", e->kind == K_NEG ? "-" : "+", jv_type_name(v));
    jv_decref(v);
    return rc;
}

static int eval_name(jrender *r, const jnode *e, jscope *sc, jv *out) {
    jv_str *name = JSTR(e->value);
    jv *v = jscope_find(sc, name->s, name->len);
    if (v) {
        *out = *v;
        jv_incref(*v);
        return 0;
    }
    if (jglobal_lookup(name->s, name->len, out)) return 0;
    *out = jv_undef(JU_NAME, JV_UNDEFINED, e->value);
    return 0;
}

static int guard(jrender *r, const jnode *e) {
    if (++r->steps > r->lim.max_steps)
        return jr_fail(r, e, "the template ran for more than %" PRIu64 " steps", r->lim.max_steps);
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (r->stack_base > here && r->stack_base - here > r->lim.max_stack)
        return jr_fail(r, e, "the template nests too deeply (expressions, blocks or macro calls)");
    return 0;
}

int jeval(jrender *r, const jnode *e, jscope *sc, jv *out) {
    if (guard(r, e)) return -1;
    jv a, b;
    int rc;
    switch (e->kind) {
    case K_CONST:
        *out = e->value;
        return 0;
    case K_NAME: return eval_name(r, e, sc, out);
    case K_TUPLE: case K_LIST: return eval_sequence(r, e, sc, out);
    case K_DICT: return eval_dict(r, e, sc, out);
    case K_GETATTR:
        if (jeval(r, e->a, sc, &a)) return -1;
        rc = jeval_getattr(r, e, a, JSTR(e->value)->s, JSTR(e->value)->len, out);
        jv_decref(a);
        return rc;
    case K_GETITEM:
        if (jeval(r, e->a, sc, &a)) return -1;
        if (e->b->kind == K_SLICE) {
            rc = eval_slice(r, e, a, sc, out);
        } else if ((rc = jeval(r, e->b, sc, &b)) == 0) {
            rc = jeval_getitem(r, e, a, b, out);
            jv_decref(b);
        }
        jv_decref(a);
        return rc;
    case K_CALL: return eval_call(r, e, sc, out);
    case K_FILTER: case K_TEST: return eval_filter_or_test(r, e, sc, out);
    case K_NEG: case K_POS: case K_NOT: return eval_unary(r, e, sc, out);
    case K_AND: case K_OR:
        if (jeval(r, e->a, sc, &a)) return -1;
        if (jv_truthy(a) == (e->kind == K_OR)) {
            *out = a;
            return 0;
        }
        jv_decref(a);
        return jeval(r, e->b, sc, out);
    case K_BINARY:
        if (jeval(r, e->a, sc, &a)) return -1;
        if (jeval(r, e->b, sc, &b)) {
            jv_decref(a);
            return -1;
        }
        rc = jeval_binop(r, e, e->op, a, b, out);
        jv_decref(a);
        jv_decref(b);
        return rc;
    case K_COMPARE: return eval_compare(r, e, sc, out);
    case K_CONCAT: return eval_concat(r, e, sc, out);
    case K_COND:
        if (jeval(r, e->a, sc, &a)) return -1;
        rc = jv_truthy(a);
        jv_decref(a);
        if (rc) return jeval(r, e->b, sc, out);
        if (e->c) return jeval(r, e->c, sc, out);
        *out = jv_undef_hint("the inline if-expression evaluated to false and no else section was defined.");
        return 0;
    default: return jr_fail(r, e, "this expression cannot be evaluated here");
    }
}
