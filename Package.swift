// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "swift-paddington",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Paddington", targets: ["Paddington"]),
        .library(name: "PaddingtonCrypto", targets: ["PaddingtonCrypto"]),
        .library(name: "PaddingtonControl", targets: ["PaddingtonControl"]),
        .library(name: "PaddingtonActors", targets: ["PaddingtonActors"]),
        .library(name: "PaddingtonHealth", targets: ["PaddingtonHealth"]),
        .executable(name: "paddington", targets: ["PaddingtonCLI"]),
        .executable(name: "paddington-echo", targets: ["PaddingtonEcho"]),
        .executable(name: "paddington-workers", targets: ["PaddingtonWorkers"]),
        .executable(name: "paddington-bench", targets: ["PaddingtonBench"]),
        .executable(name: "paddington-fuzz", targets: ["PaddingtonFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // libsodium from the system (Debian: libsodium-dev).
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        // SSSE3 and AVX2 hex encoders and decoders, chosen at run time by PaddingtonCrypto's HexCodec.
        .target(name: "CPaddingtonHex"),
        // Keys, AEAD, HKDF, hex, JSON strings, protocol 1's two-layer envelope and protocol 2's Noise
        // handshake and frames. No networking.
        .target(
            name: "PaddingtonCrypto",
            dependencies: ["CSodium", "CPaddingtonHex"],
            swiftSettings: swiftSettings
        ),
        // Files, handshake, transport, exchange and the Mesh service.
        .target(
            name: "Paddington",
            dependencies: [
                "PaddingtonCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // Distributed actors over a mesh (MeshActorSystem).
        .target(
            name: "PaddingtonActors",
            dependencies: [
                "Paddington",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The control socket of a running agent: the server `paddington run` opens, the client its verbs use.
        .target(
            name: "PaddingtonControl",
            dependencies: [
                "Paddington",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The health and metrics endpoint (`heathcheck_port`): `GET /health` as the Rust crate serves it,
        // `GET /metrics` from a Prometheus registry. Kept apart so the core does not depend on Prometheus.
        .target(
            name: "PaddingtonHealth",
            dependencies: [
                "Paddington",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // `paddington doctor`'s checks, as structured results the command prints.
        .target(
            name: "PaddingtonDoctor",
            dependencies: [
                "Paddington",
                "PaddingtonControl",
                "PaddingtonCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "PaddingtonCLI",
            dependencies: [
                "Paddington",
                "PaddingtonControl",
                "PaddingtonHealth",
                "PaddingtonDoctor",
                "PaddingtonCrypto",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "EchoCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The echo countdown, shared by `paddington-echo` and `paddington demo`.
        .target(
            name: "EchoCore",
            dependencies: ["Paddington"],
            path: "Examples/EchoCore",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "PaddingtonEcho",
            dependencies: [
                "Paddington",
                "EchoCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/Echo",
            swiftSettings: swiftSettings
        ),
        // A coordinator and worker agents in their own processes, over distributed actor calls.
        .executableTarget(
            name: "PaddingtonWorkers",
            dependencies: [
                "Paddington",
                "PaddingtonActors",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/Workers",
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the tests and the benchmarks: child processes, a connected pair of meshes,
        // scratch folders and ports. Not a product.
        .target(
            name: "PaddingtonTestSupport",
            dependencies: [
                "Paddington",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "PaddingtonBench",
            dependencies: [
                "Paddington",
                "PaddingtonActors",
                "PaddingtonCrypto",
                "PaddingtonTestSupport",
                "CSodium",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/PaddingtonBench",
            swiftSettings: swiftSettings
        ),
        // libFuzzer targets (scripts/fuzz.sh); built normally, a replayer for the seed corpus.
        .executableTarget(
            name: "PaddingtonFuzz",
            dependencies: ["Paddington", "PaddingtonCrypto", .product(name: "NIOHTTP1", package: "swift-nio")],
            path: "Fuzz/PaddingtonFuzz",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaddingtonCryptoTests",
            dependencies: ["PaddingtonCrypto"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaddingtonTests",
            dependencies: [
                "Paddington",
                "PaddingtonActors",
                "PaddingtonControl",
                "PaddingtonCrypto",
                "PaddingtonHealth",
                "PaddingtonTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaddingtonDoctorTests",
            dependencies: [
                "Paddington",
                "PaddingtonControl",
                "PaddingtonCrypto",
                "PaddingtonDoctor",
                "PaddingtonTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaddingtonCLITests",
            dependencies: [
                "Paddington",
                "PaddingtonTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
