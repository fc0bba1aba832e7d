/* hub_verify.c: content checks of downloaded files with OpenSSL's EVP digests:
 * sha256 for LFS files (their ETag) and the git blob sha1 for small files. */
#include "hub/hub_internal.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int hub_hash_begin(hub_hash *h, const char *etag, uint64_t size) {
    size_t n = strlen(etag);
    h->git_blob = n == 40;
    h->md = NULL;
    if (n != 40 && n != 64) return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, h->git_blob ? EVP_sha1() : EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    h->md = md;
    if (h->git_blob) {  /* git hashes "blob SIZE\0" before the content */
        char head[32];
        int k = snprintf(head, sizeof head, "blob %" PRIu64, size);
        if (hub_hash_update(h, head, (size_t)k + 1)) {
            hub_hash_free(h);
            return -1;
        }
    }
    return 0;
}

int hub_hash_update(hub_hash *h, const void *data, size_t n) {
    return h->md && EVP_DigestUpdate(h->md, data, n) ? 0 : -1;
}

void hub_hash_free(hub_hash *h) {
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
}

static void to_hex(const unsigned char *d, unsigned n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = 0;
}

int hub_hash_matches(hub_hash *h, const char *etag) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    int ok = h->md && EVP_DigestFinal_ex(h->md, digest, &n);
    hub_hash_free(h);
    if (!ok) return -1;
    to_hex(digest, n, hex);
    return strcmp(hex, etag) == 0 ? 0 : -1;
}

int hub_git_blob_sha1(const void *data, size_t n, char out[41]) {
    hub_hash h;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (hub_hash_begin(&h, "0000000000000000000000000000000000000000", n) || hub_hash_update(&h, data, n)) return -1;
    int ok = EVP_DigestFinal_ex(h.md, digest, &len) && len == 20;
    hub_hash_free(&h);
    if (!ok) return -1;
    to_hex(digest, len, out);
    return 0;
}
