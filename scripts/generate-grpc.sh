#!/bin/sh
# Regenerates Sources/Management/Generated from Protos/ (needs protoc: apt-get install
# protobuf-compiler). The plugins build from this package's own dependencies.
set -eu
cd "$(dirname "$0")/.."
swift build --product protoc-gen-swift
swift build --product protoc-gen-grpc-swift-2
BIN=$(swift build --show-bin-path)
OUT=Sources/Management/Generated
mkdir -p "$OUT"
protoc --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
    -I Protos \
    --swift_out="$OUT" --swift_opt=Visibility=Public \
    --grpc-swift-2_out="$OUT" --grpc-swift-2_opt=Visibility=Public \
    Protos/trabant/bridge/v1/bridge.proto
echo "generated into $OUT:"
ls "$OUT"/trabant/bridge/v1
