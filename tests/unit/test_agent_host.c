/* test_agent_host.c: the host API tool scripts get as ctx (app/agent/host_*.c):
 * fs confined to the workspace (.., absolute paths, symlinked files and directories,
 * both with openat2 and with the O_NOFOLLOW walk), http against a loopback server
 * run by this test (status, headers, redirects and their limit, refused schemes, a
 * huge body cut at the cap, a slow server hitting the timeout), proc.run (off by
 * default; exit codes, output, stdin, timeout kill, output cap), json round trips,
 * html.text and html.title on a sample page, the env allow-list and time. */
#include "testutil.h"

#include "agent/agent.h"
#include "agent/sandbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- a tool that runs the Lua code it is given -------------------------------------- */

static const char *eval_dir(void) {
    static char dir[512];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/eval_tool", tu_tmpdir());
        mkdir(dir, 0755);
        const char *script =
            "return { name = 'eval', description = 'runs code', executes = true,\n"
            "  parameters = { type = 'object', properties = { code = { type = 'string' } }, required = { 'code' } },\n"
            "  run = function(args, ctx)\n"
            "    local f = assert(load(args.code, 'code', 't', setmetatable({ ctx = ctx }, { __index = _G })))\n"
            "    return f()\n"
            "  end }\n";
        assert_int_equal(tu_write_file(tu_path("%s/eval.lua", dir), script, strlen(script)), 0);
    }
    return dir;
}

static agent_toolbox *eval_toolbox(const agent_limits *limits) {
    const char *dirs[] = {eval_dir(), NULL};
    agent_toolbox *tb = agent_toolbox_load(dirs, limits, NULL, NULL);
    assert_int_equal(agent_toolbox_count(tb), 1);
    return tb;
}

static agent_result eval(agent_toolbox *tb, const char *code) {
    json_t *args = json_pack("{s:s}", "code", code);
    char *text = json_dumps(args, 0);
    agent_result r;
    agent_toolbox_run(tb, "eval", text, NULL, &r);
    free(text);
    json_decref(args);
    return r;
}

/* code must succeed and return exactly expected. */
static void expect_eval(agent_toolbox *tb, const char *code, const char *expected) {
    agent_result r = eval(tb, code);
    if (r.is_error || strcmp(r.content, expected) != 0)
        fail_msg("%s\n  gave %s%s\n  expected %s", code, r.is_error ? "error " : "", r.content, expected);
    agent_result_free(&r);
}

/* ---- fs ------------------------------------------------------------------------------ */

static const char *workspace;
static const char *outside;

static void make_workspace(void) {
    mkdir(tu_path("%s/ws", tu_tmpdir()), 0755);
    mkdir(tu_path("%s/outside", tu_tmpdir()), 0755);
    workspace = realpath(tu_path("%s/ws", tu_tmpdir()), NULL);
    outside = realpath(tu_path("%s/outside", tu_tmpdir()), NULL);
    assert_non_null(workspace);
    assert_non_null(outside);
    mkdir(tu_path("%s/sub", workspace), 0755);
    tu_write_file(tu_path("%s/a.txt", workspace), "alpha\n", 6);
    tu_write_file(tu_path("%s/sub/b.txt", workspace), "beta", 4);
    tu_write_file(tu_path("%s/secret.txt", outside), "SECRET", 6);
    char big[5000];
    memset(big, 'z', sizeof big);
    tu_write_file(tu_path("%s/big.txt", workspace), big, sizeof big);
    symlink(tu_path("%s/secret.txt", outside), tu_path("%s/link_out", workspace));
    symlink(outside, tu_path("%s/dir_out", workspace));
    symlink("a.txt", tu_path("%s/link_in", workspace));
}

static void test_fs_confined(void **state) {
    make_workspace();
    agent_limits limits = agent_limits_defaults();
    limits.workspace = workspace;
    limits.max_file = 1000;
    agent_toolbox *tb = eval_toolbox(&limits);
    expect_eval(tb, "return ctx.fs.read('a.txt')", "alpha\n");
    expect_eval(tb, "return ctx.fs.read('sub/../sub/b.txt')", "beta");
    expect_eval(tb, "return ctx.fs.read(ctx.workspace .. '/sub/b.txt')", "beta");
    expect_eval(tb, "return ctx.fs.read('link_in')", "alpha\n");
    expect_eval(tb, "return select(2, ctx.fs.read('../outside/secret.txt'))",
                "../outside/secret.txt: the path leads outside the workspace");
    expect_eval(tb, "return select(2, ctx.fs.read('sub/../../outside/secret.txt'))",
                "sub/../../outside/secret.txt: the path leads outside the workspace");
    char code[1024];
    snprintf(code, sizeof code, "return select(2, ctx.fs.read('%s/secret.txt'))", outside);
    agent_result r = eval(tb, code);
    assert_false(r.is_error);
    assert_non_null(strstr(r.content, "the path leads outside the workspace"));
    agent_result_free(&r);
    expect_eval(tb, "return select(2, ctx.fs.read('/etc/passwd'))", "/etc/passwd: the path leads outside the workspace");
    expect_eval(tb, "return select(2, ctx.fs.read('link_out'))", "link_out: the path leads outside the workspace");
    expect_eval(tb, "return select(2, ctx.fs.read('dir_out/secret.txt'))",
                "dir_out/secret.txt: the path leads outside the workspace");
    expect_eval(tb, "return select(2, ctx.fs.list('dir_out'))", "dir_out: the path leads outside the workspace");
    expect_eval(tb, "return select(2, ctx.fs.list('..'))", "..: the path leads outside the workspace");
    expect_eval(tb, "return select(2, ctx.fs.read('sub'))", "sub: is a directory (use fs.list)");
    expect_eval(tb, "return select(2, ctx.fs.read('nothing.txt'))", "nothing.txt: No such file or directory");

    /* caps */
    expect_eval(tb, "local s, cut = ctx.fs.read('big.txt') return #s .. ' ' .. tostring(cut)", "1000 true");
    expect_eval(tb, "local s, cut = ctx.fs.read('big.txt', 10) return s .. ' ' .. tostring(cut)", "zzzzzzzzzz true");
    expect_eval(tb, "local s, cut = ctx.fs.read('a.txt', 100) return tostring(cut)", "false");
    expect_eval(tb, "return select(2, ctx.fs.write('w.txt', ('x'):rep(1001)))",
                "w.txt: 1001 bytes is more than the 1000 a file may hold here");

    /* writes land inside only */
    expect_eval(tb, "assert(ctx.fs.write('new.txt', 'one ')) assert(ctx.fs.write('new.txt', 'two', 'append'))"
                    " return ctx.fs.read('new.txt')", "one two");
    size_t n;
    char *written = tu_read_file(tu_path("%s/new.txt", workspace), &n);
    assert_non_null(written);
    assert_int_equal(n, 7);
    free(written);
    expect_eval(tb, "return select(2, ctx.fs.write('../escape.txt', 'x'))", "../escape.txt: the path leads outside the workspace");
    struct stat st;
    assert_int_not_equal(stat(tu_path("%s/escape.txt", tu_tmpdir()), &st), 0);
    expect_eval(tb, "return select(2, ctx.fs.write('link_out', 'overwritten'))", "link_out: the path leads outside the workspace");
    expect_eval(tb, "return select(2, ctx.fs.write('dir_out/planted.txt', 'x'))",
                "dir_out/planted.txt: the path leads outside the workspace");
    char *secret = tu_read_file(tu_path("%s/secret.txt", outside), &n);
    assert_int_equal(n, 6);
    assert_memory_equal(secret, "SECRET", 6);
    free(secret);
    assert_int_not_equal(stat(tu_path("%s/planted.txt", outside), &st), 0);

    /* list and stat */
    expect_eval(tb, "local out = {} for _, e in ipairs(ctx.fs.list('.')) do out[#out + 1] = e.name .. ':' .. e.type end"
                    " return table.concat(out, ' ')",
                "a.txt:file big.txt:file dir_out:link link_in:link link_out:link new.txt:file sub:dir");
    expect_eval(tb, "local s = ctx.fs.stat('sub/b.txt') return s.type .. ' ' .. s.size", "file 4");
    agent_toolbox_free(tb);
}

/* The fallback for kernels without openat2: every symlink is refused, ".." may not
 * climb out. */
static void test_fs_walk_fallback(void **state) {
    int root = open(workspace, O_PATH | O_DIRECTORY);
    assert_true(root >= 0);
    int fd = host_open_beneath(root, workspace, "sub/../a.txt", O_RDONLY, 0, true);
    assert_true(fd >= 0);
    char buf[8] = "";
    assert_int_equal(read(fd, buf, sizeof buf), 6);
    assert_memory_equal(buf, "alpha\n", 6);
    close(fd);
    errno = 0;
    assert_int_equal(host_open_beneath(root, workspace, "../outside/secret.txt", O_RDONLY, 0, true), -1);
    assert_int_equal(errno, EXDEV);
    assert_int_equal(host_open_beneath(root, workspace, "link_out", O_RDONLY, 0, true), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(host_open_beneath(root, workspace, "dir_out/secret.txt", O_RDONLY, 0, true), -1);
    assert_true(errno == ENOTDIR || errno == ELOOP);
    assert_int_equal(host_open_beneath(root, workspace, "/etc/passwd", O_RDONLY, 0, true), -1);
    assert_int_equal(errno, EXDEV);
    fd = host_open_beneath(root, workspace, tu_path("%s/sub/b.txt", workspace), O_RDONLY, 0, true);
    assert_true(fd >= 0);
    close(fd);
    close(root);
}

/* ---- a loopback HTTP server ----------------------------------------------------------- */

static int server_fd = -1;
static int server_port;
static atomic_int server_stop;

static void send_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) return;
        data += n;
        len -= (size_t)n;
    }
}

static void respond(int fd, int status, const char *extra_headers, const char *body) {
    char head[1024];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     strlen(body), extra_headers);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

static void *serve_connection(void *arg) {
    int fd = (int)(intptr_t)arg;
    char req[65536];
    size_t len = 0;
    char *end = NULL;
    while (len < sizeof req - 1 && !(end = strstr(req, "\r\n\r\n"))) {
        ssize_t n = recv(fd, req + len, sizeof req - 1 - len, 0);
        if (n <= 0) break;
        len += (size_t)n;
        req[len] = '\0';
    }
    if (!end) {
        close(fd);
        return NULL;
    }
    char method[16] = "", path[256] = "";
    sscanf(req, "%15s %255s", method, path);
    char *cl = strcasestr(req, "Content-Length:");
    size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - req);
    while (have < want && len < sizeof req - 1) {
        ssize_t n = recv(fd, req + len, sizeof req - 1 - len, 0);
        if (n <= 0) break;
        len += (size_t)n;
        have += (size_t)n;
        req[len] = '\0';
    }
    int hops;
    if (strcmp(path, "/hello") == 0) {
        respond(fd, 200, "X-Test: yes\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n", "hello world");
    } else if (sscanf(path, "/redirect/%d", &hops) == 1) {
        char location[128];
        snprintf(location, sizeof location, "Location: /redirect/%d\r\n", hops - 1);
        if (hops > 0) respond(fd, 302, location, "");
        else respond(fd, 200, "", "landed");
    } else if (strcmp(path, "/tofile") == 0) {
        respond(fd, 302, "Location: file:///etc/passwd\r\n", "");
    } else if (strcmp(path, "/huge") == 0) {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n";
        send_all(fd, head, strlen(head));
        char chunk[65536];
        memset(chunk, 'h', sizeof chunk);
        for (int i = 0; i < 1600; i++) {
            ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
            if (n <= 0) break;
        }
    } else if (strcmp(path, "/slow") == 0) {
        struct pollfd p = {fd, POLLIN, 0};
        double t0 = now_s();
        while (now_s() - t0 < 5 && !atomic_load(&server_stop)) {
            char c;
            if (poll(&p, 1, 50) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) == 0) break;  /* the client left */
        }
        respond(fd, 200, "", "too late");
    } else if (strcmp(path, "/echo") == 0 && strcmp(method, "POST") == 0) {
        char body[70000];
        char *ct = strcasestr(req, "Content-Type:");
        char type[128] = "";
        if (ct && ct < end) sscanf(ct + 13, " %127[^\r]", type);
        snprintf(body, sizeof body, "%s|%.*s", type, (int)have, end + 4);
        respond(fd, 200, "", body);
    } else {
        respond(fd, 404, "", "nope");
    }
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg) {
    while (!atomic_load(&server_stop)) {
        int fd = accept(server_fd, NULL, NULL);
        if (fd < 0) continue;
        pthread_t th;
        if (pthread_create(&th, NULL, serve_connection, (void *)(intptr_t)fd) == 0) pthread_detach(th);
        else close(fd);
    }
    return NULL;
}

static void start_server(void) {
    server_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(server_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(server_fd, 16), 0);
    socklen_t alen = sizeof addr;
    getsockname(server_fd, (struct sockaddr *)&addr, &alen);
    server_port = ntohs(addr.sin_port);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, accept_loop, NULL), 0);
    pthread_detach(th);
}

static void expect_http(agent_toolbox *tb, const char *code_fmt, const char *expected) {
    char code[1024], want[256];
    snprintf(code, sizeof code, code_fmt, server_port);
    snprintf(want, sizeof want, expected, server_port);
    expect_eval(tb, code, want);
}

static void test_http(void **state) {
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    start_server();
    agent_limits limits = agent_limits_defaults();
    limits.max_http_body = 100000;
    agent_toolbox *tb = eval_toolbox(&limits);
    expect_http(tb, "local r = ctx.http.get('http://127.0.0.1:%d/hello')"
                    " return r.status .. ' ' .. r.body .. ' ' .. r.headers['x-test'] .. ' ' .. r.headers['set-cookie']"
                    " .. ' ' .. tostring(r.truncated)",
                "200 hello world yes a=1, b=2 false");
    expect_http(tb, "local r = ctx.http.get('http://127.0.0.1:%d/missing') return r.status .. ' ' .. r.body", "404 nope");
    expect_http(tb, "local r = ctx.http.get('http://127.0.0.1:%d/redirect/5') return r.status .. ' ' .. r.body",
                "200 landed");
    expect_http(tb, "return select(2, ctx.http.get('http://127.0.0.1:%d/redirect/6'))",
                "http://127.0.0.1:%d/redirect/6: more than 5 redirects");
    expect_http(tb, "return select(2, ctx.http.get('http://127.0.0.1:%d/tofile'))",
                "http://127.0.0.1:%d/tofile: redirected to a URL that is not http or https");
    expect_eval(tb, "return select(2, ctx.http.get('file:///etc/passwd'))",
                "file:///etc/passwd: only http:// and https:// URLs are allowed");
    expect_eval(tb, "return select(2, ctx.http.get('ftp://127.0.0.1/x'))",
                "ftp://127.0.0.1/x: only http:// and https:// URLs are allowed");
    expect_http(tb, "local r = ctx.http.get('http://127.0.0.1:%d/huge')"
                    " return r.status .. ' ' .. #r.body .. ' ' .. tostring(r.truncated)",
                "200 100000 true");
    expect_http(tb, "local r = ctx.http.post('http://127.0.0.1:%d/echo', '{\"a\":1}') return r.body",
                "application/json|{\"a\":1}");
    expect_http(tb, "local r = ctx.http.post('http://127.0.0.1:%d/echo', 'x=1', { content_type = 'text/plain' })"
                    " return r.body",
                "text/plain|x=1");
    expect_eval(tb, "local ok, err = pcall(ctx.http.get, 'http://127.0.0.1:1/', { headers = { ['X-A'] = 'a\\r\\nX-B: b' } })"
                    " return tostring(ok) .. ' ' .. tostring(err:find('line break', 1, true) ~= nil)",
                "false true");
    double t0 = now_s();
    expect_http(tb, "local r, err = ctx.http.get('http://127.0.0.1:%d/slow', { timeout = 0.5 }) return err",
                "http://127.0.0.1:%d/slow: timed out after 0.5 s");
    assert_true(now_s() - t0 < 2);
    agent_toolbox_free(tb);

    /* the call's own deadline bounds a request without a timeout option */
    limits.timeout_s = 0.5;
    tb = eval_toolbox(&limits);
    t0 = now_s();
    char code[256];
    snprintf(code, sizeof code, "return ctx.http.get('http://127.0.0.1:%d/slow')", server_port);
    agent_result r = eval(tb, code);
    assert_true(r.is_error);
    assert_non_null(strstr(r.content, "time limit of 0.5 s"));
    assert_true(now_s() - t0 < 2);
    agent_result_free(&r);
    agent_toolbox_free(tb);
}

/* ---- proc ---------------------------------------------------------------------------- */

static void test_proc(void **state) {
    agent_limits limits = agent_limits_defaults();
    limits.workspace = workspace;
    agent_toolbox *tb = eval_toolbox(&limits);
    expect_eval(tb, "return select(2, ctx.proc.run({ 'true' }))", "running commands is not allowed (--allow-shell)");
    agent_toolbox_free(tb);

    limits.allow_proc = true;
    tb = eval_toolbox(&limits);
    expect_eval(tb, "local r = ctx.proc.run({ 'sh', '-c', 'echo out; echo err >&2; exit 3' })"
                    " return r.code .. '|' .. r.stdout .. '|' .. r.stderr .. '|' .. tostring(r.timed_out)",
                "3|out\n|err\n|false");
    expect_eval(tb, "return ctx.proc.run({ 'cat' }, { stdin = 'fed in' }).stdout", "fed in");
    char expected[600];
    snprintf(expected, sizeof expected, "%s\n", workspace);
    expect_eval(tb, "return ctx.proc.run({ 'pwd', '-P' }).stdout", expected);
    expect_eval(tb, "return select(2, ctx.proc.run({ 'no-such-command-g4' }))", "no-such-command-g4: No such file or directory");
    expect_eval(tb, "local r = ctx.proc.run({ 'sh', '-c', 'head -c 100000 /dev/zero | tr \"\\\\0\" a' }, { max_output = 1000 })"
                    " return #r.stdout .. ' ' .. tostring(r.truncated) .. ' ' .. r.stdout:sub(1, 3)",
                "1000 true aaa");
    double t0 = now_s();
    expect_eval(tb, "local r = ctx.proc.run({ 'sh', '-c', 'sleep 10 & sleep 10' }, { timeout = 0.3 })"
                    " return tostring(r.timed_out) .. ' ' .. tostring(r.signal) .. ' ' .. tostring(r.code)",
                "true 9 nil");
    assert_true(now_s() - t0 < 2);
    expect_eval(tb, "local ok, err = pcall(ctx.proc.run, 'ls') return tostring(ok)", "false");
    expect_eval(tb, "local ok, err = pcall(ctx.proc.run, {}) return tostring(ok)", "false");
    agent_toolbox_free(tb);
}

/* ---- json, html, env, time ------------------------------------------------------------ */

static void test_json(void **state) {
    agent_limits limits = agent_limits_defaults();
    agent_toolbox *tb = eval_toolbox(&limits);
    const char *doc = "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\u2713 \\ud83d\\ude00\",\"d\":[],\"e\":{},\"f\":1.5,"
                      "\"g\":9007199254740993,\"h\":-0.25,\"i\":[[[]]],\"j\":false}";
    char code[1024];
    snprintf(code, sizeof code, "return ctx.json.encode(ctx.json.decode([=[%s]=]))", doc);
    json_t *want = json_loads(doc, 0, NULL);
    char *want_text = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
    expect_eval(tb, code, want_text);
    free(want_text);
    json_decref(want);
    expect_eval(tb, "local v = ctx.json.decode('{\"g\":9007199254740993,\"f\":2.0,\"n\":null}')"
                    " return math.type(v.g) .. ' ' .. v.g .. ' ' .. math.type(v.f) .. ' ' .. tostring(v.n == ctx.json.null)",
                "integer 9007199254740993 float true");
    expect_eval(tb, "return ctx.json.encode({ json.empty_array, json.empty_object, {}, { 1, 2 }, { x = 1 } })",
                "[[],{},{},[1,2],{\"x\":1}]");
    expect_eval(tb, "return ctx.json.decode('\"\\\\u00e9\"')", "\xC3\xA9");
    expect_eval(tb, "local v, err = ctx.json.decode('{bad') return tostring(v) .. ' ' .. err:sub(1, 11)", "nil json.decode");
    expect_eval(tb, "return select(2, ctx.json.decode(('['):rep(300) .. (']'):rep(300)))",
                "json.decode: nested deeper than 200 levels");
    expect_eval(tb, "return select(2, ctx.json.encode({ f = print }))", "json.encode: cannot encode a function value");
    expect_eval(tb, "local t = {} t.self = t return select(2, ctx.json.encode(t))",
                "json.encode: tables nested deeper than 200 levels (a cycle?)");
    expect_eval(tb, "return select(2, ctx.json.encode(0/0))", "json.encode: NaN cannot be written as JSON");
    expect_eval(tb, "return select(2, ctx.json.encode({ [1.5] = 1 }))",
                "json.encode: a table has a key that is not a string or a positive integer");
    expect_eval(tb, "return ctx.json.encode({ [1] = 'a', [3] = 'c' })", "{\"1\":\"a\",\"3\":\"c\"}");
    agent_toolbox_free(tb);
}

static void test_html(void **state) {
    agent_limits limits = agent_limits_defaults();
    agent_toolbox *tb = eval_toolbox(&limits);
    const char *page =
        "<html><head><title>Sample &amp; Page</title><style>p{color:red}</style><script>var x=1;</script></head>"
        "<body><h1>Heading</h1><p>First   paragraph\\nwith <b>bold</b> text.</p><ul><li>one</li><li>two</li></ul>"
        "<div>Block<br>next</div><script>alert(1)</script><table><tr><td>c1</td><td>c2</td></tr></table></body></html>";
    char code[2048];
    snprintf(code, sizeof code, "return ctx.html.text('%s')", page);
    expect_eval(tb, code, "Heading\n\nFirst paragraph with bold text.\n\none\ntwo\n\nBlock\nnext\n\nc1 c2");
    snprintf(code, sizeof code, "return ctx.html.title('%s')", page);
    expect_eval(tb, code, "Sample & Page");
    expect_eval(tb, "return tostring(ctx.html.title('<p>no title'))", "nil");
    expect_eval(tb, "return type(ctx.html.text('<<<>>>&&&\\0</p></div><p'))", "string");
    expect_eval(tb, "return ctx.html.text('')", "");
    agent_toolbox_free(tb);
}

static void test_env_and_time(void **state) {
    setenv("G4_TEST_ALLOWED", "yes", 1);
    setenv("G4_TEST_SECRET", "hidden", 1);
    const char *allow[] = {"G4_TEST_ALLOWED", "G4_TEST_UNSET", NULL};
    agent_limits limits = agent_limits_defaults();
    limits.env_allow = allow;
    agent_toolbox *tb = eval_toolbox(&limits);
    expect_eval(tb, "return ctx.env.get('G4_TEST_ALLOWED')", "yes");
    expect_eval(tb, "return tostring(ctx.env.get('G4_TEST_SECRET'))", "nil");
    expect_eval(tb, "return tostring(ctx.env.get('G4_TEST_UNSET'))", "nil");
    expect_eval(tb, "return ctx.time.iso(0)", "1970-01-01T00:00:00Z");
    expect_eval(tb, "return ctx.time.format('%Y-%m-%d %H:%M', 86400 * 366 + 3600)", "1971-01-02 01:00");
    expect_eval(tb, "return tostring(ctx.time.now() > 1.6e9 and math.type(ctx.time.now()) == 'float')", "true");
    expect_eval(tb, "return tostring(pcall(ctx.time.format, ('%c'):rep(200)))", "false");
    agent_toolbox_free(tb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fs_confined), cmocka_unit_test(test_fs_walk_fallback),
        cmocka_unit_test(test_http),        cmocka_unit_test(test_proc),
        cmocka_unit_test(test_json),        cmocka_unit_test(test_html),
        cmocka_unit_test(test_env_and_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
