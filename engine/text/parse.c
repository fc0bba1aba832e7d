/* parse.c: the output parser of gemma4.h ("Output parsing"): generated token ids
 * -> thought, answer and tool-call events, one token at a time
 * (shared/docs/gemma4-chat-protocol.md §3, §5 "Parsing").
 *
 * Special tokens are recognised by id (looked up by piece); the text of other
 * tokens comes from the streaming detokenizer, which is flushed before every
 * special token. Tool-call arguments are converted by toolargs.c.
 *
 * Behaviour chosen where the spec leaves room (tests/unit/test_parse.c checks each):
 * - Thinking: <|channel> opens reasoning; its label "thought" followed by a blank
 *   is dropped (it may be split over tokens or absent); <channel|> closes it.
 *   A repeated <|channel> (with its label) is dropped; inside reasoning it starts a
 *   new segment, as if the channel had been closed and reopened. A stray
 *   <channel|> outside it is dropped. <|tool_call> or a stop token also ends
 *   reasoning; so does finish(), which flushes an unterminated channel as thought.
 *   At the very start of the output (nothing emitted yet), "thought\n" without an
 *   opener is taken as the label of a channel whose opener was omitted (§5.2).
 * - The starting state follows the prompt tail (§3.2 is_reasoning_end): if the last
 *   of <|channel> <channel|> <|tool_call> <tool_call|> <|turn> <turn|>
 *   <|tool_response> <tool_response|> in the prompt is <|channel>, the output starts
 *   inside reasoning (after the label if the prompt already holds it).
 * - Whitespace: blanks (space, tab, CR, LF) at the start and end of the answer and
 *   of the reasoning are trimmed as llama.cpp does: trailing blanks are held back
 *   and only sent once more text of the same kind follows. Separate reasoning
 *   channels are joined with one "\n". Inner whitespace is kept as generated, also
 *   across tool calls. No event carries empty text.
 * - <|turn> (e.g. a leading "<|turn>model\n") drops itself and its role line.
 * - <|"|> outside a tool call is passed through as the text <|"|>; every other
 *   special token that is not handled above (<|image|>, <bos>, <tool_response|>,
 *   ...) is dropped. Invalid ids are ignored.
 * - Tool calls: <|tool_call> [':'] call:NAME { ARGS } <tool_call|>, NAME of
 *   letters, digits, _ - . or non-ASCII bytes (a missing "call:" is tolerated).
 *   START is sent once "call:NAME{" is complete, ARGS as JSON text appears,
 *   END with the whole JSON. A header that cannot be a call (e.g. "call:f(x)")
 *   is sent as answer text. A call still open at a stop token, at the next
 *   <|tool_call> or at finish() ends with its best-effort JSON (open strings,
 *   arrays and objects closed, a key without a value gets null); "call:NAME"
 *   closed by <tool_call|> or a stop token before its '{' is a call with {};
 *   a header cut off by finish() is dropped. Text after the arguments' closing
 *   '}' and before <tool_call|> is dropped; text after <tool_call|> is answer.
 * - Stop tokens <eos>, <turn|>, <|tool_response> (and any other token the vocab
 *   marks end-of-generation, reported as G4_STOP_EOS) end the output: open state is
 *   closed as by finish(), STOP is sent, and the token's text is never emitted.
 *   finish() sends no STOP event.
 * - Memory is bounded: one call's JSON is capped at 1 MiB (toolargs.c), a header at
 *   320 bytes, held-back whitespace at 4 KiB. */
#include "gemma4.h"
#include "base/error.h"
#include "text/parse.h"

#include <stdlib.h>
#include <string.h>

enum mode {
    M_ANSWER,   /* answer text */
    M_LABEL,    /* just after <|channel>: reading the label "thought" */
    M_THOUGHT,  /* reasoning text */
    M_ROLE,     /* after <|turn>: dropping the role line */
    M_HEADER,   /* after <|tool_call>: reading "call:NAME{" */
    M_ARGS,     /* inside a tool call's arguments */
    M_DONE,     /* after a stop token or finish() */
};

#define LABEL "thought"
#define LABEL_LEN 7
#define PEND_MAX 4096     /* held-back trailing whitespace */
#define HEADER_MAX 320    /* text between <|tool_call> and '{' */
#define ROLE_MAX 32       /* the role line after <|turn> */
#define TEXT_MAX 4096     /* detokenizer output per token */

typedef struct {
    int started;          /* text of this kind has been sent */
    int skip_ws;          /* dropping blanks at the start of a segment */
    size_t pend_len;
    char pend[PEND_MAX];  /* trailing blanks, sent only if more text follows */
} text_stream;

struct g4_parser {
    const g4_vocab *vocab;
    g4_event_fn fn;
    void *user;
    g4_detokenizer *detok;
    struct {
        int32_t eos, eot, sot, soc, eoc, stc, etc, str, etr, esc;
    } id;
    enum mode mode;
    enum mode role_return;    /* where M_ROLE goes back to */
    int implicit_label;       /* at the output's start: "thought\n" may be a label */
    char label[LABEL_LEN + 1];
    size_t label_len;
    char role[ROLE_MAX + 4];
    size_t role_len;
    text_stream answer, thought;
    char header[HEADER_MAX + 4];
    size_t header_len;
    char name[HEADER_MAX + 5];
    int n_calls;
    g4_toolargs args;
    size_t args_sent;
    int stopped, finished;
    int cut;                  /* the output is ending inside a call's arguments */
    char *scratch;
    size_t scratch_cap;
};

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* A UTF-8 continuation byte: buffers that overflow are cut only before a character. */
static int is_cont(int c) { return (c & 0xC0) == 0x80; }

static int is_name_char(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c >= 0x80;
}

static void on_text(g4_parser *p, const char *s, size_t n);

/* ---- events ---------------------------------------------------------------- */

static void emit(g4_parser *p, g4_event_type type, const char *text, size_t len) {
    g4_event e = {0};
    e.type = type;
    e.text = text ? text : "";
    e.len = len;
    e.tool_index = p->n_calls;
    e.name = p->name;
    e.cut = type == G4_EVENT_TOOL_CALL_END && p->cut;
    p->implicit_label = 0;
    p->fn(&e, p->user);
}

/* Sends a[0..na) + b[0..nb) as one text event (two if memory is short). */
static void emit_text2(g4_parser *p, g4_event_type type, const char *a, size_t na,
                       const char *b, size_t nb) {
    if (na == 0) {
        if (nb) emit(p, type, b, nb);
        return;
    }
    if (na + nb > p->scratch_cap) {
        char *s = realloc(p->scratch, na + nb);
        if (!s) {
            emit(p, type, a, na);
            if (nb) emit(p, type, b, nb);
            return;
        }
        p->scratch = s, p->scratch_cap = na + nb;
    }
    memcpy(p->scratch, a, na);
    memcpy(p->scratch + na, b, nb);
    emit(p, type, p->scratch, na + nb);
}

/* Text of one kind, trimmed at both ends (see the file comment). */
static void stream_text(g4_parser *p, g4_event_type type, const char *s, size_t n) {
    text_stream *t = type == G4_EVENT_THOUGHT ? &p->thought : &p->answer;
    if (t->skip_ws) {
        while (n && is_blank((unsigned char)*s)) s++, n--;
        if (!n) return;
        t->skip_ws = 0;
    }
    size_t end = n;
    while (end && is_blank((unsigned char)s[end - 1])) end--;
    if (end) {
        emit_text2(p, type, t->pend, t->pend_len, s, end);
        t->pend_len = 0;
        t->started = 1;
    }
    s += end, n -= end;
    if (t->pend_len + n > PEND_MAX) {  /* a huge blank run: send it, stop holding */
        emit_text2(p, type, t->pend, t->pend_len, s, n);
        t->pend_len = 0;
        return;
    }
    memcpy(t->pend + t->pend_len, s, n);
    t->pend_len += n;
}

/* ---- reasoning ------------------------------------------------------------- */

static void open_channel(g4_parser *p) {
    p->mode = M_LABEL;
    p->label_len = 0;
    p->thought.skip_ws = 1;
}

static void close_channel(g4_parser *p) {
    p->thought.pend_len = 0;
    if (p->thought.started) p->thought.pend[0] = '\n', p->thought.pend_len = 1;
    p->label_len = 0;
    p->mode = M_ANSWER;
}

/* Sends the withheld start of the answer that turned out not to be a label. */
static void flush_implicit_label(g4_parser *p) {
    size_t n = p->label_len;
    p->label_len = 0;
    p->implicit_label = 0;
    if (n) stream_text(p, G4_EVENT_ANSWER, p->label, n);
}

/* Reads the label "thought" + blank (implicit: + '\n'), withholding text while it
 * may still be one. Returns the bytes consumed. */
static size_t feed_label(g4_parser *p, const char *s, size_t n, int implicit) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (p->label_len == 0 && is_blank((unsigned char)c)) continue;
        if (p->label_len < LABEL_LEN && c == LABEL[p->label_len]) {
            p->label[p->label_len++] = c;
            continue;
        }
        if (p->label_len == LABEL_LEN && (implicit ? c == '\n' : is_blank((unsigned char)c))) {
            p->label_len = 0;
            p->implicit_label = 0;
            p->mode = M_THOUGHT;
            p->thought.skip_ws = 1;
            return i + 1;
        }
        /* not a label: what was held is ordinary text */
        if (implicit) {
            flush_implicit_label(p);
        } else {
            size_t held = p->label_len;
            p->label_len = 0;
            p->mode = M_THOUGHT;
            if (held) stream_text(p, G4_EVENT_THOUGHT, p->label, held);
        }
        return i;
    }
    return n;
}

/* ---- tool calls ------------------------------------------------------------ */

enum { H_MORE, H_DONE, H_BAD };

static size_t skip_blanks(const char *s, size_t i, size_t n) {
    while (i < n && is_blank((unsigned char)s[i])) i++;
    return i;
}

/* Scans the header [':'] "call:" NAME '{' (blanks allowed between parts).
 * final: no more text will come (the call was closed before its '{'). On H_DONE
 * the name is s[*name .. *name + *name_len). */
static int scan_header(const char *s, size_t n, int final, size_t *name, size_t *name_len) {
    size_t i = 0, w0, w1;
    while (i < n && (is_blank((unsigned char)s[i]) || s[i] == ':')) i++;
    for (w0 = i; i < n && is_name_char((unsigned char)s[i]);) i++;
    w1 = i;
    i = skip_blanks(s, i, n);
    if (i == n) return final ? H_BAD : H_MORE;
    if (s[i] == '{') {
        *name = w0, *name_len = w1 - w0;
        return w1 > w0 ? H_DONE : H_BAD;
    }
    if (s[i] != ':' || w1 - w0 != 4 || memcmp(s + w0, "call", 4) != 0) return H_BAD;
    i = skip_blanks(s, i + 1, n);
    for (w0 = i; i < n && is_name_char((unsigned char)s[i]);) i++;
    w1 = i;
    i = skip_blanks(s, i, n);
    *name = w0, *name_len = w1 - w0;
    if (i == n) return final && w1 > w0 ? H_DONE : final ? H_BAD : H_MORE;
    return s[i] == '{' && w1 > w0 ? H_DONE : H_BAD;
}

static void send_args(g4_parser *p) {
    if (p->args.len > p->args_sent) {
        emit(p, G4_EVENT_TOOL_CALL_ARGS, p->args.json + p->args_sent, p->args.len - p->args_sent);
        p->args_sent = p->args.len;
    }
}

static void start_call(g4_parser *p, const char *name, size_t len) {
    memcpy(p->name, name, len);
    p->name[len] = 0;
    p->header_len = 0;
    emit(p, G4_EVENT_TOOL_CALL_START, NULL, 0);
    g4_toolargs_reset(&p->args);
    p->args_sent = 0;
    g4_toolargs_feed(&p->args, "{", 1);
    p->mode = M_ARGS;
}

static void end_call(g4_parser *p) {
    g4_toolargs_finish(&p->args);
    send_args(p);
    emit(p, G4_EVENT_TOOL_CALL_END, p->args.json, p->args.len);
    p->n_calls++;
    p->name[0] = 0;
    p->mode = M_ANSWER;
}

/* A header that will get no more text: a call with {} if it names one (closed),
 * else answer text (closed) or nothing (cut off by finish()). */
static void end_header(g4_parser *p, int closed) {
    size_t name = 0, name_len = 0, n = p->header_len;
    p->header_len = 0;
    p->mode = M_ANSWER;
    if (!closed) return;
    if (scan_header(p->header, n, 1, &name, &name_len) == H_DONE) {
        start_call(p, p->header + name, name_len);
        end_call(p);
    } else if (n) {
        stream_text(p, G4_EVENT_ANSWER, p->header, n);
    }
}

static size_t feed_header(g4_parser *p, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t name, name_len;
        int r = H_BAD;
        int appended = p->header_len < HEADER_MAX ||
                       (p->header_len < sizeof p->header && is_cont((unsigned char)s[i]));
        if (appended) {
            p->header[p->header_len++] = s[i];
            r = scan_header(p->header, p->header_len, 0, &name, &name_len);
        }
        if (r == H_DONE) {
            start_call(p, p->header + name, name_len);
            send_args(p);
            return i + 1;
        }
        if (r == H_BAD) {  /* not a call after all: the text is answer */
            /* take the rest of a character cut at its first byte along */
            while (appended && i + 1 < n && is_cont((unsigned char)s[i + 1]) && p->header_len < sizeof p->header)
                p->header[p->header_len++] = s[++i];
            size_t len = p->header_len;
            p->header_len = 0;
            p->mode = M_ANSWER;
            stream_text(p, G4_EVENT_ANSWER, p->header, len);
            return appended ? i + 1 : i;
        }
    }
    return n;
}

/* ---- dispatch -------------------------------------------------------------- */

/* Drops the role line after <|turn>. */
static size_t feed_role(g4_parser *p, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            p->mode = p->role_return;
            p->role_len = 0;
            return i + 1;
        }
        if (p->role_len >= sizeof p->role ||
            (p->role_len >= ROLE_MAX && !is_cont((unsigned char)s[i]))) {  /* not a role: text */
            size_t len = p->role_len;
            p->role_len = 0;
            p->mode = p->role_return;
            on_text(p, p->role, len);
            return i;
        }
        p->role[p->role_len++] = s[i];
    }
    return n;
}

static void on_text(g4_parser *p, const char *s, size_t n) {
    while (n > 0) {
        size_t k = n;
        switch (p->mode) {
        case M_ANSWER:
            if (p->implicit_label) k = feed_label(p, s, n, 1);
            else stream_text(p, G4_EVENT_ANSWER, s, n);
            break;
        case M_LABEL: k = feed_label(p, s, n, 0); break;
        case M_THOUGHT: stream_text(p, G4_EVENT_THOUGHT, s, n); break;
        case M_ROLE: k = feed_role(p, s, n); break;
        case M_HEADER: k = feed_header(p, s, n); break;
        case M_ARGS:
            g4_toolargs_feed(&p->args, s, n);
            send_args(p);
            break;
        case M_DONE: break;
        }
        s += k, n -= k;
    }
}

static void flush_detok(g4_parser *p) {
    char buf[TEXT_MAX];
    int n = g4_detokenize_flush(p->detok, buf, sizeof buf);
    if (n > 0) on_text(p, buf, (size_t)n);
}

/* Closes whatever is open at the end of the output. closed: a stop token ended it
 * (rather than finish()). */
static void end_output(g4_parser *p, int closed) {
    flush_detok(p);
    switch (p->mode) {
    case M_ANSWER:
        if (p->implicit_label) flush_implicit_label(p);
        break;
    case M_ROLE:
        break;
    case M_HEADER:
        end_header(p, closed);
        break;
    case M_ARGS:
        p->cut = !closed;
        end_call(p);
        p->cut = 0;
        break;
    default:
        break;
    }
    p->mode = M_DONE;
}

static void on_special(g4_parser *p, int32_t id) {
    if (p->mode == M_ROLE) p->mode = p->role_return, p->role_len = 0;
    if (p->mode == M_ANSWER && p->implicit_label && id != p->id.sot) {
        if (id == p->id.eoc) p->label_len = 0, p->implicit_label = 0;  /* "thought<channel|>" */
        else flush_implicit_label(p);
    }
    enum mode m = p->mode;
    if (id == p->id.esc) {
        if (m == M_ARGS) {
            g4_toolargs_quote(&p->args);
            send_args(p);
        } else if (m != M_HEADER) {
            on_text(p, "<|\"|>", 5);
        }
    } else if (id == p->id.soc) {
        if (m == M_THOUGHT) close_channel(p);  /* a repeated opener starts a new segment */
        if (m == M_ANSWER || m == M_LABEL || m == M_THOUGHT) open_channel(p);
    } else if (id == p->id.eoc) {
        if (m == M_LABEL || m == M_THOUGHT) close_channel(p);
    } else if (id == p->id.stc) {
        if (m == M_LABEL || m == M_THOUGHT) close_channel(p);
        else if (m == M_HEADER) end_header(p, 1);
        else if (m == M_ARGS) end_call(p);
        p->mode = M_HEADER;
        p->header_len = 0;
    } else if (id == p->id.etc) {
        if (m == M_HEADER) end_header(p, 1);
        else if (m == M_ARGS) end_call(p);
    } else if (id == p->id.sot) {
        if (m == M_ANSWER || m == M_LABEL || m == M_THOUGHT) {
            p->role_return = m;
            p->role_len = 0;
            p->mode = M_ROLE;
        }
    }
    /* any other special token is dropped */
}

static g4_stop_reason stop_reason(const g4_parser *p, int32_t id) {
    if (id == p->id.eos) return G4_STOP_EOS;
    if (id == p->id.eot) return G4_STOP_END_OF_TURN;
    if (id == p->id.str) return G4_STOP_TOOL_CALLS;
    if (g4_vocab_is_eog(p->vocab, id)) return G4_STOP_EOS;
    return G4_STOP_NONE;
}

static int is_handled_special(const g4_parser *p, int32_t id) {
    return id == p->id.sot || id == p->id.soc || id == p->id.eoc || id == p->id.stc ||
           id == p->id.etc || id == p->id.etr || id == p->id.esc;
}

/* ---- API ------------------------------------------------------------------- */

int g4_parser_push(g4_parser *p, int32_t id) {
    if (!p) return 0;
    if (p->stopped) return 1;
    if (p->finished || id < 0 || id >= g4_vocab_size(p->vocab)) return 0;
    g4_stop_reason stop = stop_reason(p, id);
    if (stop != G4_STOP_NONE) {
        end_output(p, 1);
        p->stopped = 1;
        g4_event e = {0};
        e.type = G4_EVENT_STOP;
        e.text = "";
        e.tool_index = p->n_calls;
        e.name = "";
        e.stop = stop;
        p->fn(&e, p->user);
        return 1;
    }
    if (is_handled_special(p, id) || g4_vocab_is_special(p->vocab, id)) {
        flush_detok(p);
        on_special(p, id);
        return 0;
    }
    char buf[TEXT_MAX];
    int n = g4_detokenize(p->detok, id, buf, sizeof buf);
    if (n > 0) on_text(p, buf, (size_t)n);
    return 0;
}

void g4_parser_finish(g4_parser *p) {
    if (!p || p->stopped || p->finished) return;
    end_output(p, 0);
    p->finished = 1;
}

/* Start state from the prompt tail: inside reasoning iff the last structural
 * marker is <|channel>; then the text after it decides whether the label is read. */
static void seed_from_prompt(g4_parser *p, const int32_t *prompt, int n_prompt) {
    int i = n_prompt - 1;
    for (; i >= 0; i--) {
        int32_t id = prompt[i];
        if (id < 0) continue;
        if (id == p->id.soc || id == p->id.eoc || id == p->id.stc || id == p->id.etc ||
            id == p->id.sot || id == p->id.eot || id == p->id.str || id == p->id.etr)
            break;
    }
    if (i < 0 || prompt[i] != p->id.soc) return;
    open_channel(p);
    /* replay the prompt's text after <|channel> through the label reader, silently:
     * it is prompt, not output, so whatever follows the label is not sent */
    g4_detokenizer *d = g4_detokenizer_new(p->vocab, G4_DETOK_SKIP_SPECIAL);
    if (!d) return;
    char buf[64];
    size_t len = 0;
    for (int j = i + 1; j < n_prompt && len < sizeof buf; j++) {
        if (prompt[j] < 0 || prompt[j] >= g4_vocab_size(p->vocab) ||
            g4_vocab_is_special(p->vocab, prompt[j]))
            continue;
        int n = g4_detokenize(d, prompt[j], buf + len, sizeof buf - len);
        if (n > 0) len += (size_t)n;
    }
    g4_detokenizer_free(d);
    size_t k = 0;
    while (k < len && is_blank((unsigned char)buf[k])) k++;
    size_t rest = len - k;
    if (rest <= LABEL_LEN && memcmp(buf + k, LABEL, rest) == 0) {  /* (part of) the label */
        memcpy(p->label, buf + k, rest);
        p->label_len = rest;
        return;
    }
    p->mode = M_THOUGHT;
    if (memcmp(buf + k, LABEL, LABEL_LEN) == 0 && is_blank((unsigned char)buf[k + LABEL_LEN])) {
        k += LABEL_LEN + 1;
        while (k < len && is_blank((unsigned char)buf[k])) k++;
        p->thought.skip_ws = k == len;  /* the label alone: trim what the model adds */
    } else {
        p->thought.skip_ws = 0;  /* the prompt already started the reasoning */
    }
}

g4_parser *g4_parser_new(const g4_vocab *vocab, const int32_t *prompt, int n_prompt,
                         g4_event_fn fn, void *user) {
    if (!vocab || !fn || n_prompt < 0 || (n_prompt > 0 && !prompt)) {
        g4_error("g4_parser_new: needs a vocabulary, a callback and n_prompt >= 0");
        return NULL;
    }
    g4_parser *p = calloc(1, sizeof *p);
    if (!p) {
        g4_error("g4_parser_new: out of memory");
        return NULL;
    }
    p->vocab = vocab;
    p->fn = fn;
    p->user = user;
    p->detok = g4_detokenizer_new(vocab, G4_DETOK_SKIP_SPECIAL);
    g4_toolargs_init(&p->args, 0);
    if (!p->detok || !p->args.json) {
        g4_parser_free(p);
        g4_error("g4_parser_new: out of memory");
        return NULL;
    }
    p->id.eos = g4_vocab_find(vocab, "<eos>");
    if (p->id.eos < 0) p->id.eos = g4_vocab_eos(vocab);
    p->id.eot = g4_vocab_find(vocab, "<turn|>");
    p->id.sot = g4_vocab_find(vocab, "<|turn>");
    p->id.soc = g4_vocab_find(vocab, "<|channel>");
    p->id.eoc = g4_vocab_find(vocab, "<channel|>");
    p->id.stc = g4_vocab_find(vocab, "<|tool_call>");
    p->id.etc = g4_vocab_find(vocab, "<tool_call|>");
    p->id.str = g4_vocab_find(vocab, "<|tool_response>");
    p->id.etr = g4_vocab_find(vocab, "<tool_response|>");
    p->id.esc = g4_vocab_find(vocab, "<|\"|>");
    p->mode = M_ANSWER;
    p->implicit_label = 1;
    p->answer.skip_ws = 1;
    p->thought.skip_ws = 1;
    seed_from_prompt(p, prompt, n_prompt);
    if (p->mode != M_ANSWER) p->implicit_label = 0;
    return p;
}

void g4_parser_free(g4_parser *p) {
    if (!p) return;
    g4_detokenizer_free(p->detok);
    g4_toolargs_free(&p->args);
    free(p->scratch);
    free(p);
}
