/* jinja_builtins.c: what a template can call besides its macros and filters:
 * the globals that jinja2 and Hugging Face provide (range, namespace, dict,
 * raise_exception, strftime_now), the methods of dict, list and the loop
 * object, and the lookup of every builtin (the str methods live in
 * jinja_strings.c), with the immutable sandbox's rules on what is blocked. */
#include "jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- dict, list and loop methods ----------------------------------------------------------------- */

static int m_get(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    static const char *const params[] = {"key", "default", NULL};
    jv a[2];
    if (jcall_bind(r, at, "get", c, params, a)) return -1;
    if (a[0].kind == JV_MISSING) return jr_fail(r, at, "get expected at least 1 argument, got 0");
    jv *v = jv_dict_find(JDICT(self), a[0]);
    *out = v ? *v : a[1].kind == JV_MISSING ? jv_none() : a[1];
    jv_incref(*out);
    return 0;
}

static int dict_view(jrender *r, const jnode *at, jv self, int what, jv *out) {
    jv_dict *d = JDICT(self);
    if (jv_new_list(&r->heap, d->len, 0, out)) return jr_fail_oom(r, at);
    for (size_t i = 0; i < d->len; i++) {
        jv item;
        if (what == 2) {
            if (jv_new_list(&r->heap, 2, 1, &item)) goto oom;
            jv_incref(d->keys[i]);
            jv_incref(d->vals[i]);
            jv_list_push(JLIST(item), d->keys[i]);
            jv_list_push(JLIST(item), d->vals[i]);
        } else {
            item = what ? d->vals[i] : d->keys[i];
            jv_incref(item);
        }
        if (jv_list_push(JLIST(*out), item)) goto oom;
    }
    return 0;
oom:
    jv_decref(*out);
    return jr_fail_oom(r, at);
}

int jdict_items(jrender *r, const jnode *at, jv self, jv *out) { return dict_view(r, at, self, 2, out); }
static int m_items(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return dict_view(r, at, self, 2, out); }
static int m_keys(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return dict_view(r, at, self, 0, out); }
static int m_values(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) { (void)c; return dict_view(r, at, self, 1, out); }

static int m_dict_copy(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    (void)c;
    jv_dict *d = JDICT(self);
    if (jv_new_dict(&r->heap, JV_DICT, out)) return jr_fail_oom(r, at);
    for (size_t i = 0; i < d->len; i++) {
        jv_incref(d->keys[i]);
        jv_incref(d->vals[i]);
        if (jv_dict_set(JDICT(*out), d->keys[i], d->vals[i])) {
            jv_decref(*out);
            return jr_fail_oom(r, at);
        }
    }
    return 0;
}

static int m_list_copy(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    (void)c;
    jv_list *l = JLIST(self);
    if (jv_new_list(&r->heap, l->len, 0, out)) return jr_fail_oom(r, at);
    for (size_t i = 0; i < l->len; i++) {
        jv_incref(l->items[i]);
        jv_list_push(JLIST(*out), l->items[i]);
    }
    return 0;
}

static int m_pop(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    static const char *const params[] = {"index", NULL};
    jv a[1];
    int64_t i = -1;
    if (jcall_bind(r, at, "pop", c, params, a)) return -1;
    if (a[0].kind != JV_MISSING && jr_need_int(r, at, a[0], &i)) return -1;
    jv_list *l = JLIST(self);
    if (!l->len) return jr_fail(r, at, "pop from empty list");
    if (i < 0) i += (int64_t)l->len;
    if (i < 0 || i >= (int64_t)l->len) return jr_fail(r, at, "pop index out of range");
    *out = l->items[i];
    memmove(l->items + i, l->items + i + 1, (l->len - (size_t)i - 1) * sizeof(jv));
    l->len--;
    return 0;
}

static int m_list_index(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    if (c->nargs < 1) return jr_fail(r, at, "index expected at least 1 argument, got 0");
    jv_list *l = JLIST(self);
    for (size_t i = 0; i < l->len; i++)
        if (jv_equal(l->items[i], c->args[0])) return *out = jv_int((int64_t)i), 0;
    return jr_fail(r, at, "value is not in list");
}

static int m_list_count(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    if (c->nargs != 1) return jr_fail(r, at, "count() takes exactly one argument");
    int64_t n = 0;
    for (size_t i = 0; i < JLIST(self)->len; i++) n += jv_equal(JLIST(self)->items[i], c->args[0]);
    *out = jv_int(n);
    return 0;
}

static int m_cycle(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    if (!c->nargs) return jr_fail(r, at, "no items for cycling given");
    *out = c->args[((jv_loop *)self.u.obj)->index0 % (int64_t)c->nargs];
    jv_incref(*out);
    return 0;
}

/* ---- globals -------------------------------------------------------------------------------- */

#define MAX_RANGE 100000 /* jinja2's sandbox limit */

static int g_range(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    (void)self;
    int64_t v[3] = {0, 0, 1};
    if (c->nkw) return jr_fail(r, at, "range() takes no keyword arguments");
    if (c->nargs < 1 || c->nargs > 3) return jr_fail(r, at, "range expected 1 to 3 arguments, got %zu", c->nargs);
    for (size_t i = 0; i < c->nargs; i++)
        if (jr_need_int(r, at, c->args[i], &v[c->nargs == 1 ? 1 : i])) return -1;
    if (v[2] == 0) return jr_fail(r, at, "range() arg 3 must not be zero");
    double count = v[2] > 0 ? ceil(((double)v[1] - (double)v[0]) / (double)v[2])
                            : ceil(((double)v[0] - (double)v[1]) / (double)-v[2]);
    if (count < 0) count = 0;
    if (count > MAX_RANGE)
        return jr_fail(r, at, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", MAX_RANGE);
    if (jv_new_list(&r->heap, (size_t)count, 0, out)) return jr_fail_oom(r, at);
    for (int64_t i = 0, x = v[0]; i < (int64_t)count; i++, x += v[2]) jv_list_push(JLIST(*out), jv_int(x));
    return 0;
}

/* namespace(...) and dict(...): from an optional mapping or list of pairs, then keywords. */
static int make_mapping(jrender *r, const jnode *at, const jcall *c, jv_kind kind, const char *name, jv *out) {
    if (c->nargs > 1) return jr_fail(r, at, "%s expected at most 1 argument, got %zu", name, c->nargs);
    if (jv_new_dict(&r->heap, kind, out)) return jr_fail_oom(r, at);
    jv_dict *d = JDICT(*out);
    if (c->nargs == 1) {
        jv src = c->args[0];
        if (src.kind == JV_DICT || src.kind == JV_NAMESPACE) {
            for (size_t i = 0; i < JDICT(src)->len; i++) {
                jv_incref(JDICT(src)->keys[i]);
                jv_incref(JDICT(src)->vals[i]);
                if (jv_dict_set(d, JDICT(src)->keys[i], JDICT(src)->vals[i])) goto oom;
            }
        } else if (src.kind == JV_LIST) {
            for (size_t i = 0; i < JLIST(src)->len; i++) {
                jv pair = JLIST(src)->items[i];
                if (pair.kind != JV_LIST || JLIST(pair)->len != 2 || !jv_hashable(JLIST(pair)->items[0])) {
                    jv_decref(*out);
                    return jr_fail(r, at, "%s update sequence element #%zu is not a key/value pair", name, i);
                }
                jv_incref(JLIST(pair)->items[0]);
                jv_incref(JLIST(pair)->items[1]);
                if (jv_dict_set(d, JLIST(pair)->items[0], JLIST(pair)->items[1])) goto oom;
            }
        } else {
            jv_decref(*out);
            return jr_fail(r, at, "'%s' object is not iterable", jv_type_name(src));
        }
    }
    for (size_t k = 0; k < c->nkw; k++) {
        jv key;
        if (jv_new_cstr(&r->heap, c->kw[k].name, &key)) goto oom;
        jv_incref(c->kw[k].val);
        if (jv_dict_set(d, key, c->kw[k].val)) goto oom;
    }
    return 0;
oom:
    jv_decref(*out);
    return jr_fail_oom(r, at);
}

static int g_namespace(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    (void)self;
    return make_mapping(r, at, c, JV_NAMESPACE, "namespace", out);
}

static int g_dict(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    (void)self;
    return make_mapping(r, at, c, JV_DICT, "dict", out);
}

static int g_raise_exception(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    (void)self, (void)out;
    jbuf b;
    jbuf_init(&b, 600);
    if (c->nargs) jv_write_str(&b, c->args[0]);
    int rc = jr_fail(r, at, "%s", b.data ? b.data : "");
    jbuf_free(&b);
    return rc;
}

static int g_strftime_now(jrender *r, const jnode *at, jv self, const jcall *c, jv *out) {
    (void)self;
    if (c->nargs != 1 || c->args[0].kind != JV_STRING) return jr_fail(r, at, "strftime_now() takes one format string");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char text[1024];
    size_t n = JSTR(c->args[0])->len ? strftime(text, sizeof text, JSTR(c->args[0])->s, &tm) : 0;
    return jv_new_str(&r->heap, text, n, out) ? jr_fail_oom(r, at) : 0;
}

/* ---- the table ------------------------------------------------------------------------------------ */

/* Builtin ids: this table first (globals, then methods), then jstr_methods[]. */
static const jbuiltin builtins[] = {
    /* globals first: their ids index global_values[] */
    {"range", JB_GLOBAL, 0, g_range},
    {"namespace", JB_GLOBAL, 0, g_namespace},
    {"dict", JB_GLOBAL, 0, g_dict},
    {"raise_exception", JB_GLOBAL, 0, g_raise_exception},
    {"strftime_now", JB_GLOBAL, 0, g_strftime_now},
    {"copy", JV_DICT, 0, m_dict_copy},
    {"get", JV_DICT, 0, m_get},
    {"items", JV_DICT, 0, m_items},
    {"keys", JV_DICT, 0, m_keys},
    {"values", JV_DICT, 0, m_values},
    {"copy", JV_LIST, 0, m_list_copy},
    {"count", JV_LIST, 1, m_list_count},
    {"index", JV_LIST, 1, m_list_index},
    {"pop", JV_LIST, 0, m_pop},
    {"cycle", JV_LOOP, 0, m_cycle},
};

#define N_OWN (int)(sizeof builtins / sizeof builtins[0])
#define N_GLOBALS 5

#define GLOBAL_VALUE(i) {.h = {.refs = -1, .kind = JV_FUNC}, .id = (i), .self = {.kind = JV_NONE}}
static jv_func global_values[N_GLOBALS] = {GLOBAL_VALUE(0), GLOBAL_VALUE(1), GLOBAL_VALUE(2), GLOBAL_VALUE(3),
                                           GLOBAL_VALUE(4)};

static const jbuiltin *builtin_at(int id) {
    if (id >= 0 && id < N_OWN) return &builtins[id];
    if (id >= N_OWN && id < N_OWN + jstr_nmethods) return &jstr_methods[id - N_OWN];
    return NULL;
}

/* Attributes the immutable sandbox blocks: mutating methods and dunders. */
static int blocked(jv v, const char *name, size_t n) {
    static const char *const list_mut[] = {"append", "extend", "insert", "remove", "reverse", "sort", NULL};
    static const char *const dict_mut[] = {"clear", "pop", "popitem", "setdefault", "update", NULL};
    if (n >= 2 && name[0] == '_' && name[1] == '_') return 1;
    const char *const *set = v.kind == JV_LIST ? list_mut : v.kind == JV_DICT ? dict_mut : NULL;
    for (int i = 0; set && set[i]; i++)
        if (strlen(set[i]) == n && !memcmp(set[i], name, n)) return 1;
    return 0;
}

int jmethod_lookup(jv v, const char *name, size_t n, int *id) {
    if (v.kind == JV_UNDEFINED) return 0;
    if (blocked(v, name, n)) return -2;
    for (int i = N_GLOBALS; i < N_OWN + jstr_nmethods; i++) {
        const jbuiltin *b = builtin_at(i);
        if (b->receiver != v.kind || strlen(b->name) != n || memcmp(b->name, name, n)) continue;
        if (v.kind == JV_LIST && JLIST(v)->tuple && !b->tuple_ok) continue;
        *id = i;
        return 1;
    }
    return 0;
}

int jglobal_lookup(const char *name, size_t n, jv *out) {
    for (int i = 0; i < N_GLOBALS; i++)
        if (strlen(builtins[i].name) == n && !memcmp(builtins[i].name, name, n)) {
            *out = jv_obj_value(&global_values[i]);
            return 1;
        }
    return 0;
}

int jbuiltin_new_method(jrender *r, int id, jv self, jv *out) { return jv_new_func(&r->heap, id, self, out); }

const char *jbuiltin_name(int id) {
    const jbuiltin *b = builtin_at(id);
    return b ? b->name : "?";
}

int jbuiltin_call(jrender *r, const jnode *at, int id, jv self, const jcall *c, jv *out) {
    const jbuiltin *b = builtin_at(id);
    if (!b) return jr_fail(r, at, "unknown builtin");
    return b->fn(r, at, self, c, out);
}
