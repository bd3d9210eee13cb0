// HPKE sealing (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// ChaCha20-Poly1305) on BoringSSL's EVP_HPKE as linked by swift-crypto on Linux: the push
// path's seal in C, a third cheaper than swift-crypto's HPKE.Sender (docs/benchmarks.md).
// Same suite and wire format; NoticeSeal's tests open it with swift-crypto and pyhpke.
#ifndef CHPKE_BORING_H
#define CHPKE_BORING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Seals `pt` to the X25519 public key `pk` with `info` and associated data `aad`. Writes
/// the 32-byte encapsulated key to `enc` and `pt_len + 16` bytes to `ct` (`ct_cap` at least
/// that). Returns 1 on success, 0 on failure (a bad public key, say).
int thpke_seal_x25519_chacha(const uint8_t pk[32], const uint8_t *info, size_t info_len, const uint8_t *aad,
                             size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t enc[32], uint8_t *ct,
                             size_t ct_cap);

#ifdef __cplusplus
}
#endif

#endif
