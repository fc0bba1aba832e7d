/* jinja_internal.h: what the parts of the Jinja engine share: the value model
 * (jv), the per-render heap, the syntax tree (jnode) and the render state.
 *
 * Reading order:
 *   jinja_value.c       values, reference counts, lists, dicts, scopes, the heap
 *   jinja_text.c        UTF-8, Python's str()/repr(), float repr, JSON in and out
 *   jinja_lex.c         source -> tokens, with Jinja's whitespace control
 *   jinja_parse.c       the parser's helpers, statements -> syntax tree
 *   jinja_parse_expr.c  expressions -> syntax tree
 *   jinja_exec.c        statements, scopes, macros, limits, the render entry points
 *   jinja_eval.c        expressions: names, attributes, items, slices, calls
 *   jinja_ops.c         operators: arithmetic, comparisons, in
 *   jinja_filters.c     filters on strings, numbers and values; the filter lookup
 *   jinja_filters_seq.c filters on sequences and mappings
 *   jinja_tests.c       tests (x is defined, x is mapping, ...)
 *   jinja_builtins.c    globals (range, namespace, ...), dict/list/loop methods, lookup
 *   jinja_strings.c     str methods
 *   jinja_format.c      str.format and "fmt" % args
 *
 * Ownership: a jv that is returned through an out-parameter is owned by the
 * caller (one reference); arguments are borrowed unless a comment says the
 * function consumes them. Functions return 0 on success and -1 on error; an
 * error is either already described in the render state (jr_fail) or is an
 * exhausted memory limit (heap.exceeded), which the caller reports. */
#ifndef G4_JINJA_INTERNAL_H
#define G4_JINJA_INTERNAL_H

#include "jinja.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* ---- values --------------------------------------------------------------------- */

typedef enum {
    JV_UNDEFINED, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT,             /* immediate */
    JV_STRING, JV_LIST, JV_DICT, JV_NAMESPACE, JV_MACRO, JV_FUNC, /* on the heap */
    JV_LOOP, JV_SCOPE,                                            /* (a scope is not a template value) */
    JV_MISSING = 255,                                             /* an argument that was not passed */
} jv_kind;

/* Why a value is undefined; decides the message when it is used. */
typedef enum {
    JU_PLAIN,    /* no details */
    JU_NAME,     /* no variable u.obj (a string) */
    JU_ATTR,     /* the owner has no attribute u.obj */
    JU_ELEMENT,  /* the owner has no element u.i */
    JU_PARAM,    /* macro parameter u.obj was not provided */
    JU_UNSAFE,   /* attribute u.obj of the owner is blocked by the sandbox */
    JU_HINT,     /* the message is u.hint (a static string) */
} jv_undef_why;

typedef struct jv_obj jv_obj;
typedef struct jv_heap jv_heap;

typedef struct jv {
    uint8_t kind;   /* jv_kind */
    uint8_t why;    /* JV_UNDEFINED: jv_undef_why */
    uint8_t owner;  /* JV_UNDEFINED: the kind of value that lacked the attribute */
    union {
        int64_t i;  /* JV_BOOL (0/1), JV_INT, JU_ELEMENT */
        double f;   /* JV_FLOAT */
        jv_obj *obj;
        const char *hint;
    } u;
} jv;

struct jv_obj {
    int32_t refs;        /* < 0: immortal (a constant owned by a parsed template) */
    uint8_t kind;
    jv_heap *heap;
    jv_obj *prev, *next; /* the heap's list of live objects (or the list being freed) */
};

typedef struct {
    jv_obj h;
    size_t len;          /* bytes, without the terminating NUL */
    size_t ncp;          /* code points */
    char s[];
} jv_str;

typedef struct {
    jv_obj h;
    size_t len, cap;
    jv *items;
    int tuple;           /* prints as (a, b) */
} jv_list;

/* Insertion-ordered hash map; also the attributes of a namespace and the
 * variables of a scope. Keys are hashable scalars (none, bool, int, float, str). */
typedef struct {
    jv_obj h;
    size_t len, cap;
    jv *keys, *vals;
    uint32_t *slots;     /* open addressing: index + 1, 0 = empty; NULL while small */
    size_t nslots;
} jv_dict;

typedef struct jscope {
    jv_dict vars;        /* h.kind = JV_SCOPE */
    struct jscope *parent;
} jscope;

struct jnode;
typedef struct {
    jv_obj h;
    const struct jnode *def; /* K_MACRO, or K_CALL_BLOCK for caller() */
    jscope *closure;
} jv_macro;

typedef struct {
    jv_obj h;
    int id;              /* builtin id (jinja_builtins.c) */
    jv self;             /* the receiver of a bound method */
} jv_func;

typedef struct {
    jv_obj h;
    int64_t index0, length;
    jv items;            /* the list being iterated (previtem, nextitem) */
} jv_loop;

struct jv_heap {
    size_t live, limit;  /* bytes */
    size_t max_string;   /* bytes of one string */
    int exceeded;        /* 1: the memory limit, 2: max_string */
    int freeing;         /* inside jv_release's loop: defer nested frees to it */
    jv_obj all;          /* sentinel of the list of live objects */
    jv_obj *to_free;     /* objects whose count reached zero, not yet released */
};

#define JV_MAX_NESTING 256 /* repr, JSON, comparisons: deeper values are an error */

static inline jv jv_none(void) { jv v = {.kind = JV_NONE}; return v; }
static inline jv jv_bool(int b) { jv v = {.kind = JV_BOOL}; v.u.i = b != 0; return v; }
static inline jv jv_int(int64_t i) { jv v = {.kind = JV_INT}; v.u.i = i; return v; }
static inline jv jv_float(double f) { jv v = {.kind = JV_FLOAT}; v.u.f = f; return v; }
static inline jv jv_missing(void) { jv v = {.kind = JV_MISSING}; return v; }
static inline jv jv_undef_hint(const char *hint) { jv v = {.kind = JV_UNDEFINED, .why = JU_HINT}; v.u.hint = hint; return v; }
/* Consumes name (a string value, or none). */
jv jv_undef(jv_undef_why why, jv_kind owner, jv name);
static inline jv jv_undef_element(jv_kind owner, int64_t index) {
    jv v = {.kind = JV_UNDEFINED, .why = JU_ELEMENT, .owner = (uint8_t)owner};
    v.u.i = index;
    return v;
}

static inline int jv_is_obj(jv v) {
    return (v.kind >= JV_STRING && v.kind <= JV_SCOPE) ||
           (v.kind == JV_UNDEFINED && v.why >= JU_NAME && v.why != JU_ELEMENT && v.why != JU_HINT && v.u.obj);
}
static inline jv_str *JSTR(jv v) { return (jv_str *)v.u.obj; }
static inline jv_list *JLIST(jv v) { return (jv_list *)v.u.obj; }
static inline jv_dict *JDICT(jv v) { return (jv_dict *)v.u.obj; }
static inline int jv_is_number(jv v) { return v.kind == JV_BOOL || v.kind == JV_INT || v.kind == JV_FLOAT; }
static inline int jv_is_seq(jv v) { return v.kind == JV_LIST; } /* list or tuple */
static inline jv jv_obj_value(void *obj) {
    jv v = {.kind = ((jv_obj *)obj)->kind};
    v.u.obj = obj;
    return v;
}

void jv_heap_init(jv_heap *h, size_t limit, size_t max_string);
void jv_heap_free_all(jv_heap *h);      /* frees every object still alive, cycles included */
void *jv_alloc(jv_heap *h, size_t n);   /* NULL (and h->exceeded) past the limit */
void jv_free(jv_heap *h, void *p, size_t n);

void jv_incref(jv v);
void jv_decref(jv v);

/* Strings. jv_str_alloc leaves s[0..len) to the caller, then jv_str_done counts code points. */
jv_str *jv_str_alloc(jv_heap *h, size_t len);
void jv_str_done(jv_str *s);
int jv_new_str(jv_heap *h, const char *s, size_t n, jv *out);
static inline int jv_new_cstr(jv_heap *h, const char *s, jv *out) {
    size_t n = 0;
    while (s[n]) n++;
    return jv_new_str(h, s, n, out);
}

int jv_new_list(jv_heap *h, size_t cap, int tuple, jv *out);
int jv_list_push(jv_list *l, jv item);  /* consumes item */
int jv_new_dict(jv_heap *h, jv_kind kind, jv *out); /* JV_DICT or JV_NAMESPACE */
int jv_dict_set(jv_dict *d, jv key, jv val);        /* consumes key and val; key must be hashable */
jv *jv_dict_find(const jv_dict *d, jv key);         /* borrowed; NULL if absent */
jv *jv_dict_find_str(const jv_dict *d, const char *s, size_t n);
int jv_hashable(jv v);

int jv_new_scope(jv_heap *h, jscope *parent, jscope **out);
int jv_new_macro(jv_heap *h, const struct jnode *def, jscope *closure, jv *out);
int jv_new_func(jv_heap *h, int id, jv self, jv *out);
int jv_new_loop(jv_heap *h, jv items, int64_t length, jv *out);
jv *jscope_find(jscope *s, const char *name, size_t n); /* the nearest scope that has it */
int jscope_set(jscope *s, jv name, jv val);             /* consumes name and val */
void jscope_release(jscope *s);

int jv_truthy(jv v);
int jv_equal(jv a, jv b);
/* Python's ordering: *cmp = -1/0/1; returns -1 when the types cannot be ordered. */
int jv_compare(jv a, jv b, int *cmp);
/* Python's type name ("str", "int", "NoneType", ...). */
const char *jv_type_name(jv v);
const char *jv_kind_name(jv_kind k);

/* ---- text: UTF-8, Python str/repr, JSON -------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap, limit;
    int over;            /* 1: a write would have passed limit, 2: out of memory */
    jv_heap *heap;       /* when set, the buffer's memory counts against this heap's limit */
} jbuf;

void jbuf_init(jbuf *b, size_t limit);
void jbuf_free(jbuf *b);
int jbuf_put(jbuf *b, const char *s, size_t n);
int jbuf_puts(jbuf *b, const char *s);
int jbuf_putc(jbuf *b, char c);
int jbuf_printf(jbuf *b, const char *fmt, ...) G4_PRINTF(2, 3);
int jbuf_put_cp(jbuf *b, uint32_t cp);

uint32_t utf8_decode(const char *s, size_t n, size_t *i); /* advances *i; invalid bytes decode as themselves */
size_t utf8_count(const char *s, size_t n);
size_t utf8_offset(const char *s, size_t n, size_t ncp, size_t index); /* byte offset of code point index */
int utf8_valid(const char *s, size_t n, size_t *bad);
int py_isspace(uint32_t cp);
int py_isalpha(uint32_t cp);
int py_isdigit(uint32_t cp);
int py_isupper(uint32_t cp);
int py_islower(uint32_t cp);
uint32_t py_toupper(uint32_t cp);
uint32_t py_tolower(uint32_t cp);

void py_float_repr(double x, char out[40]);
/* str(v) and repr(v) as Python prints them; -1 past the buffer limit or too deep. */
int jv_write_str(jbuf *b, jv v);
int jv_write_repr(jbuf *b, jv v, int depth);

typedef struct {
    int ensure_ascii, sort_keys;
    const char *indent;           /* NULL: compact */
    const char *item_sep, *key_sep;
} jjson_opts;
/* json.dumps; -1 with a message in err for values JSON cannot hold. */
int jv_write_json(jbuf *b, jv v, const jjson_opts *o, int depth, char *err, size_t errsz);
int jv_from_json(jv_heap *h, json_t *j, jv *out);

/* ---- the syntax tree --------------------------------------------------------------- */

typedef enum {
    /* statements */
    K_TEXT,         /* value: the text */
    K_OUTPUT,       /* {{ a }} */
    K_IF,           /* if a: list else list2 (an elif is a K_IF alone in list2) */
    K_FOR,          /* for a in b [if c]: list else list2 */
    K_SET,          /* set a = b */
    K_SET_BLOCK,    /* set a [| b filters] %} list {% endset */
    K_MACRO,        /* macro value(list: K_PARAM) %} list2; op: JM_* flags */
    K_CALL_BLOCK,   /* call(list: K_PARAM) a %} list2 */
    K_FILTER_BLOCK, /* filter a (a chain of K_FILTER whose innermost input is NULL) %} list */
    K_WITH,         /* with list (K_SET) %} list2 */
    K_BREAK, K_CONTINUE,
    K_SCOPE,        /* a plain body (the generation tag): list */
    /* expressions */
    K_CONST,        /* value */
    K_NAME,         /* value: the name */
    K_TUPLE, K_LIST, /* list: items */
    K_DICT,         /* list: keys, list2: values */
    K_GETATTR,      /* a.value */
    K_GETITEM,      /* a[b] */
    K_SLICE,        /* a:b:c (each may be NULL) */
    K_CALL,         /* a(list, list2: K_KEYWORD, *b, **c) */
    K_KEYWORD,      /* value = a */
    K_FILTER,       /* a | value(list, list2); op: filter id or -1 */
    K_TEST,         /* a is value(list, list2); op: test id or -1 */
    K_NEG, K_POS, K_NOT, /* op a */
    K_AND, K_OR,    /* a op b */
    K_BINARY,       /* a op b; op: T_ADD ... T_POW */
    K_COMPARE,      /* a, then list: K_OPERAND (op: T_EQ ... or JOP_IN/JOP_NOTIN, a: the operand) */
    K_OPERAND,
    K_CONCAT,       /* list joined with ~ */
    K_COND,         /* b if a else c (c may be NULL) */
    K_NSREF,        /* a (a K_NAME) . value, as an assignment target */
    K_PARAM,        /* value [= a] */
} jnode_kind;

enum { JOP_IN = 1000, JOP_NOTIN };
enum { JM_CALLER = 1, JM_VARARGS = 2, JM_KWARGS = 4 };

typedef struct jnode jnode;
typedef struct {
    jnode **v;
    uint32_t n;
} jlist;

struct jnode {
    uint8_t kind;        /* jnode_kind */
    int16_t op;
    uint32_t pos;        /* byte offset in the normalized source */
    jv value;            /* an immortal constant */
    jnode *a, *b, *c;
    jlist list, list2;
};

/* ---- lexer --------------------------------------------------------------------------- */

typedef enum {
    T_EOF, T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END,
    T_NAME, T_STRING, T_INT, T_FLOAT,
    T_ADD, T_SUB, T_MUL, T_DIV, T_FLOORDIV, T_MOD, T_POW, T_TILDE,
    T_LBRACKET, T_RBRACKET, T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE,
    T_EQ, T_NE, T_GT, T_GTEQ, T_LT, T_LTEQ,
    T_ASSIGN, T_DOT, T_COLON, T_PIPE, T_COMMA, T_SEMICOLON,
} jtok_type;

typedef struct {
    uint8_t type;
    uint32_t pos;
    const char *s;       /* T_DATA, T_NAME: a slice of the source; T_STRING: the decoded text */
    size_t len;
    int64_t i;           /* T_INT */
    double f;            /* T_FLOAT */
} jtoken;

/* A bump allocator for everything a parsed template owns. */
typedef struct jarena_chunk jarena_chunk;
typedef struct {
    jarena_chunk *head;
} jarena;
void *jarena_alloc(jarena *a, size_t n); /* zeroed; NULL when out of memory */
void jarena_free(jarena *a);

struct g4_jinja_template {
    jarena arena;
    char *src;           /* normalized source: \n line ends, one trailing newline dropped */
    size_t len;
    jtoken *toks;        /* freed after parsing */
    size_t ntoks;
    jlist body;
};

/* Reports a syntax error at byte offset pos through g4_error(); returns -1. */
int jsyntax_error(const char *src, size_t len, size_t pos, const char *fmt, ...) G4_PRINTF(4, 5);
void jsource_line_col(const char *src, size_t len, size_t pos, int *line, int *col);
void jone_line(char *msg); /* control characters -> spaces: an error message is one line */
/* Normalizes tpl->src and fills tpl->toks. */
int jlex(g4_jinja_template *tpl, const char *src, size_t len);
int jparse(g4_jinja_template *tpl);
/* An immortal string owned by the template (NULL when out of memory). */
jv_str *jconst_str(g4_jinja_template *tpl, const char *s, size_t n);

/* ---- the parser (jinja_parse.c: helpers and statements; jinja_parse_expr.c) ---- */

#define JP_MAX_MACRO_NESTING 64

typedef struct {
    g4_jinja_template *t;
    jtoken *tok;         /* the current token */
    size_t i;
    int depth;
    int loop_depth;      /* break/continue are allowed inside loops, not across macros */
    jnode *macros[JP_MAX_MACRO_NESTING]; /* the macros being parsed (caller/varargs/kwargs uses) */
    int nmacros;
    const char *block;   /* the innermost block tag, for messages */
} parser;

/* A growing list of nodes, copied into the arena when done. */
typedef struct {
    jnode **v;
    uint32_t n, cap;
} nodevec;

int jp_error_at(parser *p, size_t pos, const char *fmt, const char *arg);
const char *jp_describe(const jtoken *tok, char *buf, size_t n);
int jp_fail_here(parser *p, const char *fmt); /* fmt has one %s: the current token */
void jp_advance(parser *p);
const jtoken *jp_peek(parser *p);
int jp_is_name(const jtoken *tok, const char *name);
int jp_skip_name(parser *p, const char *name);
int jp_skip(parser *p, jtok_type type);
int jp_expect(parser *p, jtok_type type);
jnode *jp_new_node(parser *p, jnode_kind kind, size_t pos);
jnode *jp_new_named(parser *p, jnode_kind kind, size_t pos, const char *s, size_t len);
int jp_vec_push(nodevec *v, jnode *n);
int jp_vec_done(parser *p, nodevec *v, jlist *out);
int jp_enter(parser *p); /* one level deeper; fails past the nesting limit */

jnode *jp_expression(parser *p, int with_condexpr);
jnode *jp_tuple(parser *p, int simplified, int with_condexpr, const char *extra_end, int explicit_parens);
jnode *jp_primary(parser *p);
jnode *jp_filter(parser *p, jnode *node, int start_inline);

/* ---- rendering ---------------------------------------------------------------------- */

typedef struct jrender {
    const g4_jinja_template *tpl;
    g4_jinja_limits lim;
    jv_heap heap;
    jbuf *out;           /* where output goes now: the result, or a macro's or block's capture */
    jscope *root;        /* the variables, and the template's top-level assignments */
    uint64_t steps;
    int call_depth;
    uintptr_t stack_base;
    int failed;
    char err[768];
} jrender;

typedef struct {
    const char *name;    /* NUL-terminated */
    jv val;
} jkwarg;

typedef struct {
    jv *args;
    size_t nargs;
    jkwarg *kw;
    size_t nkw;
} jcall;

/* Records "template:LINE:COL: message" for node at (the first error wins); returns -1. */
int jr_fail(jrender *r, const jnode *at, const char *fmt, ...) G4_PRINTF(3, 4);
/* After a -1 from a helper: makes sure an error is recorded (memory limit, or generic). */
int jr_fail_oom(jrender *r, const jnode *at);
/* The error a use of an undefined value raises. */
int jr_fail_undefined(jrender *r, const jnode *at, jv undef);

/* jinja_eval.c */
int jeval(jrender *r, const jnode *e, jscope *sc, jv *out);
int jeval_getattr(jrender *r, const jnode *at, jv obj, const char *name, size_t n, jv *out);
int jeval_getitem(jrender *r, const jnode *at, jv obj, jv key, jv *out);
int jeval_call(jrender *r, const jnode *at, jv fn, const jcall *c, jv *out);
int jeval_to_str(jrender *r, const jnode *at, jv v, jv *out); /* str(v) as a string value */
/* Applies filter node f (its arguments evaluated in sc) to input, ignoring f->a. */
int jeval_filter_on(jrender *r, const jnode *f, jscope *sc, jv input, jv *out);
/* Evaluates a K_CALL node with caller() bound to caller (a call block). */
int jeval_call_with_caller(jrender *r, const jnode *call, jscope *sc, jv caller, jv *out);
/* Iterating v: its items as a list (list/tuple: the same list), as Python would. */
int jeval_iterate(jrender *r, const jnode *at, jv v, jv *out_list);

/* jinja_exec.c */
int jcall_macro(jrender *r, const jnode *at, jv_macro *m, const jcall *c, jv caller, jv *out);
int jexec_capture(jrender *r, const jlist *body, jscope *sc, jv *out);

/* Binding call arguments to named parameters: slots[i] receives the borrowed
 * argument for params[i] (a NULL-terminated list), or JV_MISSING. */
int jcall_bind(jrender *r, const jnode *at, const char *fname, const jcall *c, const char *const *params,
               jv *slots);

/* jinja_filters.c (and jinja_filters_seq.c) */
typedef int (*jfilter_fn)(jrender *r, const jnode *at, jv input, const jcall *c, jv *out);
typedef struct {
    const char *name;
    jfilter_fn fn;
} jfilter;
extern const jfilter jseq_filters[];
extern const int jseq_nfilters;
int jfilter_lookup(const char *name, size_t n);
int jfilter_apply(jrender *r, const jnode *at, int id, jv input, const jcall *c, jv *out);

/* A buffer for building a string under the output limit, and the string it holds (freeing it). */
void jr_buf_init(jrender *r, jbuf *b);
int jr_str_from_buf(jrender *r, const jnode *at, jbuf *b, jv *out);

/* jinja_ops.c */
int jeval_binop(jrender *r, const jnode *at, int op, jv a, jv b, jv *out); /* a op b, op: T_ADD ... T_POW */
/* a op b for op T_EQ ... T_GTEQ, JOP_IN, JOP_NOTIN */
int jeval_compare(jrender *r, const jnode *at, int op, jv a, jv b, int *result);

/* Checks that v is an int (or bool) / a str, else fails with a TypeError-like message. */
int jr_need_int(jrender *r, const jnode *at, jv v, int64_t *out);
int jr_need_str(jrender *r, const jnode *at, jv v, const char *what);

/* Builtin functions and methods: jinja_builtins.c (globals, dict/list/loop
 * methods, lookup) and jinja_strings.c (str methods). */
typedef int (*jbuiltin_fn)(jrender *r, const jnode *at, jv self, const jcall *c, jv *out);
enum { JB_GLOBAL = 0 };
typedef struct {
    const char *name;
    uint8_t receiver;    /* JB_GLOBAL, or the jv_kind whose method this is */
    uint8_t tuple_ok;    /* JV_LIST methods that tuples have too */
    jbuiltin_fn fn;
} jbuiltin;
extern const jbuiltin jstr_methods[];
extern const int jstr_nmethods;

/* A global function (range, namespace, ...) as a value; 0 if there is none by that name. */
int jglobal_lookup(const char *name, size_t n, jv *out);
/* A method of v's type: 1 and the builtin id, 0 if v has no such attribute,
 * -2 if the sandbox blocks it. */
int jmethod_lookup(jv v, const char *name, size_t n, int *id);
int jbuiltin_call(jrender *r, const jnode *at, int id, jv self, const jcall *c, jv *out);
int jbuiltin_new_method(jrender *r, int id, jv self, jv *out);
const char *jbuiltin_name(int id);

/* jinja_strings.c: str helpers the filters share */
enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE, CASE_SWAP };
int jstr_case(jrender *r, const jnode *at, jv s, int mode, jv *out);
int jstr_replace(jrender *r, const jnode *at, jv s, jv old, jv new_, int64_t count, jv *out);
int jstr_pad(jrender *r, const jnode *at, jv s, int64_t width, uint32_t fill, int align, jv *out);
int jstr_is_case(jv s, int upper); /* str.isupper() (upper) or str.islower() */

/* jinja_builtins.c */
int jdict_items(jrender *r, const jnode *at, jv dict, jv *out); /* [(key, value), ...] */

/* jinja_format.c: str.format(...) and "fmt" % args */
int jstr_format(jrender *r, const jnode *at, jv fmt, const jcall *c, jv *out);
int jpy_percent_format(jrender *r, const jnode *at, jv fmt, jv args, jv *out);

/* jinja_tests.c */
int jtest_lookup(const char *name, size_t n);
int jtest_apply(jrender *r, const jnode *at, int id, jv v, const jcall *c, int *result);

#endif
