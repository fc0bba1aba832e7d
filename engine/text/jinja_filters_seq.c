/* jinja_filters_seq.c: jinja2's filters on sequences and mappings: length,
 * first, last, list, join, sort, dictsort, unique, min, max, sum, reverse,
 * batch, map, select, reject, selectattr, rejectattr, items, with jinja2's
 * attribute lookup ("a.b.0") and case-insensitive, stable sorting. */
#include "jinja_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static int bind(jrender *r, const jnode *at, const jcall *c, const char *const *params, jv *slots) {
    return jcall_bind(r, at, JSTR(at->value)->s, c, params, slots);
}

static int str_of(jrender *r, const jnode *at, jv v, jv *out) { return jeval_to_str(r, at, v, out); }

/* A list value for iterating (borrowed list when v already is one). */
static int as_list(jrender *r, const jnode *at, jv v, jv *out) { return jeval_iterate(r, at, v, out); }

static int lower_if_str(jrender *r, const jnode *at, jv v, jv *out) {
    if (v.kind != JV_STRING) {
        jv_incref(v);
        *out = v;
        return 0;
    }
    return jstr_case(r, at, v, CASE_LOWER, out);
}

/* jinja2's make_attrgetter: "a.b.0" looked up with getitem, part by part. */
static int get_attribute(jrender *r, const jnode *at, jv item, jv attribute, jv dflt, jv *out) {
    jv cur = item;
    jv_incref(cur);
    if (attribute.kind == JV_INT) {
        int rc = jeval_getitem(r, at, cur, attribute, out);
        jv_decref(cur);
        return rc;
    }
    if (attribute.kind != JV_STRING) {
        jv_decref(cur);
        return jr_fail(r, at, "attribute names must be strings or integers, not %s", jv_type_name(attribute));
    }
    const char *s = JSTR(attribute)->s;
    size_t n = JSTR(attribute)->len;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && s[j] != '.') j++;
        jv key, next;
        int digits = j > i;
        for (size_t k = i; k < j; k++) digits &= s[k] >= '0' && s[k] <= '9';
        if (digits && j - i < 18) {
            int64_t idx = 0;
            for (size_t k = i; k < j; k++) idx = idx * 10 + (s[k] - '0');
            key = jv_int(idx);
        } else if (jv_new_str(&r->heap, s + i, j - i, &key)) {
            jv_decref(cur);
            return jr_fail_oom(r, at);
        }
        int rc = jeval_getitem(r, at, cur, key, &next);
        jv_decref(key);
        jv_decref(cur);
        if (rc) return -1;
        cur = next;
        if (dflt.kind != JV_MISSING && dflt.kind != JV_NONE && cur.kind == JV_UNDEFINED) {
            jv_decref(cur);
            cur = dflt;
            jv_incref(cur);
        }
        i = j + 1;
    }
    *out = cur;
    return 0;
}

/* The sort key of an item: its attribute (if any), lowercased unless case sensitive. */
static int sort_key(jrender *r, const jnode *at, jv item, jv attribute, int case_sensitive, jv *out) {
    jv v;
    if (attribute.kind != JV_MISSING && attribute.kind != JV_NONE) {
        if (get_attribute(r, at, item, attribute, jv_missing(), &v)) return -1;
    } else {
        v = item;
        jv_incref(v);
    }
    if (case_sensitive) {
        *out = v;
        return 0;
    }
    int rc = lower_if_str(r, at, v, out);
    jv_decref(v);
    return rc;
}

/* Stable merge sort of items by keys (both arrays of n), as Python's sorted(). */
static int sort_by_keys(jrender *r, const jnode *at, jv *items, jv *keys, size_t n, int reverse) {
    if (n < 2) return 0;
    jv *tmp_items = malloc(n * sizeof *tmp_items), *tmp_keys = malloc(n * sizeof *tmp_keys);
    int rc = 0;
    if (!tmp_items || !tmp_keys) {
        rc = jr_fail(r, at, "out of memory");
        goto done;
    }
    for (size_t width = 1; width < n && !rc; width *= 2) {
        for (size_t lo = 0; lo < n && !rc; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int cmp;
                if (jv_compare(keys[j], keys[i], &cmp)) {
                    rc = jr_fail(r, at, "'<' not supported between instances of '%s' and '%s'", jv_type_name(keys[j]),
                                 jv_type_name(keys[i]));
                    break;
                }
                if (cmp == 2) cmp = 0;
                int take_right = reverse ? cmp > 0 : cmp < 0;
                if (take_right) tmp_items[k] = items[j], tmp_keys[k++] = keys[j++];
                else tmp_items[k] = items[i], tmp_keys[k++] = keys[i++];
            }
            if (rc) break;
            while (i < mid) tmp_items[k] = items[i], tmp_keys[k++] = keys[i++];
            while (j < hi) tmp_items[k] = items[j], tmp_keys[k++] = keys[j++];
            memcpy(items + lo, tmp_items + lo, (hi - lo) * sizeof *items);
            memcpy(keys + lo, tmp_keys + lo, (hi - lo) * sizeof *keys);
        }
    }
done:
    free(tmp_items);
    free(tmp_keys);
    return rc;
}

/* Sorts a copy of the list by the keys keyfn gives; the result is a new list. */
static int sorted_copy(jrender *r, const jnode *at, jv list, jv attribute, int case_sensitive, int reverse, int by_value,
                       jv *out) {
    jv_list *l = JLIST(list);
    size_t n = l->len;
    jv *keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) return jr_fail(r, at, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        jv item = l->items[i];
        if (by_value >= 0) item = JLIST(item)->items[by_value]; /* dictsort: the key or the value of a pair */
        rc = sort_key(r, at, item, attribute, case_sensitive, &keys[i]);
    }
    if (!rc && jv_new_list(&r->heap, n, 0, out)) rc = jr_fail_oom(r, at);
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            jv_incref(l->items[i]);
            jv_list_push(JLIST(*out), l->items[i]);
        }
        if (sort_by_keys(r, at, JLIST(*out)->items, keys, n, reverse)) {
            jv_decref(*out);
            rc = -1;
        }
    }
    for (size_t i = 0; i < n; i++) jv_decref(keys[i]);
    free(keys);
    return rc;
}

/* ---- sequences ------------------------------------------------------------------------------- */

static int f_length(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    switch (v.kind) {
    case JV_STRING: *out = jv_int((int64_t)JSTR(v)->ncp); return 0;
    case JV_LIST: *out = jv_int((int64_t)JLIST(v)->len); return 0;
    case JV_DICT: *out = jv_int((int64_t)JDICT(v)->len); return 0;
    case JV_UNDEFINED: *out = jv_int(0); return 0;
    case JV_LOOP: *out = jv_int(((jv_loop *)v.u.obj)->length); return 0;
    default: return jr_fail(r, at, "object of type '%s' has no len()", jv_type_name(v));
    }
}

static int f_list(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    jv items;
    if (as_list(r, at, v, &items)) return -1;
    if (items.u.obj != v.u.obj && !JLIST(items)->tuple) {
        *out = items;
        return 0;
    }
    jv_list *l = JLIST(items);
    int rc = jv_new_list(&r->heap, l->len, 0, out) ? jr_fail_oom(r, at) : 0;
    for (size_t i = 0; !rc && i < l->len; i++) {
        jv_incref(l->items[i]);
        jv_list_push(JLIST(*out), l->items[i]);
    }
    jv_decref(items);
    return rc;
}

static int first_or_last(jrender *r, const jnode *at, jv v, jv *out, int last) {
    jv items;
    if (v.kind == JV_UNDEFINED) {
        *out = jv_undef_hint(last ? "No last item, sequence was empty." : "No first item, sequence was empty.");
        return 0;
    }
    if (as_list(r, at, v, &items)) return -1;
    jv_list *l = JLIST(items);
    if (!l->len) {
        *out = jv_undef_hint(last ? "No last item, sequence was empty." : "No first item, sequence was empty.");
    } else {
        *out = l->items[last ? l->len - 1 : 0];
        jv_incref(*out);
    }
    jv_decref(items);
    return 0;
}

static int f_first(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { (void)c; return first_or_last(r, at, v, out, 0); }
static int f_last(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { (void)c; return first_or_last(r, at, v, out, 1); }

static int f_join(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"d", "attribute", NULL};
    jv a[2], items, sep;
    if (bind(r, at, c, params, a)) return -1;
    if (a[0].kind != JV_MISSING) {
        if (str_of(r, at, a[0], &sep)) return -1;
    } else if (jv_new_str(&r->heap, "", 0, &sep)) {
        return jr_fail_oom(r, at);
    }
    if (as_list(r, at, v, &items)) {
        jv_decref(sep);
        return -1;
    }
    jbuf b;
    jr_buf_init(r, &b);
    int rc = 0;
    for (size_t i = 0; i < JLIST(items)->len && !rc && !b.over; i++) {
        jv item = JLIST(items)->items[i], got;
        if (i) jbuf_put(&b, JSTR(sep)->s, JSTR(sep)->len);
        if (a[1].kind != JV_MISSING && a[1].kind != JV_NONE) {
            if (get_attribute(r, at, item, a[1], jv_missing(), &got)) {
                rc = -1;
                break;
            }
        } else {
            got = item;
            jv_incref(got);
        }
        if (jv_write_str(&b, got) && !b.over) rc = jr_fail(r, at, "value nested too deeply to print");
        jv_decref(got);
    }
    jv_decref(items);
    jv_decref(sep);
    if (rc) {
        jbuf_free(&b);
        return -1;
    }
    return jr_str_from_buf(r, at, &b, out);
}

static int f_reverse(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    jv items;
    if (v.kind == JV_STRING) {
        const jv_str *s = JSTR(v);
        jv_str *res = jv_str_alloc(&r->heap, s->len);
        if (!res) return jr_fail_oom(r, at);
        for (size_t i = 0; i < s->len;) {
            size_t start = i;
            utf8_decode(s->s, s->len, &i);
            memcpy(res->s + s->len - i, s->s + start, i - start);
        }
        res->ncp = s->ncp;
        *out = jv_obj_value(res);
        return 0;
    }
    if (as_list(r, at, v, &items)) return -1;
    jv_list *l = JLIST(items);
    int rc = jv_new_list(&r->heap, l->len, 0, out) ? jr_fail_oom(r, at) : 0;
    for (size_t i = l->len; !rc && i-- > 0;) {
        jv_incref(l->items[i]);
        jv_list_push(JLIST(*out), l->items[i]);
    }
    jv_decref(items);
    return rc;
}

static int f_sort(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"reverse", "case_sensitive", "attribute", NULL};
    jv a[3], items;
    if (bind(r, at, c, params, a) || as_list(r, at, v, &items)) return -1;
    int rc = sorted_copy(r, at, items, a[2], a[1].kind != JV_MISSING && jv_truthy(a[1]),
                         a[0].kind != JV_MISSING && jv_truthy(a[0]), -1, out);
    jv_decref(items);
    return rc;
}

static int f_dictsort(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"case_sensitive", "by", "reverse", NULL};
    jv a[3], items;
    if (bind(r, at, c, params, a)) return -1;
    int by_value = 0;
    if (a[1].kind != JV_MISSING) {
        if (a[1].kind == JV_STRING && !strcmp(JSTR(a[1])->s, "value")) by_value = 1;
        else if (a[1].kind != JV_STRING || strcmp(JSTR(a[1])->s, "key"))
            return jr_fail(r, at, "You can only sort by either \"key\" or \"value\"");
    }
    if (v.kind == JV_UNDEFINED) return jr_fail_undefined(r, at, v);
    if (v.kind != JV_DICT) return jr_fail(r, at, "'%s object' has no attribute 'items'", jv_type_name(v));
    if (jdict_items(r, at, v, &items)) return -1;
    int rc = sorted_copy(r, at, items, jv_missing(), a[0].kind != JV_MISSING && jv_truthy(a[0]),
                         a[2].kind != JV_MISSING && jv_truthy(a[2]), by_value, out);
    jv_decref(items);
    return rc;
}

static int f_items(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    (void)c;
    if (v.kind == JV_UNDEFINED) return jv_new_list(&r->heap, 0, 0, out) ? jr_fail_oom(r, at) : 0;
    if (v.kind != JV_DICT) return jr_fail(r, at, "Can only get item pairs from a mapping.");
    return jdict_items(r, at, v, out);
}

static int f_unique(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"case_sensitive", "attribute", NULL};
    jv a[2], items, seen = jv_none();
    if (bind(r, at, c, params, a) || as_list(r, at, v, &items)) return -1;
    if (jv_new_list(&r->heap, 0, 0, out)) {
        jv_decref(items);
        return jr_fail_oom(r, at);
    }
    int rc = jv_new_dict(&r->heap, JV_DICT, &seen) ? jr_fail_oom(r, at) : 0;
    for (size_t i = 0; !rc && i < JLIST(items)->len; i++) {
        jv item = JLIST(items)->items[i], key;
        if (sort_key(r, at, item, a[1], a[0].kind != JV_MISSING && jv_truthy(a[0]), &key)) {
            rc = -1;
            break;
        }
        if (!jv_hashable(key)) {
            rc = jr_fail(r, at, "unhashable type: '%s'", jv_type_name(key));
            jv_decref(key);
            break;
        }
        if (jv_dict_find(JDICT(seen), key)) {
            jv_decref(key);
            continue;
        }
        jv_incref(item);
        if (jv_dict_set(JDICT(seen), key, jv_none()) || jv_list_push(JLIST(*out), item)) rc = jr_fail_oom(r, at);
    }
    jv_decref(items);
    jv_decref(seen);
    if (rc) jv_decref(*out);
    return rc;
}

static int min_or_max(jrender *r, const jnode *at, jv v, const jcall *c, jv *out, int want_max) {
    static const char *const params[] = {"case_sensitive", "attribute", NULL};
    jv a[2], items;
    if (bind(r, at, c, params, a) || as_list(r, at, v, &items)) return -1;
    jv_list *l = JLIST(items);
    int rc = 0;
    if (!l->len) {
        *out = jv_undef_hint("No aggregated item, sequence was empty.");
        jv_decref(items);
        return 0;
    }
    size_t best = 0;
    jv best_key = jv_none();
    int cs = a[0].kind != JV_MISSING && jv_truthy(a[0]);
    if (sort_key(r, at, l->items[0], a[1], cs, &best_key)) rc = -1;
    for (size_t i = 1; !rc && i < l->len; i++) {
        jv key;
        int cmp;
        if (sort_key(r, at, l->items[i], a[1], cs, &key)) {
            rc = -1;
            break;
        }
        if (jv_compare(key, best_key, &cmp)) {
            rc = jr_fail(r, at, "'<' not supported between instances of '%s' and '%s'", jv_type_name(key), jv_type_name(best_key));
        } else if (cmp != 2 && (want_max ? cmp > 0 : cmp < 0)) {
            jv_decref(best_key);
            best_key = key;
            best = i;
            continue;
        }
        jv_decref(key);
    }
    jv_decref(best_key);
    if (!rc) {
        *out = l->items[best];
        jv_incref(*out);
    }
    jv_decref(items);
    return rc;
}

static int f_min(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { return min_or_max(r, at, v, c, out, 0); }
static int f_max(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { return min_or_max(r, at, v, c, out, 1); }

static int f_sum(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"attribute", "start", NULL};
    jv a[2], items, total = jv_int(0);
    if (bind(r, at, c, params, a) || as_list(r, at, v, &items)) return -1;
    if (a[1].kind != JV_MISSING) total = a[1];
    jv_incref(total);
    int rc = 0;
    for (size_t i = 0; !rc && i < JLIST(items)->len; i++) {
        jv item = JLIST(items)->items[i], got, next;
        if (a[0].kind != JV_MISSING && a[0].kind != JV_NONE) {
            if (get_attribute(r, at, item, a[0], jv_missing(), &got)) {
                rc = -1;
                break;
            }
        } else {
            got = item;
            jv_incref(got);
        }
        if (got.kind == JV_STRING) rc = jr_fail(r, at, "sum() can't sum strings [use ''.join(seq) instead]");
        else rc = jeval_binop(r, at, T_ADD, total, got, &next);
        jv_decref(got);
        if (!rc) {
            jv_decref(total);
            total = next;
        }
    }
    jv_decref(items);
    if (rc) {
        jv_decref(total);
        return -1;
    }
    *out = total;
    return 0;
}

static int f_batch(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    static const char *const params[] = {"linecount", "fill_with", NULL};
    jv a[2], items, row = jv_none();
    int64_t n = 0;
    if (bind(r, at, c, params, a)) return -1;
    if (a[0].kind == JV_MISSING) return jr_fail(r, at, "batch needs a line count");
    if (jr_need_int(r, at, a[0], &n)) return -1;
    if (n <= 0) return jr_fail(r, at, "batch line count must be positive");
    if (as_list(r, at, v, &items)) return -1;
    jv_list *l = JLIST(items);
    int rc = jv_new_list(&r->heap, 0, 0, out) ? jr_fail_oom(r, at) : 0;
    for (size_t i = 0; !rc && i < l->len; i++) {
        if (row.kind == JV_NONE && jv_new_list(&r->heap, 0, 0, &row)) rc = jr_fail_oom(r, at);
        jv_incref(l->items[i]);
        if (!rc && jv_list_push(JLIST(row), l->items[i])) rc = jr_fail_oom(r, at);
        if (!rc && (int64_t)JLIST(row)->len == n) {
            if (jv_list_push(JLIST(*out), row)) rc = jr_fail_oom(r, at);
            row = jv_none();
        }
    }
    if (!rc && row.kind == JV_LIST) {
        while (a[1].kind != JV_MISSING && a[1].kind != JV_NONE && (int64_t)JLIST(row)->len < n && !rc) {
            jv_incref(a[1]);
            if (jv_list_push(JLIST(row), a[1])) rc = jr_fail_oom(r, at);
        }
        if (!rc && jv_list_push(JLIST(*out), row)) rc = jr_fail_oom(r, at);
        row = jv_none();
    }
    jv_decref(row);
    jv_decref(items);
    if (rc) jv_decref(*out);
    return rc;
}

/* map(filter, args...) or map(attribute=name, default=value) */
static int f_map(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) {
    jv items;
    jv attribute = jv_missing(), dflt = jv_missing();
    int filter_id = -1;
    if (!c->nargs) {
        for (size_t k = 0; k < c->nkw; k++) {
            if (!strcmp(c->kw[k].name, "attribute")) attribute = c->kw[k].val;
            else if (!strcmp(c->kw[k].name, "default")) dflt = c->kw[k].val;
            else return jr_fail(r, at, "Unexpected keyword argument '%s'", c->kw[k].name);
        }
        if (attribute.kind == JV_MISSING) return jr_fail(r, at, "map requires a filter argument");
    } else {
        if (c->args[0].kind != JV_STRING) return jr_fail(r, at, "map requires a filter name");
        filter_id = jfilter_lookup(JSTR(c->args[0])->s, JSTR(c->args[0])->len);
        if (filter_id < 0) return jr_fail(r, at, "No filter named '%s'.", JSTR(c->args[0])->s);
    }
    if (!jv_truthy(v)) return jv_new_list(&r->heap, 0, 0, out) ? jr_fail_oom(r, at) : 0;
    if (as_list(r, at, v, &items)) return -1;
    jcall rest = {.args = c->args + (c->nargs ? 1 : 0), .nargs = c->nargs ? c->nargs - 1 : 0, .kw = c->kw, .nkw = c->nkw};
    int rc = jv_new_list(&r->heap, JLIST(items)->len, 0, out) ? jr_fail_oom(r, at) : 0;
    for (size_t i = 0; !rc && i < JLIST(items)->len; i++) {
        jv item = JLIST(items)->items[i], res;
        rc = filter_id >= 0 ? jfilter_apply(r, at, filter_id, item, &rest, &res)
                            : get_attribute(r, at, item, attribute, dflt, &res);
        if (!rc && jv_list_push(JLIST(*out), res)) rc = jr_fail_oom(r, at);
    }
    jv_decref(items);
    if (rc) jv_decref(*out);
    return rc;
}

/* select / reject / selectattr / rejectattr */
static int select_impl(jrender *r, const jnode *at, jv v, const jcall *c, jv *out, int keep_when, int by_attr) {
    jv items;
    size_t off = 0;
    jv attribute = jv_missing();
    if (by_attr) {
        if (!c->nargs) return jr_fail(r, at, "Missing parameter for attribute name");
        attribute = c->args[0];
        off = 1;
    }
    int test_id = -1;
    if (c->nargs > off) {
        if (c->args[off].kind != JV_STRING) return jr_fail(r, at, "the test name must be a string");
        test_id = jtest_lookup(JSTR(c->args[off])->s, JSTR(c->args[off])->len);
        if (test_id < 0) return jr_fail(r, at, "No test named '%s'.", JSTR(c->args[off])->s);
    }
    if (!jv_truthy(v)) return jv_new_list(&r->heap, 0, 0, out) ? jr_fail_oom(r, at) : 0;
    if (as_list(r, at, v, &items)) return -1;
    jcall rest = {.args = c->args + off + 1, .nargs = c->nargs > off + 1 ? c->nargs - off - 1 : 0, .kw = c->kw, .nkw = c->nkw};
    int rc = jv_new_list(&r->heap, 0, 0, out) ? jr_fail_oom(r, at) : 0;
    for (size_t i = 0; !rc && i < JLIST(items)->len; i++) {
        jv item = JLIST(items)->items[i], subject;
        if (by_attr) {
            if (get_attribute(r, at, item, attribute, jv_missing(), &subject)) {
                rc = -1;
                break;
            }
        } else {
            subject = item;
            jv_incref(subject);
        }
        int result = 0;
        if (test_id >= 0) rc = jtest_apply(r, at, test_id, subject, &rest, &result);
        else result = jv_truthy(subject);
        jv_decref(subject);
        if (!rc && (result != 0) == keep_when) {
            jv_incref(item);
            if (jv_list_push(JLIST(*out), item)) rc = jr_fail_oom(r, at);
        }
    }
    jv_decref(items);
    if (rc) jv_decref(*out);
    return rc;
}

static int f_select(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { return select_impl(r, at, v, c, out, 1, 0); }
static int f_reject(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { return select_impl(r, at, v, c, out, 0, 0); }
static int f_selectattr(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { return select_impl(r, at, v, c, out, 1, 1); }
static int f_rejectattr(jrender *r, const jnode *at, jv v, const jcall *c, jv *out) { return select_impl(r, at, v, c, out, 0, 1); }

/* ---- the table ------------------------------------------------------------------------------ */

const jfilter jseq_filters[] = {
    {"batch", f_batch},
    {"count", f_length},
    {"dictsort", f_dictsort},
    {"first", f_first},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"reverse", f_reverse},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"sort", f_sort},
    {"sum", f_sum},
    {"unique", f_unique},
};
const int jseq_nfilters = (int)(sizeof jseq_filters / sizeof jseq_filters[0]);
