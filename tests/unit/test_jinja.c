/* test_jinja.c: the Jinja engine against outputs worked out from jinja2's
 * semantics (filters.py, tests.py, runtime.py, lexer.py) with the settings
 * Hugging Face uses (trim_blocks, lstrip_blocks, no autoescape): one table per
 * feature of small templates with their expected text, then error messages
 * with line and column, then the limits (output, steps, memory, recursion,
 * nesting), which must all end in a clean error. */
#include "testutil.h"

#include "gemma4.h"
#include "text/jinja.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *tpl, *vars, *want;
} jcase;

typedef struct {
    const char *tpl, *vars, *err; /* err: the expected start (or a part) of g4_last_error() */
} jerr;

static char *render(const char *tpl, const char *vars, const g4_jinja_limits *lim) {
    json_t *v = NULL;
    if (vars) {
        json_error_t e;
        v = json_loads(vars, 0, &e);
        if (!v) fail_msg("bad test vars %s: %s", vars, e.text);
    }
    char *out = g4_jinja_render_values(tpl, v, lim, NULL);
    json_decref(v);
    return out;
}

static void run_cases(const jcase *cases, size_t n) {
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char *got = render(cases[i].tpl, cases[i].vars, NULL);
        if (!got || strcmp(got, cases[i].want)) {
            print_message("case %zu: %s\n  want: [%s]\n  got:  [%s]%s%s\n", i, cases[i].tpl, cases[i].want,
                          got ? got : "(error)", got ? "" : " ", got ? "" : g4_last_error());
            failed++;
        }
        free(got);
    }
    assert_int_equal(failed, 0);
}

static void run_errors(const jerr *cases, size_t n, const g4_jinja_limits *lim) {
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char *got = render(cases[i].tpl, cases[i].vars, lim);
        const char *err = g4_last_error();
        if (got || !strstr(err, cases[i].err) || strchr(err, '\n')) {
            print_message("error case %zu: %.200s\n  want error: [%s]\n  got: [%s] [%s]\n", i, cases[i].tpl, cases[i].err,
                          got ? got : "(error)", err);
            failed++;
        }
        free(got);
    }
    assert_int_equal(failed, 0);
}

#define RUN(table) run_cases(table, sizeof table / sizeof table[0])

/* ---- whitespace control -------------------------------------------------------------- */

static void test_whitespace(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"a\n{% if true %}\nb\n{% endif %}\nc", NULL, "a\nb\nc"},
        {"  {% if true %}x{% endif %}", NULL, "x"},
        {"a  {% if true %}x{% endif %}", NULL, "a  x"},
        {"x {{ 1 }} {% if true %}y{% endif %}", NULL, "x 1 y"},
        {"{%- if true -%}  x  {%- endif -%}  ", NULL, "x"},
        {"{{- '  a  ' -}}", NULL, "  a  "},
        {"a\n  {{ 'b' }}\n", NULL, "a\n  b"},
        {"{% if true %}\n  x\n{% endif %}\n", NULL, "  x\n"},
        {"{# comment #}\nx", NULL, "x"},
        {"a {#- c -#} b", NULL, "ab"},
        {"a\n  {# c #}\nb", NULL, "a\nb"},
        {"{% raw %}{{ x }}{% endraw %}", NULL, "{{ x }}"},
        {"{%- raw -%}  {{ y }}  {%- endraw -%}!", NULL, "{{ y }}!"},
        {"x\r\ny\r\n", NULL, "x\ny"},
        {"x\n\n", NULL, "x\n"},
        {"  {%+ if true %}x{% endif %}", NULL, "  x"},
        {"{% if true +%}\nx{% endif %}", NULL, "\nx"},
        {"line\n    {% for i in [1,2] %}\n    {{ i }}\n    {% endfor %}\ndone", NULL, "line\n    1\n    2\ndone"},
        {"{% for i in [1,2] %}\n{{ i }}\n{% endfor %}", NULL, "1\n2\n"},
        {"<ul>\n{% for x in xs %}\n  <li>{{ x }}</li>\n{% endfor %}\n</ul>", "{\"xs\":[1,2]}",
         "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>"},
        {"a {{- 'b' }} c", NULL, "ab c"},
        {"{{ 'a' -}}\n\n  b", NULL, "ab"},
        {"{% set x = 1 %}\n{{ x }}", NULL, "1"},
        {"{{ {'a': {'b': 1}} }}", NULL, "{'a': {'b': 1}}"},
        {"{{ {'a': 1}['a'] }}}", NULL, "1}"},
    };
    RUN(cases);
}

/* ---- expressions ------------------------------------------------------------------------ */

static void test_literals_and_repr(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{{ 42 }}|{{ -7 }}|{{ 1_000 }}|{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}", NULL, "42|-7|1000|31|15|5"},
        {"{{ 1.5 }}|{{ 2.0 }}|{{ 1e3 }}|{{ 1e-5 }}|{{ 1e16 }}|{{ 1.5e16 }}|{{ 0.0001 }}", NULL,
         "1.5|2.0|1000.0|1e-05|1e+16|1.5e+16|0.0001"},
        {"{{ 0.1 + 0.2 }}|{{ 1 / 3 }}|{{ 123456789.0 * 10 }}|{{ 1e15 }}", NULL,
         "0.30000000000000004|0.3333333333333333|1234567890.0|1000000000000000.0"},
        {"{{ true }}{{ True }}{{ false }}{{ none }}{{ None }}", NULL, "TrueTrueFalseNoneNone"},
        {"{{ 'it''s' }}|{{ \"it's\" }}|{{ 'a' \"b\" 'c' }}", NULL, "its|it's|abc"},
        {"{{ 'tab\\there' }}|{{ '\\x41\\u00e9\\U0001F600' }}|{{ '\\\\' }}|{{ 'a\\qb' }}", NULL,
         "tab\there|A\xc3\xa9\xf0\x9f\x98\x80|\\|a\\qb"},
        {"{{ ['a', \"b'c\", 1, 2.0, none, true] }}", NULL, "['a', \"b'c\", 1, 2.0, None, True]"},
        {"{{ {'k': 'v', 'n': [1]} }}|{{ {} }}|{{ [] }}", NULL, "{'k': 'v', 'n': [1]}|{}|[]"},
        {"{{ (1,) }}|{{ (1, 2) }}|{{ () }}|{{ 1, 2 }}", NULL, "(1,)|(1, 2)|()|(1, 2)"},
        {"{{ ['a\\nb', 'tab\\t', '\\x01'] }}", NULL, "['a\\nb', 'tab\\t', '\\x01']"},
        {"{{ x }}", "{\"x\": {\"a\": [1, 2.5, null, true, \"s\"]}}", "{'a': [1, 2.5, None, True, 's']}"},
        {"{{ x }}|{{ y }}", "{\"x\": 1.0, \"y\": 100000000000000000000.0}", "1.0|1e+20"},
        {"{{ [1, 2,] }}|{{ {'a': 1,} }}", NULL, "[1, 2]|{'a': 1}"},
        {"{{ \"one \\\ntwo\" }}|{{ 'q\\'s' }}|{{ \"\\\"\" }}", NULL, "one two|q's|\""},
    };
    RUN(cases);
}

static void test_operators(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ 2 ** -1 }}", NULL, "7|9|64|4|0.5"},
        {"{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % -3 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 6 / 2 }}", NULL, "3|-4|-2|2|3.5|3.0"},
        {"{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 1 + 1.5 }}|{{ true + 1 }}|{{ 3 - 5 }}", NULL, "3.0|0.5|2.5|2|-2"},
        {"{{ 'a' ~ 1 ~ none ~ nope }}|{{ 'ab' * 3 }}|{{ 2 * 'x' }}|{{ 'x' * -1 }}|{{ [1] * 3 }}", NULL,
         "a1None|ababab|xx||[1, 1, 1]"},
        {"{{ 'a' + 'b' }}|{{ [1] + [2, 3] }}|{{ (1,) + (2,) }}", NULL, "ab|[1, 2, 3]|(1, 2)"},
        {"{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 1 == 1.0 }}|{{ 1 != 1 }}|{{ 'a' < 'b' }}|{{ [1, 2] < [1, 3] }}", NULL,
         "True|False|True|False|True|True"},
        {"{{ 'a' in 'cat' }}|{{ 2 not in [1, 3] }}|{{ 'k' in {'k': 1} }}|{{ 'z' in nope }}|{{ '' in 'x' }}", NULL,
         "True|True|True|False|True"},
        {"{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ none or [] }}|{{ not 0 }}|{{ not not 'a' }}|{{ '' and 1 }}", NULL,
         "x|b|[]|True|True|"},
        {"{{ 'y' if 1 else 'n' }}|{{ 'y' if 0 }}|{{ 'a' if false else 'b' if true else 'c' }}", NULL, "y||b"},
        {"{{ 1 == true }}|{{ none == none }}|{{ nope == nope2 }}|{{ [1] == (1,) }}|{{ {'a': 1} == {'a': 1.0} }}",
         NULL, "True|True|True|False|True"},
        {"{{ '%s and %s' % ('a', 1) }}|{{ '%d%%' % 50 }}|{{ '%05.2f' % 3.14159 }}|{{ '%(n)s!' % {'n': 'x'} }}", NULL,
         "a and 1|50%|03.14|x!"},
        {"{{ '%-4s|%4s|%x|%#x|%o|%e' % ('ab', 'cd', 255, 255, 8, 12345.678) }}", NULL,
         "ab  |  cd|ff|0xff|10|1.234568e+04"},
        {"{{ 10 ** 18 }}|{{ -(3) }}|{{ +3 }}|{{ 2 ** 0.5 }}", NULL, "1000000000000000000|-3|3|1.4142135623730951"},
    };
    RUN(cases);
}

static void test_access(void **state) {
    (void)state;
static const char vars[] = "{\"d\": {\"a\": 1, \"items\": \"key\", \"b\": {\"c\": [10, 20]}}, \"xs\": [1, 2, 3, 4, 5],"
                              "\"s\": \"h\\u00e9llo\"}";
    static const jcase cases[] = {
        {"{{ d.a }}|{{ d['a'] }}|{{ d.b.c[1] }}|{{ d['b']['c'][-1] }}|{{ d.b.c.0 }}", vars, "1|1|20|20|10"},
        {"{{ d.missing }}|{{ d['missing'] }}|{{ xs[10] }}|{{ d.missing is defined }}", vars, "|||False"},
        {"{{ d['items'] }}|{{ d.items() | list | length }}|{{ d.get('a') }}|{{ d.get('z', 'dflt') }}|{{ d.get('z') }}",
         vars, "key|3|1|dflt|None"},
        {"{{ xs[::-1] }}|{{ xs[1:3] }}|{{ xs[-2:] }}|{{ xs[::2] }}|{{ xs[4:1:-2] }}|{{ xs[10:] }}|{{ xs[:-10] }}", vars,
         "[5, 4, 3, 2, 1]|[2, 3]|[4, 5]|[1, 3, 5]|[5, 3]|[]|[]"},
        {"{{ s[1] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ s[-1] }}|{{ s | length }}", vars,
         "\xc3\xa9|\xc3\xa9l|oll\xc3\xa9h|o|5"},
        {"{{ 'hello'[1:3] }}|{{ 'hello'[-3:] }}|{{ (1, 2, 3)[1:] }}", NULL, "el|llo|(2, 3)"},
        {"{{ nope }}|{{ nope | length }}|{{ nope is defined }}|{{ nope is undefined }}", NULL, "|0|False|True"},
        {"{% for x in nope %}a{% else %}empty{% endfor %}", NULL, "empty"},
        {"{{ 'abc'.__class__ }}|{{ d.__class__ }}", vars, "|"},
    };
    RUN(cases);
}

/* ---- statements ------------------------------------------------------------------------- */

static void test_loops(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
         "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
         NULL, "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|"},
        {"{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}", NULL, "1,3,5,7,9"},
        {"{% for x in [] %}x{% else %}none{% endfor %}|{% for x in [1] %}x{% else %}none{% endfor %}", NULL, "none|x"},
        {"{% for x in [1, 2] if x > 5 %}x{% else %}filtered{% endfor %}", NULL, "filtered"},
        {"{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}"
         "{{ x }}{% endfor %}",
         NULL, "0134"},
        {"{% for k, v in {'b': 2, 'a': 1} | dictsort %}{{ k }}={{ v }};{% endfor %}", NULL, "a=1;b=2;"},
        {"{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}", "{\"d\": {\"z\": 1, \"a\": 2}}", "z1a2"},
        {"{% for k in d %}{{ k }}{% endfor %}|{% for c in 'ab' %}{{ c }}.{% endfor %}", "{\"d\": {\"z\": 1, \"a\": 2}}",
         "za|a.b."},
        {"{% for x in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}", NULL, "abab"},
        {"{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", NULL, "-2;1-3;2-;"},
        {"{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}",
         NULL, "11x 21y 1|12x 22y 2|"},
        {"{% for a, (b, c) in [(1, (2, 3))] %}{{ a }}{{ b }}{{ c }}{% endfor %}", NULL, "123"},
        {"{% for x in range(3) %}{% set y = x * 2 %}{{ y }}{% endfor %}{{ y }}", NULL, "024"},
        {"{{ range(3) | list }}|{{ range(1, 10, 3) | list }}|{{ range(5, 0, -2) | list }}|{{ range(0) | list }}", NULL,
         "[0, 1, 2]|[1, 4, 7]|[5, 3, 1]|[]"},
        {"{% for i in range(2) %}{{ loop.length }}{% for j in range(3) %}{{ loop.length }}{% endfor %}{% endfor %}", NULL,
         "23332333"},
    };
    RUN(cases);
}

static void test_assignment_and_scope(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", NULL, "231"},
        {"{% if true %}{% set y = 5 %}{% endif %}{{ y }}", NULL, "5"},
        {"{% set ns = namespace(total=0) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}{% endfor %}"
         "{{ ns.total }}",
         NULL, "6"},
        {"{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c }}|{{ ns['a'] }}", NULL, "12|1"},
        {"{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set c, d = 'xy' %}{{ c }}{{ d }}", NULL, "12|xy"},
        {"{% set x %}  hi {{ 1 }}{% endset %}[{{ x }}]|{% set y | upper %}abc{% endset %}{{ y }}", NULL,
         "[  hi 1]|ABC"},
        {"{% set x = 'outer' %}{% with x = 'inner', y = x %}{{ x }}-{{ y }}{% endwith %}-{{ x }}", NULL,
         "inner-outer-outer"},
        {"{% filter upper %}hello {{ 'x' }}{% endfilter %}|{% filter replace('a', 'o') | title %}banana{% endfilter %}",
         NULL, "HELLO X|Bonono"},
        {"{% generation %}x{{ 1 }}{% endgeneration %}", NULL, "x1"},
        {"{% print 'a', 1 %}", NULL, "a1"},
        {"{% set messages = messages[1:] %}{{ messages | length }}", "{\"messages\": [1, 2, 3]}", "2"},
        {"{% set enable_thinking = enable_thinking | default(false) %}{{ enable_thinking }}", NULL, "False"},
        {"{% set x = 1 %}{% set x = x + 1 %}{{ x }}", NULL, "2"},
    };
    RUN(cases);
}

static void test_macros(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}"
         "{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(greeting='Yo', name='Z') }}",
         NULL, "Hello, Bob! Hi, Al! Yo, Z!"},
        {"{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", NULL, "[]"},
        {"{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}", NULL, "(1, 2){'k': 3}"},
        {"{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}"
         "{{ fact(5) }}",
         NULL, "120"},
        {"{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold{% endcall %}",
         NULL, "<b>bold</b>"},
        {"{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
         "{% call(item) each([1, 2]) %}[{{ item }}]{% endcall %}",
         NULL, "[1][2]"},
        {"{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}", NULL, "3,6"},
        {"{% macro later() %}{{ top }}{% endmacro %}{% set top = 'T' %}{{ later() }}", NULL, "T"},
        {"{% macro a() %}A{{ b() }}{% endmacro %}{% macro b() %}B{% endmacro %}{{ a() }}", NULL, "AB"},
        {"{% macro m() %}{% set inner = 1 %}{% endmacro %}{{ m() }}{{ inner is defined }}", NULL, "False"},
        {"{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1) ~ m(2) }}|{{ m('a') | upper }}|{{ m.name }}", NULL, "12|A|m"},
        {"{% for i in [1, 2] %}{% macro show() %}{{ i }}{% endmacro %}{{ show() }}{% endfor %}", NULL, "12"},
        {"{% set ns = namespace(f=none) %}{% macro m() %}M{% endmacro %}{% set ns.f = m %}{{ ns.f() }}", NULL, "M"},
        {"{% macro m(a, b) %}{{ a }}{{ b }}{% endmacro %}{{ m(*[1, 2]) }}|{{ m(**{'b': 2, 'a': 1}) }}", NULL, "12|12"},
        {"{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}bottom{% endif %}{% endmacro %}{{ f(190) }}", NULL,
         "bottom"},
        {"{% for k, v in d.items() if k != 'skip' %}{% set k = k | upper %}{{ k }}={{ v | tojson }};{% endfor %}",
         "{\"d\": {\"a\": [1], \"skip\": 0, \"b\": {\"c\": null}}}", "A=[1];B={\"c\": null};"},
    };
    RUN(cases);
}

/* ---- filters ------------------------------------------------------------------------------- */

static void test_string_filters(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{{ 'hello world' | title }}|{{ \"they're bill's\" | title }}|{{ 'a-b (c)' | title }}", NULL,
         "Hello World|They're Bill's|A-B (C)"},
        {"{{ 'hELLO' | capitalize }}|{{ 'ab' | upper }}|{{ 'AB\xc3\x89' | lower }}|{{ 1 | string + 'x' }}", NULL,
         "Hello|AB|ab\xc3\xa9|1x"},
        {"[{{ '  x  ' | trim }}]|[{{ 'xxaxx' | trim('x') }}]|[{{ '\\n\\t y \\u00a0' | trim }}]", NULL, "[x]|[a]|[y]"},
        {"{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'ab' | replace('', '-') }}|{{ 'a.b' | replace('.', '') }}", NULL,
         "bba|-a-b-|ab"},
        {"[{{ 'ab' | center(6) }}]|[{{ 'abc' | center(6) }}]", NULL, "[  ab  ]|[ abc  ]"},
        {"{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}", NULL,
         "a\n  b\n\n  c|  a\n  b|a\n  \n  b"},
        {"{{ 'x\\ny' | indent('> ') }}|{{ '' | indent }}|{{ 'a\\n' | indent(1) }}", NULL, "x\n> y||a\n"},
        {"{{ 'Hello, world! foo_bar 42' | wordcount }}", NULL, "4"},
        {"{{ 'hello world foo bar' | truncate(11) }}|{{ 'hello world foo bar' | truncate(11, true) }}|"
         "{{ 'short' | truncate(3) }}",
         NULL, "hello...|hello wo...|short"},
        {"{{ '%s-%d' | format('a', 3) }}|{{ '%05.1f' | format(3.14159) }}", NULL, "a-3|003.1"},
        {"{{ '<a href=\"x\">&' | e }}|{{ '<b>' | safe }}|{{ '<' | escape }}", NULL,
         "&lt;a href=&#34;x&#34;&gt;&amp;|<b>|&lt;"},
        {"{{ 'abc' | reverse }}|{{ 'h\xc3\xa9' | reverse }}|{{ 'abc' | list }}|{{ 'abc' | first }}{{ 'abc' | last }}",
         NULL, "cba|\xc3\xa9h|['a', 'b', 'c']|ac"},
        {"{{ 'x' | pprint }}|{{ [1, 'a'] | pprint }}", NULL, "'x'|[1, 'a']"},
    };
    RUN(cases);
}

static void test_sequence_filters(void **state) {
    (void)state;
static const char users[] = "{\"users\": [{\"name\": \"ann\", \"age\": 31, \"active\": true},"
                               "{\"name\": \"Bob\", \"age\": 25, \"active\": false},"
                               "{\"name\": \"cy\", \"age\": 40, \"active\": true}]}";
    static const jcase cases[] = {
        {"{{ [1, 2, 3] | join(', ') }}|{{ users | join(',', attribute='name') }}|{{ [1, none] | join }}", users,
         "1, 2, 3|ann,Bob,cy|1None"},
        {"{{ ['a', 'b'] | map('upper') | list }}|{{ users | map(attribute='name') | join(' ') }}|"
         "{{ users | map(attribute='x', default='?') | join }}|{{ [1.5, 2] | map('int') | list }}",
         users, "['A', 'B']|ann Bob cy|???|[1, 2]"},
        {"{{ [1, 2, 3, 4] | select('odd') | list }}|{{ [1, 2, 3, 4] | reject('even') | list }}|"
         "{{ [0, 1, '', 'a'] | select | list }}|{{ [1, 5, 9] | select('>', 4) | list }}",
         NULL, "[1, 3]|[1, 3]|[1, 'a']|[5, 9]"},
        {"{{ users | selectattr('active') | map(attribute='name') | list }}|"
         "{{ users | selectattr('age', '>', 30) | map(attribute='name') | join }}|"
         "{{ users | rejectattr('name', 'equalto', 'cy') | map(attribute='age') | list }}",
         users, "['ann', 'cy']|anncy|[31, 25]"},
        {"{{ [3, 1, 2] | sort }}|{{ ['b', 'A', 'c'] | sort }}|{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}|"
         "{{ [3, 1, 2] | sort(reverse=true) }}",
         NULL, "[1, 2, 3]|['A', 'b', 'c']|['A', 'b', 'c']|[3, 2, 1]"},
        {"{{ users | sort(attribute='age') | map(attribute='name') | join }}|"
         "{{ users | sort(attribute='name') | map(attribute='name') | join }}",
         users, "Bobanncy|annBobcy"},
        {"{{ [1, 2, 2, 3, 1] | unique | list }}|{{ ['a', 'A', 'b'] | unique | list }}|"
         "{{ ['a', 'A'] | unique(case_sensitive=true) | list }}",
         NULL, "[1, 2, 3]|['a', 'b']|['a', 'A']"},
        {"{{ [1, 2] | reverse | list }}|{{ [1, 2, 3] | sum }}|{{ [1.5, 2] | sum }}|{{ users | sum(attribute='age') }}|"
         "{{ [[1], [2]] | sum(start=[]) }}",
         users, "[2, 1]|6|3.5|96|[1, 2]"},
        {"{{ [3, 1, 2] | min }}|{{ ['b', 'A'] | max }}|{{ users | max(attribute='age') | attr('name') }}|{{ [] | min }}",
         users, "1|b||"},
        {"{{ users | min(attribute='age') }}", users, "{'name': 'Bob', 'age': 25, 'active': False}"},
        {"{{ {'b': 1, 'A': 2, 'c': 0} | dictsort }}|{{ {'b': 1, 'A': 2, 'c': 0} | dictsort(by='value') }}|"
         "{{ {'b': 1, 'a': 2} | dictsort(reverse=true) }}",
         NULL, "[('A', 2), ('b', 1), ('c', 0)]|[('c', 0), ('b', 1), ('A', 2)]|[('b', 1), ('a', 2)]"},
        {"{{ {'a': 1} | items | list }}|{{ nope | items | list }}|{{ {'a': 1}.items() | list }}", NULL,
         "[('a', 1)]|[]|[('a', 1)]"},
        {"{{ [1, 2, 3] | first }}|{{ [1, 2, 3] | last }}|{{ [] | first }}|{{ {'k': 1} | first }}", NULL, "1|3||k"},
        {"{{ [1, 2] | length }}|{{ {'a': 1} | count }}|{{ 'h\xc3\xa9' | length }}|{{ (1, 2) | list }}", NULL,
         "2|1|2|[1, 2]"},
        {"{{ [1, 2, 3, 4, 5] | batch(2) | list }}|{{ [1, 2, 3] | batch(2, 0) | list }}", NULL,
         "[[1, 2], [3, 4], [5]]|[[1, 2], [3, 0]]"},
        {"{{ nope | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ none | d('x') }}|"
         "{{ nope | d }}|{{ 0 | d(5, boolean=true) }}",
         NULL, "d||d|None||5"},
    };
    RUN(cases);
}

static void test_number_and_json_filters(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{{ '42' | int + 1 }}|{{ '3.7' | int }}|{{ 'x' | int(7) }}|{{ '0x1f' | int(base=16) }}|{{ 3.9 | int }}|"
         "{{ ' -5 ' | int }}|{{ true | int }}|{{ none | int }}|{{ '1_000' | int }}",
         NULL, "43|3|7|31|3|-5|1|0|1000"},
        {"{{ '2.5' | float }}|{{ 'x' | float }}|{{ 3 | float }}|{{ ' 1e3 ' | float }}|{{ 'x' | float(1.5) }}", NULL,
         "2.5|0.0|3.0|1000.0|1.5"},
        {"{{ -3 | abs }}|{{ -2.5 | abs }}|{{ 2.5 | round }}|{{ 3.5 | round }}|{{ 3.14159 | round(2) }}|"
         "{{ 2.1 | round(method='ceil') }}|{{ 2.9 | round(method='floor') }}|{{ 5 | round }}|{{ 1234.5 | round(-2) }}",
         NULL, "3|2.5|2.0|4.0|3.14|3.0|2.0|5|1200.0"},
        {"{{ {'a': '\xc3\xa9', 'b': [1, 2.5, none, true]} | tojson }}", NULL,
         "{\"a\": \"\xc3\xa9\", \"b\": [1, 2.5, null, true]}"},
        {"{{ {'a': 1, 'b': [1, 2], 'c': {}} | tojson(indent=2) }}", NULL,
         "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {}\n}"},
        {"{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ {'a': 1, 'b': 2} | tojson(separators=(',', ':')) }}", NULL,
         "{\"a\": 2, \"b\": 1}|{\"a\":1,\"b\":2}"},
        {"{{ 'a\"b\\n\\t<>&\\x01' | tojson }}|{{ '\xc3\xa9\xf0\x9f\x98\x80' | tojson(ensure_ascii=true) }}", NULL,
         "\"a\\\"b\\n\\t<>&\\u0001\"|\"\\u00e9\\ud83d\\ude00\""},
        {"{{ (1, 'a') | tojson }}|{{ {1: 'x', none: 2, false: 3} | tojson }}|{{ 1.0 | tojson }}|{{ 1e100 | tojson }}",
         NULL, "[1, \"a\"]|{\"1\": \"x\", \"null\": 2, \"false\": 3}|1.0|1e+100"},
        {"{{ x | tojson }}", "{\"x\": {\"z\": 1, \"a\": [true, false, null], \"s\": \"q\\\"\"}}",
         "{\"z\": 1, \"a\": [true, false, null], \"s\": \"q\\\"\"}"},
        {"{{ d | attr('a') }}|{{ d | attr('keys') is callable }}", "{\"d\": {\"a\": 1}}", "|True"},
    };
    RUN(cases);
}

/* ---- tests (is ...) --------------------------------------------------------------------------- */

static void test_tests(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"{{ 1 is odd }}{{ 2 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}", NULL,
         "TrueTrueTrueFalse"},
        {"{{ none is none }}{{ 1 is number }}{{ true is number }}{{ true is integer }}{{ 1 is integer }}"
         "{{ 1.0 is float }}{{ 'a' is string }}{{ {} is mapping }}",
         NULL, "TrueTrueTrueFalseTrueTrueTrueTrue"},
        {"{{ [] is sequence }}{{ 'a' is sequence }}{{ {} is iterable }}{{ 1 is iterable }}{{ none is sequence }}", NULL,
         "TrueTrueTrueFalseFalse"},
        {"{{ true is boolean }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}", NULL,
         "TrueTrueFalseTrueFalse"},
        {"{{ 3 is eq 3 }}{{ 3 is equalto 4 }}{{ 3 is ne 4 }}{{ 3 is lt 4 }}{{ 3 is gt 4 }}{{ 3 is ge 3 }}{{ 3 is le 2 }}",
         NULL, "TrueFalseTrueTrueFalseTrueFalse"},
        {"{{ 'a' is in 'abc' }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'Abc' is lower }}{{ 2 is in [1, 2] }}", NULL,
         "TrueTrueTrueFalseTrue"},
        {"{{ 'upper' is filter }}{{ 'nope' is filter }}{{ 'odd' is test }}{{ range is callable }}{{ 1 is callable }}",
         NULL, "TrueFalseTrueTrueFalse"},
        {"{{ x is not none }}{{ x is not defined }}{{ none is sameas none }}{{ 'x' is escaped }}", NULL,
         "TrueTrueTrueFalse"},
        {"{% if x is defined and x %}y{% else %}n{% endif %}", NULL, "n"},
        {"{{ [1, 2, 3] | select('in', [2, 3]) | list }}|{{ [1, 2, 3] | reject('sameas', 2) | list }}", NULL,
         "[2, 3]|[1, 3]"},
    };
    RUN(cases);
}

/* ---- methods and globals ------------------------------------------------------------------------ */

static void test_methods(void **state) {
    (void)state;
    static const jcase cases[] = {
        {"[{{ ' a b '.strip() }}]|{{ 'xxhixx'.strip('x') }}|[{{ '  a '.lstrip() }}]|[{{ ' a  '.rstrip() }}]", NULL,
         "[a b]|hi|[a ]|[ a]"},
        {"{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|"
         "{{ ' a b '.rsplit(None, 1) }}",
         NULL, "['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a,b', 'c']|[' a', 'b']"},
        {"{{ 'voil\xc3\xa0 \xc5\x85x'.rsplit(None, 1) }}|{{ 'a\xc2\xa0" "b c'.split() }}|{{ 'x\xe2\x80\x83y'.rsplit() }}", NULL,
         "['voil\xc3\xa0', '\xc5\x85x']|['a', 'b', 'c']|['x', 'y']"},
        {"{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'Hello'.startswith('lo', 3) }}", NULL,
         "TrueTrueTrue"},
        {"{{ 'hello'.find('l') }}{{ 'hello'.rfind('l') }}{{ 'hello'.find('z') }}{{ 'hello'.count('l') }}"
         "{{ 'h\xc3\xa9llo'.find('l') }}",
         NULL, "23-122"},
        {"{{ 'a-b'.replace('-', '+') }}|{{ '{}-{}'.format(1, 'x') }}|{{ '{name}!'.format(name='Al') }}|"
         "{{ '{0}{1}{0}'.format('a', 'b') }}",
         NULL, "a+b|1-x|Al!|aba"},
        {"{{ '{:>5}|{:<3}|{:^5}'.format('a', 'b', 'c') }}|{{ '{:.2f}'.format(3.14159) }}|{{ '{:05d}'.format(42) }}|"
         "{{ '{:,}'.format(1234567) }}|{{ '{!r}'.format('q') }}|{{ '{{x}}'.format() }}",
         NULL, "    a|b  |  c  |3.14|00042|1,234,567|'q'|{x}"},
        {"{{ 'ab'.upper() }}{{ 'AB'.lower() }}|{{ 'hello world'.title() }}|{{ \"they're\".title() }}|"
         "{{ 'hELLO'.capitalize() }}|{{ 'aB'.swapcase() }}",
         NULL, "ABab|Hello World|They'Re|Hello|Ab"},
        {"{{ ', '.join(['a', 'b']) }}|{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ 'ab'.partition('a') }}|{{ '7'.zfill(3) }}",
         NULL, "a, b|['a', 'b', 'c']|('', 'a', 'b')|007"},
        {"{{ '12'.isdigit() }}{{ 'ab'.isalpha() }}{{ ' '.isspace() }}{{ 'AB'.isupper() }}{{ 'ab'.islower() }}"
         "{{ ''.isdigit() }}",
         NULL, "TrueTrueTrueTrueTrueFalse"},
        {"{{ 'prefix_x'.removeprefix('prefix_') }}|{{ 'a.txt'.removesuffix('.txt') }}|{{ 'ab'.ljust(4, '*') }}|"
         "{{ 'ab'.rjust(4) }}",
         NULL, "x|a|ab**|  ab"},
        {"{% set xs = [1, 2, 3] %}{{ xs.pop() }}{{ xs }}{{ xs.pop(0) }}{{ xs }}|{{ [1, 2, 2].index(2) }}"
         "{{ [1, 2, 2].count(2) }}",
         NULL, "3[1, 2]1[2]|12"},
        {"{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.items() | list }}|{{ d.copy() }}",
         "{\"d\": {\"a\": 1, \"b\": [2]}}", "['a', 'b']|[1, [2]]|[('a', 1), ('b', [2])]|{'a': 1, 'b': [2]}"},
        {"{{ dict(a=1, b=2) }}|{{ dict({'x': 1}, y=2) }}|{{ dict([('k', 'v')]) }}", NULL,
         "{'a': 1, 'b': 2}|{'x': 1, 'y': 2}|{'k': 'v'}"},
        {"{{ strftime_now('%Y') | length }}", NULL, "4"},
    };
    RUN(cases);
}

/* ---- errors ------------------------------------------------------------------------------------ */

static void test_errors(void **state) {
    (void)state;
    static const jerr cases[] = {
        {"{{ nope.attr }}", NULL, "template:1:4: 'nope' is undefined"},
        {"{{ d.missing.x }}", "{\"d\": {}}", "template:1:4: 'dict object' has no attribute 'missing'"},
        {"{{ xs[0]['role'] }}", "{\"xs\": []}", "template:1:4: list object has no element 0"},
        {"a\n{{ 1 +  }}", NULL, "template:2:9: unexpected 'end of print statement'"},
        {"{% if true %}x", NULL,
         "template:1:15: Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or "
         "'endif'. The innermost block that needs to be closed is 'if'."},
        {"{% frobnicate %}", NULL, "template:1:4: Encountered unknown tag 'frobnicate'."},
        {"{% for x in y %}{% endif %}", NULL, "template:1:20: Encountered unknown tag 'endif'."},
        {"{{ x | nosuchfilter }}", NULL, "template:1:8: No filter named 'nosuchfilter'."},
        {"{{ 1 is nosuchtest }}", NULL, "No test named 'nosuchtest'."},
        {"line 1\n  {{ raise_exception('bad input') }}", NULL, "template:2:6: bad input"},
        {"{{ 1 / 0 }}", NULL, "template:1:6: division by zero"},
        {"{{ 1 // 0 }}|", NULL, "integer division or modulo by zero"},
        {"{% set x = [1] %}{{ x.append(2) }}", NULL,
         "template:1:21: access to attribute 'append' of 'list' object is unsafe."},
        {"{{ {'a': 1}.update({}) }}", NULL, "access to attribute 'update' of 'dict' object is unsafe."},
        {"{{ 'a' + 1 }}", NULL, "template:1:8: can only concatenate str (not \"int\") to str"},
        {"{{ 1 + 'a' }}", NULL, "unsupported operand type(s) for +: 'int' and 'str'"},
        {"{{ 'abc }}", NULL, "template:1:4: unexpected char '''"},
        {"{% endfor %}", NULL, "template:1:4: Encountered unknown tag 'endfor'."},
        {"{{ }}", NULL, "template:1:4: Expected an expression, got 'end of print statement'"},
        {"{% set %}", NULL, "template:1:8: Expected an expression"},
        {"{% break %}", NULL, "template:1:4: 'break' outside of a loop"},
        {"{{ [1, 2] ] }}", NULL, "template:1:11: unexpected ']'"},
        {"{{ (1, 2] }}", NULL, "unexpected ']', expected ')'"},
        {"{% macro m(a=1, b) %}{% endmacro %}", NULL, "non-default argument follows default argument"},
        {"\xff", NULL, "template:1:1: the template is not valid UTF-8"},
        {"{# open comment", NULL, "template:1:1: Missing end of comment tag"},
        {"{% raw %}never closed", NULL, "Missing end of raw directive"},
        {"{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, "macro 'm' takes not more than 1 argument(s)"},
        {"{% macro m(a) %}{% endmacro %}{{ m(b=2) }}", NULL, "macro 'm' takes no keyword argument 'b'"},
        {"{% macro m(a) %}{% endmacro %}{{ m(1, a=2) }}", NULL, "macro 'm' got multiple values for argument 'a'"},
        {"{{ 1 < 'a' }}", NULL, "'<' not supported between instances of 'int' and 'str'"},
        {"{{ none | dictsort }}", NULL, "has no attribute 'items'"},
        {"{{ undefined_fn() }}", NULL, "'undefined_fn' is undefined"},
        {"{{ 5() }}", NULL, "'int' object is not callable"},
        {"{% for a, b in [1] %}{% endfor %}", NULL, "'int' object is not iterable"},
        {"{% for a, b in [[1, 2, 3]] %}{% endfor %}", NULL, "too many values to unpack (expected 2)"},
        {"{% set x = 1 %}{% set x.y = 2 %}", NULL, "cannot assign attribute on non-namespace object"},
        {"{{ 'a'.split('') }}", NULL, "empty separator"},
        {"{{ [1][::0] }}", NULL, "slice step cannot be zero"},
        {"{{ {[1]: 2} }}", NULL, "unhashable type: 'list'"},
        {"{{ nope + 1 }}", NULL, "'nope' is undefined"},
        {"{{ '%d' % 'x' }}", NULL, "%d format: a real number is required, not str"},
        {"{{ '%s %s' % ('a',) }}", NULL, "not enough arguments for format string"},
        {"{{ x | tojson }}", NULL, "Object of type Undefined is not JSON serializable"},
        {"{% include 'other.html' %}", NULL, "the 'include' tag is not supported"},
        {"{% for x in [1] recursive %}{% endfor %}", NULL, "recursive loops are not supported"},
        {"{{ 9223372036854775807 + 1 }}", NULL, "integer overflow"},
        {"{{ 99999999999999999999 }}", NULL, "integer literal too large"},
        {"{{ '\\ud800' }}", NULL, "surrogate"},
        {"{{ x.y is defined }}", NULL, "'x' is undefined"},
        {"{{ raise_exception('two\\nlines') }}", NULL, "template:1:4: two lines"},
    };
    run_errors(cases, sizeof cases / sizeof cases[0], NULL);
}

/* ---- limits ------------------------------------------------------------------------------------ */

static char *repeat_text(const char *head, const char *unit, size_t times, const char *tail) {
    size_t hn = strlen(head), un = strlen(unit), tn = strlen(tail);
    char *s = malloc(hn + un * times + tn + 1);
    assert_non_null(s);
    memcpy(s, head, hn);
    for (size_t i = 0; i < times; i++) memcpy(s + hn + i * un, unit, un);
    memcpy(s + hn + un * times, tail, tn + 1);
    return s;
}

static void test_limits(void **state) {
    (void)state;
    g4_jinja_limits lim = g4_jinja_default_limits();
    lim.max_output = 1000;
    lim.max_steps = 200000;
    lim.max_memory = 4 << 20;
    lim.max_call_depth = 50;
    static const jerr cases[] = {
        {"{% for i in range(100) %}{{ '0123456789abcdef' }}{% endfor %}", NULL, "the output would be longer than 1000 bytes"},
        {"{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", NULL, "steps"},
        {"{% for i in range(10**9) %}{% endfor %}", NULL, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."},
        {"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, "maximum recursion depth exceeded"},
        {"{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", NULL,
         "template:1:"},
        {"{{ 'x' * 10**9 }}", NULL, "longer than 1000 bytes"},
        {"{{ ([1] * 100000) * 100000 }}", NULL, "memory"},
        {"{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", NULL,
         "memory"},
        {"{% set x %}{% for i in range(2000) %}x{% endfor %}{% endset %}", NULL, "longer than 1000 bytes"},
    };
    run_errors(cases, sizeof cases / sizeof cases[0], &lim);
}

static void test_nesting_limits(void **state) {
    (void)state;
    char *out;
    /* deeply nested expressions are a syntax error */
    char *parens = repeat_text("{{ ", "(", 150, "1");
    char *tpl = repeat_text(parens, ")", 150, " }}");
    assert_null(g4_jinja_render_values(tpl, NULL, NULL, NULL));
    assert_non_null(strstr(g4_last_error(), "nested too deeply"));
    free(parens);
    free(tpl);

    char *lists = repeat_text("{{ ", "[", 5000, "");
    assert_null(g4_jinja_render_values(lists, NULL, NULL, NULL));
    assert_non_null(strstr(g4_last_error(), "template:1:"));
    free(lists);

    char *ifs = repeat_text("", "{% if true %}", 1000, "");
    assert_null(g4_jinja_render_values(ifs, NULL, NULL, NULL));
    assert_non_null(strstr(g4_last_error(), "nested too deeply"));
    free(ifs);

    /* a long flat chain parses, then stops at the stack budget instead of overflowing */
    char *chain = repeat_text("{{ 1", " + 1", 200000, " }}");
    assert_null(g4_jinja_render_values(chain, NULL, NULL, NULL));
    assert_non_null(strstr(g4_last_error(), "nests too deeply"));
    free(chain);

    /* the stack budget is a limit like the others */
    g4_jinja_limits small = {.max_stack = 16 << 10};
    char *mid = repeat_text("{{ 1", " + 1", 2000, " }}");
    assert_null(g4_jinja_render_values(mid, NULL, &small, NULL));
    assert_non_null(strstr(g4_last_error(), "nests too deeply"));
    out = g4_jinja_render_values(mid, NULL, NULL, NULL);
    assert_non_null(out);
    assert_string_equal(out, "2001");
    free(out);
    free(mid);

    /* a long elif chain is not nesting */
    char *elifs = repeat_text("{% if false %}", "{% elif false %}", 20000, "{% else %}ok{% endif %}");
    out = g4_jinja_render_values(elifs, NULL, NULL, NULL);
    assert_non_null(out);
    assert_string_equal(out, "ok");
    free(out);
    free(elifs);

    /* deeply nested values: built, measured, refused when printed, and freed without recursion */
    const char *deep = "{% set st = namespace(cur=none) %}{% for i in range(50000) %}{% set st.cur = [st.cur] %}"
                       "{% endfor %}{{ st.cur | length }}";
    out = g4_jinja_render_values(deep, NULL, NULL, NULL);
    assert_non_null(out);
    assert_string_equal(out, "1");
    free(out);
    const char *deep_print = "{% set st = namespace(cur=none) %}{% for i in range(50000) %}{% set st.cur = [st.cur] %}"
                             "{% endfor %}{{ st.cur }}";
    assert_null(g4_jinja_render_values(deep_print, NULL, NULL, NULL));
    assert_non_null(strstr(g4_last_error(), "nested too deeply"));
    const char *cycle = "{% set ns = namespace() %}{% set ns.self = ns %}{% set ns.l = [ns, ns] %}{{ ns.l | length }}";
    out = g4_jinja_render_values(cycle, NULL, NULL, NULL);
    assert_non_null(out);
    assert_string_equal(out, "2");
    free(out);
    const char *cycle_print = "{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}";
    assert_null(g4_jinja_render_values(cycle_print, NULL, NULL, NULL));
}

/* ---- the API around the engine --------------------------------------------------------------- */

static void test_api(void **state) {
    (void)state;
    char *out = g4_jinja_render("Hello {{ name }}!", "{\"name\": \"W\\u00f6rld\"}");
    assert_non_null(out);
    assert_string_equal(out, "Hello W\xc3\xb6rld!");
    free(out);
    out = g4_jinja_render("{{ 1 }}", NULL);
    assert_non_null(out);
    assert_string_equal(out, "1");
    free(out);
    assert_null(g4_jinja_render("{{ x }}", "{bad json"));
    assert_non_null(strstr(g4_last_error(), "invalid JSON"));
    assert_null(g4_jinja_render("{{ x }}", "[1, 2]"));
    assert_non_null(strstr(g4_last_error(), "JSON object"));

    /* one parsed template, rendered twice with different variables */
    const char *src = "{{ a }}-{{ b | default('none') }}";
    g4_jinja_template *t = g4_jinja_parse(src, strlen(src));
    assert_non_null(t);
    json_t *v1 = json_pack("{s:i}", "a", 1), *v2 = json_pack("{s:s,s:b}", "a", "x", "b", 1);
    size_t len = 0;
    char *r1 = g4_jinja_render_parsed(t, v1, NULL, &len);
    assert_string_equal(r1, "1-none");
    assert_int_equal(len, 6);
    char *r2 = g4_jinja_render_parsed(t, v2, NULL, NULL);
    assert_string_equal(r2, "x-True");
    free(r1);
    free(r2);
    json_decref(v1);
    json_decref(v2);
    g4_jinja_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_literals_and_repr),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_loops),
        cmocka_unit_test(test_assignment_and_scope),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_string_filters),
        cmocka_unit_test(test_sequence_filters),
        cmocka_unit_test(test_number_and_json_filters),
        cmocka_unit_test(test_tests),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_nesting_limits),
        cmocka_unit_test(test_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
