#!/usr/bin/env python3
"""An independent HPKE (RFC 9180) peer for the push notice format, on pyhpke (PyPI).

  hpke_peer.py open --private-key RAW_B64URL            (sealed notice JSON on stdin; prints the notice JSON)
  hpke_peer.py seal --public-key RAW_B64URL --kid ID    (notice JSON on stdin; prints the sealed notice JSON)
  hpke_peer.py keypair                                  (prints {"private": …, "public": …}, raw X25519, base64url)
  hpke_peer.py verify-jwt --alg ES256|RS256 --public-key-pem FILE   (JWT on stdin; prints header and claims)

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; info "trabant push notice v1";
the key id is the associated data.
"""
import argparse
import base64
import json
import sys

from pyhpke import AEADId, CipherSuite, KDFId, KEMId

SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305)
INFO = b"trabant push notice v1"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["open", "seal", "keypair", "verify-jwt"])
    ap.add_argument("--private-key")
    ap.add_argument("--public-key")
    ap.add_argument("--kid")
    ap.add_argument("--alg")
    ap.add_argument("--public-key-pem")
    a = ap.parse_args()
    if a.command == "keypair":
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives import serialization as s
        k = X25519PrivateKey.generate()
        print(json.dumps({"private": b64u(k.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())),
                          "public": b64u(k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw))}))
    elif a.command == "open":
        sealed = json.loads(sys.stdin.read())
        skr = SUITE.kem.deserialize_private_key(unb64u(a.private_key))
        ctx = SUITE.create_recipient_context(unb64u(sealed["enc"]), skr, info=INFO)
        print(ctx.open(unb64u(sealed["ct"]), aad=sealed["kid"].encode()).decode())
    elif a.command == "seal":
        pkr = SUITE.kem.deserialize_public_key(unb64u(a.public_key))
        enc, ctx = SUITE.create_sender_context(pkr, info=INFO)
        ct = ctx.seal(sys.stdin.read().encode(), aad=a.kid.encode())
        print(json.dumps({"v": 1, "kid": a.kid, "enc": b64u(enc), "ct": b64u(ct)}))
    else:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        token = sys.stdin.read().strip()
        head, claims, sig = token.split(".")
        signed = (head + "." + claims).encode()
        key = serialization.load_pem_public_key(open(a.public_key_pem, "rb").read())
        raw = unb64u(sig)
        if a.alg == "ES256":
            key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                       signed, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())
        print(json.dumps({"header": json.loads(unb64u(head)), "claims": json.loads(unb64u(claims))}))


if __name__ == "__main__":
    main()
