// swift-tools-version:6.1
import PackageDescription

// Dependencies: see DESIGN.md §6 and docs/dependencies.md. Versions are ones the
// local mirrors hold; swift-crypto stays on 4.x (jwt-kit 5 needs >= 4.1).
let package = Package(
    name: "trabant",
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .executable(name: "trabant", targets: ["TrabantCLI"]),
        .executable(name: "trabant-bench-agent", targets: ["TrabantBenchAgent"]),
        .library(name: "SRTP", targets: ["SRTP"]),
        .library(name: "MediaRelay", targets: ["MediaRelay"]),
        .library(name: "SDP", targets: ["SDP"]),
        // The device side: the client SDK opens sealed notices with NoticeSeal.open.
        .library(name: "PushPayload", targets: ["PushPayload"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        // Counts heap allocations in the benchmark agent only (docs/dependencies.md).
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
    ],
    targets: [
        // In-place SRTP primitives on the BoringSSL that swift-crypto links on Linux
        // (docs/srtp-crypto.md explains the choice and its figures).
        .target(name: "CSRTPBoring"),
        .target(
            name: "SRTP",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .target(name: "CSRTPBoring", condition: .when(platforms: [.linux])),
            ]
        ),
        // SIP message model and stream parser (RFC 3261), sans-I/O.
        .target(name: "SIP"),
        // SDP (RFC 8866) and SDES a=crypto (RFC 4568), sans-I/O.
        .target(name: "SDP", dependencies: ["SRTP"]),
        .target(
            name: "MediaRelay",
            dependencies: [
                "SRTP", "CTrabantNet",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Identities (P-256 keys, self-signed certificates), SPKI fingerprints, pinning.
        .target(
            name: "PKI",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The management bridge: gRPC over mutual TLS 1.3 (generated code in Generated/,
        // made by scripts/generate-grpc.sh), pairing, the satellite's service, the server's client.
        .target(
            name: "Management",
            dependencies: [
                "PKI", "CallControl", "MediaRelay",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Push notices sealed to the device's key (HPKE); the opener is the client SDK's too.
        .target(name: "CHPKEBoring"),
        .target(
            name: "PushPayload",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .target(name: "CHPKEBoring", condition: .when(platforms: [.linux])),
            ]),
        // Push to APNs, FCM and the push relay: tokens, requests, outcomes, retries.
        .target(
            name: "Push",
            dependencies: [
                "PushPayload", "PKI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Emulators of APNs, Google's OAuth2 endpoint and FCM (HTTP/2 + TLS) for the tests and
        // `trabant bench push`; never used to push.
        .target(
            name: "PushEmulator",
            dependencies: [
                "PushPayload",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // The satellite's firewall: one policy model → nftables / iptables rules, the per-call
        // media port set, apply with rollback, and the connection overview.
        .target(
            name: "Firewall",
            dependencies: [
                "CallControl",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The satellite's B2BUA: sans-I/O core, access gate, NIO TCP/TLS transport.
        // GET /metrics for Prometheus, rendered per scrape (satellite, push relay).
        .target(
            name: "Metrics",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // `trabant push-relay`: the vendor's push service for servers without their own
        // Apple/Google credentials (registered servers only, sealed notices only, rate-limited).
        .target(
            name: "PushRelay",
            dependencies: [
                "Push", "PushPayload", "PKI", "Metrics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "CallControl",
            dependencies: [
                "SIP", "SDP", "SRTP", "MediaRelay", "PKI", "Metrics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TrabantConfig",
            dependencies: [
                "MediaRelay", "CallControl", "SDP", "SRTP", "Management", "Firewall", "Push",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Demo",
            dependencies: [
                "SRTP", "MediaRelay",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Batched UDP (recvmmsg/sendmmsg, epoll) for the load generator.
        .target(name: "CTrabantNet"),
        .target(
            name: "Bench",
            dependencies: [
                "Push", "PushPayload", "PushEmulator",
                "SRTP", "MediaRelay", "CTrabantNet",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "TrabantBenchAgent",
            dependencies: [
                "Bench", "MediaRelay", "SRTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]
        ),
        .executableTarget(
            name: "TrabantCLI",
            dependencies: [
                "SRTP", "MediaRelay", "TrabantConfig", "Demo", "Bench", "CallControl", "PKI", "Management", "Firewall",
                "Push", "PushPayload", "PushRelay", "Metrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "SRTPTests", dependencies: ["SRTP"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "MediaRelayTests",
            dependencies: [
                "MediaRelay", "SRTP", "Demo",
            ]
        ),
        .testTarget(name: "TrabantConfigTests", dependencies: ["TrabantConfig"]),
        .testTarget(name: "SDPTests", dependencies: ["SDP", "SRTP"]),
        .testTarget(name: "SIPTests", dependencies: ["SIP"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CallControlTests",
            dependencies: ["CallControl", "SIP", "SDP", "SRTP", "MediaRelay", "TrabantConfig", "PKI", "TestSupport"]),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "TrabantCLI", "TestSupport", "PushEmulator", "PushPayload", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]),
        .testTarget(name: "FirewallTests", dependencies: ["Firewall", "CallControl"]),
        .testTarget(
            name: "PushTests",
            dependencies: [
                "Push", "PushPayload", "PushEmulator", "PushRelay", "Metrics", "PKI", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CryptoExtras", package: "swift-crypto"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1"),
            ]),
        // Helpers the integration tests share: running real peers (sipp, baresip, python).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "ManagementTests",
            dependencies: [
                "Management", "PKI", "CallControl", "MediaRelay", "TestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "PKITests",
            dependencies: [
                "PKI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "TrabantBenchAgent"]),
    ],
    swiftLanguageModes: [.v6]
)
