/* fuzz_server_request.c: any bytes as a /v1/chat/completions or /v1/completions
 * body (app/server/request.c): parsing either succeeds with a request that is
 * freed cleanly, or fails with an HTTP status and an error JSON; never a crash,
 * leak or read out of bounds. The first byte picks the kind. */
#include "server/server.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const srv_limits lim = {.model_name = "gemma", .vocab_size = 512, .max_tokens = 4096};
    srv_request r;
    srv_error e = {0};
    srv_kind kind = data[0] & 1 ? SRV_COMPLETION : SRV_CHAT;
    if (srv_request_parse(&r, kind, (const char *)data + 1, size - 1, &lim, &e) == 0) {
        if (r.n < 1 || r.n > SRV_MAX_N || r.n_stop > SRV_MAX_STOPS || r.n_bias > SRV_MAX_BIAS) abort();
        srv_request_free(&r);
    } else {
        if (e.status < 400 || e.status > 599) abort();
        free(srv_error_json(&e));
    }
    return 0;
}
