/* jinja_value.c: the template engine's values: the per-render heap with its
 * memory limit, reference counting (released without recursion, so deeply
 * nested values cannot exhaust the C stack), strings, lists, insertion-ordered
 * dicts (also namespaces and variable scopes), and Python's truthiness,
 * equality and ordering. */
#include "jinja_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the heap ---------------------------------------------------------------------- */

void jv_heap_init(jv_heap *h, size_t limit, size_t max_string) {
    memset(h, 0, sizeof *h);
    h->limit = limit;
    h->max_string = max_string;
    h->all.prev = h->all.next = &h->all;
}

void *jv_alloc(jv_heap *h, size_t n) {
    if (n > h->limit - h->live) {
        h->exceeded = 1;
        return NULL;
    }
    void *p = malloc(n ? n : 1);
    if (!p) {
        h->exceeded = 1;
        return NULL;
    }
    h->live += n;
    return p;
}

void jv_free(jv_heap *h, void *p, size_t n) {
    if (!p) return;
    free(p);
    h->live -= n;
}

/* Grows an array of elem-sized items to hold at least need; 0 or -1. */
static int grow(jv_heap *h, void **arr, size_t *cap, size_t elem, size_t need) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 4;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem) {
            h->exceeded = 1;
            return -1;
        }
        ncap *= 2;
    }
    void *p = jv_alloc(h, ncap * elem);
    if (!p) return -1;
    if (*cap) memcpy(p, *arr, *cap * elem);
    jv_free(h, *arr, *cap * elem);
    *arr = p;
    *cap = ncap;
    return 0;
}

static void *obj_new(jv_heap *h, jv_kind kind, size_t size) {
    jv_obj *o = jv_alloc(h, size);
    if (!o) return NULL;
    memset(o, 0, size);
    o->refs = 1;
    o->kind = (uint8_t)kind;
    o->heap = h;
    o->next = h->all.next;
    o->prev = &h->all;
    h->all.next->prev = o;
    h->all.next = o;
    return o;
}

static void dict_free_storage(jv_heap *h, jv_dict *d) {
    jv_free(h, d->keys, d->cap * sizeof(jv));
    jv_free(h, d->vals, d->cap * sizeof(jv));
    jv_free(h, d->slots, d->nslots * sizeof(uint32_t));
}

/* Frees an object's memory without touching what it refers to. */
static void obj_free_storage(jv_obj *o) {
    jv_heap *h = o->heap;
    switch (o->kind) {
    case JV_STRING: jv_free(h, o, sizeof(jv_str) + ((jv_str *)o)->len + 1); return;
    case JV_LIST:
        jv_free(h, ((jv_list *)o)->items, ((jv_list *)o)->cap * sizeof(jv));
        jv_free(h, o, sizeof(jv_list));
        return;
    case JV_DICT: case JV_NAMESPACE:
        dict_free_storage(h, (jv_dict *)o);
        jv_free(h, o, sizeof(jv_dict));
        return;
    case JV_SCOPE:
        dict_free_storage(h, &((jscope *)o)->vars);
        jv_free(h, o, sizeof(jscope));
        return;
    case JV_MACRO: jv_free(h, o, sizeof(jv_macro)); return;
    case JV_FUNC: jv_free(h, o, sizeof(jv_func)); return;
    case JV_LOOP: jv_free(h, o, sizeof(jv_loop)); return;
    default: return;
    }
}

/* Drops the references an object holds (the objects they free go on the list). */
static void obj_release_children(jv_obj *o) {
    switch (o->kind) {
    case JV_LIST: {
        jv_list *l = (jv_list *)o;
        for (size_t i = 0; i < l->len; i++) jv_decref(l->items[i]);
        return;
    }
    case JV_DICT: case JV_NAMESPACE: case JV_SCOPE: {
        jv_dict *d = (jv_dict *)o;
        for (size_t i = 0; i < d->len; i++) {
            jv_decref(d->keys[i]);
            jv_decref(d->vals[i]);
        }
        if (o->kind == JV_SCOPE && ((jscope *)o)->parent) jv_decref(jv_obj_value(((jscope *)o)->parent));
        return;
    }
    case JV_MACRO:
        if (((jv_macro *)o)->closure) jv_decref(jv_obj_value(((jv_macro *)o)->closure));
        return;
    case JV_FUNC: jv_decref(((jv_func *)o)->self); return;
    case JV_LOOP: jv_decref(((jv_loop *)o)->items); return;
    default: return;
    }
}

void jv_heap_free_all(jv_heap *h) {
    jv_obj *o = h->all.next;
    while (o != &h->all) {
        jv_obj *next = o->next;
        obj_free_storage(o);
        o = next;
    }
    h->all.prev = h->all.next = &h->all;
}

void jv_incref(jv v) {
    if (jv_is_obj(v) && v.u.obj->refs >= 0) v.u.obj->refs++;
}

void jv_decref(jv v) {
    if (!jv_is_obj(v)) return;
    jv_obj *o = v.u.obj;
    if (o->refs < 0 || --o->refs > 0) return;
    jv_heap *h = o->heap;
    o->prev->next = o->next;
    o->next->prev = o->prev;
    o->next = h->to_free;
    h->to_free = o;
    if (h->freeing) return;
    h->freeing = 1;
    while (h->to_free) {
        jv_obj *x = h->to_free;
        h->to_free = x->next;
        obj_release_children(x);
        obj_free_storage(x);
    }
    h->freeing = 0;
}

jv jv_undef(jv_undef_why why, jv_kind owner, jv name) {
    jv v = {.kind = JV_UNDEFINED, .why = (uint8_t)why, .owner = (uint8_t)owner};
    if (name.kind == JV_STRING) {
        v.u.obj = name.u.obj;
    } else {
        jv_decref(name);
        v.u.obj = NULL;
    }
    return v;
}

/* ---- strings and lists ------------------------------------------------------------- */

jv_str *jv_str_alloc(jv_heap *h, size_t len) {
    if (len > h->max_string) {
        h->exceeded = 2;
        return NULL;
    }
    jv_str *s = obj_new(h, JV_STRING, sizeof(jv_str) + len + 1);
    if (!s) return NULL;
    s->len = len;
    s->s[len] = '\0';
    return s;
}

void jv_str_done(jv_str *s) { s->ncp = utf8_count(s->s, s->len); }

int jv_new_str(jv_heap *h, const char *s, size_t n, jv *out) {
    jv_str *str = jv_str_alloc(h, n);
    if (!str) return -1;
    if (n) memcpy(str->s, s, n);
    jv_str_done(str);
    *out = jv_obj_value(str);
    return 0;
}

int jv_new_list(jv_heap *h, size_t cap, int tuple, jv *out) {
    jv_list *l = obj_new(h, JV_LIST, sizeof *l);
    if (!l) return -1;
    l->tuple = tuple;
    *out = jv_obj_value(l);
    if (cap && grow(h, (void **)&l->items, &l->cap, sizeof(jv), cap)) {
        jv_decref(*out);
        return -1;
    }
    return 0;
}

int jv_list_push(jv_list *l, jv item) {
    if (grow(l->h.heap, (void **)&l->items, &l->cap, sizeof(jv), l->len + 1)) {
        jv_decref(item);
        return -1;
    }
    l->items[l->len++] = item;
    return 0;
}

/* ---- dicts ---------------------------------------------------------------------------- */

#define DICT_LINEAR_MAX 8

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t x = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) x = (x ^ (unsigned char)s[i]) * 1099511628211ULL;
    return mix64(x);
}

/* Equal keys hash equally: 1, 1.0 and True are one key, as in Python. */
static uint64_t key_hash(jv k) {
    switch (k.kind) {
    case JV_NONE: return 0x9e3779b97f4a7c15ULL;
    case JV_BOOL: case JV_INT: return mix64((uint64_t)k.u.i);
    case JV_FLOAT:
        if (k.u.f == floor(k.u.f) && fabs(k.u.f) < 9.2e18) return mix64((uint64_t)(int64_t)k.u.f);
        if (isnan(k.u.f)) return 0x7ff8;
        {
            uint64_t bits;
            memcpy(&bits, &k.u.f, sizeof bits);
            return mix64(bits);
        }
    case JV_STRING: return hash_bytes(JSTR(k)->s, JSTR(k)->len);
    default: return 0;
    }
}

int jv_hashable(jv v) {
    return v.kind == JV_NONE || v.kind == JV_BOOL || v.kind == JV_INT || v.kind == JV_FLOAT ||
           v.kind == JV_STRING;
}

static size_t dict_index(const jv_dict *d, jv key, uint64_t hash) {
    if (!d->slots) {
        for (size_t i = 0; i < d->len; i++)
            if (jv_equal(d->keys[i], key)) return i;
        return SIZE_MAX;
    }
    size_t mask = d->nslots - 1;
    for (size_t s = hash & mask;; s = (s + 1) & mask) {
        uint32_t at = d->slots[s];
        if (!at) return SIZE_MAX;
        if (jv_equal(d->keys[at - 1], key)) return at - 1;
    }
}

static int dict_reindex(jv_dict *d) {
    jv_heap *h = d->h.heap;
    size_t n = 16;
    while (n < d->cap * 2) n *= 2;
    if (n > UINT32_MAX) {
        h->exceeded = 1;
        return -1;
    }
    uint32_t *slots = jv_alloc(h, n * sizeof *slots);
    if (!slots) return -1;
    memset(slots, 0, n * sizeof *slots);
    for (size_t i = 0; i < d->len; i++) {
        size_t s = key_hash(d->keys[i]) & (n - 1);
        while (slots[s]) s = (s + 1) & (n - 1);
        slots[s] = (uint32_t)(i + 1);
    }
    jv_free(h, d->slots, d->nslots * sizeof(uint32_t));
    d->slots = slots;
    d->nslots = n;
    return 0;
}

int jv_new_dict(jv_heap *h, jv_kind kind, jv *out) {
    jv_dict *d = obj_new(h, kind, sizeof *d);
    if (!d) return -1;
    *out = jv_obj_value(d);
    return 0;
}

jv *jv_dict_find(const jv_dict *d, jv key) {
    if (!jv_hashable(key)) return NULL;
    size_t i = dict_index(d, key, key_hash(key));
    return i == SIZE_MAX ? NULL : &d->vals[i];
}

jv *jv_dict_find_str(const jv_dict *d, const char *s, size_t n) {
    if (!d->slots) {
        for (size_t i = 0; i < d->len; i++) {
            jv k = d->keys[i];
            if (k.kind == JV_STRING && JSTR(k)->len == n && !memcmp(JSTR(k)->s, s, n)) return &d->vals[i];
        }
        return NULL;
    }
    size_t mask = d->nslots - 1;
    for (size_t at = hash_bytes(s, n) & mask;; at = (at + 1) & mask) {
        uint32_t slot = d->slots[at];
        if (!slot) return NULL;
        jv k = d->keys[slot - 1];
        if (k.kind == JV_STRING && JSTR(k)->len == n && !memcmp(JSTR(k)->s, s, n)) return &d->vals[slot - 1];
    }
}

int jv_dict_set(jv_dict *d, jv key, jv val) {
    uint64_t hash = key_hash(key);
    size_t i = dict_index(d, key, hash);
    if (i != SIZE_MAX) {
        jv_decref(key);
        jv_decref(d->vals[i]);
        d->vals[i] = val;
        return 0;
    }
    jv_heap *h = d->h.heap;
    if (d->len == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 4;
        if (ncap > SIZE_MAX / 4 / sizeof(jv)) {
            h->exceeded = 1;
            goto fail;
        }
        jv *keys = jv_alloc(h, ncap * sizeof(jv));
        jv *vals = keys ? jv_alloc(h, ncap * sizeof(jv)) : NULL;
        if (!vals) {
            jv_free(h, keys, ncap * sizeof(jv));
            goto fail;
        }
        if (d->len) {
            memcpy(keys, d->keys, d->len * sizeof(jv));
            memcpy(vals, d->vals, d->len * sizeof(jv));
        }
        jv_free(h, d->keys, d->cap * sizeof(jv));
        jv_free(h, d->vals, d->cap * sizeof(jv));
        d->keys = keys;
        d->vals = vals;
        d->cap = ncap;
    }
    d->keys[d->len] = key;
    d->vals[d->len] = val;
    d->len++;
    if (d->len > DICT_LINEAR_MAX) {
        if (!d->slots || d->nslots < d->len * 2) {
            if (dict_reindex(d)) {
                /* the entry stays; lookups fall back to a linear scan */
                jv_free(h, d->slots, d->nslots * sizeof(uint32_t));
                d->slots = NULL;
                d->nslots = 0;
                return -1;
            }
        } else {
            size_t mask = d->nslots - 1, s = hash & mask;
            while (d->slots[s]) s = (s + 1) & mask;
            d->slots[s] = (uint32_t)d->len;
        }
    }
    return 0;
fail:
    jv_decref(key);
    jv_decref(val);
    return -1;
}

/* ---- scopes ------------------------------------------------------------------------- */

int jv_new_scope(jv_heap *h, jscope *parent, jscope **out) {
    jscope *s = obj_new(h, JV_SCOPE, sizeof *s);
    if (!s) return -1;
    s->parent = parent;
    if (parent) parent->vars.h.refs++;
    *out = s;
    return 0;
}

int jv_new_macro(jv_heap *h, const jnode *def, jscope *closure, jv *out) {
    jv_macro *m = obj_new(h, JV_MACRO, sizeof *m);
    if (!m) return -1;
    m->def = def;
    m->closure = closure;
    if (closure) jv_incref(jv_obj_value(closure));
    *out = jv_obj_value(m);
    return 0;
}

int jv_new_func(jv_heap *h, int id, jv self, jv *out) {
    jv_func *f = obj_new(h, JV_FUNC, sizeof *f);
    if (!f) return -1;
    f->id = id;
    f->self = self;
    jv_incref(self);
    *out = jv_obj_value(f);
    return 0;
}

int jv_new_loop(jv_heap *h, jv items, int64_t length, jv *out) {
    jv_loop *l = obj_new(h, JV_LOOP, sizeof *l);
    if (!l) return -1;
    l->items = items;
    jv_incref(items);
    l->length = length;
    *out = jv_obj_value(l);
    return 0;
}

jv *jscope_find(jscope *s, const char *name, size_t n) {
    for (; s; s = s->parent) {
        jv *v = jv_dict_find_str(&s->vars, name, n);
        if (v) return v;
    }
    return NULL;
}

int jscope_set(jscope *s, jv name, jv val) { return jv_dict_set(&s->vars, name, val); }

void jscope_release(jscope *s) {
    if (s) jv_decref(jv_obj_value(s));
}

/* ---- Python semantics ------------------------------------------------------------------ */

int jv_truthy(jv v) {
    switch (v.kind) {
    case JV_UNDEFINED: case JV_NONE: return 0;
    case JV_BOOL: case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STRING: return JSTR(v)->len > 0;
    case JV_LIST: return JLIST(v)->len > 0;
    case JV_DICT: return JDICT(v)->len > 0;
    default: return 1;
    }
}

static int num_equal(jv a, jv b) {
    if (a.kind == JV_FLOAT || b.kind == JV_FLOAT) {
        double x = a.kind == JV_FLOAT ? a.u.f : (double)a.u.i;
        double y = b.kind == JV_FLOAT ? b.u.f : (double)b.u.i;
        return x == y;
    }
    return a.u.i == b.u.i;
}

static int equal_at(jv a, jv b, int depth) {
    if (jv_is_number(a) && jv_is_number(b)) return num_equal(a, b);
    if (a.kind != b.kind) return 0;
    if (depth > JV_MAX_NESTING) return a.u.obj == b.u.obj;
    switch (a.kind) {
    case JV_UNDEFINED: case JV_NONE: return 1;
    case JV_STRING:
        return JSTR(a)->len == JSTR(b)->len && !memcmp(JSTR(a)->s, JSTR(b)->s, JSTR(a)->len);
    case JV_LIST: {
        jv_list *x = JLIST(a), *y = JLIST(b);
        if (x == y) return 1;
        if (x->tuple != y->tuple || x->len != y->len) return 0;
        for (size_t i = 0; i < x->len; i++)
            if (!equal_at(x->items[i], y->items[i], depth + 1)) return 0;
        return 1;
    }
    case JV_DICT: {
        jv_dict *x = JDICT(a), *y = JDICT(b);
        if (x == y) return 1;
        if (x->len != y->len) return 0;
        for (size_t i = 0; i < x->len; i++) {
            jv *other = jv_dict_find(y, x->keys[i]);
            if (!other || !equal_at(x->vals[i], *other, depth + 1)) return 0;
        }
        return 1;
    }
    default: return a.u.obj == b.u.obj;
    }
}

int jv_equal(jv a, jv b) { return equal_at(a, b, 0); }

static int compare_at(jv a, jv b, int *cmp, int depth) {
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.kind == JV_FLOAT || b.kind == JV_FLOAT) {
            double x = a.kind == JV_FLOAT ? a.u.f : (double)a.u.i;
            double y = b.kind == JV_FLOAT ? b.u.f : (double)b.u.i;
            *cmp = x < y ? -1 : x > y ? 1 : 0; /* NaN compares as equal-ish: both tests false */
            if (x != x || y != y) *cmp = 2;
        } else {
            *cmp = a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        }
        return 0;
    }
    if (a.kind != b.kind || depth > JV_MAX_NESTING) return -1;
    if (a.kind == JV_STRING) {
        size_t n = JSTR(a)->len < JSTR(b)->len ? JSTR(a)->len : JSTR(b)->len;
        int c = memcmp(JSTR(a)->s, JSTR(b)->s, n);
        *cmp = c < 0 ? -1 : c > 0 ? 1 : JSTR(a)->len < JSTR(b)->len ? -1 : JSTR(a)->len > JSTR(b)->len;
        return 0;
    }
    if (a.kind == JV_LIST && JLIST(a)->tuple == JLIST(b)->tuple) {
        jv_list *x = JLIST(a), *y = JLIST(b);
        for (size_t i = 0; i < x->len && i < y->len; i++)
            if (!equal_at(x->items[i], y->items[i], depth + 1)) return compare_at(x->items[i], y->items[i], cmp, depth + 1);
        *cmp = x->len < y->len ? -1 : x->len > y->len;
        return 0;
    }
    return -1;
}

int jv_compare(jv a, jv b, int *cmp) { return compare_at(a, b, cmp, 0); }

const char *jv_kind_name(jv_kind k) {
    switch (k) {
    case JV_UNDEFINED: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STRING: return "str";
    case JV_LIST: return "list";
    case JV_DICT: return "dict";
    case JV_NAMESPACE: return "Namespace";
    case JV_MACRO: return "Macro";
    case JV_FUNC: return "builtin_function_or_method";
    case JV_LOOP: return "LoopContext";
    default: return "object";
    }
}

const char *jv_type_name(jv v) {
    if (v.kind == JV_LIST && JLIST(v)->tuple) return "tuple";
    return jv_kind_name((jv_kind)v.kind);
}
