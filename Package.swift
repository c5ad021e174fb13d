// swift-tools-version:6.1
// LongReward for Swift: long-context reward scoring, preference data and DPO training.
// Module graph (one way): CBLAS, CQuantKernels -> Kernels -> ... -> LongRewardCLI. See README.md and
// DESIGN notes in the repository for the planned targets.
import PackageDescription

/// Numeric targets are compiled for the host CPU with full optimisation in release builds:
/// without `-target-cpu`, SIMD code falls back to software FMA and runs ~13x slower.
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "native"]),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "LongReward",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "longreward", targets: ["LongRewardCLI"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Benchmarking", targets: ["Benchmarking"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "Retrieval", targets: ["Retrieval"]),
        .library(name: "Judges", targets: ["Judges"]),
        .library(name: "Scoring", targets: ["Scoring"]),
        .library(name: "Preferences", targets: ["Preferences"]),
        .library(name: "OpenAICompatible", targets: ["OpenAICompatible"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Integer dot-product kernels (AVX2) for quantised weights; scalar fallback elsewhere.
        .target(
            name: "CQuantKernels",
            cSettings: [.unsafeFlags(["-march=native", "-O3", "-ffp-contract=off"])]
        ),
        .target(
            name: "Kernels",
            dependencies: ["CBLAS", "CQuantKernels"],
            swiftSettings: numericSettings
        ),
        .target(
            name: "Formats",
            dependencies: ["Kernels"],
            swiftSettings: numericSettings
        ),
        .target(name: "Tokenizers", dependencies: ["Kernels", "Formats"]),
        .target(
            name: "Models",
            dependencies: ["Kernels", "Formats", "Tokenizers"],
            swiftSettings: numericSettings
        ),
        .target(
            name: "Benchmarking",
            dependencies: ["Kernels", "Models", "Judges", "Training", "OpenAICompatible", "LoopbackServer"],
            swiftSettings: numericSettings
        ),
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "Store", dependencies: ["CSQLite", "Formats"]),
        // C API over Debian's static libfaiss 1.7.3 (apt: libfaiss-dev), which ships no C API.
        // FAISS's HNSW header includes <omp.h>, which Swift's clang lacks: use GCC's.
        .target(
            name: "CFaissShim",
            cxxSettings: [.unsafeFlags(["-idirafter", "/usr/lib/gcc/x86_64-linux-gnu/12/include"])],
            linkerSettings: [
                .linkedLibrary("faiss"), .linkedLibrary("openblas"), .linkedLibrary("gomp"), .linkedLibrary("m"),
            ]
        ),
        .target(name: "OpenAICompatible", dependencies: ["Kernels"]),
        .target(name: "LoopbackServer", dependencies: ["Kernels"]),
        .target(name: "Retrieval", dependencies: ["CFaissShim", "Kernels", "Formats", "Models", "Tokenizers", "OpenAICompatible"]),
        .target(name: "Judges", dependencies: ["Kernels", "Models", "Tokenizers", "Formats", "OpenAICompatible"]),
        .target(name: "Scoring", dependencies: ["Kernels", "Retrieval", "Judges", "Store", "Models", "Tokenizers", "Formats"]),
        .target(
            name: "Preferences",
            dependencies: ["Scoring", "Retrieval", "Judges", "Store", "Models", "Tokenizers", "Formats"],
            swiftSettings: numericSettings
        ),
        .target(name: "Reports", dependencies: ["Scoring", "Store"]),
        .target(name: "Evaluation", dependencies: ["Reports", "Scoring", "Judges", "Retrieval", "Store", "Formats", "Kernels"]),
        .target(
            name: "Training",
            dependencies: ["Kernels", "Formats", "Tokenizers", "Models"],
            swiftSettings: numericSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Kernels"],
            path: "Sources/TestSupport"
        ),
        .executableTarget(
            name: "LongRewardCLI",
            dependencies: [
                "Kernels", "Formats", "Tokenizers", "Models", "Benchmarking", "Retrieval", "Scoring", "Preferences", "Training",
                "Reports", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "FormatsTests",
            dependencies: ["Formats", "TestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TokenizersTests",
            dependencies: ["Tokenizers", "TestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ModelsTests",
            dependencies: ["Models", "Kernels", "Tokenizers", "TestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: numericSettings
        ),
        .testTarget(
            name: "LongRewardCLITests",
            dependencies: ["LongRewardCLI", "Judges", "Store", "LoopbackServer"]
        ),
        .testTarget(
            name: "OpenAICompatibleTests",
            dependencies: ["OpenAICompatible", "LoopbackServer"]
        ),
        .testTarget(
            name: "ScoringTests",
            dependencies: ["Scoring", "Judges", "Models", "Retrieval", "Store", "OpenAICompatible", "LoopbackServer"]
        ),
        .testTarget(
            name: "FuzzRegressionTests",
            dependencies: ["Formats", "Tokenizers", "Judges", "Retrieval", "Scoring", "Evaluation", "OpenAICompatible", "Kernels"]
        ),
        .testTarget(
            name: "EvaluationTests",
            dependencies: ["Evaluation", "Reports", "Scoring", "Judges", "Store", "Retrieval"]
        ),
        .testTarget(
            name: "PreferencesTests",
            dependencies: ["Preferences", "Scoring", "Judges", "Store", "Retrieval"]
        ),
        .testTarget(
            name: "RetrievalTests",
            dependencies: ["Retrieval", "TestSupport"]
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: ["Store", "Formats"]
        ),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Models", "Kernels", "Formats", "Tokenizers", "TestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: numericSettings
        ),
        .testTarget(
            name: "KernelsTests",
            dependencies: ["Kernels", "CQuantKernels", "TestSupport"],
            swiftSettings: numericSettings
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
