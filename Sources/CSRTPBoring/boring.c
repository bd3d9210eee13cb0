// See include/CSRTPBoring.h. Declarations below mirror BoringSSL's public headers
// (aes.h, hmac.h, digest.h, aead.h) as shipped in swift-crypto 4.x, where every
// symbol carries the "CCryptoBoringSSL_" prefix.
#include "CSRTPBoring.h"

#include <stdlib.h>
#include <string.h>

#if defined(__linux__)

#define AES_MAXNR 14
typedef struct aes_key_st {
    uint32_t rd_key[4 * (AES_MAXNR + 1)];
    unsigned rounds;
} AES_KEY;
typedef struct env_md_st EVP_MD;
typedef struct hmac_ctx_st HMAC_CTX;
typedef struct evp_aead_st EVP_AEAD;
typedef struct evp_aead_ctx_st EVP_AEAD_CTX;
typedef struct engine_st ENGINE;

extern int CCryptoBoringSSL_AES_set_encrypt_key(const uint8_t *key, unsigned bits, AES_KEY *aeskey);
extern void CCryptoBoringSSL_AES_encrypt(const uint8_t *in, uint8_t *out, const AES_KEY *key);
extern void CCryptoBoringSSL_AES_ctr128_encrypt(const uint8_t *in, uint8_t *out, size_t len, const AES_KEY *key,
                                                uint8_t ivec[16], uint8_t ecount_buf[16], unsigned int *num);
extern const EVP_MD *CCryptoBoringSSL_EVP_sha1(void);
extern HMAC_CTX *CCryptoBoringSSL_HMAC_CTX_new(void);
extern void CCryptoBoringSSL_HMAC_CTX_free(HMAC_CTX *ctx);
extern int CCryptoBoringSSL_HMAC_Init_ex(HMAC_CTX *ctx, const void *key, size_t key_len, const EVP_MD *md,
                                         ENGINE *impl);
extern int CCryptoBoringSSL_HMAC_Update(HMAC_CTX *ctx, const uint8_t *data, size_t data_len);
extern int CCryptoBoringSSL_HMAC_Final(HMAC_CTX *ctx, uint8_t *out, unsigned int *out_len);
extern const EVP_AEAD *CCryptoBoringSSL_EVP_aead_aes_128_gcm(void);
extern const EVP_AEAD *CCryptoBoringSSL_EVP_aead_aes_256_gcm(void);
extern EVP_AEAD_CTX *CCryptoBoringSSL_EVP_AEAD_CTX_new(const EVP_AEAD *aead, const uint8_t *key, size_t key_len,
                                                       size_t tag_len);
extern void CCryptoBoringSSL_EVP_AEAD_CTX_free(EVP_AEAD_CTX *ctx);
extern int CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter(const EVP_AEAD_CTX *ctx, uint8_t *out, uint8_t *out_tag,
                                                      size_t *out_tag_len, size_t max_out_tag_len,
                                                      const uint8_t *nonce, size_t nonce_len, const uint8_t *in,
                                                      size_t in_len, const uint8_t *extra_in, size_t extra_in_len,
                                                      const uint8_t *ad, size_t ad_len);
extern int CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(const EVP_AEAD_CTX *ctx, uint8_t *out, const uint8_t *nonce,
                                                     size_t nonce_len, const uint8_t *in, size_t in_len,
                                                     const uint8_t *in_tag, size_t in_tag_len, const uint8_t *ad,
                                                     size_t ad_len);
extern int CCryptoBoringSSL_EVP_has_aes_hardware(void);
extern void CCryptoBoringSSL_ERR_clear_error(void);

struct tsb_aes { AES_KEY key; };
struct tsb_hmac { HMAC_CTX *ctx; };
struct tsb_gcm { EVP_AEAD_CTX *ctx; };

tsb_aes *tsb_aes_new(const uint8_t *key, size_t key_len) {
    if (key_len != 16 && key_len != 32) return NULL;
    tsb_aes *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    if (CCryptoBoringSSL_AES_set_encrypt_key(key, (unsigned)(key_len * 8), &ctx->key) != 0) {
        free(ctx);
        return NULL;
    }
    return ctx;
}

void tsb_aes_free(tsb_aes *ctx) {
    if (!ctx) return;
    memset(ctx, 0, sizeof *ctx);
    free(ctx);
}

void tsb_aes_ctr_xor(const tsb_aes *ctx, const uint8_t iv[16], uint8_t *buf, size_t len) {
    uint8_t counter[16], ecount[16];
    unsigned int num = 0;
    memcpy(counter, iv, 16);
    CCryptoBoringSSL_AES_ctr128_encrypt(buf, buf, len, &ctx->key, counter, ecount, &num);
}

void tsb_aes_block(const tsb_aes *ctx, const uint8_t in[16], uint8_t out[16]) {
    CCryptoBoringSSL_AES_encrypt(in, out, &ctx->key);
}

tsb_hmac *tsb_hmac_sha1_new(const uint8_t *key, size_t key_len) {
    tsb_hmac *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->ctx = CCryptoBoringSSL_HMAC_CTX_new();
    if (!h->ctx || !CCryptoBoringSSL_HMAC_Init_ex(h->ctx, key, key_len, CCryptoBoringSSL_EVP_sha1(), NULL)) {
        if (h->ctx) CCryptoBoringSSL_HMAC_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void tsb_hmac_free(tsb_hmac *h) {
    if (!h) return;
    CCryptoBoringSSL_HMAC_CTX_free(h->ctx);
    free(h);
}

int tsb_hmac_sha1(tsb_hmac *h, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, uint8_t out[20]) {
    unsigned int out_len = 0;
    // A NULL key re-uses the precomputed pads: no allocation, no key schedule.
    if (!CCryptoBoringSSL_HMAC_Init_ex(h->ctx, NULL, 0, NULL, NULL)) return 0;
    if (a_len && !CCryptoBoringSSL_HMAC_Update(h->ctx, a, a_len)) return 0;
    if (b_len && !CCryptoBoringSSL_HMAC_Update(h->ctx, b, b_len)) return 0;
    return CCryptoBoringSSL_HMAC_Final(h->ctx, out, &out_len) && out_len == 20;
}

tsb_gcm *tsb_gcm_new(const uint8_t *key, size_t key_len) {
    const EVP_AEAD *aead;
    if (key_len == 16) aead = CCryptoBoringSSL_EVP_aead_aes_128_gcm();
    else if (key_len == 32) aead = CCryptoBoringSSL_EVP_aead_aes_256_gcm();
    else return NULL;
    tsb_gcm *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->ctx = CCryptoBoringSSL_EVP_AEAD_CTX_new(aead, key, key_len, 16);
    if (!g->ctx) {
        free(g);
        return NULL;
    }
    return g;
}

void tsb_gcm_free(tsb_gcm *g) {
    if (!g) return;
    CCryptoBoringSSL_EVP_AEAD_CTX_free(g->ctx);
    free(g);
}

int tsb_gcm_seal(const tsb_gcm *g, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len, uint8_t *buf,
                 size_t len, uint8_t tag[16]) {
    size_t tag_len = 0;
    int ok = CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter(g->ctx, buf, tag, &tag_len, 16, nonce, 12, buf, len, NULL, 0,
                                                        aad, aad_len);
    return ok && tag_len == 16;
}

int tsb_gcm_open(const tsb_gcm *g, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len, uint8_t *buf,
                 size_t len, const uint8_t tag[16]) {
    int ok = CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(g->ctx, buf, nonce, 12, buf, len, tag, 16, aad, aad_len);
    if (!ok) CCryptoBoringSSL_ERR_clear_error();
    return ok;
}

int tsb_has_aes_hardware(void) { return CCryptoBoringSSL_EVP_has_aes_hardware(); }

#endif
