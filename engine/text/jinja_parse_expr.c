/* jinja_parse_expr.c: the expression grammar, following jinja2's parser.py
 * with its precedence: conditional (a if b else c), or, and, not,
 * comparisons (chained, in, not in), + -, ~, * / // %, ** (left-associative),
 * unary - +, then postfix . [] () with filters (|) and tests (is); literals
 * (strings, numbers, lists, dicts, tuples) and slices. */
#include "jinja_internal.h"

#include <stdlib.h>
#include <string.h>

static jnode *parse_unary(parser *p, int with_filter);
static jnode *parse_postfix(parser *p, jnode *node);

static void note_special_name(parser *p, const jtoken *tok) {
    int flag = jp_is_name(tok, "caller") ? JM_CALLER : jp_is_name(tok, "varargs") ? JM_VARARGS
                                                   : jp_is_name(tok, "kwargs") ? JM_KWARGS : 0;
    for (int i = 0; flag && i < p->nmacros; i++) p->macros[i]->op |= (int16_t)flag;
}

jnode *jp_primary(parser *p) {
    jtoken *tok = p->tok;
    jnode *node = NULL;
    switch (tok->type) {
    case T_NAME:
        if (jp_is_name(tok, "true") || jp_is_name(tok, "True") || jp_is_name(tok, "false") || jp_is_name(tok, "False")) {
            if ((node = jp_new_node(p, K_CONST, tok->pos))) node->value = jv_bool(tok->s[0] == 't' || tok->s[0] == 'T');
        } else if (jp_is_name(tok, "none") || jp_is_name(tok, "None")) {
            if ((node = jp_new_node(p, K_CONST, tok->pos))) node->value = jv_none();
        } else {
            note_special_name(p, tok);
            node = jp_new_named(p, K_NAME, tok->pos, tok->s, tok->len);
        }
        jp_advance(p);
        return node;
    case T_STRING: {
        size_t total = 0, pos = tok->pos;
        for (size_t k = p->i; p->t->toks[k].type == T_STRING; k++) total += p->t->toks[k].len;
        char *joined = malloc(total + 1);
        if (!joined) {
            g4_error("template: out of memory");
            return NULL;
        }
        total = 0;
        while (p->tok->type == T_STRING) {
            memcpy(joined + total, p->tok->s, p->tok->len);
            total += p->tok->len;
            jp_advance(p);
        }
        node = jp_new_named(p, K_CONST, pos, joined, total);
        free(joined);
        return node;
    }
    case T_INT: case T_FLOAT:
        if ((node = jp_new_node(p, K_CONST, tok->pos)))
            node->value = tok->type == T_INT ? jv_int(tok->i) : jv_float(tok->f);
        jp_advance(p);
        return node;
    case T_LPAREN:
        jp_advance(p);
        node = jp_tuple(p, 0, 1, NULL, 1);
        if (node && jp_expect(p, T_RPAREN)) return NULL;
        return node;
    case T_LBRACKET: case T_LBRACE: {
        int is_dict = tok->type == T_LBRACE;
        jtok_type close = is_dict ? T_RBRACE : T_RBRACKET;
        nodevec keys = {0}, vals = {0};
        node = jp_new_node(p, is_dict ? K_DICT : K_LIST, tok->pos);
        jp_advance(p);
        while (node && p->tok->type != close) {
            if ((keys.n && jp_expect(p, T_COMMA))) goto fail_seq;
            if (p->tok->type == close) break;
            if (jp_vec_push(&keys, jp_expression(p, 1))) goto fail_seq;
            if (is_dict && (jp_expect(p, T_COLON) || jp_vec_push(&vals, jp_expression(p, 1)))) goto fail_seq;
        }
        if (!node || jp_expect(p, close) || jp_vec_done(p, &keys, &node->list) || jp_vec_done(p, &vals, &node->list2))
            goto fail_seq;
        return node;
    fail_seq:
        free(keys.v);
        free(vals.v);
        return NULL;
    }
    default:
        jp_fail_here(p, "unexpected '%s'");
        return NULL;
    }
}

/* Arguments of a call, filter or test: (a, b, key=c, *d, **e) into list, list2, b, c. */
static int parse_call_args(parser *p, jnode *into) {
    size_t open = p->tok->pos;
    if (jp_expect(p, T_LPAREN)) return -1;
    nodevec args = {0}, kwargs = {0};
    int need_comma = 0;
    while (p->tok->type != T_RPAREN) {
        if (need_comma) {
            if (jp_expect(p, T_COMMA)) goto fail;
            if (p->tok->type == T_RPAREN) break;
        }
        if (p->tok->type == T_MUL || p->tok->type == T_POW) {
            int star2 = p->tok->type == T_POW;
            if ((star2 ? into->c : into->b) || (!star2 && into->c)) goto bad;
            jp_advance(p);
            jnode *e = jp_expression(p, 1);
            if (!e) goto fail;
            if (star2) into->c = e;
            else into->b = e;
        } else if (p->tok->type == T_NAME && jp_peek(p)->type == T_ASSIGN) {
            if (into->c) goto bad;
            jnode *kw = jp_new_named(p, K_KEYWORD, p->tok->pos, p->tok->s, p->tok->len);
            jp_advance(p);
            jp_advance(p);
            if (!kw || !(kw->a = jp_expression(p, 1)) || jp_vec_push(&kwargs, kw)) goto fail;
        } else {
            if (into->b || into->c || kwargs.n) goto bad;
            if (jp_vec_push(&args, jp_expression(p, 1))) goto fail;
        }
        need_comma = 1;
    }
    jp_advance(p);
    if (jp_vec_done(p, &args, &into->list) || jp_vec_done(p, &kwargs, &into->list2)) goto fail;
    return 0;
bad:
    jp_error_at(p, open, "%s", "invalid syntax for function call expression");
fail:
    free(args.v);
    free(kwargs.v);
    return -1;
}

static jnode *parse_subscribed(parser *p) {
    size_t pos = p->tok->pos;
    jnode *parts[3] = {NULL, NULL, NULL};
    if (p->tok->type == T_COLON) {
        jp_advance(p);
    } else {
        jnode *e = jp_expression(p, 1);
        if (!e || p->tok->type != T_COLON) return e;
        jp_advance(p);
        parts[0] = e;
    }
    if (p->tok->type != T_COLON && p->tok->type != T_RBRACKET && p->tok->type != T_COMMA)
        if (!(parts[1] = jp_expression(p, 1))) return NULL;
    if (p->tok->type == T_COLON) {
        jp_advance(p);
        if (p->tok->type != T_RBRACKET && p->tok->type != T_COMMA)
            if (!(parts[2] = jp_expression(p, 1))) return NULL;
    }
    jnode *s = jp_new_node(p, K_SLICE, pos);
    if (s) s->a = parts[0], s->b = parts[1], s->c = parts[2];
    return s;
}

static jnode *parse_subscript(parser *p, jnode *node) {
    jtoken *tok = p->tok;
    jp_advance(p);
    if (tok->type == T_DOT) {
        jtoken *attr = p->tok;
        jp_advance(p);
        if (attr->type == T_NAME) {
            jnode *g = jp_new_named(p, K_GETATTR, node->pos, attr->s, attr->len);
            if (g) g->a = node;
            return g;
        }
        if (attr->type != T_INT) {
            jp_error_at(p, attr->pos, "%s", "expected name or number");
            return NULL;
        }
        jnode *g = jp_new_node(p, K_GETITEM, node->pos), *k = jp_new_node(p, K_CONST, attr->pos);
        if (!g || !k) return NULL;
        k->value = jv_int(attr->i);
        g->a = node, g->b = k;
        return g;
    }
    nodevec args = {0};
    while (p->tok->type != T_RBRACKET) {
        if (args.n && jp_expect(p, T_COMMA)) goto fail;
        if (jp_vec_push(&args, parse_subscribed(p))) goto fail;
    }
    if (jp_expect(p, T_RBRACKET)) goto fail;
    jnode *g = jp_new_node(p, K_GETITEM, node->pos);
    if (!g) goto fail;
    g->a = node;
    if (args.n == 1) {
        g->b = args.v[0];
        free(args.v);
    } else {
        jnode *tuple = jp_new_node(p, K_TUPLE, tok->pos);
        if (!tuple || jp_vec_done(p, &args, &tuple->list)) goto fail;
        g->b = tuple;
    }
    return g;
fail:
    free(args.v);
    return NULL;
}

static jnode *parse_postfix(parser *p, jnode *node) {
    while (node) {
        if (p->tok->type == T_DOT || p->tok->type == T_LBRACKET) {
            node = parse_subscript(p, node);
        } else if (p->tok->type == T_LPAREN) {
            jnode *call = jp_new_node(p, K_CALL, node->pos);
            if (!call) return NULL;
            call->a = node;
            node = parse_call_args(p, call) ? NULL : call;
        } else {
            break;
        }
    }
    return node;
}

/* A dotted filter or test name (name.name...) into node->value. */
static int parse_dotted_name(parser *p, jnode *node) {
    if (p->tok->type != T_NAME) return jp_expect(p, T_NAME);
    char name[128];
    size_t len = 0;
    for (;;) {
        if (p->tok->type != T_NAME) return jp_expect(p, T_NAME);
        if (len + p->tok->len + 1 >= sizeof name) return jp_fail_here(p, "name too long at '%s'");
        memcpy(name + len, p->tok->s, p->tok->len);
        len += p->tok->len;
        jp_advance(p);
        if (p->tok->type != T_DOT) break;
        name[len++] = '.';
        jp_advance(p);
    }
    jv_str *s = jconst_str(p->t, name, len);
    if (!s) return g4_error("template: out of memory");
    node->value = jv_obj_value(s);
    return 0;
}

jnode *jp_filter(parser *p, jnode *node, int start_inline) {
    while (p->tok->type == T_PIPE || start_inline) {
        if (!start_inline) jp_advance(p);
        start_inline = 0;
        jnode *f = jp_new_node(p, K_FILTER, p->tok->pos);
        if (!f || parse_dotted_name(p, f)) return NULL;
        f->a = node;
        f->op = (int16_t)jfilter_lookup(JSTR(f->value)->s, JSTR(f->value)->len);
        if (p->tok->type == T_LPAREN && parse_call_args(p, f)) return NULL;
        node = f;
    }
    return node;
}

static jnode *parse_test(parser *p, jnode *node) {
    size_t pos = p->tok->pos;
    jp_advance(p); /* is */
    int negated = jp_skip_name(p, "not");
    jnode *t = jp_new_node(p, K_TEST, pos);
    if (!t || parse_dotted_name(p, t)) return NULL;
    t->a = node;
    t->op = (int16_t)jtest_lookup(JSTR(t->value)->s, JSTR(t->value)->len);
    jtok_type ty = (jtok_type)p->tok->type;
    if (ty == T_LPAREN) {
        if (parse_call_args(p, t)) return NULL;
    } else if ((ty == T_NAME || ty == T_STRING || ty == T_INT || ty == T_FLOAT || ty == T_LBRACKET ||
                ty == T_LBRACE) &&
               !jp_is_name(p->tok, "else") && !jp_is_name(p->tok, "or") && !jp_is_name(p->tok, "and")) {
        if (jp_is_name(p->tok, "is")) {
            jp_fail_here(p, "You cannot chain multiple tests with is");
            return NULL;
        }
        jnode *arg = parse_postfix(p, jp_primary(p));
        if (!arg) return NULL;
        t->list.v = jarena_alloc(&p->t->arena, sizeof *t->list.v);
        if (!t->list.v) return NULL;
        t->list.v[0] = arg;
        t->list.n = 1;
    }
    if (!negated) return t;
    jnode *not = jp_new_node(p, K_NOT, pos);
    if (not) not->a = t;
    return not;
}

static jnode *parse_filter_expr(parser *p, jnode *node) {
    while (node) {
        if (p->tok->type == T_PIPE) {
            node = jp_filter(p, node, 0);
        } else if (jp_is_name(p->tok, "is")) {
            node = parse_test(p, node);
        } else if (p->tok->type == T_LPAREN) {
            jnode *call = jp_new_node(p, K_CALL, node->pos);
            if (!call) return NULL;
            call->a = node;
            node = parse_call_args(p, call) ? NULL : call;
        } else {
            break;
        }
    }
    return node;
}

static jnode *parse_unary(parser *p, int with_filter) {
    if (jp_enter(p)) return NULL;
    jnode *node;
    if (p->tok->type == T_SUB || p->tok->type == T_ADD) {
        node = jp_new_node(p, p->tok->type == T_SUB ? K_NEG : K_POS, p->tok->pos);
        jp_advance(p);
        if (node && !(node->a = parse_unary(p, 0))) node = NULL;
    } else {
        node = jp_primary(p);
    }
    node = parse_postfix(p, node);
    if (with_filter) node = parse_filter_expr(p, node);
    p->depth--;
    return node;
}

static jnode *binary(parser *p, jnode_kind kind, int op, size_t pos, jnode *a, jnode *b) {
    if (!a || !b) return NULL;
    jnode *n = jp_new_node(p, kind, pos);
    if (n) n->op = (int16_t)op, n->a = a, n->b = b;
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *left = parse_unary(p, 1);
    while (left && p->tok->type == T_POW) {
        size_t pos = p->tok->pos;
        jp_advance(p);
        left = binary(p, K_BINARY, T_POW, pos, left, parse_unary(p, 1));
    }
    return left;
}

static jnode *parse_math2(parser *p) {
    jnode *left = parse_pow(p);
    while (left && (p->tok->type == T_MUL || p->tok->type == T_DIV || p->tok->type == T_FLOORDIV ||
                    p->tok->type == T_MOD)) {
        int op = p->tok->type;
        size_t pos = p->tok->pos;
        jp_advance(p);
        left = binary(p, K_BINARY, op, pos, left, parse_pow(p));
    }
    return left;
}

static jnode *parse_concat(parser *p) {
    size_t pos = p->tok->pos;
    jnode *first = parse_math2(p);
    if (!first || p->tok->type != T_TILDE) return first;
    nodevec parts = {0};
    if (jp_vec_push(&parts, first)) return NULL;
    while (p->tok->type == T_TILDE) {
        jp_advance(p);
        if (jp_vec_push(&parts, parse_math2(p))) {
            free(parts.v);
            return NULL;
        }
    }
    jnode *n = jp_new_node(p, K_CONCAT, pos);
    if (!n || jp_vec_done(p, &parts, &n->list)) {
        free(parts.v);
        return NULL;
    }
    return n;
}

static jnode *parse_math1(parser *p) {
    jnode *left = parse_concat(p);
    while (left && (p->tok->type == T_ADD || p->tok->type == T_SUB)) {
        int op = p->tok->type;
        size_t pos = p->tok->pos;
        jp_advance(p);
        left = binary(p, K_BINARY, op, pos, left, parse_concat(p));
    }
    return left;
}

static jnode *parse_compare(parser *p) {
    size_t pos = p->tok->pos;
    jnode *expr = parse_math1(p);
    nodevec ops = {0};
    while (expr) {
        int op;
        jtok_type ty = (jtok_type)p->tok->type;
        size_t opos = p->tok->pos;
        if (ty == T_EQ || ty == T_NE || ty == T_LT || ty == T_LTEQ || ty == T_GT || ty == T_GTEQ) {
            op = ty;
            jp_advance(p);
        } else if (jp_is_name(p->tok, "in")) {
            op = JOP_IN;
            jp_advance(p);
        } else if (jp_is_name(p->tok, "not") && jp_is_name(jp_peek(p), "in")) {
            op = JOP_NOTIN;
            jp_advance(p);
            jp_advance(p);
        } else {
            break;
        }
        jnode *operand = jp_new_node(p, K_OPERAND, opos);
        if (!operand || !(operand->a = parse_math1(p)) || jp_vec_push(&ops, operand)) {
            free(ops.v);
            return NULL;
        }
        operand->op = (int16_t)op;
    }
    if (!expr || !ops.n) return expr;
    jnode *n = jp_new_node(p, K_COMPARE, pos);
    if (!n || jp_vec_done(p, &ops, &n->list)) {
        free(ops.v);
        return NULL;
    }
    n->a = expr;
    return n;
}

static jnode *parse_not(parser *p) {
    if (!jp_is_name(p->tok, "not")) return parse_compare(p);
    if (jp_enter(p)) return NULL;
    jnode *n = jp_new_node(p, K_NOT, p->tok->pos);
    jp_advance(p);
    if (n && !(n->a = parse_not(p))) n = NULL;
    p->depth--;
    return n;
}

static jnode *parse_and(parser *p) {
    jnode *left = parse_not(p);
    while (left && jp_is_name(p->tok, "and")) {
        size_t pos = p->tok->pos;
        jp_advance(p);
        left = binary(p, K_AND, 0, pos, left, parse_not(p));
    }
    return left;
}

static jnode *parse_or(parser *p) {
    jnode *left = parse_and(p);
    while (left && jp_is_name(p->tok, "or")) {
        size_t pos = p->tok->pos;
        jp_advance(p);
        left = binary(p, K_OR, 0, pos, left, parse_and(p));
    }
    return left;
}

static jnode *parse_condexpr(parser *p) {
    if (jp_enter(p)) return NULL;
    jnode *expr = parse_or(p);
    while (expr && jp_is_name(p->tok, "if")) {
        jnode *c = jp_new_node(p, K_COND, p->tok->pos);
        jp_advance(p);
        if (!c || !(c->a = parse_or(p))) {
            expr = NULL;
            break;
        }
        c->b = expr;
        if (jp_skip_name(p, "else") && !(c->c = parse_condexpr(p))) c = NULL;
        expr = c;
    }
    p->depth--;
    return expr;
}

jnode *jp_expression(parser *p, int with_condexpr) {
    return with_condexpr ? parse_condexpr(p) : parse_or(p);
}

static int is_tuple_end(parser *p, const char *extra_end) {
    jtok_type ty = (jtok_type)p->tok->type;
    if (ty == T_VAR_END || ty == T_BLOCK_END || ty == T_RPAREN) return 1;
    return extra_end && jp_is_name(p->tok, extra_end);
}

jnode *jp_tuple(parser *p, int simplified, int with_condexpr, const char *extra_end, int explicit_parens) {
    size_t pos = p->tok->pos;
    nodevec items = {0};
    int is_tuple = 0;
    for (;;) {
        if (items.n && jp_expect(p, T_COMMA)) goto fail;
        if (is_tuple_end(p, extra_end)) break;
        jnode *e = simplified ? jp_primary(p) : jp_expression(p, with_condexpr);
        if (jp_vec_push(&items, e)) goto fail;
        if (p->tok->type != T_COMMA) break;
        is_tuple = 1;
    }
    if (!is_tuple) {
        if (items.n) {
            jnode *only = items.v[0];
            free(items.v);
            return only;
        }
        if (!explicit_parens) {
            jp_fail_here(p, "Expected an expression, got '%s'");
            goto fail;
        }
    }
    jnode *t = jp_new_node(p, K_TUPLE, pos);
    if (!t || jp_vec_done(p, &items, &t->list)) goto fail;
    return t;
fail:
    free(items.v);
    return NULL;
}

