// swift-tools-version:6.0
// Lockstep: a data-parallel neural-network trainer over MPI.
//
// Layers, bottom to top (dependencies only point down; README "Layout"):
//   COpenMPI, COpenBLAS, CZlib, CZip  system libraries found through pkg-config
//   CMPIShim                    the only C code that includes <mpi.h>; a narrow `lockstep_mpi_` API
//   CVectorKernels              AVX-512 row kernels (padding, patch rows, 2×2 max pooling and its
//                               gradient) and the fixed-point sum's conversions, chosen at run
//                               time; the same bits as the portable loops
//   Reporting, Determinism      exit statuses and errors; the seeded generator and the state hash
//   Collectives                 `Communicator` (MPI, single process, in-process ranks for tests),
//                               bucketed gradient reduction driven by ready ranges, the exact
//                               fixed-point sum of the world-size-invariant mode
//   Coordination                rank agreement, lockstep verification, outcome agreement, watchdog
//   Kernels                     float buffers, BLAS wrappers, dense/conv/pool/activation/dropout
//                               kernels, loss; naive references
//   Models                      layer lists and shape checks, `LayerStack`, `GradientBuffer`,
//                               `ModelFootprint` (`MLP`: the reference the stack is tested against)
//   Optimizers, Schedules       pure update rules; learning-rate schedules and their scaling
//   Datasets, Checkpoints       file formats with precise errors; the distributed sampler
//   Training                    configuration, TrainingStep, RunState (checkpoint, resume), Trainer loop
//   Benchmarks                  `lockstep bench`: GEMM roofline, the training step, the reduction
//   Job                         one process's lifecycle: BLAS kernel, communicator, logging, exit
//   lockstep                    the command line (swift-argument-parser); no math
import PackageDescription

let package = Package(
    name: "Lockstep",
    products: [
        .executable(name: "lockstep", targets: ["lockstep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/onevcat/Rainbow", from: "4.2.2"),
    ],
    targets: [
        // MARK: - C at the bottom
        .systemLibrary(
            name: "COpenMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CZip", pkgConfig: "libzip",
            providers: [.apt(["libzip-dev"])]),
        .target(name: "CMPIShim", dependencies: ["COpenMPI"]),
        .target(name: "CVectorKernels"),
        .target(name: "CSignals"),

        // MARK: - Swift modules
        .target(name: "Reporting"),
        .target(name: "Determinism"),
        .target(name: "Tracing"),
        .target(name: "Collectives", dependencies: ["CMPIShim", "Reporting", "CVectorKernels", "Tracing"]),
        .target(name: "Coordination", dependencies: ["Collectives", "Reporting", "Determinism", "Tracing"]),
        .target(name: "Kernels", dependencies: ["Determinism", "Reporting", "COpenBLAS", "CVectorKernels"]),
        .target(name: "Models", dependencies: ["Kernels", "Determinism", "Reporting", "Tracing"]),
        .target(name: "Optimizers", dependencies: ["Reporting", "Kernels"]),
        .target(
            name: "Schedules",
            dependencies: ["Reporting", .product(name: "Numerics", package: "swift-numerics")]),
        .target(name: "Datasets", dependencies: ["Reporting", "Determinism", "CZlib", "CZip"]),
        .target(name: "Checkpoints", dependencies: ["Reporting", "CZlib"]),
        .target(
            name: "Training",
            dependencies: [
                "Reporting", "Determinism", "Collectives", "Coordination", "Kernels", "Models", "Optimizers",
                "Schedules", "Datasets", "Checkpoints", "Tracing",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Benchmarks",
            dependencies: [
                "Training", "Collectives", "Coordination", "Kernels", "Models", "Datasets", "Schedules", "Determinism", "Tracing",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Job",
            dependencies: [
                "Reporting", "Collectives", "Coordination", "Kernels", "CSignals",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Rainbow", package: "Rainbow"),
            ]),
        .executableTarget(
            name: "lockstep",
            dependencies: [
                "Job", "Training", "Benchmarks", "Coordination", "Reporting", "Collectives", "Kernels", "Models",
                "Datasets", "Schedules", "Optimizers", "Checkpoints", "Tracing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Rainbow", package: "Rainbow"),
            ]),

        // MARK: - Tests
        .target(name: "TestSupport", dependencies: [], path: "Tests/TestSupport"),
        .testTarget(name: "DeterminismTests", dependencies: ["Determinism", "TestSupport"]),
        .testTarget(name: "TracingTests", dependencies: ["Tracing", "Collectives", "Coordination"]),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives", "CVectorKernels", "TestSupport"]),
        .testTarget(name: "CoordinationTests", dependencies: ["Coordination", "Collectives", "Reporting", "Determinism"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Determinism", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Kernels", "Determinism", "Reporting", "Tracing", "TestSupport"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Reporting", "Kernels", "Determinism", "TestSupport"]),
        .testTarget(name: "SchedulesTests", dependencies: ["Schedules", "Reporting", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Reporting", "Determinism", "CZlib", "CZip", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Reporting", "Determinism", "TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: [
                "Training", "Checkpoints", "Collectives", "Coordination", "Datasets", "Determinism", "Optimizers",
                "Reporting", "Schedules", "TestSupport", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "IntegrationTests", dependencies: ["TestSupport", "Checkpoints", "Datasets", "lockstep"], exclude: ["Fixtures"]),
        // The command line: its pieces through @testable import, and the built binary.
        .testTarget(
            name: "CommandLineTests", dependencies: ["TestSupport", "lockstep", "Job", "Training", "Models"], exclude: ["Snapshots"]),
    ]
)
