#!/usr/bin/env python3
"""libsrtp as a reference SRTP peer for Trabant's interop tests (through pylibsrtp 1.0.0).

    python3 srtp_peer.py --profiles      JSON array of the profiles this libsrtp build can run
    python3 srtp_peer.py --selftest      round trips across sequence-number wraps, known-answer
                                         vectors, replay/tamper checks and the CLI; exit 1 on failure
    python3 srtp_peer.py < request.json  one request, one JSON reply

Request (stdin, one JSON object):
  {"profile": "AES_CM_128_HMAC_SHA1_80" | "AES_CM_128_HMAC_SHA1_32" | "AES_256_CM_HMAC_SHA1_80" |
              "AEAD_AES_128_GCM" | "AEAD_AES_256_GCM",
   "key": "<hex master key || master salt>",   30, 30, 46, 28, 44 bytes respectively
   "op": "protect" | "unprotect",
   "rtcp": false | true,                       optional, default false
   "roc": <0..2**32-1>,                        optional, RTP only: the rollover counter each
                                               SSRC's stream starts with (libsrtp
                                               srtp_set_stream_roc); default 0
   "packets": ["<hex>", ...]}
Reply (stdout): {"results": ["<hex>" | null, ...], "errors": [null | "<libsrtp error text>", ...]}
one entry per packet, in order. All packets go through ONE libsrtp session (template stream
ssrc_any_outbound for protect, ssrc_any_inbound for unprotect; one ssrc_specific stream per SSRC
when "roc" is given), replay window 1024, allow_repeat_tx off, so rollover counters, SRTCP
indices and replay windows carry across the list. A packet libsrtp refuses gives null and the
libsrtp error text, and processing goes on.

Exit codes: 0 request processed (even with per-packet errors); 2 malformed request (message on
stderr); 3 pylibsrtp missing or unusable.

AES_256_CM_HMAC_SHA1_80 has no srtp_profile_t (no DTLS-SRTP profile) in libsrtp, so pylibsrtp
cannot select it; it is set with libsrtp's srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80()
through ctypes on the libsrtp that pylibsrtp's extension module links in and exports. The same
route gives srtp_set_stream_roc(). Both are checked (policy fields read back, known-answer
vectors in --selftest); if they are not available the profile is left out of --profiles and a
request for it exits 2.
"""
import argparse
import ctypes
import json
import os
import struct
import subprocess
import sys
import time

try:
    import pylibsrtp
    from pylibsrtp import _binding
    from pylibsrtp._binding import ffi
except ImportError as e:
    print(f"srtp_peer: pylibsrtp is not importable ({e}): python3 -m pip install pylibsrtp==1.0.0",
          file=sys.stderr)
    sys.exit(3)

Policy = pylibsrtp.Policy

WINDOW_SIZE = 1024
BUFFER_LEN = 1500  # pylibsrtp.Session's fixed working buffer
MAX_RTP_IN = BUFFER_LEN - 16 - 128  # pylibsrtp reserves SRTP_MAX_TRAILER_LEN for protect
MAX_RTCP_IN = BUFFER_LEN - 4 - 16 - 128  # and SRTP_MAX_SRTCP_TRAILER_LEN for protect_rtcp


# ---------------------------------------------------------------------------------------------
# libsrtp entry points pylibsrtp does not wrap, from the same shared object (already loaded,
# so dlopen hands back the same library and its already-initialised state).

class _CryptoPolicy(ctypes.Structure):
    """libsrtp 2.x srtp_crypto_policy_t (opaque in pylibsrtp's cdef; 24 bytes)."""
    _fields_ = [("cipher_type", ctypes.c_int), ("cipher_key_len", ctypes.c_int),
                ("auth_type", ctypes.c_int), ("auth_key_len", ctypes.c_int),
                ("auth_tag_len", ctypes.c_int), ("sec_serv", ctypes.c_int)]


SRTP_AES_ICM_256 = 5  # srtp_cipher_type_id_t
SRTP_HMAC_SHA1 = 3  # srtp_auth_type_id_t
SEC_SERV_CONF_AND_AUTH = 3

_lib = None
_lib_error = None
try:
    if ffi.sizeof("srtp_crypto_policy_t") != ctypes.sizeof(_CryptoPolicy):
        raise OSError(f"srtp_crypto_policy_t is {ffi.sizeof('srtp_crypto_policy_t')} bytes, "
                      f"expected {ctypes.sizeof(_CryptoPolicy)}")
    _lib = ctypes.CDLL(_binding.__file__)
    _lib.srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80.argtypes = [ctypes.c_void_p]
    _lib.srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80.restype = None
    _lib.srtp_set_stream_roc.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
    _lib.srtp_set_stream_roc.restype = ctypes.c_int
    _lib.srtp_get_stream_roc.argtypes = [ctypes.c_void_p, ctypes.c_uint32,
                                         ctypes.POINTER(ctypes.c_uint32)]
    _lib.srtp_get_stream_roc.restype = ctypes.c_int
    _lib.srtp_get_version_string.argtypes = []
    _lib.srtp_get_version_string.restype = ctypes.c_char_p
except (OSError, AttributeError) as e:  # symbol not exported / layout changed
    _lib, _lib_error = None, str(e)


def libsrtp_version():
    return _lib.srtp_get_version_string().decode() if _lib else "unknown"


def _crypto_policy_address(policy, part):
    return int(ffi.cast("uintptr_t", ffi.addressof(policy._policy, part)))


def _set_aes_256_cm(policy):
    """Switch a Policy's RTP and RTCP crypto policies to AES-256-CM + HMAC-SHA1-80."""
    if _lib is None:
        raise RuntimeError(f"libsrtp symbols unavailable through ctypes: {_lib_error}")
    for part in ("rtp", "rtcp"):
        address = _crypto_policy_address(policy, part)
        _lib.srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(address)
        cp = _CryptoPolicy.from_address(address)
        got = (cp.cipher_type, cp.cipher_key_len, cp.auth_type, cp.auth_key_len, cp.auth_tag_len,
               cp.sec_serv)
        if got != (SRTP_AES_ICM_256, 46, SRTP_HMAC_SHA1, 20, 10, SEC_SERV_CONF_AND_AUTH):
            raise RuntimeError(f"srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80 left {part} "
                               f"policy as {got}")


def _session_handle(session):
    return int(ffi.cast("uintptr_t", session._srtp[0]))


def _set_roc(session, ssrc, roc):
    rc = _lib.srtp_set_stream_roc(_session_handle(session), ssrc, roc)
    if rc:
        raise pylibsrtp.Error(f"srtp_set_stream_roc failed ({_error_text(rc)})")


def get_roc(session, ssrc):
    """The ROC libsrtp holds for an SSRC's stream (None when the stream does not exist)."""
    roc = ctypes.c_uint32()
    if _lib.srtp_get_stream_roc(_session_handle(session), ssrc, ctypes.byref(roc)):
        return None
    return roc.value


def _error_text(rc):
    return pylibsrtp.ERRORS[rc] if 0 <= rc < len(pylibsrtp.ERRORS) else f"libsrtp error {rc}"


# ---------------------------------------------------------------------------------------------
# Profiles: name -> (pylibsrtp profile number or None, key+salt length, RTP tag, RTCP tag)

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30, 10, 10),
    # libsrtp (like RFC 3711/4568) protects SRTCP with an 80-bit tag under the _32 profile
    "AES_CM_128_HMAC_SHA1_32": (Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30, 4, 10),
    "AES_256_CM_HMAC_SHA1_80": (None, 46, 10, 10),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28, 16, 16),
    "AEAD_AES_256_GCM": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44, 16, 16),
}


def make_policy(profile, key, ssrc_type, ssrc_value=0):
    number = PROFILES[profile][0]
    if number is None:
        policy = Policy(key=None, ssrc_type=ssrc_type, ssrc_value=ssrc_value)
        _set_aes_256_cm(policy)
    else:
        policy = Policy(key=None, ssrc_type=ssrc_type, ssrc_value=ssrc_value,
                        srtp_profile=number)
    policy.key = key  # pylibsrtp checks len >= the profile's; exact length is checked earlier
    policy.window_size = WINDOW_SIZE
    policy.allow_repeat_tx = False
    return policy


def process(profile, key, op, rtcp, packets, roc=None):
    """Run packets through one libsrtp session; returns (results, errors, session)."""
    if roc is None:
        ssrc_type = Policy.SSRC_ANY_OUTBOUND if op == "protect" else Policy.SSRC_ANY_INBOUND
        session = pylibsrtp.Session(policy=make_policy(profile, key, ssrc_type))
    else:
        session = pylibsrtp.Session()
    streams = set()
    if op == "protect":
        fn = session.protect_rtcp if rtcp else session.protect
    else:
        fn = session.unprotect_rtcp if rtcp else session.unprotect
    results, errors = [], []
    for packet in packets:
        try:
            if roc is not None and len(packet) >= 12:
                ssrc = int.from_bytes(packet[8:12], "big")
                if ssrc not in streams:
                    session.add_stream(make_policy(profile, key, Policy.SSRC_SPECIFIC, ssrc))
                    _set_roc(session, ssrc, roc)
                    streams.add(ssrc)
            results.append(fn(packet).hex())
            errors.append(None)
        except pylibsrtp.Error as e:
            results.append(None)
            errors.append(str(e))
        except IndexError as e:  # pylibsrtp indexes its error table with libsrtp's code
            results.append(None)
            errors.append(f"libsrtp error outside pylibsrtp's table ({e})")
    return results, errors, session


# ---------------------------------------------------------------------------------------------
# Requests

class BadRequest(Exception):
    pass


def parse_request(text):
    try:
        req = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRequest(f"request is not JSON: {e}")
    if not isinstance(req, dict):
        raise BadRequest("request must be a JSON object")
    unknown = set(req) - {"profile", "key", "op", "rtcp", "roc", "packets"}
    if unknown:
        raise BadRequest(f"unknown field(s) {sorted(unknown)}; allowed: profile, key, op, rtcp, "
                         "roc, packets")
    profile = req.get("profile")
    if profile not in PROFILES:
        raise BadRequest(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    if profile not in supported_profiles():
        raise BadRequest(f"profile {profile} is not available with this pylibsrtp/libsrtp: "
                         f"{_lib_error}; available: {', '.join(supported_profiles())}")
    key_len = PROFILES[profile][1]
    key_hex = req.get("key")
    if not isinstance(key_hex, str):
        raise BadRequest(f"key must be a hex string of {key_len} bytes (master key || master "
                         f"salt) for {profile}")
    try:
        key = bytes.fromhex(key_hex)
    except ValueError as e:
        raise BadRequest(f"key is not valid hex: {e}")
    if len(key) != key_len:
        lengths = ", ".join(f"{name} {PROFILES[name][1]}" for name in PROFILES)
        raise BadRequest(f"key is {len(key)} bytes; {profile} needs {key_len} bytes of master key "
                         f"|| master salt (bytes per profile: {lengths})")
    op = req.get("op")
    if op not in ("protect", "unprotect"):
        raise BadRequest(f"unknown op {op!r}; allowed: protect, unprotect")
    rtcp = req.get("rtcp", False)
    if not isinstance(rtcp, bool):
        raise BadRequest(f"rtcp must be true or false, got {rtcp!r}")
    roc = req.get("roc")
    if roc is not None:
        if isinstance(roc, bool) or not isinstance(roc, int) or not 0 <= roc <= 0xFFFFFFFF:
            raise BadRequest(f"roc must be an integer 0..4294967295, got {roc!r}")
        if rtcp:
            raise BadRequest("roc applies to RTP only (SRTCP carries its own index)")
        if _lib is None:
            raise BadRequest(f"roc needs srtp_set_stream_roc through ctypes: {_lib_error}")
    hex_packets = req.get("packets")
    if not isinstance(hex_packets, list):
        raise BadRequest("packets must be a list of hex strings")
    packets = []
    limit = BUFFER_LEN if op == "unprotect" else (MAX_RTCP_IN if rtcp else MAX_RTP_IN)
    for i, p in enumerate(hex_packets):
        if not isinstance(p, str):
            raise BadRequest(f"packets[{i}] must be a hex string, got {type(p).__name__}")
        try:
            b = bytes.fromhex(p)
        except ValueError as e:
            raise BadRequest(f"packets[{i}] is not valid hex: {e}")
        if len(b) > limit:
            raise BadRequest(f"packets[{i}] is {len(b)} bytes; pylibsrtp takes at most {limit} "
                             f"bytes to {op}{' RTCP' if rtcp else ''}")
        packets.append(b)
    return profile, key, op, rtcp, roc, packets


_supported = None


def supported_profiles():
    """Profiles that really work here: a session is created and a packet goes both ways."""
    global _supported
    if _supported is None:
        _supported = []
        for name, (_, key_len, _, _) in PROFILES.items():
            key = bytes(range(1, key_len + 1))
            try:
                ok = True
                for rtcp, plain in ((False, rtp_packet(1, 0x11223344)),
                                    (True, rtcp_packet(0x11223344, 1))):
                    prot, perr, _ = process(name, key, "protect", rtcp, [plain])
                    if perr[0] is not None:
                        ok = False
                        break
                    back, berr, _ = process(name, key, "unprotect", rtcp, [bytes.fromhex(prot[0])])
                    ok = ok and berr[0] is None and bytes.fromhex(back[0]) == plain \
                        and bytes.fromhex(prot[0]) != plain
                if ok:
                    _supported.append(name)
            except (pylibsrtp.Error, RuntimeError, ValueError, TypeError):
                pass
    return _supported


def serve():
    try:
        profile, key, op, rtcp, roc, packets = parse_request(sys.stdin.read())
    except BadRequest as e:
        print(f"srtp_peer: {e}", file=sys.stderr)
        return 2
    results, errors, _ = process(profile, key, op, rtcp, packets, roc)
    json.dump({"results": results, "errors": errors}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


# ---------------------------------------------------------------------------------------------
# Self test

def rtp_packet(seq, ssrc, i=0, payload_len=160):
    payload = bytes((i + k) & 0xFF for k in range(payload_len))
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (i * 160) & 0xFFFFFFFF, ssrc) + payload


def rtcp_packet(ssrc, i):
    # sender report, no report blocks: header, SSRC, NTP (8), RTP ts, packet and octet counts
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, i, 0x80000000, i * 160, i, i * 160)


# Known-answer vectors (libsrtp test/srtp_driver.c srtp_validate, srtp_validate_aes_256,
# srtp_validate_gcm; rtpengine t/aes-crypt.c for SRTCP AES-256); the same values as
# Tests/SRTPTests/Fixtures/rfc_vectors.json. SSRC 0xcafebabe, seq 0x1234, ROC 0, SRTCP index 1.
_RTP_PLAIN = "800f1234decafbadcafebabe" + "ab" * 16
_RTCP_PLAIN = "81c8000bcafebabe" + "ab" * 16
KNOWN_ANSWERS = [
    ("AES_CM_128_HMAC_SHA1_80", False,
     "e1f97a0d3e018be0d64fa32c06de4139" "0ec675ad498afeebb6960b3aabe6", _RTP_PLAIN,
     "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"),
    ("AES_CM_128_HMAC_SHA1_80", True,
     "e1f97a0d3e018be0d64fa32c06de4139" "0ec675ad498afeebb6960b3aabe6", _RTCP_PLAIN,
     "81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798"),
    ("AES_256_CM_HMAC_SHA1_80", False,
     "f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6"
     "3b04803de51ee7c96423ab5b78d2", _RTP_PLAIN,
     "800f1234decafbadcafebabef1d9de17ff251ff1aa007774b0b4b40da08d9d9a5b3a55d8873b"),
    ("AES_256_CM_HMAC_SHA1_80", True,
     "e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6c173"
     "c317f2dabe357793b6960b3aabe6", _RTCP_PLAIN,
     "81c8000bcafebabe0a865d339e312693592387d45b99a5578000000184f3b4f2b595615af9b5"),
    ("AEAD_AES_128_GCM", False,
     "000102030405060708090a0b0c0d0e0f" "a0a1a2a3a4a5a6a7a8a9aaab", _RTP_PLAIN,
     "800f1234decafbadcafebabec5002ede04cfdd2eb91159e0880aa06ed2976826f796b201df3131a127e8a392"),
]


class SelfTest:
    def __init__(self):
        self.failures = 0

    def check(self, ok, what):
        if not ok:
            self.failures += 1
            print(f"  FAIL {what}", flush=True)
        return ok


def selftest(count, start_seq):
    t = SelfTest()
    t0 = time.perf_counter()
    supported = supported_profiles()
    print(f"libsrtp {libsrtp_version()}, pylibsrtp {pylibsrtp.__version__}, "
          f"python {sys.version.split()[0]}")
    print(f"supported profiles: {', '.join(supported)}")
    missing = [p for p in PROFILES if p not in supported]
    if missing:
        print(f"NOT supported here: {', '.join(missing)} ({_lib_error or 'self-check failed'})")
    ssrc = 0xCAFEF00D
    first_wrap = (0x10000 - start_seq) % 0x10000 or 0x10000  # index of the first seq 0

    for profile in supported:
        _, key_len, rtp_tag, rtcp_tag = PROFILES[profile]
        key = bytes((7 * k + key_len) & 0xFF for k in range(key_len))
        ts = time.perf_counter()

        # RTP: protect `count` packets from start_seq, across the wrap(s), and back
        plain = [rtp_packet(start_seq + i, ssrc, i) for i in range(count)]
        prot_hex, errs, tx = process(profile, key, "protect", False, plain)
        t.check(all(e is None for e in errs),
                f"{profile} RTP protect errors: {[e for e in errs if e][:3]}")
        prot = [bytes.fromhex(h) if h else b"" for h in prot_hex]
        t.check(all(len(c) == len(p) + rtp_tag and c[:12] == p[:12] and c[12:len(p)] != p[12:]
                    for p, c in zip(plain, prot)),
                f"{profile} RTP protected packets: wrong length, header changed or payload clear")
        wraps = (start_seq + count - 1) >> 16
        t.check(get_roc(tx, ssrc) == wraps,
                f"{profile} sender ROC {get_roc(tx, ssrc)}, expected {wraps}")
        back_hex, errs, rx = process(profile, key, "unprotect", False, prot)
        t.check(all(e is None for e in errs),
                f"{profile} RTP unprotect errors: {[e for e in errs if e][:3]}")
        t.check(all(h is not None and bytes.fromhex(h) == p for h, p in zip(back_hex, plain)),
                f"{profile} RTP round trip mismatch")
        t.check(get_roc(rx, ssrc) == wraps,
                f"{profile} receiver ROC {get_roc(rx, ssrc)}, expected {wraps}")

        # the ROC is in the crypto: the first seq-0 packet (ROC 1) differs from a fresh
        # sender's (ROC 0), a fresh receiver refuses it, and a forced ROC reproduces it
        if first_wrap < count:
            i = first_wrap
            fresh, _, _ = process(profile, key, "protect", False, [plain[i]])
            t.check(bytes.fromhex(fresh[0]) != prot[i],
                    f"{profile} packet after the wrap equals a ROC-0 packet")
            _, errs, _ = process(profile, key, "unprotect", False, [prot[i]])
            t.check(errs[0] == "authentication failure",
                    f"{profile} ROC-1 packet at a ROC-0 receiver: {errs[0]!r}")
            for j in (i, i + 0x10000):  # first packet of ROC 1 and of ROC 2
                if j < count:
                    roc = (start_seq + j) >> 16
                    forced, errs, _ = process(profile, key, "protect", False, [plain[j]], roc=roc)
                    t.check(errs[0] is None and bytes.fromhex(forced[0]) == prot[j],
                            f"{profile} roc={roc} protect differs from the stream's ({errs[0]})")
                    back, errs, r = process(profile, key, "unprotect", False, [prot[j]], roc=roc)
                    t.check(errs[0] is None and bytes.fromhex(back[0]) == plain[j]
                            and get_roc(r, ssrc) == roc,
                            f"{profile} roc={roc} unprotect: {errs[0]!r}")

        # replay and tampering; a refused forgery does not use up its index
        tampered = bytearray(prot[1])
        tampered[20] ^= 1
        res, errs, _ = process(profile, key, "unprotect", False,
                               [prot[0], prot[0], bytes(tampered), prot[1]])
        t.check(res[0] is not None and res[1] is None and res[2] is None and res[3] is not None
                and errs[1].startswith("replay check failed") and errs[2] == "authentication failure",
                f"{profile} replay/tamper: {errs}")
        _, errs, _ = process(profile, key, "protect", False, [plain[0], plain[0]])
        t.check(errs[0] is None and errs[1] is not None and errs[1].startswith("replay"),
                f"{profile} repeated protect with allow_repeat_tx off: {errs}")

        # RTCP: same count; SRTCP index runs 1, 2, ... with the E bit set
        rplain = [rtcp_packet(ssrc, i) for i in range(count)]
        rprot_hex, errs, _ = process(profile, key, "protect", True, rplain)
        t.check(all(e is None for e in errs),
                f"{profile} RTCP protect errors: {[e for e in errs if e][:3]}")
        rprot = [bytes.fromhex(h) if h else b"" for h in rprot_hex]
        aead = profile.startswith("AEAD")
        index_at = slice(-4, None) if aead else slice(-4 - rtcp_tag, -rtcp_tag)
        t.check(all(len(c) == len(p) + 4 + rtcp_tag and c[:8] == p[:8]
                    and int.from_bytes(c[index_at], "big") == 0x80000000 | (i + 1)
                    for i, (p, c) in enumerate(zip(rplain, rprot))),
                f"{profile} SRTCP length/header/E-bit/index wrong")
        rback_hex, errs, _ = process(profile, key, "unprotect", True, rprot)
        t.check(all(e is None for e in errs),
                f"{profile} RTCP unprotect errors: {[e for e in errs if e][:3]}")
        t.check(all(h is not None and bytes.fromhex(h) == p for h, p in zip(rback_hex, rplain)),
                f"{profile} RTCP round trip mismatch")
        res, errs, _ = process(profile, key, "unprotect", True, [rprot[0], rprot[0]])
        t.check(res[0] is not None and res[1] is None and errs[1].startswith("replay"),
                f"{profile} SRTCP replay: {errs}")

        print(f"{profile}: {count} RTP (seq {start_seq}..{(start_seq + count - 1) & 0xFFFF}, "
              f"ROC 0->{wraps}) + {count} RTCP protected and unprotected "
              f"in {time.perf_counter() - ts:.2f}s", flush=True)

    # known answers: libsrtp's output must equal independently published vectors
    for profile, rtcp, key, plain_hex, expected in KNOWN_ANSWERS:
        if profile not in supported:
            continue
        key = bytes.fromhex(key)
        res, errs, _ = process(profile, key, "protect", rtcp, [bytes.fromhex(plain_hex)])
        t.check(res[0] == expected, f"{profile} {'SRTCP' if rtcp else 'SRTP'} known answer: "
                                    f"{res[0] or errs[0]} != {expected}")
        res, errs, _ = process(profile, key, "unprotect", rtcp, [bytes.fromhex(expected)])
        t.check(res[0] == plain_hex, f"{profile} {'SRTCP' if rtcp else 'SRTP'} known answer "
                                     f"unprotect: {res[0] or errs[0]}")
    print(f"known-answer vectors: {sum(1 for k in KNOWN_ANSWERS if k[0] in supported)} checked")

    cli_checks(t, supported)
    elapsed = time.perf_counter() - t0
    verdict = "PASS" if t.failures == 0 else f"FAIL ({t.failures} failures)"
    print(f"selftest {verdict} in {elapsed:.1f}s")
    return 0 if t.failures == 0 else 1


def cli_checks(t, supported):
    """The command-line contract the Swift tests rely on, through a real subprocess."""
    me = [sys.executable, os.path.abspath(__file__)]

    def run(args, request):
        data = request if isinstance(request, str) else json.dumps(request)
        return subprocess.run(me + args, input=data, capture_output=True, text=True, timeout=60)

    r = run(["--profiles"], "")
    t.check(r.returncode == 0 and json.loads(r.stdout) == supported,
            f"--profiles: rc {r.returncode}, {r.stdout!r} {r.stderr!r}")
    profile = supported[0]
    key = bytes(range(PROFILES[profile][1])).hex()
    packets = [rtp_packet(65534 + i, 0x01020304, i).hex() for i in range(4)]
    r = run([], {"profile": profile, "key": key, "op": "protect", "rtcp": False,
                 "packets": packets})
    ok = t.check(r.returncode == 0, f"CLI protect: rc {r.returncode} {r.stderr!r}")
    if ok:
        prot = json.loads(r.stdout)
        r = run([], {"profile": profile, "key": key, "op": "unprotect",
                     "packets": prot["results"] + [prot["results"][0]]})
        reply = json.loads(r.stdout) if r.returncode == 0 else {}
        t.check(reply.get("results") == packets + [None]
                and reply.get("errors", [])[:4] == [None] * 4
                and str(reply.get("errors", [None] * 5)[4]).startswith("replay"),
                f"CLI unprotect round trip: rc {r.returncode} {r.stdout[:200]!r} {r.stderr!r}")
    good = {"profile": profile, "key": key, "op": "protect", "packets": []}
    bad = [
        ("not JSON", "{"),
        ("unknown profile", dict(good, profile="AES_192_CM_HMAC_SHA1_80")),
        ("bad key hex", dict(good, key="zz")),
        ("short key", dict(good, key=key[:-2])),
        ("bad packet hex", dict(good, packets=["8000x"])),
        ("unknown op", dict(good, op="encrypt")),
        ("rtcp not bool", dict(good, rtcp="yes")),
        ("roc out of range", dict(good, roc=1 << 32)),
        ("packets not a list", dict(good, packets="80")),
        ("packet too long", dict(good, packets=["00" * 1400])),
    ]
    for what, request in bad:
        r = run([], request)
        t.check(r.returncode == 2 and r.stderr.startswith("srtp_peer: ") and r.stdout == "",
                f"malformed request ({what}): rc {r.returncode}, stderr {r.stderr!r}")
    r = run([], dict(good, packets=[]))
    t.check(r.returncode == 0 and json.loads(r.stdout) == {"results": [], "errors": []},
            f"empty packet list: rc {r.returncode} {r.stdout!r}")
    print(f"command line: --profiles, protect/unprotect round trip, replay, "
          f"{len(bad)} malformed requests (exit 2) checked")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profiles", action="store_true", help="print the supported profiles")
    ap.add_argument("--selftest", action="store_true", help="run the self test")
    ap.add_argument("--count", type=int, default=70000, help="selftest packets per direction")
    ap.add_argument("--start-seq", type=int, default=65000, help="selftest first sequence number")
    args = ap.parse_args()
    if args.profiles:
        print(json.dumps(supported_profiles()))
        return 0
    if args.selftest:
        if args.count < 1 or not 0 <= args.start_seq <= 0xFFFF:
            ap.error("--count must be >= 1 and --start-seq 0..65535")
        return selftest(args.count, args.start_seq)
    return serve()


if __name__ == "__main__":
    sys.exit(main())
