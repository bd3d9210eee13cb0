#!/usr/bin/env python3
"""Which TLS versions a server accepts, by sslyze (PyPI).

Usage: tls_scan.py --port P [--cert C --key K] [--sni NAME]
Prints one JSON object: {"accepted": {"ssl_2_0": 0, ..., "tls_1_3": 5}, "errors": [...]} with the
number of accepted cipher suites per version.
"""
import argparse
import json
from pathlib import Path

from sslyze import (ClientAuthenticationCredentials, ScanCommand, Scanner, ServerNetworkConfiguration,
                    ServerNetworkLocation, ServerScanRequest, ServerScanStatusEnum)

VERSIONS = {
    "ssl_2_0": ScanCommand.SSL_2_0_CIPHER_SUITES,
    "ssl_3_0": ScanCommand.SSL_3_0_CIPHER_SUITES,
    "tls_1_0": ScanCommand.TLS_1_0_CIPHER_SUITES,
    "tls_1_1": ScanCommand.TLS_1_1_CIPHER_SUITES,
    "tls_1_2": ScanCommand.TLS_1_2_CIPHER_SUITES,
    "tls_1_3": ScanCommand.TLS_1_3_CIPHER_SUITES,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--sni", default="satellite.trabant.invalid")
    args = ap.parse_args()
    creds = None
    if args.cert:
        creds = ClientAuthenticationCredentials(certificate_chain_path=Path(args.cert), key_path=Path(args.key))
    config = ServerNetworkConfiguration(tls_server_name_indication=args.sni, tls_client_auth_credentials=creds)
    request = ServerScanRequest(server_location=ServerNetworkLocation("127.0.0.1", args.port),
                                network_configuration=config, scan_commands=set(VERSIONS.values()))
    scanner = Scanner()
    scanner.queue_scans([request])
    out = {"accepted": {}, "errors": []}
    for result in scanner.get_results():
        if result.scan_status != ServerScanStatusEnum.COMPLETED:
            out["errors"].append(f"connectivity: {result.connectivity_error_trace}")
            continue
        for name in VERSIONS:
            attempt = getattr(result.scan_result, f"{name}_cipher_suites")
            if attempt.result is None:
                out["errors"].append(f"{name}: {attempt.error_reason} {attempt.error_trace}")
                continue
            out["accepted"][name] = len(attempt.result.accepted_cipher_suites)
            if name == "tls_1_3":
                out["tls_1_3_suites"] = [s.cipher_suite.name for s in attempt.result.accepted_cipher_suites]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
