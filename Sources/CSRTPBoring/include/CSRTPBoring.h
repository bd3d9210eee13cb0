// In-place SRTP primitives on BoringSSL as linked by swift-crypto on Linux.
//
// swift-crypto builds BoringSSL with every symbol prefixed "CCryptoBoringSSL_" and
// does not export its headers as a product, so this target declares the few
// functions it needs itself (see boring.c) and wraps them in a small API whose
// contexts are set up once per key and then used per packet with no allocation.
// The choice and its measured cost are in docs/srtp-crypto.md.
#ifndef CSRTP_BORING_H
#define CSRTP_BORING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsb_aes tsb_aes;
typedef struct tsb_hmac tsb_hmac;
typedef struct tsb_gcm tsb_gcm;

/// AES in counter mode with a 128- or 256-bit key (16 or 32 bytes). NULL on a bad key.
tsb_aes *tsb_aes_new(const uint8_t *key, size_t key_len);
void tsb_aes_free(tsb_aes *ctx);
/// XORs `len` bytes of `buf` in place with the AES-CTR keystream starting at `iv`.
void tsb_aes_ctr_xor(const tsb_aes *ctx, const uint8_t iv[16], uint8_t *buf, size_t len);
/// Encrypts one block (used by key derivation).
void tsb_aes_block(const tsb_aes *ctx, const uint8_t in[16], uint8_t out[16]);

/// HMAC-SHA1 keyed once. NULL on failure.
tsb_hmac *tsb_hmac_sha1_new(const uint8_t *key, size_t key_len);
void tsb_hmac_free(tsb_hmac *ctx);
/// out = HMAC-SHA1(key, a || b); returns 1 on success.
int tsb_hmac_sha1(tsb_hmac *ctx, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                  uint8_t out[20]);

/// AES-GCM with a 128- or 256-bit key and 16-byte tags. NULL on a bad key.
tsb_gcm *tsb_gcm_new(const uint8_t *key, size_t key_len);
void tsb_gcm_free(tsb_gcm *ctx);
/// Encrypts `buf[0..<len]` in place and writes the 16-byte tag to `tag`. 1 on success.
int tsb_gcm_seal(const tsb_gcm *ctx, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 uint8_t *buf, size_t len, uint8_t tag[16]);
/// Checks `tag` and decrypts `buf[0..<len]` in place. 1 if authentic, 0 otherwise.
int tsb_gcm_open(const tsb_gcm *ctx, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 uint8_t *buf, size_t len, const uint8_t tag[16]);

/// 1 when the CPU has AES instructions that BoringSSL uses.
int tsb_has_aes_hardware(void);

#ifdef __cplusplus
}
#endif
#endif
