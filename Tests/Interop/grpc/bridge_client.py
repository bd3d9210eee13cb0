#!/usr/bin/env python3
"""A foreign client of the management bridge: Python grpcio with stubs generated from
Protos/trabant/bridge/v1/bridge.proto at run time (grpcio-tools).

Usage: bridge_client.py --port P --satellite-cert SAT.crt --cert SERVER.crt --key SERVER.key
                        [--release 0.5.0] [--proto-root Protos]
Calls GetStatus and ListCalls and prints one JSON object: {"ok": true, "status": {...},
"calls": N} or {"ok": false, "code": "UNAVAILABLE", "error": "..."}. Exit 0 either way
unless the stubs cannot be made (exit 2).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def make_stubs(proto_root):
    out = tempfile.mkdtemp(prefix="trabant-stubs-")
    proto = os.path.join(proto_root, "trabant", "bridge", "v1", "bridge.proto")
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", proto_root,
                        f"--python_out={out}", f"--grpc_python_out={out}", proto],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(json.dumps({"ok": False, "error": "protoc: " + r.stderr}))
        sys.exit(2)
    sys.path.insert(0, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--satellite-cert", required=True, help="the satellite's certificate (trusted as root)")
    ap.add_argument("--cert", required=True, help="this client's certificate")
    ap.add_argument("--key", required=True, help="this client's private key (PEM)")
    ap.add_argument("--release", default="0.5.0")
    ap.add_argument("--proto-root", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "Protos"))
    args = ap.parse_args()
    make_stubs(os.path.abspath(args.proto_root))
    import grpc
    from trabant.bridge.v1 import bridge_pb2, bridge_pb2_grpc

    def read(p):
        with open(p, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(root_certificates=read(args.satellite_cert),
                                         private_key=read(args.key), certificate_chain=read(args.cert))
    channel = grpc.secure_channel(f"127.0.0.1:{args.port}", creds,
                                  options=[("grpc.ssl_target_name_override", "satellite.trabant.invalid")])
    stub = bridge_pb2_grpc.SatelliteBridgeStub(channel)
    md = [("trabant-release", args.release)]
    try:
        s = stub.GetStatus(bridge_pb2.GetStatusRequest(), metadata=md, timeout=10)
        calls = stub.ListCalls(bridge_pb2.ListCallsRequest(), metadata=md, timeout=10)
        print(json.dumps({"ok": True, "status": {
            "release": s.release, "active_calls": s.active_calls, "ports_total": s.ports_total,
            "satellite_fingerprint": s.satellite_fingerprint, "firewall_state": s.firewall_state},
            "calls": len(calls.calls)}))
    except grpc.RpcError as e:
        print(json.dumps({"ok": False, "code": e.code().name, "error": e.details()}))
    finally:
        channel.close()


if __name__ == "__main__":
    main()
