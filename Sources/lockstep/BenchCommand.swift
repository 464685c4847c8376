import ArgumentParser
import Benchmarks
import Collectives
import Datasets
import Foundation
import Job
import Models
import Optimizers
import Training

/// `lockstep bench gemm|step|allreduce`: measurements of this machine for this model, as ratios
/// measured in one run (see README "Benchmarks"). JSON Lines unless standard output is a terminal.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the GEMM roofline, the training step and the gradient reduction.",
        discussion: """
            Output: one JSON object per measurement (JSON Lines), or a table when standard output is \
            a terminal (--json forces JSON). Run under mpirun for several ranks; rank 0 prints. \
            Scaling over 1, 2 and 4 ranks: scripts/bench_scaling.sh.
            """,
        subcommands: [GEMM.self, Step.self, Allreduce.self])

    /// Flags every bench subcommand shares.
    struct CommonOptions: ParsableArguments {
        @Flag(help: "Print JSON Lines even on a terminal.")
        var json = false

        @Option(help: ArgumentHelp("Timed repetitions; results are medians over them.", valueName: "n"))
        var repetitions: Int = 5

        func validate() throws {
            guard (1...1000).contains(repetitions) else { throw ValidationError("--repetitions must be in 1…1000, got \(repetitions)") }
        }
    }

    /// Sets up BLAS and the communicator, runs `body` as one rank of the job, and ends the process.
    static func runJob(_ performance: PerformanceOptions, _ body: (Communicator) throws -> Void) -> Never {
        let job = Job.start(blas: performance.blas)
        job.bootstrapLogging(level: .info, timestamps: false)
        job.run { try body(job.communicator) }
    }
}

// MARK: - gemm

extension BenchCommand {
    struct GEMM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gemm",
            abstract: "sgemm GFLOP/s on the model's forward and backward shapes: the step's compute roofline.",
            discussion: """
                One line per shape ("shape": "layer0.forward", …; fields m, n, k, seconds, gflops) \
                and one for the whole step ("shape": "step": all shapes in the step's order, step \
                after step; fields flops, seconds, gflops, blas_core, blas_threads).
                """)

        @OptionGroup(title: "Model") var model: ModelOptions
        @Option(help: ArgumentHelp("Rows per GEMM (the local batch).", valueName: "n"))
        var batch: Int = 128
        @OptionGroup var common: CommonOptions
        @OptionGroup(title: "Performance") var performance: PerformanceOptions

        func validate() throws {
            guard (1...1_000_000).contains(batch) else { throw ValidationError("--batch must be in 1…1000000, got \(batch)") }
        }

        func run() throws {
            BenchCommand.runJob(performance) { communicator in
                let configuration = TrainingConfiguration(
                    dataDirectory: "", model: model.configurationModel(), hiddenSizes: model.hidden.widths)
                let plan = try ModelPlan(
                    configuration: configuration,
                    sampleShape: .image(channels: 1, height: FashionMNIST.imageSide, width: FashionMNIST.imageSide),
                    classes: FashionMNIST.classCount, maximumBatch: batch)
                let benchmark = GEMMBenchmark(layers: plan.layers, modelName: plan.name, batchSize: batch)
                let shapes = benchmark.measureShapes(repetitions: common.repetitions, batchSeconds: 0.02)
                let roofline = benchmark.roofline(repetitions: common.repetitions, steps: 20)
                let output = BenchOutput(forceJSON: common.json, rank: communicator.rank)
                try output.emit(shapes, columns: [
                    ("shape", { $0.shape }), ("m", { "\($0.m)" }), ("n", { "\($0.n)" }), ("k", { "\($0.k)" }),
                    ("µs", { BenchFormat.microseconds($0.seconds) }), ("GFLOP/s", { BenchFormat.fixed($0.gflops, 1) }),
                ])
                try output.emit([roofline], columns: [
                    ("roofline", { "\($0.model) batch \($0.batch)" }), ("µs/step", { BenchFormat.microseconds($0.seconds) }),
                    ("GFLOP/s", { BenchFormat.fixed($0.gflops, 1) }), ("BLAS", { "\($0.blasCore) × \($0.blasThreads)" }),
                ])
            }
        }
    }
}

// MARK: - step

extension BenchCommand {
    struct Step: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "step",
            abstract: "Training samples/s and GFLOP/s of the full step, against the GEMM roofline measured in the same run.",
            discussion: """
                Runs the trainer's own step (batch gather, forward, backward with the overlapped \
                reduction, finiteness check, optimizer update) on Fashion-MNIST, or on random data \
                with --synthetic. Fields: samples_per_s, step_seconds, gflops_per_rank, \
                roofline_gflops, roofline_fraction, wait_fraction, progress_fraction, cpu_per_wall \
                (below 1: other processes took the core), peak_rss_bytes, memory_budget_bytes, \
                optimizer_state_bytes (per rank: 1/N of it with --reduction sharded), …
                With 2 or more ranks also ceiling_samples_per_s and ceiling_fraction: the same \
                step run on every rank at once with no communication, measured before each \
                repetition. With --world-size-invariant also micro_batch, \
                micro_batches_together, micro_batches_per_pass, fixed_point_bits, default_samples_per_s and default_fraction: the default \
                mode's step on the same ranks and data, timed in every repetition (alternately \
                before and after this mode's), and this mode's share of its speed; the same two \
                with a --reduction other than allreduce, against allreduce.
                """)

        @OptionGroup(title: "Data") var data: DataOptions
        @Option(help: ArgumentHelp("Use N random Fashion-MNIST-shaped training samples instead of the dataset.", valueName: "N"))
        var synthetic: Int?
        @OptionGroup(title: "Model") var model: ModelOptions
        @Option(help: ArgumentHelp("Samples per step over all ranks.", valueName: "n"))
        var globalBatch: Int = 128
        @Option(help: ArgumentHelp("The update rule, with its defaults (SGD: momentum 0.9).", valueName: "kind"))
        var optimizer: OptimizerKind = .sgd
        @OptionGroup(title: "Distribution") var distribution: DistributionOptions
        @Option(help: ArgumentHelp("Untimed steps before measuring.", valueName: "n"))
        var warmup: Int = 20
        @Option(help: ArgumentHelp("Steps per timed repetition.", valueName: "n"))
        var steps: Int = 200
        @Flag(help: ArgumentHelp(
            "Also run each repetition's steps with and without a --trace timeline, back to back: "
                + "traced_samples_per_s and trace_overhead (1 − traced / untraced, median)."))
        var traceOverhead = false
        @OptionGroup var common: CommonOptions
        @OptionGroup(title: "Performance") var performance: PerformanceOptions

        func validate() throws {
            guard (1...1_000_000).contains(globalBatch) else {
                throw ValidationError("--global-batch must be in 1…1000000, got \(globalBatch)")
            }
            guard (0...1_000_000).contains(warmup) else { throw ValidationError("--warmup must be in 0…1000000, got \(warmup)") }
            guard (1...1_000_000).contains(steps) else { throw ValidationError("--steps must be in 1…1000000, got \(steps)") }
            // 10 million samples of 784 bytes: 7.8 GB.
            if let synthetic, !(1...10_000_000).contains(synthetic) {
                throw ValidationError("--synthetic must be in 1…10000000 samples, got \(synthetic)")
            }
        }

        func run() throws {
            BenchCommand.runJob(performance) { communicator in
                var configuration = TrainingConfiguration(
                    dataDirectory: data.dataDirectory, limitTrain: data.limitTrain, limitTest: 1,
                    model: model.configurationModel(), hiddenSizes: model.hidden.widths, seed: model.seed, epochs: 1_000_000, globalBatchSize: globalBatch,
                    optimizer: OptimizerConfiguration(kind: optimizer),
                    reduction: distribution.reduction, verifyEvery: 0, bucketMegabytes: distribution.bucketMegabytes,
                    overlap: distribution.overlap)
                configuration.sharedParameters = distribution.sharedParameters ? true : nil
                if distribution.worldSizeInvariant {
                    configuration.worldSizeInvariant = true
                    configuration.microBatchSize = distribution.microBatch
                }
                let trainingData = try synthetic.map { TrainingData.synthetic(trainingCount: $0, testCount: 1) }
                    ?? TrainingData.load(configuration)
                let result = try StepBenchmark.run(
                    configuration: configuration, data: trainingData, communicator: communicator,
                    settings: .init(warmupSteps: warmup, steps: steps, repetitions: common.repetitions, traceOverhead: traceOverhead))
                try BenchOutput(forceJSON: common.json, rank: communicator.rank).emit([result], columns: [
                    ("model", { $0.model }), ("ranks", { "\($0.ranks)" }), ("batch", { "\($0.globalBatch)" }),
                    ("overlap", { $0.overlap ? "on" : "off" }), ("samples/s", { BenchFormat.fixed($0.samplesPerSecond, 0) }),
                    ("of ceiling", { $0.ceilingFraction.map(BenchFormat.percent) ?? "-" }),
                    ("of default", { $0.defaultFraction.map(BenchFormat.percent) ?? "-" }),
                    ("trace cost", { $0.traceOverhead.map(BenchFormat.percent) ?? "-" }),
                    ("GFLOP/s/rank", { BenchFormat.fixed($0.gflopsPerRank, 1) }),
                    ("roofline", { BenchFormat.fixed($0.rooflineGFLOPS, 1) }),
                    ("of roofline", { BenchFormat.percent($0.rooflineFraction) }),
                    ("comm wait", { BenchFormat.percent($0.waitFraction) }),
                    ("cpu/wall", { BenchFormat.fixed($0.cpuPerWall, 2) }),
                    ("peak RSS", { BenchFormat.megabytes($0.peakResidentBytes) }),
                ])
            }
        }
    }
}

// MARK: - allreduce

extension BenchCommand {
    struct Allreduce: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allreduce",
            abstract: "Latency and bandwidth of the trainer's gradient reduction beside a plain MPI loop, 4 KB to 64 MB.",
            discussion: """
                For each mode and size: plain_seconds (the communicator's call alone in a tight \
                loop), nonblocking_seconds (allreduce mode: one MPI_Iallreduce of the whole buffer, \
                started and waited for), path_seconds (the trainer's GradientReduction: buckets, \
                finiteness check), their bandwidths in GB/s (bytes / seconds) and \
                ratio = path_gbps / plain_gbps.
                """)

        @Option(help: ArgumentHelp("Smallest buffer in bytes, or with a suffix K, M, G (sizes grow ×4).", valueName: "bytes"))
        var minBytes = ByteCount(4096)
        @Option(help: ArgumentHelp("Largest buffer in bytes, or with a suffix K, M, G.", valueName: "bytes"))
        var maxBytes = ByteCount(64 << 20)
        @Option(name: .customLong("reduction"), parsing: .upToNextOption, help: ArgumentHelp(
            "Reduction modes to measure (default: all).", valueName: "mode"))
        var modes: [ReductionMode] = ReductionMode.allCases
        @Option(help: ArgumentHelp(
            "Calls per timed batch (default: about 32 MiB moved, 2 to 1,000 calls).", valueName: "n"))
        var calls: Int?
        @Option(name: .customLong("bucket-mb"), help: ArgumentHelp("Bucket size of the trainer's path, in MiB.", valueName: "MiB"))
        var bucketMegabytes: Double = TrainingConfiguration.defaultBucketMegabytes
        @OptionGroup var common: CommonOptions
        @OptionGroup(title: "Performance") var performance: PerformanceOptions

        func validate() throws {
            guard minBytes.bytes >= 4, maxBytes.bytes >= minBytes.bytes, maxBytes.bytes <= 1 << 30 else {
                throw ValidationError(
                    "--min-bytes and --max-bytes must satisfy 4 ≤ min ≤ max ≤ 1G (1073741824 bytes), got \(minBytes) and \(maxBytes)")
            }
            guard bucketMegabytes >= 0.0001, bucketMegabytes <= 4096 else {
                throw ValidationError("--bucket-mb must be a number of MiB in 0.0001…4096, got \(bucketMegabytes)")
            }
            if let calls, !(1...1_000_000).contains(calls) { throw ValidationError("--calls must be in 1…1000000, got \(calls)") }
        }

        func run() throws {
            BenchCommand.runJob(performance) { communicator in
                if communicator.worldSize == 1 {
                    FileHandle.standardError.write(Data(("warning: bench allreduce on 1 rank moves no data between ranks: "
                        + "its GB/s are memory copies; run it under mpirun -np 2 or more\n").utf8))
                }
                let results = try AllreduceBenchmark.run(
                    communicator: communicator, sizes: AllreduceBenchmark.sizes(minimumBytes: minBytes.bytes, maximumBytes: maxBytes.bytes),
                    modes: modes, repetitions: common.repetitions, bucketMegabytes: bucketMegabytes,
                    calls: { bytes in calls ?? AllreduceBenchmark.calls(bytes: bytes) })
                try BenchOutput(forceJSON: common.json, rank: communicator.rank).emit(results, columns: [
                    ("mode", { $0.mode }), ("ranks", { "\($0.ranks)" }), ("size", { BenchFormat.bytes($0.bytes) }),
                    ("buckets", { "\($0.buckets)" }),
                    ("plain µs", { BenchFormat.microseconds($0.plainSeconds) }), ("plain GB/s", { BenchFormat.fixed($0.plainGigabytesPerSecond, 2) }),
                    ("nonblocking GB/s", { $0.nonblockingGigabytesPerSecond.map { BenchFormat.fixed($0, 2) } ?? "-" }),
                    ("shared-memory GB/s", { $0.sharedMemoryGigabytesPerSecond.map { BenchFormat.fixed($0, 2) } ?? "-" }),
                    ("path µs", { BenchFormat.microseconds($0.pathSeconds) }), ("path GB/s", { BenchFormat.fixed($0.pathGigabytesPerSecond, 2) }),
                    ("path/plain", { BenchFormat.percent($0.ratio) }),
                ])
            }
        }
    }
}
