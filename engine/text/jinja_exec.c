/* jinja_exec.c: running a parsed template: statements, variable scopes with
 * jinja2's rules (a for-loop iteration, a macro, a with block and a captured
 * block get their own scope; if does not), assignment (names, tuples,
 * namespace attributes), loops with the loop variable, macros and caller(),
 * output and its limits, error messages with line and column, and the render
 * entry points. */
#include "jinja_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { X_BREAK = 1, X_CONTINUE = 2 }; /* statement results besides 0 and -1 */

g4_jinja_limits g4_jinja_default_limits(void) {
    g4_jinja_limits lim = {
        .max_output = (size_t)16 << 20,
        .max_memory = (size_t)256 << 20,
        .max_steps = 50000000,
        .max_call_depth = 200,
        .max_stack = (size_t)1 << 20,
    };
    return lim;
}

/* ---- errors ---------------------------------------------------------------------------- */

int jr_fail(jrender *r, const jnode *at, const char *fmt, ...) {
    if (r->failed) return -1;
    r->failed = 1;
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jone_line(msg);
    int line, col;
    jsource_line_col(r->tpl->src, r->tpl->len, at ? at->pos : 0, &line, &col);
    snprintf(r->err, sizeof r->err, "template:%d:%d: %s", line, col, msg);
    return -1;
}

int jr_fail_oom(jrender *r, const jnode *at) {
    if (r->failed) return -1;
    if (r->heap.exceeded == 2)
        return jr_fail(r, at, "a string would be longer than %zu bytes (the output limit)", r->heap.max_string);
    if (r->heap.exceeded) return jr_fail(r, at, "the template needs more than %zu bytes of memory", r->heap.limit);
    return jr_fail(r, at, "out of memory");
}

int jr_fail_undefined(jrender *r, const jnode *at, jv u) {
    const char *name = (u.why == JU_NAME || u.why == JU_ATTR || u.why == JU_PARAM || u.why == JU_UNSAFE) && u.u.obj
                           ? JSTR(u)->s : "?";
    const char *owner = jv_kind_name((jv_kind)u.owner);
    switch (u.why) {
    case JU_NAME: return jr_fail(r, at, "'%s' is undefined", name);
    case JU_ATTR: return jr_fail(r, at, "'%s object' has no attribute '%s'", owner, name);
    case JU_ELEMENT: return jr_fail(r, at, "%s object has no element %lld", owner, (long long)u.u.i);
    case JU_PARAM: return jr_fail(r, at, "parameter '%s' was not provided", name);
    case JU_UNSAFE: return jr_fail(r, at, "access to attribute '%s' of '%s' object is unsafe.", name, owner);
    case JU_HINT: return jr_fail(r, at, "%s", u.u.hint);
    default: return jr_fail(r, at, "the value is undefined");
    }
}

static int emit_failed(jrender *r, const jnode *at) {
    if (r->out->over == 1) return jr_fail(r, at, "the output would be longer than %zu bytes", r->out->limit);
    if (r->out->over == 2) return jr_fail_oom(r, at);
    return jr_fail(r, at, "value nested too deeply to print");
}

/* ---- assignment ------------------------------------------------------------------------- */

/* Assigns value (consumed) to target: a name, a tuple of targets, or ns.attr. */
static int assign(jrender *r, const jnode *target, jv value, jscope *sc) {
    if (target->kind == K_NAME) {
        if (jscope_set(sc, target->value, value)) return jr_fail_oom(r, target);
        return 0;
    }
    if (target->kind == K_NSREF) {
        const jnode *name = target->a;
        jv *ns = jscope_find(sc, JSTR(name->value)->s, JSTR(name->value)->len);
        if (!ns || ns->kind != JV_NAMESPACE) {
            jv_decref(value);
            return jr_fail(r, target, "cannot assign attribute on non-namespace object");
        }
        if (jv_dict_set(JDICT(*ns), target->value, value)) return jr_fail_oom(r, target);
        return 0;
    }
    jv items;
    int rc = jeval_iterate(r, target, value, &items);
    jv_decref(value);
    if (rc) return -1;
    jv_list *l = JLIST(items);
    if (l->len != target->list.n) {
        if (l->len > target->list.n) rc = jr_fail(r, target, "too many values to unpack (expected %u)", target->list.n);
        else rc = jr_fail(r, target, "not enough values to unpack (expected %u, got %zu)", target->list.n, l->len);
    }
    for (uint32_t i = 0; !rc && i < target->list.n; i++) {
        jv_incref(l->items[i]);
        rc = assign(r, target->list.v[i], l->items[i], sc);
    }
    jv_decref(items);
    return rc;
}

/* ---- statements ------------------------------------------------------------------------- */

static int exec_body(jrender *r, const jlist *body, jscope *sc);

static int emit(jrender *r, const jnode *at, const char *s, size_t n) {
    return jbuf_put(r->out, s, n) ? emit_failed(r, at) : 0;
}

int jexec_capture(jrender *r, const jlist *body, jscope *sc, jv *out) {
    jbuf buf;
    jbuf_init(&buf, r->lim.max_output);
    buf.heap = &r->heap;
    jbuf *saved = r->out;
    r->out = &buf;
    int rc = exec_body(r, body, sc);
    r->out = saved;
    if (rc == 0 && jv_new_str(&r->heap, buf.data ? buf.data : "", buf.len, out)) rc = jr_fail_oom(r, NULL);
    jbuf_free(&buf);
    return rc ? -1 : 0;
}

/* Runs body in a new scope below sc (or captures its output when out is set). */
static int exec_scoped(jrender *r, const jnode *at, const jlist *body, jscope *sc, jv *out) {
    jscope *inner;
    if (jv_new_scope(&r->heap, sc, &inner)) return jr_fail_oom(r, at);
    int rc = out ? jexec_capture(r, body, inner, out) : exec_body(r, body, inner);
    jscope_release(inner);
    return rc;
}

/* Applies a chain of K_FILTER nodes whose innermost input is missing to input. */
static int apply_filter_chain(jrender *r, const jnode *f, jscope *sc, jv input, jv *out) {
    if (!f->a) return jeval_filter_on(r, f, sc, input, out);
    jv inner;
    if (apply_filter_chain(r, f->a, sc, input, &inner)) return -1;
    int rc = jeval_filter_on(r, f, sc, inner, out);
    jv_decref(inner);
    return rc;
}

static int exec_output(jrender *r, const jnode *n, jscope *sc) {
    jv v;
    if (jeval(r, n->a, sc, &v)) return -1;
    int rc = jv_write_str(r->out, v) ? emit_failed(r, n) : 0;
    jv_decref(v);
    return rc;
}

static int exec_if(jrender *r, const jnode *n, jscope *sc) {
    for (;;) {
        jv test;
        if (jeval(r, n->a, sc, &test)) return -1;
        int truth = jv_truthy(test);
        jv_decref(test);
        if (truth) return exec_body(r, &n->list, sc);
        if (n->list2.n == 1 && n->list2.v[0]->kind == K_IF && n->list2.v[0]->op == 1) {
            n = n->list2.v[0]; /* elif */
            continue;
        }
        return exec_body(r, &n->list2, sc);
    }
}

/* The items a for loop runs over, after its "if" filter. */
static int loop_items(jrender *r, const jnode *n, jscope *sc, jv *out) {
    jv iter;
    if (jeval(r, n->b, sc, &iter)) return -1;
    int rc = jeval_iterate(r, n->b, iter, out);
    jv_decref(iter);
    if (rc || !n->c) return rc;
    jv all = *out;
    if (jv_new_list(&r->heap, 0, 0, out)) {
        jv_decref(all);
        return jr_fail_oom(r, n);
    }
    for (size_t i = 0; !rc && i < JLIST(all)->len; i++) {
        jscope *tmp;
        jv item = JLIST(all)->items[i], keep;
        if (jv_new_scope(&r->heap, sc, &tmp)) {
            rc = jr_fail_oom(r, n);
            break;
        }
        jv_incref(item);
        rc = assign(r, n->a, item, tmp);
        if (!rc && !(rc = jeval(r, n->c, tmp, &keep))) {
            if (jv_truthy(keep)) {
                jv_incref(item);
                if (jv_list_push(JLIST(*out), item)) rc = jr_fail_oom(r, n);
            }
            jv_decref(keep);
        }
        jscope_release(tmp);
    }
    jv_decref(all);
    if (rc) jv_decref(*out);
    return rc;
}

static int exec_for(jrender *r, const jnode *n, jscope *sc) {
    jv items;
    if (loop_items(r, n, sc, &items)) return -1;
    jv_list *l = JLIST(items);
    if (!l->len) {
        jv_decref(items);
        return n->list2.n ? exec_scoped(r, n, &n->list2, sc, NULL) : 0;
    }
    jv loopv, loop_name;
    if (jv_new_cstr(&r->heap, "loop", &loop_name)) {
        jv_decref(items);
        return jr_fail_oom(r, n);
    }
    if (jv_new_loop(&r->heap, items, (int64_t)l->len, &loopv)) {
        jv_decref(items);
        jv_decref(loop_name);
        return jr_fail_oom(r, n);
    }
    jv_loop *loop = (jv_loop *)loopv.u.obj;
    int rc = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (++r->steps > r->lim.max_steps) {
            rc = jr_fail(r, n, "the template ran for more than %llu steps", (unsigned long long)r->lim.max_steps);
            break;
        }
        loop->index0 = (int64_t)i;
        jscope *it;
        if (jv_new_scope(&r->heap, sc, &it)) {
            rc = jr_fail_oom(r, n);
            break;
        }
        jv_incref(l->items[i]);
        rc = assign(r, n->a, l->items[i], it);
        if (!rc) {
            jv_incref(loopv);
            jv_incref(loop_name);
            if (jscope_set(it, loop_name, loopv)) rc = jr_fail_oom(r, n);
        }
        if (!rc) rc = exec_body(r, &n->list, it);
        jscope_release(it);
        if (rc == X_CONTINUE) rc = 0;
        if (rc) break;
    }
    jv_decref(loopv);
    jv_decref(loop_name);
    jv_decref(items);
    return rc == X_BREAK ? 0 : rc;
}

static int exec_set_block(jrender *r, const jnode *n, jscope *sc) {
    jv text;
    if (exec_scoped(r, n, &n->list, sc, &text)) return -1;
    if (n->b) {
        jv filtered;
        int rc = apply_filter_chain(r, n->b, sc, text, &filtered);
        jv_decref(text);
        if (rc) return -1;
        text = filtered;
    }
    return assign(r, n->a, text, sc);
}

static int new_macro(jrender *r, const jnode *def, jscope *closure, jv *out) {
    return jv_new_macro(&r->heap, def, closure, out) ? jr_fail_oom(r, def) : 0;
}

static int exec_call_block(jrender *r, const jnode *n, jscope *sc) {
    jv caller, result;
    if (new_macro(r, n, sc, &caller)) return -1;
    int rc = jeval_call_with_caller(r, n->a, sc, caller, &result);
    jv_decref(caller);
    if (rc) return -1;
    rc = jv_write_str(r->out, result) ? emit_failed(r, n) : 0;
    jv_decref(result);
    return rc;
}

static int exec_filter_block(jrender *r, const jnode *n, jscope *sc) {
    jv text, filtered;
    if (exec_scoped(r, n, &n->list, sc, &text)) return -1;
    int rc = apply_filter_chain(r, n->a, sc, text, &filtered);
    jv_decref(text);
    if (rc) return -1;
    rc = jv_write_str(r->out, filtered) ? emit_failed(r, n) : 0;
    jv_decref(filtered);
    return rc;
}

static int exec_with(jrender *r, const jnode *n, jscope *sc) {
    jscope *inner;
    if (jv_new_scope(&r->heap, sc, &inner)) return jr_fail_oom(r, n);
    int rc = 0;
    for (uint32_t i = 0; !rc && i < n->list.n; i++) {
        jv v;
        const jnode *set = n->list.v[i];
        rc = jeval(r, set->b, sc, &v) ? -1 : assign(r, set->a, v, inner);
    }
    if (!rc) rc = exec_body(r, &n->list2, inner);
    jscope_release(inner);
    return rc;
}

static int exec_stmt(jrender *r, const jnode *n, jscope *sc) {
    if (++r->steps > r->lim.max_steps)
        return jr_fail(r, n, "the template ran for more than %llu steps", (unsigned long long)r->lim.max_steps);
    jv v;
    switch (n->kind) {
    case K_TEXT: return emit(r, n, JSTR(n->value)->s, JSTR(n->value)->len);
    case K_OUTPUT: return exec_output(r, n, sc);
    case K_IF: return exec_if(r, n, sc);
    case K_FOR: return exec_for(r, n, sc);
    case K_SET: return jeval(r, n->b, sc, &v) ? -1 : assign(r, n->a, v, sc);
    case K_SET_BLOCK: return exec_set_block(r, n, sc);
    case K_MACRO:
        if (new_macro(r, n, sc, &v)) return -1;
        return jscope_set(sc, n->value, v) ? jr_fail_oom(r, n) : 0;
    case K_CALL_BLOCK: return exec_call_block(r, n, sc);
    case K_FILTER_BLOCK: return exec_filter_block(r, n, sc);
    case K_WITH: return exec_with(r, n, sc);
    case K_SCOPE: return n->op == 1 ? exec_body(r, &n->list, sc) : exec_scoped(r, n, &n->list, sc, NULL);
    case K_BREAK: return X_BREAK;
    case K_CONTINUE: return X_CONTINUE;
    default: return jr_fail(r, n, "this statement cannot be run here");
    }
}

static int exec_body(jrender *r, const jlist *body, jscope *sc) {
    for (uint32_t i = 0; i < body->n; i++) {
        int rc = exec_stmt(r, body->v[i], sc);
        if (rc) return rc;
    }
    return 0;
}

/* ---- macros ----------------------------------------------------------------------------- */

static int set_var(jrender *r, const jnode *at, jscope *sc, const char *name, jv val) {
    jv key;
    if (jv_new_cstr(&r->heap, name, &key)) {
        jv_decref(val);
        return jr_fail_oom(r, at);
    }
    return jscope_set(sc, key, val) ? jr_fail_oom(r, at) : 0;
}

/* Binds a macro's parameters in sc: positional, keyword, defaults, varargs, kwargs, caller. */
static int bind_macro_args(jrender *r, const jnode *at, const jnode *def, const jcall *c, jv caller, jscope *sc) {
    const char *name = def->kind == K_MACRO ? JSTR(def->value)->s : "caller";
    int flags = def->op;
    uint32_t np = def->list.n;
    jv slots[64];
    if (np > 64) return jr_fail(r, at, "macro '%s' has too many parameters", name);
    for (uint32_t i = 0; i < np; i++) slots[i] = i < c->nargs ? c->args[i] : jv_missing();
    jv varargs = jv_none(), kwargs = jv_none();
    int rc = 0;
    if (c->nargs > np && !(flags & JM_VARARGS))
        return jr_fail(r, at, "macro '%s' takes not more than %u argument(s)", name, np);
    if ((flags & JM_VARARGS) && jv_new_list(&r->heap, 0, 1, &varargs)) return jr_fail_oom(r, at);
    for (size_t i = np; i < c->nargs && !rc; i++) {
        jv_incref(c->args[i]);
        if (jv_list_push(JLIST(varargs), c->args[i])) rc = jr_fail_oom(r, at);
    }
    if (!rc && (flags & JM_KWARGS) && jv_new_dict(&r->heap, JV_DICT, &kwargs)) rc = jr_fail_oom(r, at);
    for (size_t k = 0; k < c->nkw && !rc; k++) {
        const char *kw = c->kw[k].name;
        uint32_t i = 0;
        while (i < np && strcmp(JSTR(def->list.v[i]->value)->s, kw)) i++;
        if (i < np) {
            if (slots[i].kind != JV_MISSING) rc = jr_fail(r, at, "macro '%s' got multiple values for argument '%s'", name, kw);
            slots[i] = c->kw[k].val;
        } else if (!strcmp(kw, "caller") && (flags & JM_CALLER) && caller.kind == JV_MISSING) {
            caller = c->kw[k].val;
        } else if (flags & JM_KWARGS) {
            jv key;
            if (jv_new_cstr(&r->heap, kw, &key)) rc = jr_fail_oom(r, at);
            jv_incref(c->kw[k].val);
            if (!rc && jv_dict_set(JDICT(kwargs), key, c->kw[k].val)) rc = jr_fail_oom(r, at);
            if (rc) jv_decref(c->kw[k].val);
        } else {
            rc = jr_fail(r, at, "macro '%s' takes no keyword argument '%s'", name, kw);
        }
    }
    for (uint32_t i = 0; i < np && !rc; i++) {
        const jnode *param = def->list.v[i];
        jv v;
        if (slots[i].kind != JV_MISSING) {
            v = slots[i];
            jv_incref(v);
        } else if (param->a) {
            if (jeval(r, param->a, sc, &v)) rc = -1;
        } else {
            v = jv_undef(JU_PARAM, JV_UNDEFINED, param->value);
        }
        if (!rc && jscope_set(sc, param->value, v)) rc = jr_fail_oom(r, at);
    }
    if (!rc && caller.kind != JV_MISSING && !(flags & JM_CALLER) && !(flags & JM_KWARGS))
        rc = jr_fail(r, at, "macro '%s' takes no keyword argument 'caller'", name);
    if (!rc && (flags & JM_CALLER)) {
        jv cv = caller.kind == JV_MISSING ? jv_undef_hint("No caller defined") : caller;
        jv_incref(cv);
        rc = set_var(r, at, sc, "caller", cv);
    } else if (!rc && caller.kind != JV_MISSING && (flags & JM_KWARGS)) {
        jv key;
        jv_incref(caller);
        if (jv_new_cstr(&r->heap, "caller", &key) || jv_dict_set(JDICT(kwargs), key, caller)) rc = jr_fail_oom(r, at);
    }
    if (!rc && (flags & JM_VARARGS)) {
        rc = set_var(r, at, sc, "varargs", varargs);
        varargs = jv_none();
    }
    if (!rc && (flags & JM_KWARGS)) {
        rc = set_var(r, at, sc, "kwargs", kwargs);
        kwargs = jv_none();
    }
    jv_decref(varargs);
    jv_decref(kwargs);
    return rc;
}

int jcall_macro(jrender *r, const jnode *at, jv_macro *m, const jcall *c, jv caller, jv *out) {
    if (r->call_depth >= r->lim.max_call_depth)
        return jr_fail(r, at, "maximum recursion depth exceeded: more than %d nested macro calls", r->lim.max_call_depth);
    jscope *sc;
    if (jv_new_scope(&r->heap, m->closure, &sc)) return jr_fail_oom(r, at);
    int rc = bind_macro_args(r, at, m->def, c, caller, sc);
    if (!rc) {
        r->call_depth++;
        rc = jexec_capture(r, &m->def->list2, sc, out);
        r->call_depth--;
    }
    jscope_release(sc);
    return rc;
}

/* ---- entry points ------------------------------------------------------------------------- */

g4_jinja_template *g4_jinja_parse(const char *src, size_t len) {
    g4_jinja_template *t = calloc(1, sizeof *t);
    if (!t) {
        g4_error("template: out of memory");
        return NULL;
    }
    if (jlex(t, src ? src : "", src ? len : 0) || jparse(t)) {
        g4_jinja_free(t);
        return NULL;
    }
    free(t->toks);
    t->toks = NULL;
    return t;
}

void g4_jinja_free(g4_jinja_template *t) {
    if (!t) return;
    jarena_free(&t->arena);
    free(t->src);
    free(t->toks);
    free(t);
}

static int set_variables(jrender *r, json_t *vars) {
    if (!vars) return 0;
    if (!json_is_object(vars)) return jr_fail(r, NULL, "the template variables must be a JSON object");
    for (void *it = json_object_iter(vars); it; it = json_object_iter_next(vars, it)) {
        jv key, val;
        if (jv_new_str(&r->heap, json_object_iter_key(it), json_object_iter_key_len(it), &key))
            return jr_fail_oom(r, NULL);
        if (jv_from_json(&r->heap, json_object_iter_value(it), &val)) {
            jv_decref(key);
            return r->heap.exceeded ? jr_fail_oom(r, NULL) : jr_fail(r, NULL, "a template variable is nested too deeply");
        }
        if (jscope_set(r->root, key, val)) return jr_fail_oom(r, NULL);
    }
    return 0;
}

char *g4_jinja_render_parsed(const g4_jinja_template *tpl, json_t *vars, const g4_jinja_limits *lim,
                             size_t *out_len) {
    jrender r;
    memset(&r, 0, sizeof r);
    r.tpl = tpl;
    g4_jinja_limits def = g4_jinja_default_limits();
    r.lim = lim ? *lim : def;
    if (!r.lim.max_output) r.lim.max_output = def.max_output;
    if (!r.lim.max_memory) r.lim.max_memory = def.max_memory;
    if (!r.lim.max_steps) r.lim.max_steps = def.max_steps;
    if (r.lim.max_call_depth <= 0) r.lim.max_call_depth = def.max_call_depth;
    if (!r.lim.max_stack) r.lim.max_stack = def.max_stack;
    r.stack_base = (uintptr_t)__builtin_frame_address(0);
    jv_heap_init(&r.heap, r.lim.max_memory, r.lim.max_output);
    jbuf out;
    jbuf_init(&out, r.lim.max_output);
    out.heap = &r.heap;
    r.out = &out;
    char *result = NULL;
    int rc = jv_new_scope(&r.heap, NULL, &r.root) ? jr_fail_oom(&r, NULL) : 0;
    if (!rc) rc = set_variables(&r, vars);
    if (!rc) rc = exec_body(&r, &tpl->body, r.root);
    if (!rc) {
        result = malloc(out.len + 1);
        if (result) {
            if (out.len) memcpy(result, out.data, out.len);
            result[out.len] = '\0';
            if (out_len) *out_len = out.len;
        } else {
            jr_fail(&r, NULL, "out of memory");
        }
    }
    jbuf_free(&out);
    jv_heap_free_all(&r.heap);
    if (!result) g4_error("%s", r.err[0] ? r.err : "template: rendering failed");
    return result;
}

char *g4_jinja_render_values(const char *src, json_t *vars, const g4_jinja_limits *lim, size_t *out_len) {
    g4_jinja_template *t = g4_jinja_parse(src, src ? strlen(src) : 0);
    if (!t) return NULL;
    char *result = g4_jinja_render_parsed(t, vars, lim, out_len);
    g4_jinja_free(t);
    return result;
}
