// swift-tools-version:6.1
import PackageDescription

// Herald's targets follow DESIGN.md section 2: each layer is a target, and a target imports only
// the layers below it. MIME and SMTP never import each other; they meet in HeraldDelivery.
let package = Package(
    name: "herald",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "herald", targets: ["herald"]),
        .library(name: "HeraldMIME", targets: ["HeraldMIME"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .target(
            name: "HeraldMIME",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(name: "HeraldSMTP"),
        .target(name: "HeraldStore", dependencies: ["HeraldMIME"]),
        .target(name: "HeraldDelivery", dependencies: ["HeraldMIME", "HeraldSMTP", "HeraldStore"]),
        .target(name: "HeraldAPI", dependencies: ["HeraldDelivery", "HeraldStore", "HeraldMIME"]),
        .executableTarget(
            name: "herald",
            dependencies: [
                "HeraldAPI", "HeraldDelivery", "HeraldStore", "HeraldMIME",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "HeraldTestSupport", dependencies: ["HeraldSMTP", "HeraldStore"]),
        .executableTarget(
            name: "herald-bench",
            dependencies: ["HeraldMIME"],
            path: "Benchmarks/Sources/herald-bench"
        ),
        .testTarget(
            name: "HeraldMIMETests",
            dependencies: [
                "HeraldMIME",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "heraldTests",
            dependencies: [
                "herald",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
    ]
)
