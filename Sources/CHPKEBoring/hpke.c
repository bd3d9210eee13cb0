// See include/CHPKEBoring.h. Declarations mirror BoringSSL's hpke.h as shipped in
// swift-crypto 4.x, where every symbol carries the "CCryptoBoringSSL_" prefix.
#include "CHPKEBoring.h"

#if defined(__linux__)

typedef struct evp_hpke_kem_st EVP_HPKE_KEM;
typedef struct evp_hpke_kdf_st EVP_HPKE_KDF;
typedef struct evp_hpke_aead_st EVP_HPKE_AEAD;
typedef struct evp_hpke_ctx_st EVP_HPKE_CTX;

extern const EVP_HPKE_KEM *CCryptoBoringSSL_EVP_hpke_x25519_hkdf_sha256(void);
extern const EVP_HPKE_KDF *CCryptoBoringSSL_EVP_hpke_hkdf_sha256(void);
extern const EVP_HPKE_AEAD *CCryptoBoringSSL_EVP_hpke_chacha20_poly1305(void);
extern EVP_HPKE_CTX *CCryptoBoringSSL_EVP_HPKE_CTX_new(void);
extern void CCryptoBoringSSL_EVP_HPKE_CTX_free(EVP_HPKE_CTX *ctx);
extern int CCryptoBoringSSL_EVP_HPKE_CTX_setup_sender(EVP_HPKE_CTX *ctx, uint8_t *out_enc, size_t *out_enc_len,
                                                      size_t max_enc, const EVP_HPKE_KEM *kem,
                                                      const EVP_HPKE_KDF *kdf, const EVP_HPKE_AEAD *aead,
                                                      const uint8_t *peer_public_key, size_t peer_public_key_len,
                                                      const uint8_t *info, size_t info_len);
extern void CCryptoBoringSSL_ERR_clear_error(void);
extern int CCryptoBoringSSL_EVP_HPKE_CTX_seal(EVP_HPKE_CTX *ctx, uint8_t *out, size_t *out_len, size_t max_out_len,
                                              const uint8_t *in, size_t in_len, const uint8_t *ad, size_t ad_len);

int thpke_seal_x25519_chacha(const uint8_t pk[32], const uint8_t *info, size_t info_len, const uint8_t *aad,
                             size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t enc[32], uint8_t *ct,
                             size_t ct_cap) {
    if (ct_cap < pt_len + 16) return 0;
    EVP_HPKE_CTX *ctx = CCryptoBoringSSL_EVP_HPKE_CTX_new();
    if (ctx == NULL) return 0;
    size_t enc_len = 0, ct_len = 0;
    int ok = CCryptoBoringSSL_EVP_HPKE_CTX_setup_sender(
                 ctx, enc, &enc_len, 32, CCryptoBoringSSL_EVP_hpke_x25519_hkdf_sha256(),
                 CCryptoBoringSSL_EVP_hpke_hkdf_sha256(), CCryptoBoringSSL_EVP_hpke_chacha20_poly1305(), pk, 32, info,
                 info_len) &&
             enc_len == 32 && CCryptoBoringSSL_EVP_HPKE_CTX_seal(ctx, ct, &ct_len, ct_cap, pt, pt_len, aad, aad_len) &&
             ct_len == pt_len + 16;
    CCryptoBoringSSL_EVP_HPKE_CTX_free(ctx);
    if (!ok) CCryptoBoringSSL_ERR_clear_error();  // leave no error behind on this thread
    return ok;
}

#endif
