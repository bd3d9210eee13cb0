#!/usr/bin/env python3
"""Independently verify the SRTP known-answer vectors in
Tests/SRTPTests/Fixtures/rfc_vectors.json.

Every output in the fixture is recomputed from its inputs with Python's
`cryptography` package (AES-ECB/CTR, AES-GCM, HMAC-SHA1); nothing is taken on
trust. The script exits non-zero if any value disagrees, if a field is missing
or malformed, or if a section is empty.

    python3 scripts/verify_srtp_vectors.py [path/to/rfc_vectors.json]
    python3 scripts/verify_srtp_vectors.py --mutation-check

--mutation-check additionally flips one bit in every checked output field, one
at a time, and confirms the verifier rejects each mutated fixture (i.e. that no
field is silently ignored).

The algorithms follow RFC 3711 (sections 4.1.1, 4.2, 4.3, 3.4), RFC 6188
(AES-192/256 PRF and counter mode) and RFC 7714 (sections 8, 9, 11 and errata
4938 for the 12-octet master salt). This is a test oracle, not an SRTP
implementation: no replay handling, no MKI.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import re
import sys
from typing import Callable

try:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.exceptions import InvalidTag
except ImportError:  # pragma: no cover
    sys.stderr.write("error: the 'cryptography' package is required\n")
    sys.exit(2)

DEFAULT_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "Tests", "SRTPTests", "Fixtures", "rfc_vectors.json",
)

# profile -> (cipher key octets, session salt octets, SRTP tag octets, SRTCP tag octets, aead)
PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": (16, 14, 10, 10, False),
    "AES_CM_128_HMAC_SHA1_32": (16, 14, 4, 10, False),
    "AES_192_CM_HMAC_SHA1_80": (24, 14, 10, 10, False),
    "AES_192_CM_HMAC_SHA1_32": (24, 14, 4, 10, False),
    "AES_256_CM_HMAC_SHA1_80": (32, 14, 10, 10, False),
    "AES_256_CM_HMAC_SHA1_32": (32, 14, 4, 10, False),
    "AEAD_AES_128_GCM": (16, 12, 16, 16, True),
    "AEAD_AES_256_GCM": (32, 12, 16, 16, True),
}
AUTH_KEY_LEN = 20  # n_a = 160 bits for HMAC-SHA1 (RFC 3711 section 8.2)

LABEL_RTP_ENC, LABEL_RTP_AUTH, LABEL_RTP_SALT = 0x00, 0x01, 0x02
LABEL_RTCP_ENC, LABEL_RTCP_AUTH, LABEL_RTCP_SALT = 0x03, 0x04, 0x05

HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")


class VectorError(Exception):
    pass


# ---------------------------------------------------------------- helpers


def h(vec: dict, field: str, length: int | None = None) -> bytes:
    """Read a lowercase, space-free hex field (optionally of a fixed length)."""
    if field not in vec:
        raise VectorError(f"missing field '{field}'")
    value = vec[field]
    if not isinstance(value, str) or not HEX_RE.match(value):
        raise VectorError(f"field '{field}' is not lowercase even-length hex: {value!r}")
    data = bytes.fromhex(value)
    if length is not None and len(data) != length:
        raise VectorError(f"field '{field}' is {len(data)} octets, expected {length}")
    return data


def integer(vec: dict, field: str, default=None) -> int:
    if field not in vec:
        if default is not None:
            return default
        raise VectorError(f"missing field '{field}'")
    value = vec[field]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VectorError(f"field '{field}' is not a non-negative integer: {value!r}")
    return value


def expect(name: str, got: bytes, want: bytes) -> None:
    if got != want:
        raise VectorError(f"{name} mismatch\n      got  {got.hex()}\n      want {want.hex()}")


def aes_block(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_cm_keystream(key: bytes, iv: bytes, length: int) -> bytes:
    """AES counter mode keystream; the whole 128-bit block is the counter
    (RFC 3711 section 4.1.1 only ever increments the low 16 bits within a
    packet, which a 128-bit counter reproduces exactly)."""
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(b"\x00" * length) + enc.finalize()


def xor(a: bytes, b: bytes) -> bytes:
    assert len(a) == len(b)
    return bytes(x ^ y for x, y in zip(a, b))


def aes_cm_iv(session_salt: bytes, ssrc: int, index: int) -> bytes:
    """RFC 3711 section 4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)."""
    if len(session_salt) != 14:
        raise VectorError(f"AES-CM session salt must be 14 octets, got {len(session_salt)}")
    salt = int.from_bytes(session_salt, "big") << 16
    iv = salt ^ (ssrc << 64) ^ (index << 16)
    return iv.to_bytes(16, "big")


def kdf(master_key: bytes, master_salt: bytes, label: int, length: int,
        index: int = 0, kdr: int = 0) -> bytes:
    """RFC 3711 section 4.3 (AES-CM PRF), RFC 6188 section 5.1 for AES-192/256.

    key_id = label || r, r = index DIV kdr (48 bits, 0 when kdr == 0);
    x = key_id XOR master_salt; PRF output = AES-CM keystream from x * 2^16.
    A 12-octet (AEAD) master salt is multiplied by 2^16 first (RFC 7714
    errata 4938), i.e. padded on the right with two zero octets.
    """
    if len(master_key) not in (16, 24, 32):
        raise VectorError(f"master key must be 16/24/32 octets, got {len(master_key)}")
    if len(master_salt) == 12:
        master_salt = master_salt + b"\x00\x00"
    if len(master_salt) != 14:
        raise VectorError(f"master salt must be 12 or 14 octets, got {len(master_salt)}")
    r = 0 if kdr == 0 else index // kdr
    key_id = (label << 48) | (r & 0xFFFFFFFFFFFF)
    x = key_id ^ int.from_bytes(master_salt, "big")
    iv = (x << 16).to_bytes(16, "big")
    return aes_cm_keystream(master_key, iv, length)


def prf_input_block(master_salt: bytes, label: int, index: int = 0, kdr: int = 0) -> bytes:
    if len(master_salt) == 12:
        master_salt = master_salt + b"\x00\x00"
    r = 0 if kdr == 0 else index // kdr
    x = ((label << 48) | r) ^ int.from_bytes(master_salt, "big")
    return (x << 16).to_bytes(16, "big")


def rtp_header_length(packet: bytes) -> int:
    if len(packet) < 12 or packet[0] >> 6 != 2:
        raise VectorError("not an RTP version 2 packet")
    cc = packet[0] & 0x0F
    length = 12 + 4 * cc
    if packet[0] & 0x10:  # X bit: header extension
        if len(packet) < length + 4:
            raise VectorError("truncated RTP header extension")
        words = int.from_bytes(packet[length + 2:length + 4], "big")
        length += 4 + 4 * words
    if len(packet) < length:
        raise VectorError("truncated RTP header")
    return length


def rtp_fields(packet: bytes) -> tuple[int, int]:
    seq = int.from_bytes(packet[2:4], "big")
    ssrc = int.from_bytes(packet[8:12], "big")
    return seq, ssrc


def gcm_rtp_iv(salt: bytes, ssrc: int, roc: int, seq: int) -> bytes:
    """RFC 7714 section 8.1: (00 00 || SSRC || ROC || SEQ) XOR salt."""
    block = b"\x00\x00" + ssrc.to_bytes(4, "big") + roc.to_bytes(4, "big") + seq.to_bytes(2, "big")
    return xor(block, salt)


def gcm_rtcp_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    """RFC 7714 section 9.1: (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt."""
    block = b"\x00\x00" + ssrc.to_bytes(4, "big") + b"\x00\x00" + (index & 0x7FFFFFFF).to_bytes(4, "big")
    return xor(block, salt)


def check_ssrc_seq(vec: dict, packet: bytes, rtcp: bool) -> None:
    if rtcp:
        ssrc = int.from_bytes(packet[4:8], "big")
    else:
        seq, ssrc = rtp_fields(packet)
        if "seq" in vec and integer(vec, "seq") != seq:
            raise VectorError(f"'seq' {vec['seq']} does not match header seq {seq}")
    if "ssrc" in vec and integer(vec, "ssrc") != ssrc:
        raise VectorError(f"'ssrc' {vec['ssrc']} does not match header ssrc {ssrc}")


# ------------------------------------------------------- packet transforms


def protect_rtp_cm(enc_key: bytes, salt: bytes, auth_key: bytes, tag_len: int,
                   packet: bytes, roc: int) -> bytes:
    hdr_len = rtp_header_length(packet)
    seq, ssrc = rtp_fields(packet)
    index = (roc << 16) | seq
    iv = aes_cm_iv(salt, ssrc, index)
    payload = packet[hdr_len:]
    encrypted = packet[:hdr_len] + xor(payload, aes_cm_keystream(enc_key, iv, len(payload)))
    tag = hmac.new(auth_key, encrypted + roc.to_bytes(4, "big"), hashlib.sha1).digest()[:tag_len]
    return encrypted + tag


def unprotect_rtp_cm(enc_key: bytes, salt: bytes, auth_key: bytes, tag_len: int,
                     wire: bytes, roc: int) -> bytes:
    body, tag = wire[:-tag_len], wire[-tag_len:]
    want = hmac.new(auth_key, body + roc.to_bytes(4, "big"), hashlib.sha1).digest()[:tag_len]
    if not hmac.compare_digest(tag, want):
        raise VectorError("SRTP HMAC-SHA1 tag of 'protected' does not verify")
    hdr_len = rtp_header_length(body)
    seq, ssrc = rtp_fields(body)
    iv = aes_cm_iv(salt, ssrc, (roc << 16) | seq)
    payload = body[hdr_len:]
    return body[:hdr_len] + xor(payload, aes_cm_keystream(enc_key, iv, len(payload)))


def protect_rtcp_cm(enc_key: bytes, salt: bytes, auth_key: bytes, tag_len: int,
                    packet: bytes, index: int, encrypted: bool) -> bytes:
    ssrc = int.from_bytes(packet[4:8], "big")
    body = packet[8:]
    if encrypted:
        iv = aes_cm_iv(salt, ssrc, index)
        body = xor(body, aes_cm_keystream(enc_key, iv, len(body)))
    e_index = ((0x80000000 if encrypted else 0) | index).to_bytes(4, "big")
    authenticated = packet[:8] + body + e_index
    tag = hmac.new(auth_key, authenticated, hashlib.sha1).digest()[:tag_len]
    return authenticated + tag


def unprotect_rtcp_cm(enc_key: bytes, salt: bytes, auth_key: bytes, tag_len: int,
                      wire: bytes) -> tuple[bytes, int, bool]:
    authenticated, tag = wire[:-tag_len], wire[-tag_len:]
    want = hmac.new(auth_key, authenticated, hashlib.sha1).digest()[:tag_len]
    if not hmac.compare_digest(tag, want):
        raise VectorError("SRTCP HMAC-SHA1 tag of 'protected' does not verify")
    e_index = int.from_bytes(authenticated[-4:], "big")
    encrypted, index = bool(e_index >> 31), e_index & 0x7FFFFFFF
    packet = authenticated[:-4]
    if encrypted:
        ssrc = int.from_bytes(packet[4:8], "big")
        iv = aes_cm_iv(salt, ssrc, index)
        packet = packet[:8] + xor(packet[8:], aes_cm_keystream(enc_key, iv, len(packet) - 8))
    return packet, index, encrypted


def gcm_rtp_parts(salt: bytes, packet: bytes, roc: int) -> tuple[bytes, bytes, bytes]:
    """(iv, aad, plaintext payload) for an RTP packet, RFC 7714 sections 8.1/8.2."""
    hdr_len = rtp_header_length(packet)
    seq, ssrc = rtp_fields(packet)
    return gcm_rtp_iv(salt, ssrc, roc, seq), packet[:hdr_len], packet[hdr_len:]


def gcm_rtcp_parts(salt: bytes, packet: bytes, index: int,
                   encrypted: bool) -> tuple[bytes, bytes, bytes]:
    """(iv, aad, plaintext) for an RTCP packet, RFC 7714 sections 9.1-9.3."""
    ssrc = int.from_bytes(packet[4:8], "big")
    e_index = ((0x80000000 if encrypted else 0) | index).to_bytes(4, "big")
    iv = gcm_rtcp_iv(salt, ssrc, index)
    if encrypted:
        return iv, packet[:8] + e_index, packet[8:]
    return iv, packet + e_index, b""


def protect_rtp_gcm(key: bytes, salt: bytes, packet: bytes, roc: int) -> bytes:
    iv, aad, payload = gcm_rtp_parts(salt, packet, roc)
    return aad + AESGCM(key).encrypt(iv, payload, aad)


def unprotect_rtp_gcm(key: bytes, salt: bytes, wire: bytes, roc: int) -> bytes:
    hdr_len = rtp_header_length(wire)
    seq, ssrc = rtp_fields(wire)
    iv = gcm_rtp_iv(salt, ssrc, roc, seq)
    try:
        return wire[:hdr_len] + AESGCM(key).decrypt(iv, wire[hdr_len:], wire[:hdr_len])
    except InvalidTag:
        raise VectorError("GCM tag of 'protected' SRTP packet does not verify") from None


def protect_rtcp_gcm(key: bytes, salt: bytes, packet: bytes, index: int, encrypted: bool) -> bytes:
    iv, aad, plaintext = gcm_rtcp_parts(salt, packet, index, encrypted)
    e_index = aad[-4:]
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)  # ciphertext || tag
    if encrypted:
        return packet[:8] + sealed + e_index
    return packet + sealed + e_index  # sealed is the bare tag here


def unprotect_rtcp_gcm(key: bytes, salt: bytes, wire: bytes, tag_len: int) -> tuple[bytes, int, bool]:
    e_index = int.from_bytes(wire[-4:], "big")
    encrypted, index = bool(e_index >> 31), e_index & 0x7FFFFFFF
    ssrc = int.from_bytes(wire[4:8], "big")
    iv = gcm_rtcp_iv(salt, ssrc, index)
    body = wire[:-4]
    try:
        if encrypted:
            plain = AESGCM(key).decrypt(iv, body[8:], wire[:8] + wire[-4:])
            return wire[:8] + plain, index, encrypted
        packet = body[:-tag_len]
        AESGCM(key).decrypt(iv, body[-tag_len:], packet + wire[-4:])
        return packet, index, encrypted
    except InvalidTag:
        raise VectorError("GCM tag of 'protected' SRTCP packet does not verify") from None


# ------------------------------------------------------------ section checks


def profile_of(vec: dict) -> tuple[int, int, int, int, bool]:
    name = vec.get("profile")
    if name not in PROFILES:
        raise VectorError(f"unknown profile {name!r}")
    return PROFILES[name]


def check_keystream(vec: dict) -> list[str]:
    key = h(vec, "key")
    if len(key) not in (16, 24, 32):
        raise VectorError("key must be 16/24/32 octets")
    iv = h(vec, "iv", 16)
    checked = ["iv"]
    if "session_salt" in vec:
        salt = h(vec, "session_salt", 14)
        ssrc, index = integer(vec, "ssrc", 0), integer(vec, "index", 0)
        if "roc" in vec or "seq" in vec:
            if index != (integer(vec, "roc", 0) << 16 | integer(vec, "seq", 0)):
                raise VectorError("'index' is not roc * 2^16 + seq")
        expect("iv (from RFC 3711 4.1.1 formula)", aes_cm_iv(salt, ssrc, index), iv)
    blocks = vec.get("keystream_blocks")
    if not isinstance(blocks, dict) or not blocks:
        raise VectorError("missing or empty 'keystream_blocks'")
    iv_int = int.from_bytes(iv, "big")
    for number, want_hex in blocks.items():
        i = int(number)
        counter = ((iv_int + i) % (1 << 128)).to_bytes(16, "big")
        want = h({"b": want_hex}, "b", 16)
        expect(f"keystream block {i}", aes_block(key, counter), want)
        checked.append(f"keystream_blocks.{number}")
    if "segment_length_octets" in vec:
        last = max(int(n) for n in blocks)
        if integer(vec, "segment_length_octets") != 16 * (last + 1):
            raise VectorError("segment_length_octets does not end at the last listed block")
    if "keystream_prefix" in vec:
        prefix = h(vec, "keystream_prefix")
        expect("keystream_prefix", aes_cm_keystream(key, iv, len(prefix)), prefix)
        checked.append("keystream_prefix")
    return checked


def check_kdf(vec: dict) -> list[str]:
    mk, ms = h(vec, "master_key"), h(vec, "master_salt")
    kdr, index = integer(vec, "key_derivation_rate", 0), integer(vec, "index", 0)
    prf = vec.get("prf")
    expected_prf = {16: "AES_128_CM_PRF", 24: "AES_192_CM_PRF", 32: "AES_256_CM_PRF"}.get(len(mk))
    if prf is not None and prf != expected_prf:
        raise VectorError(f"prf {prf!r} does not match a {len(mk)}-octet master key")
    checked = []
    simple = [
        ("cipher_key", LABEL_RTP_ENC), ("auth_key", LABEL_RTP_AUTH), ("cipher_salt", LABEL_RTP_SALT),
        ("auth_key_full_94", LABEL_RTP_AUTH),
        ("srtcp_cipher_key", LABEL_RTCP_ENC), ("srtcp_auth_key", LABEL_RTCP_AUTH),
        ("srtcp_cipher_salt", LABEL_RTCP_SALT),
    ]
    for field, label in simple:
        if field in vec:
            want = h(vec, field)
            expect(f"{field} (label {label:#04x})", kdf(mk, ms, label, len(want), index, kdr), want)
            checked.append(field)
    if "cipher_key" not in checked or "cipher_salt" not in checked:
        raise VectorError("a kdf vector needs at least cipher_key and cipher_salt")
    if len(h(vec, "cipher_key")) != len(mk):
        raise VectorError("cipher_key length differs from master key length")
    if "auth_key" in vec and len(h(vec, "auth_key")) != AUTH_KEY_LEN:
        raise VectorError("auth_key must be 20 octets (n_a = 160)")
    if "cipher_salt_prf_block" in vec:
        want = h(vec, "cipher_salt_prf_block", 16)
        expect("cipher_salt_prf_block", kdf(mk, ms, LABEL_RTP_SALT, 16, index, kdr), want)
        if not want.startswith(h(vec, "cipher_salt")):
            raise VectorError("cipher_salt is not a prefix of cipher_salt_prf_block")
        checked.append("cipher_salt_prf_block")
    for label_text, block_hex in (vec.get("prf_input_blocks") or {}).items():
        want = h({"b": block_hex}, "b", 16)
        expect(f"prf_input_blocks.{label_text}", prf_input_block(ms, int(label_text, 16), index, kdr), want)
        checked.append(f"prf_input_blocks.{label_text}")
    return checked


def check_srtp_packet(vec: dict) -> list[str]:
    key_len, salt_len, tag_len, _, aead = profile_of(vec)
    mk, ms = h(vec, "master_key", key_len), h(vec, "master_salt", salt_len)
    roc = integer(vec, "roc")
    plain, wire = h(vec, "plaintext"), h(vec, "protected")
    check_ssrc_seq(vec, plain, rtcp=False)
    enc_key = kdf(mk, ms, LABEL_RTP_ENC, key_len)
    salt = kdf(mk, ms, LABEL_RTP_SALT, salt_len)
    if aead:
        expect("protected", protect_rtp_gcm(enc_key, salt, plain, roc), wire)
        expect("unprotect(protected)", unprotect_rtp_gcm(enc_key, salt, wire, roc), plain)
    else:
        auth_key = kdf(mk, ms, LABEL_RTP_AUTH, AUTH_KEY_LEN)
        expect("protected", protect_rtp_cm(enc_key, salt, auth_key, tag_len, plain, roc), wire)
        expect("unprotect(protected)", unprotect_rtp_cm(enc_key, salt, auth_key, tag_len, wire, roc), plain)
    return ["protected", "plaintext"]


def check_srtcp_packet(vec: dict) -> list[str]:
    key_len, salt_len, _, tag_len, aead = profile_of(vec)
    mk, ms = h(vec, "master_key", key_len), h(vec, "master_salt", salt_len)
    index = integer(vec, "index")
    if index >= 1 << 31:
        raise VectorError("SRTCP index exceeds 31 bits")
    encrypted = vec.get("encrypted", True)
    if not isinstance(encrypted, bool):
        raise VectorError("'encrypted' must be a boolean")
    plain, wire = h(vec, "plaintext"), h(vec, "protected")
    check_ssrc_seq(vec, plain, rtcp=True)
    enc_key = kdf(mk, ms, LABEL_RTCP_ENC, key_len)
    salt = kdf(mk, ms, LABEL_RTCP_SALT, salt_len)
    if aead:
        expect("protected", protect_rtcp_gcm(enc_key, salt, plain, index, encrypted), wire)
        got_plain, got_index, got_e = unprotect_rtcp_gcm(enc_key, salt, wire, tag_len)
    else:
        auth_key = kdf(mk, ms, LABEL_RTCP_AUTH, AUTH_KEY_LEN)
        expect("protected", protect_rtcp_cm(enc_key, salt, auth_key, tag_len, plain, index, encrypted), wire)
        got_plain, got_index, got_e = unprotect_rtcp_cm(enc_key, salt, auth_key, tag_len, wire)
    expect("unprotect(protected)", got_plain, plain)
    if (got_index, got_e) != (index, encrypted):
        raise VectorError(f"E||index in 'protected' is ({got_e}, {got_index}), expected ({encrypted}, {index})")
    return ["protected", "plaintext"]


def check_gcm_session(vec: dict) -> list[str]:
    key_len, salt_len, tag_len, _, aead = profile_of(vec)
    if not aead:
        raise VectorError("gcm_session_vectors must use an AEAD profile")
    if vec.get("keys_are", "session") != "session":
        raise VectorError("gcm_session_vectors must hold session keys")
    key, salt = h(vec, "session_key", key_len), h(vec, "session_salt", salt_len)
    plain, wire = h(vec, "plaintext"), h(vec, "protected")
    rtcp = vec.get("rtcp")
    if not isinstance(rtcp, bool):
        raise VectorError("'rtcp' must be a boolean")
    checked = ["protected", "plaintext"]
    check_ssrc_seq(vec, plain, rtcp=rtcp)
    if rtcp:
        index = integer(vec, "index")
        encrypted = vec.get("encrypted")
        if not isinstance(encrypted, bool):
            raise VectorError("'encrypted' must be a boolean")
        iv, aad, _ = gcm_rtcp_parts(salt, plain, index, encrypted)
        expect("protected", protect_rtcp_gcm(key, salt, plain, index, encrypted), wire)
        got_plain, got_index, got_e = unprotect_rtcp_gcm(key, salt, wire, tag_len)
        expect("unprotect(protected)", got_plain, plain)
        if (got_index, got_e) != (index, encrypted):
            raise VectorError("E||index in 'protected' disagrees with 'index'/'encrypted'")
    else:
        roc = integer(vec, "roc")
        iv, aad, _ = gcm_rtp_parts(salt, plain, roc)
        expect("protected", protect_rtp_gcm(key, salt, plain, roc), wire)
        expect("unprotect(protected)", unprotect_rtp_gcm(key, salt, wire, roc), plain)
    if "iv" in vec:
        expect("iv", iv, h(vec, "iv", 12))
        checked.append("iv")
    if "aad" in vec:
        expect("aad", aad, h(vec, "aad"))
        checked.append("aad")
    return checked


SECTIONS: list[tuple[str, Callable[[dict], list[str]]]] = [
    ("aes_cm_keystream", check_keystream),
    ("kdf", check_kdf),
    ("srtp_packets", check_srtp_packet),
    ("srtcp_packets", check_srtcp_packet),
    ("gcm_session_vectors", check_gcm_session),
]


def run(data: dict, quiet: bool = False) -> tuple[int, int, list[tuple[str, int, list[str]]]]:
    """Check every vector. Returns (passed, failed, [(section, i, checked fields)])."""
    passed = failed = 0
    record = []
    for section, check in SECTIONS:
        vectors = data.get(section)
        if not isinstance(vectors, list) or not vectors:
            if not quiet:
                print(f"FAIL {section}: section missing or empty")
            failed += 1
            continue
        for i, vec in enumerate(vectors):
            label = f"{section}[{i}] {vec.get('source', '?')}"
            if "profile" in vec:
                label += f" [{vec['profile']}]"
            try:
                if not isinstance(vec.get("source"), str) or not vec["source"]:
                    raise VectorError("missing 'source'")
                checked = check(vec)
            except (VectorError, ValueError, KeyError, TypeError) as exc:
                failed += 1
                if not quiet:
                    print(f"FAIL {label}\n    {exc}")
                continue
            passed += 1
            record.append((section, i, checked))
            if not quiet:
                print(f"ok   {label}  ({len(checked)} values)")
    return passed, failed, record


def flip_bit(hex_value: str) -> str:
    data = bytearray(bytes.fromhex(hex_value))
    data[-1] ^= 0x01
    return data.hex()


def mutation_check(data: dict, record) -> int:
    """Flip one bit in each checked field in turn; each mutant must fail."""
    survivors = 0
    total = 0
    checks = dict(SECTIONS)
    for section, i, fields in record:
        for field in fields:
            mutant = copy.deepcopy(data[section][i])
            if "." in field:
                outer, inner = field.split(".", 1)
                mutant[outer][inner] = flip_bit(mutant[outer][inner])
            else:
                mutant[field] = flip_bit(mutant[field])
            total += 1
            try:
                checks[section](mutant)
            except (VectorError, ValueError):
                continue
            survivors += 1
            print(f"MUTANT SURVIVED {section}[{i}].{field}")
    print(f"mutation check: {total - survivors}/{total} single-bit mutants rejected")
    return survivors


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = {a for a in argv[1:] if a.startswith("--")}
    unknown = flags - {"--mutation-check"}
    if unknown:
        print(f"unknown option(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    path = args[0] if args else DEFAULT_PATH
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    passed, failed, record = run(data)
    print(f"\n{passed} vectors verified, {failed} failed ({os.path.relpath(path)})")
    status = 1 if failed else 0
    if "--mutation-check" in flags and not failed:
        if mutation_check(data, record):
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
