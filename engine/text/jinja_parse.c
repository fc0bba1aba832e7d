/* jinja_parse.c: tokens -> syntax tree: the parser's helpers and the
 * statements, following jinja2's parser.py: for (with "if" filters and else),
 * if/elif/else, set (names, tuples, namespace attributes, and block set with
 * filters), macro, call, filter, with, break/continue, generation, print and
 * raw. Expressions are in jinja_parse_expr.c. The tree lives in the
 * template's arena. */
#include "jinja_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NESTING 200  /* expressions and blocks; deeper templates are rejected */

/* ---- helpers ---------------------------------------------------------------------------- */

int jp_error_at(parser *p, size_t pos, const char *fmt, const char *arg) {
    return jsyntax_error(p->t->src, p->t->len, pos, fmt, arg);
}

const char *jp_describe(const jtoken *tok, char *buf, size_t n) {
    static const char *const names[] = {
        [T_EOF] = "end of template", [T_DATA] = "template data / text",
        [T_NAME] = "name", [T_VAR_BEGIN] = "begin of print statement", [T_VAR_END] = "end of print statement",
        [T_BLOCK_BEGIN] = "begin of statement block", [T_BLOCK_END] = "end of statement block",
        [T_STRING] = "string", [T_INT] = "integer", [T_FLOAT] = "float",
        [T_ADD] = "+", [T_SUB] = "-", [T_MUL] = "*", [T_DIV] = "/", [T_FLOORDIV] = "//", [T_MOD] = "%",
        [T_POW] = "**", [T_TILDE] = "~", [T_LBRACKET] = "[", [T_RBRACKET] = "]", [T_LPAREN] = "(",
        [T_RPAREN] = ")", [T_LBRACE] = "{", [T_RBRACE] = "}", [T_EQ] = "==", [T_NE] = "!=", [T_GT] = ">",
        [T_GTEQ] = ">=", [T_LT] = "<", [T_LTEQ] = "<=", [T_ASSIGN] = "=", [T_DOT] = ".", [T_COLON] = ":",
        [T_PIPE] = "|", [T_COMMA] = ",", [T_SEMICOLON] = ";",
    };
    if (tok->type == T_NAME && tok->s) {
        size_t len = tok->len < n - 1 ? tok->len : n - 1;
        memcpy(buf, tok->s, len);
        buf[len] = '\0';
        return buf;
    }
    return names[tok->type];
}

int jp_fail_here(parser *p, const char *fmt) {
    char buf[64];
    return jp_error_at(p, p->tok->pos, fmt, jp_describe(p->tok, buf, sizeof buf));
}

void jp_advance(parser *p) {
    if (p->tok->type != T_EOF) p->tok = &p->t->toks[++p->i];
}

const jtoken *jp_peek(parser *p) {
    return p->tok->type == T_EOF ? p->tok : &p->t->toks[p->i + 1];
}

int jp_is_name(const jtoken *tok, const char *name) {
    size_t n = strlen(name);
    return tok->type == T_NAME && tok->len == n && !memcmp(tok->s, name, n);
}

int jp_skip_name(parser *p, const char *name) {
    if (!jp_is_name(p->tok, name)) return 0;
    jp_advance(p);
    return 1;
}

int jp_skip(parser *p, jtok_type type) {
    if (p->tok->type != type) return 0;
    jp_advance(p);
    return 1;
}

int jp_expect(parser *p, jtok_type type) {
    if (p->tok->type == type) {
        jp_advance(p);
        return 0;
    }
    char want_buf[64], got_buf[64];
    jtoken tmp = {.type = (uint8_t)type};
    const char *want = jp_describe(&tmp, want_buf, sizeof want_buf);
    if (p->tok->type == T_EOF) return jp_error_at(p, p->tok->pos, "unexpected end of template, expected '%s'.", want);
    char msg[160];
    snprintf(msg, sizeof msg, "expected token '%s', got '%s'", want, jp_describe(p->tok, got_buf, sizeof got_buf));
    return jp_error_at(p, p->tok->pos, "%s", msg);
}

jv_str *jconst_str(g4_jinja_template *t, const char *s, size_t n) {
    jv_str *str = jarena_alloc(&t->arena, sizeof(jv_str) + n + 1);
    if (!str) return NULL;
    str->h.refs = -1;
    str->h.kind = JV_STRING;
    str->len = n;
    if (n) memcpy(str->s, s, n);
    str->s[n] = '\0';
    str->ncp = utf8_count(s, n);
    return str;
}

jnode *jp_new_node(parser *p, jnode_kind kind, size_t pos) {
    jnode *n = jarena_alloc(&p->t->arena, sizeof *n);
    if (!n) {
        g4_error("template: out of memory");
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->pos = (uint32_t)pos;
    return n;
}

/* A node whose value is the string s (a name or a text). */
jnode *jp_new_named(parser *p, jnode_kind kind, size_t pos, const char *s, size_t len) {
    jnode *n = jp_new_node(p, kind, pos);
    if (!n) return NULL;
    jv_str *str = jconst_str(p->t, s, len);
    if (!str) {
        g4_error("template: out of memory");
        return NULL;
    }
    n->value = jv_obj_value(str);
    return n;
}

int jp_vec_push(nodevec *v, jnode *n) {
    if (!n) return -1;
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 8;
        jnode **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return g4_error("template: out of memory");
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = n;
    return 0;
}

/* Moves the vector into the arena as a jlist (and frees the vector). */
int jp_vec_done(parser *p, nodevec *v, jlist *out) {
    out->n = v->n;
    out->v = NULL;
    if (v->n) {
        out->v = jarena_alloc(&p->t->arena, v->n * sizeof *out->v);
        if (!out->v) {
            free(v->v);
            v->v = NULL;
            v->n = v->cap = 0;
            return g4_error("template: out of memory");
        }
        memcpy(out->v, v->v, v->n * sizeof *out->v);
    }
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
    return 0;
}

int jp_enter(parser *p) {
    if (++p->depth > MAX_NESTING) return jp_fail_here(p, "the template is nested too deeply (at '%s')");
    return 0;
}

/* ---- statements ------------------------------------------------------------------------------ */

static int parse_body(parser *p, const char *const *end_names, jlist *out);

/* Checks an assignment target: a name, or a tuple of names. */
static int check_target(parser *p, const jnode *t) {
    if (t->kind == K_NAME) return 0;
    if (t->kind == K_TUPLE) {
        for (uint32_t i = 0; i < t->list.n; i++)
            if (check_target(p, t->list.v[i])) return -1;
        return 0;
    }
    return jp_error_at(p, t->pos, "%s", "can't assign to this expression");
}

static jnode *parse_assign_target(parser *p, const char *extra_end, int with_namespace) {
    if (with_namespace && p->tok->type == T_NAME && jp_peek(p)->type == T_DOT) {
        jnode *name = jp_new_named(p, K_NAME, p->tok->pos, p->tok->s, p->tok->len);
        jp_advance(p);
        jp_advance(p);
        if (p->tok->type != T_NAME) {
            jp_expect(p, T_NAME);
            return NULL;
        }
        jnode *ref = jp_new_named(p, K_NSREF, p->tok->pos, p->tok->s, p->tok->len);
        jp_advance(p);
        if (!name || !ref) return NULL;
        ref->a = name;
        return ref;
    }
    jnode *t = jp_tuple(p, 1, 1, extra_end, 0);
    if (!t || check_target(p, t)) return NULL;
    return t;
}

/* Skips an optional ':', expects the end of the tag, and parses up to one of end_names. */
static int parse_statements(parser *p, const char *const *end_names, jlist *out, int drop_needle) {
    jp_skip(p, T_COLON);
    if (jp_expect(p, T_BLOCK_END) || parse_body(p, end_names, out)) return -1;
    if (drop_needle) jp_advance(p);
    return 0;
}

static int parse_signature(parser *p, jnode *node) {
    nodevec params = {0};
    int has_default = 0;
    if (jp_expect(p, T_LPAREN)) return -1;
    while (p->tok->type != T_RPAREN) {
        if (params.n && jp_expect(p, T_COMMA)) goto fail;
        if (p->tok->type != T_NAME) {
            jp_expect(p, T_NAME);
            goto fail;
        }
        jnode *param = jp_new_named(p, K_PARAM, p->tok->pos, p->tok->s, p->tok->len);
        jp_advance(p);
        if (!param) goto fail;
        if (jp_skip(p, T_ASSIGN)) {
            if (!(param->a = jp_expression(p, 1))) goto fail;
            has_default = 1;
        } else if (has_default) {
            jp_fail_here(p, "non-default argument follows default argument (at '%s')");
            goto fail;
        }
        if (jp_vec_push(&params, param)) goto fail;
    }
    jp_advance(p);
    return jp_vec_done(p, &params, &node->list);
fail:
    free(params.v);
    return -1;
}

static jnode *parse_for(parser *p, size_t pos) {
    static const char *const ends[] = {"endfor", "else", NULL}, *const endfor[] = {"endfor", NULL};
    jnode *n = jp_new_node(p, K_FOR, pos);
    if (!n || !(n->a = parse_assign_target(p, "in", 0))) return NULL;
    if (!jp_is_name(p->tok, "in")) {
        jp_fail_here(p, "expected 'in', got '%s'");
        return NULL;
    }
    jp_advance(p);
    if (!(n->b = jp_tuple(p, 0, 0, "recursive", 0))) return NULL;
    if (jp_skip_name(p, "if") && !(n->c = jp_expression(p, 1))) return NULL;
    if (jp_is_name(p->tok, "recursive")) {
        jp_fail_here(p, "recursive loops are not supported ('%s')");
        return NULL;
    }
    p->loop_depth++;
    int rc = parse_statements(p, ends, &n->list, 0);
    p->loop_depth--;
    if (rc) return NULL;
    int has_else = jp_is_name(p->tok, "else");
    jp_advance(p);
    if (has_else && parse_statements(p, endfor, &n->list2, 1)) return NULL;
    return n;
}

/* if/elif/else: an elif becomes a K_IF (op 1) alone in the else list; built in a
 * loop so that long elif chains do not recurse. */
static jnode *parse_if(parser *p, size_t pos) {
    static const char *const ends[] = {"elif", "else", "endif", NULL}, *const endif[] = {"endif", NULL};
    jnode *head = jp_new_node(p, K_IF, pos), *cur = head;
    while (cur) {
        if (!(cur->a = jp_tuple(p, 0, 0, NULL, 0)) || parse_statements(p, ends, &cur->list, 0)) return NULL;
        if (jp_is_name(p->tok, "elif")) {
            jnode *elif = jp_new_node(p, K_IF, p->tok->pos);
            jp_advance(p);
            if (!elif || !(cur->list2.v = jarena_alloc(&p->t->arena, sizeof *cur->list2.v))) return NULL;
            elif->op = 1;
            cur->list2.v[0] = elif;
            cur->list2.n = 1;
            cur = elif;
            continue;
        }
        int has_else = jp_is_name(p->tok, "else");
        jp_advance(p);
        if (has_else && parse_statements(p, endif, &cur->list2, 1)) return NULL;
        return head;
    }
    return NULL;
}

static jnode *parse_set(parser *p, size_t pos) {
    static const char *const ends[] = {"endset", NULL};
    jnode *target = parse_assign_target(p, NULL, 1);
    if (!target) return NULL;
    if (jp_skip(p, T_ASSIGN)) {
        jnode *n = jp_new_node(p, K_SET, pos);
        if (!n || !(n->b = jp_tuple(p, 0, 1, NULL, 0))) return NULL;
        n->a = target;
        return n;
    }
    jnode *n = jp_new_node(p, K_SET_BLOCK, pos);
    if (!n) return NULL;
    n->a = target;
    if (p->tok->type == T_PIPE && !(n->b = jp_filter(p, NULL, 0))) return NULL;
    int loops = p->loop_depth; /* break/continue cannot leave a captured block */
    p->loop_depth = 0;
    int rc = parse_statements(p, ends, &n->list, 1);
    p->loop_depth = loops;
    return rc ? NULL : n;
}

static jnode *parse_macro(parser *p, size_t pos, int is_call) {
    static const char *const endmacro[] = {"endmacro", NULL}, *const endcall[] = {"endcall", NULL};
    jnode *n;
    if (is_call) {
        n = jp_new_node(p, K_CALL_BLOCK, pos);
        if (!n || (p->tok->type == T_LPAREN && parse_signature(p, n))) return NULL;
        if (!(n->a = jp_expression(p, 1))) return NULL;
        if (n->a->kind != K_CALL) {
            jp_error_at(p, pos, "%s", "expected call");
            return NULL;
        }
    } else {
        if (p->tok->type != T_NAME) {
            jp_expect(p, T_NAME);
            return NULL;
        }
        n = jp_new_named(p, K_MACRO, p->tok->pos, p->tok->s, p->tok->len);
        jp_advance(p);
        if (!n || parse_signature(p, n)) return NULL;
    }
    if (p->nmacros == JP_MAX_MACRO_NESTING) {
        jp_error_at(p, pos, "%s", "macros nested too deeply");
        return NULL;
    }
    p->macros[p->nmacros++] = n;
    int loops = p->loop_depth;
    p->loop_depth = 0;
    int rc = parse_statements(p, is_call ? endcall : endmacro, &n->list2, 1);
    p->loop_depth = loops;
    p->nmacros--;
    return rc ? NULL : n;
}

static jnode *parse_with(parser *p, size_t pos) {
    static const char *const ends[] = {"endwith", NULL};
    jnode *n = jp_new_node(p, K_WITH, pos);
    nodevec assigns = {0};
    if (!n) return NULL;
    while (p->tok->type != T_BLOCK_END) {
        if (assigns.n && jp_expect(p, T_COMMA)) goto fail;
        jnode *set = jp_new_node(p, K_SET, p->tok->pos);
        if (!set || !(set->a = parse_assign_target(p, NULL, 0))) goto fail;
        if (jp_expect(p, T_ASSIGN) || !(set->b = jp_expression(p, 1)) || jp_vec_push(&assigns, set)) goto fail;
    }
    if (jp_vec_done(p, &assigns, &n->list)) goto fail;
    return parse_statements(p, ends, &n->list2, 1) ? NULL : n;
fail:
    free(assigns.v);
    return NULL;
}

static jnode *parse_statement(parser *p) {
    jtoken *tok = p->tok;
    if (tok->type != T_NAME) {
        jp_fail_here(p, "tag name expected, got '%s'");
        return NULL;
    }
    if (jp_enter(p)) return NULL;
    const char *outer = p->block;
    char name[32];
    jp_describe(tok, name, sizeof name);
    p->block = name;
    size_t pos = tok->pos;
    jp_advance(p);
    jnode *n = NULL;
    if (!strcmp(name, "for")) n = parse_for(p, pos);
    else if (!strcmp(name, "if")) n = parse_if(p, pos);
    else if (!strcmp(name, "set")) n = parse_set(p, pos);
    else if (!strcmp(name, "macro")) n = parse_macro(p, pos, 0);
    else if (!strcmp(name, "call")) n = parse_macro(p, pos, 1);
    else if (!strcmp(name, "with")) n = parse_with(p, pos);
    else if (!strcmp(name, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        int loops = p->loop_depth;
        p->loop_depth = 0;
        if ((n = jp_new_node(p, K_FILTER_BLOCK, pos)) &&
            (!(n->a = jp_filter(p, NULL, 1)) || parse_statements(p, ends, &n->list, 1)))
            n = NULL;
        p->loop_depth = loops;
    } else if (!strcmp(name, "generation")) {
        static const char *const ends[] = {"endgeneration", NULL};
        int loops = p->loop_depth;
        p->loop_depth = 0;
        if ((n = jp_new_node(p, K_SCOPE, pos)) && parse_statements(p, ends, &n->list, 1)) n = NULL;
        p->loop_depth = loops;
    } else if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        if (!p->loop_depth) jp_error_at(p, pos, "'%s' outside of a loop", name);
        else n = jp_new_node(p, name[0] == 'b' ? K_BREAK : K_CONTINUE, pos);
    } else if (!strcmp(name, "print")) {
        nodevec outs = {0};
        while (p->tok->type != T_BLOCK_END) {
            if (outs.n && jp_expect(p, T_COMMA)) break;
            jnode *out = jp_new_node(p, K_OUTPUT, p->tok->pos);
            if (!out || !(out->a = jp_expression(p, 1)) || jp_vec_push(&outs, out)) break;
        }
        if (p->tok->type == T_BLOCK_END && (n = jp_new_node(p, K_SCOPE, pos))) {
            n->op = 1; /* outputs in the current scope */
            if (jp_vec_done(p, &outs, &n->list)) n = NULL;
        }
        free(outs.v);
    } else if (!strcmp(name, "block") || !strcmp(name, "extends") || !strcmp(name, "include") ||
               !strcmp(name, "import") || !strcmp(name, "from") || !strcmp(name, "autoescape")) {
        jp_error_at(p, pos, "the '%s' tag is not supported (templates cannot load other templates)", name);
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "Encountered unknown tag '%s'.", name);
        if (outer) snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " The innermost block that needs to be closed is '%s'.", outer);
        jp_error_at(p, pos, "%s", msg);
    }
    p->block = outer;
    p->depth--;
    return n;
}

static int is_end_name(const jtoken *tok, const char *const *end_names) {
    for (int i = 0; end_names && end_names[i]; i++)
        if (jp_is_name(tok, end_names[i])) return 1;
    return 0;
}

static int fail_eof(parser *p, const char *const *end_names) {
    char msg[256] = "Unexpected end of template.";
    if (end_names) {
        strcat(msg, " Jinja was looking for the following tags: ");
        for (int i = 0; end_names[i]; i++) {
            if (i) strcat(msg, " or ");
            strcat(msg, "'");
            strcat(msg, end_names[i]);
            strcat(msg, "'");
        }
        strcat(msg, ".");
    }
    if (p->block && strlen(p->block) < 64) {
        strcat(msg, " The innermost block that needs to be closed is '");
        strcat(msg, p->block);
        strcat(msg, "'.");
    }
    return jp_error_at(p, p->tok->pos, "%s", msg);
}

static int parse_body(parser *p, const char *const *end_names, jlist *out) {
    nodevec body = {0};
    for (;;) {
        jtoken *tok = p->tok;
        jnode *n = NULL;
        if (tok->type == T_EOF) {
            if (end_names) goto eof;
            break;
        }
        if (tok->type == T_DATA) {
            n = jp_new_named(p, K_TEXT, tok->pos, tok->s, tok->len);
            jp_advance(p);
        } else if (tok->type == T_VAR_BEGIN) {
            jp_advance(p);
            if ((n = jp_new_node(p, K_OUTPUT, tok->pos)) && (!(n->a = jp_tuple(p, 0, 1, NULL, 0)) || jp_expect(p, T_VAR_END)))
                n = NULL;
        } else if (tok->type == T_BLOCK_BEGIN) {
            jp_advance(p);
            if (is_end_name(p->tok, end_names)) break;
            if (p->tok->type == T_EOF) goto eof;
            if ((n = parse_statement(p)) && jp_expect(p, T_BLOCK_END)) n = NULL;
        } else {
            jp_fail_here(p, "unexpected '%s'");
        }
        if (jp_vec_push(&body, n)) {
            free(body.v);
            return -1;
        }
    }
    return jp_vec_done(p, &body, out);
eof:
    free(body.v);
    return fail_eof(p, end_names);
}

int jparse(g4_jinja_template *t) {
    parser p = {.t = t, .tok = t->toks};
    if (parse_body(&p, NULL, &t->body)) return -1;
    return 0;
}
