#!/usr/bin/env python3
"""libsrtp (through pylibsrtp) as a reference SRTP peer for Trabant's interop tests.

Reads one JSON request on stdin:
  {"profile": "AES_CM_128_HMAC_SHA1_80" | "AES_CM_128_HMAC_SHA1_32" |
               "AEAD_AES_128_GCM" | "AEAD_AES_256_GCM",
   "key": "<hex master key || master salt>",
   "op": "protect" | "unprotect", "rtcp": false | true,
   "packets": ["<hex>", ...]}
and prints {"results": ["<hex>" | null, ...], "errors": [null | "<text>", ...]}.
All packets go through ONE libsrtp session, so rollover counters and replay windows carry
across the list. `--profiles` prints the profiles this libsrtp build offers.
Exit code 2 with a message for a malformed request.
"""
import json
import sys

try:
    import pylibsrtp
except ImportError:
    print("pylibsrtp is not installed: python3 -m pip install pylibsrtp", file=sys.stderr)
    sys.exit(3)

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}


def fail(message):
    print(f"libsrtp_peer: {message}", file=sys.stderr)
    sys.exit(2)


def main():
    if sys.argv[1:] == ["--profiles"]:
        print(json.dumps(sorted(PROFILES)))
        return
    try:
        req = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        fail(f"request is not JSON: {e}")
    profile = req.get("profile")
    if profile not in PROFILES:
        fail(f"unknown profile {profile!r}; allowed: {', '.join(sorted(PROFILES))}")
    number, key_len = PROFILES[profile]
    try:
        key = bytes.fromhex(req.get("key", ""))
        packets = [bytes.fromhex(p) for p in req.get("packets", [])]
    except ValueError as e:
        fail(f"bad hex: {e}")
    if len(key) != key_len:
        fail(f"{profile} needs {key_len} bytes of key and salt, got {len(key)}")
    op = req.get("op")
    if op not in ("protect", "unprotect"):
        fail(f"unknown op {op!r}; allowed: protect, unprotect")
    rtcp = bool(req.get("rtcp", False))
    ssrc_type = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if op == "protect" else pylibsrtp.Policy.SSRC_ANY_INBOUND
    policy = pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=number)
    policy.window_size = 1024
    policy.allow_repeat_tx = False
    session = pylibsrtp.Session(policy=policy)
    if op == "protect":
        fn = session.protect_rtcp if rtcp else session.protect
    else:
        fn = session.unprotect_rtcp if rtcp else session.unprotect
    results, errors = [], []
    for p in packets:
        try:
            results.append(fn(p).hex())
            errors.append(None)
        except pylibsrtp.Error as e:
            results.append(None)
            errors.append(str(e))
    print(json.dumps({"results": results, "errors": errors}))


if __name__ == "__main__":
    main()
