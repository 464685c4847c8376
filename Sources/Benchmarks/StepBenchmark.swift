import Collectives
import Coordination
import Datasets
import Kernels
import Models
import Schedules
import Tracing
import Training

/// Times the real training step (`TrainingStep.run`: batch gather, forward, backward with the
/// overlapped reduction, finiteness check, optimizer update) and compares it with the GEMM
/// roofline (`GEMMBenchmark.secondsPerStep`) measured in the same process for as many steps right
/// before each repetition, so that both halves of each ratio see the same machine.
///
/// With more than one rank it also measures the **ceiling** before each repetition: every rank
/// runs the same step on the same samples at the same time, with no communication at all (a
/// second `TrainingStep` over a world of one, its global batch this rank's local batch), so the
/// ranks share the machine as in the real step but never wait for each other. The ceiling is the
/// global batch per step over the slowest rank's time: the real step's speed if communication
/// and coordination cost nothing (`ceiling_fraction` = samples_per_s / ceiling_samples_per_s).
public enum StepBenchmark {
    /// How much to measure.
    public struct Settings: Sendable {
        /// Steps run before timing (excluded).
        public var warmupSteps: Int
        /// Steps per timed repetition.
        public var steps: Int
        /// Timed repetitions; results are medians over them.
        public var repetitions: Int
        /// Also time each repetition's steps with a `--trace` timeline attached, alternating which
        /// runs first (`traced_samples_per_s`, `trace_overhead`).
        public var traceOverhead = false

        public init(warmupSteps: Int = 20, steps: Int = 200, repetitions: Int = 5, traceOverhead: Bool = false) {
            self.traceOverhead = traceOverhead
            precondition(warmupSteps >= 0 && steps > 0 && repetitions > 0,
                         "warmup \(warmupSteps), steps \(steps), repetitions \(repetitions)")
            self.warmupSteps = warmupSteps
            self.steps = steps
            self.repetitions = repetitions
        }
    }

    /// One JSON line, `"bench": "step"`. Rates and fractions are medians over repetitions.
    public struct Result: Codable, Sendable {
        public var bench = "step"
        public let model: String
        public let ranks: Int
        public let globalBatch: Int
        public let localBatch: Int
        /// `--reduction`'s mode, or `fixed-point` with `--world-size-invariant`.
        public let reduction: String
        /// `--micro-batch` with `--world-size-invariant` (absent otherwise).
        public let microBatch: Int?
        /// With `--world-size-invariant`: rank 0's micro-batches ran through forward and backward
        /// together (`TrainingStep.microBatchesTogether`), not one by one (absent otherwise).
        public let microBatchesTogether: Bool?
        /// With `--world-size-invariant`: rank 0's micro-batches per forward and backward pass
        /// (`TrainingStep.microBatchesPerPass`; absent otherwise).
        public let microBatchesPerPass: Int?
        /// With `--world-size-invariant`: the bits of the exact sum's integers, 32 or 64
        /// (`FixedPointSum.width`; absent otherwise).
        public let fixedPointBits: Int?
        public let overlap: Bool
        public let bucketMegabytes: Double
        public let buckets: Int
        public let steps: Int
        public let repetitions: Int
        /// Training samples per second over all ranks (the slowest rank's time).
        public let samplesPerSecond: Double
        /// With more than one rank: the step with no communication, on every rank at once (see
        /// the type's documentation), in training samples per second over all ranks; nil for one.
        public let ceilingSamplesPerSecond: Double?
        /// `samples_per_s / ceiling_samples_per_s`, the median of the per-repetition ratios; nil
        /// for one rank.
        public let ceilingFraction: Double?
        /// With `--world-size-invariant` or a `--reduction` other than `allreduce`: the default
        /// mode's step (`--reduction allreduce`; same model, optimizer, global batch, ranks and
        /// data), timed in every repetition, alternating with this mode's, in training
        /// samples per second over all ranks; and `samples_per_s / default_samples_per_s`, the
        /// median of the per-repetition ratios (absent otherwise, and when the ranks do not divide
        /// the global batch: the default mode cannot run there).
        public let defaultSamplesPerSecond: Double?
        public let defaultFraction: Double?
        /// With `traceOverhead`: samples/s with the timeline attached (median), and the median over
        /// repetitions of 1 − traced / untraced samples/s, measured back to back.
        public let tracedSamplesPerSecond: Double?
        public let traceOverhead: Double?
        public let stepSeconds: Double
        /// GEMM FLOPs of the step (`trainingFLOPsPerSample × local batch`) per second, per rank.
        public let gflopsPerRank: Double
        /// `GEMMBenchmark`'s roofline at the local batch, measured before each repetition.
        public let rooflineGFLOPS: Double
        /// `gflops_per_rank / roofline_gflops`, the median of the per-repetition ratios.
        public let rooflineFraction: Double
        /// Share of step time blocked waiting for gradient reduction (largest over ranks).
        public let waitFraction: Double
        /// Share of step time in progress calls between backward kernels (largest over ranks).
        public let progressFraction: Double
        /// CPU seconds over wall seconds of the timed steps, the lowest over ranks: about the BLAS
        /// thread count on a quiet machine; lower when other processes took this rank's core.
        public let cpuPerWall: Double
        public let peakResidentBytes: Int
        public let memoryBudgetBytes: Int
        /// Bytes of optimizer state this rank holds (the largest over ranks): momentum or Adam's
        /// moments for all parameters, or with `--reduction sharded` for the rank's slice.
        public let optimizerStateBytes: Int
        public let blasCore: String
        public let blasThreads: Int

        /// The JSON names (snake_case, as printed).
        public enum CodingKeys: String, CodingKey {
            case bench, model, ranks, globalBatch = "global_batch", localBatch = "local_batch", reduction, microBatch = "micro_batch", microBatchesTogether = "micro_batches_together", microBatchesPerPass = "micro_batches_per_pass", fixedPointBits = "fixed_point_bits", overlap, bucketMegabytes = "bucket_mb", buckets, steps, repetitions, samplesPerSecond = "samples_per_s", ceilingSamplesPerSecond = "ceiling_samples_per_s", ceilingFraction = "ceiling_fraction", defaultSamplesPerSecond = "default_samples_per_s", defaultFraction = "default_fraction", tracedSamplesPerSecond = "traced_samples_per_s", traceOverhead = "trace_overhead", stepSeconds = "step_seconds", gflopsPerRank = "gflops_per_rank", rooflineGFLOPS = "roofline_gflops", rooflineFraction = "roofline_fraction", waitFraction = "wait_fraction", progressFraction = "progress_fraction", cpuPerWall = "cpu_per_wall", peakResidentBytes = "peak_rss_bytes", memoryBudgetBytes = "memory_budget_bytes", optimizerStateBytes = "optimizer_state_bytes", blasCore = "blas_core", blasThreads = "blas_threads"
        }
    }

    /// Runs `settings` on a training step built from `configuration` and `data` (the real
    /// `TrainingStep`: the same model, optimizer and reduction as `lockstep train`, the learning
    /// rate of the run's schedule). Collective.
    /// - Throws: `CollectiveFailure` (the same on every rank, reported once by rank 0) for
    ///   settings that cannot run: a `ModelDescriptionError`, `ModelSizeError`, `SamplerError` or
    ///   `ScheduleError`.
    public static func run(
        configuration: TrainingConfiguration, data: TrainingData, communicator: Communicator, settings: Settings
    ) throws -> Result {
        FloatingPointEnvironment.enableFlushToZero()
        // Every rank checks the same settings against the same data: a refusal is collective.
        let (plan, sampler, schedule) = try CollectiveFailure.collectively {
            () throws -> (ModelPlan, DistributedSampler, ExponentialSchedule) in
            let plan = try ModelPlan(
                configuration: configuration, samples: data.training,
                maximumBatch: max(configuration.globalBatchSize, configuration.evaluationBatchSize))
            let sampler = try DistributedSampler(
                sampleCount: data.training.count, globalBatchSize: configuration.globalBatchSize,
                worldSize: communicator.worldSize, rank: communicator.rank, seed: configuration.seed,
                microBatchSize: configuration.invariantMicroBatchSize)
            let schedule = try ExponentialSchedule(
                configuration.scaledSchedule, stepsPerEpoch: sampler.stepsPerEpoch, totalUnits: configuration.epochs)
            return (plan, sampler, schedule)
        }
        let trainingStep = TrainingStep(
            configuration: configuration, communicator: communicator, plan: plan, training: data.training,
            localBatchSize: sampler.localBatchSize, evaluationBatchSize: configuration.evaluationBatchSize,
            sharedParameters: try NodeSharedParameters.make(
                configuration: configuration, communicator: communicator, parameterCount: LayerStack.parameterCount(of: plan.layers)))
        trainingStep.model.initialize(seed: configuration.seed)
        try StateAgreement(communicator: communicator).agree(
            on: [.init(name: "parameters", bytes: UnsafeMutableRawBufferPointer(trainingStep.model.parameters.buffer))],
            step: 0, context: "benchmark start")
        let permutation = UnsafeMutableBufferPointer<Int32>.allocate(capacity: data.training.count)
        defer { permutation.deallocate() }
        let reduction = trainingStep.reduction
        let gemm = GEMMBenchmark(layers: plan.layers, modelName: plan.name, batchSize: sampler.localBatchSize)
        // The ceiling's step: this rank alone, on its local batch, from the same parameters.
        var soloStep: TrainingStep?
        if communicator.worldSize > 1 {
            var solo = configuration
            solo.globalBatchSize = sampler.localBatchSize
            let step = TrainingStep(
                configuration: solo, communicator: SingleProcessCommunicator(), plan: plan, training: data.training,
                localBatchSize: sampler.localBatchSize)
            step.model.parameters.baseAddress.update(from: trainingStep.model.parameters.baseAddress, count: step.model.parameterCount)
            soloStep = step
        }
        // The default mode's step (`--reduction allreduce`, no micro-batches) beside the
        // world-size-invariant one or another reduction: the same parameters and optimizer, the
        // default sampler's local batch. None when the ranks do not divide the global batch (the
        // invariant mode runs there, the default mode cannot): the same on every rank.
        var defaultStep: TrainingStep?, defaultSampler: DistributedSampler?
        if configuration.invariantMicroBatchSize != nil || configuration.reduction != .allreduce, let sampler = try? DistributedSampler(
            sampleCount: data.training.count, globalBatchSize: configuration.globalBatchSize,
            worldSize: communicator.worldSize, rank: communicator.rank, seed: configuration.seed
        ) {
            var plain = configuration
            plain.worldSizeInvariant = nil
            plain.microBatchSize = nil
            plain.reduction = .allreduce
            plain.sharedParameters = nil
            let step = TrainingStep(
                configuration: plain, communicator: communicator, plan: plan, training: data.training,
                localBatchSize: sampler.localBatchSize)
            step.model.parameters.baseAddress.update(from: trainingStep.model.parameters.baseAddress, count: step.model.parameterCount)
            defaultStep = step
            defaultSampler = sampler
        }
        var cursor = 0
        var epoch = -1
        var globalStep: Int64 = 0
        func runSteps(_ count: Int, on trainingStep: TrainingStep, sampler: DistributedSampler = sampler) throws {
            for _ in 0..<count {
                let step = cursor % sampler.stepsPerEpoch
                if step == 0 {
                    epoch += 1
                    sampler.fillPermutation(epoch: epoch, into: permutation)
                }
                _ = try trainingStep.run(
                    samples: UnsafeBufferPointer(rebasing: permutation[sampler.localRange(step: step)]),
                    learningRate: schedule.lr(at: globalStep), step: globalStep)
                globalStep += 1
                cursor += 1
            }
        }

        try runSteps(settings.warmupSteps, on: trainingStep)
        if let soloStep { try runSteps(settings.warmupSteps, on: soloStep) }
        if let defaultStep, let defaultSampler { try runSteps(settings.warmupSteps, on: defaultStep, sampler: defaultSampler) }
        var rates: [Double] = [], stepSeconds: [Double] = [], achieved: [Double] = [], rooflines: [Double] = []
        var ceilings: [Double] = [], ceilingFractions: [Double] = []
        var defaultRates: [Double] = [], defaultFractions: [Double] = []
        /// Samples/s of `settings.steps` steps of the default mode on the slowest rank.
        func defaultRate() throws -> Double {
            try communicator.barrier()
            let start = Timing.now()
            try runSteps(settings.steps, on: defaultStep!, sampler: defaultSampler!)
            let slowest = try communicator.allreduce([Timing.now() - start], operation: .max)[0]
            return Double(settings.steps * configuration.globalBatchSize) / slowest
        }
        var tracedRates: [Double] = [], traceOverheads: [Double] = []
        let timeline = settings.traceOverhead ? Timeline(capacity: TraceOutput.defaultCapacity) : nil
        /// Samples/s of `settings.steps` steps on the slowest rank, with `timeline` attached or not.
        func tracedRate(_ attached: Timeline?) throws -> Double {
            trainingStep.timeline = attached
            defer { trainingStep.timeline = nil }
            try communicator.barrier()
            let start = Timing.now()
            try runSteps(settings.steps, on: trainingStep)
            let slowest = try communicator.allreduce([Timing.now() - start], operation: .max)[0]
            return Double(settings.steps * configuration.globalBatchSize) / slowest
        }
        var fractions: [Double] = [], waits: [Double] = [], progresses: [Double] = [], utilizations: [Double] = []
        let flopsPerStep = Double(gemm.flopsPerStep)
        _ = gemm.secondsPerStep(steps: 1)
        for _ in 0..<settings.repetitions {
            // The roofline right before each repetition, for as many steps: both see the same noise.
            let roofline = gemm.roofline(secondsPerStep: gemm.secondsPerStep(steps: settings.steps)).gflops
            // The ceiling right before it too: every rank at once, none waiting for another.
            var ceiling: Double?
            if let soloStep {
                try communicator.barrier()
                let start = Timing.now()
                try runSteps(settings.steps, on: soloStep)
                let slowest = try communicator.allreduce([Timing.now() - start], operation: .max)[0]
                ceiling = Double(settings.steps * configuration.globalBatchSize) / slowest
            }
            // The default mode before this mode's steps in even repetitions, after them in odd ones.
            let defaultFirst = defaultStep != nil && defaultRates.count.isMultiple(of: 2)
            if defaultFirst { defaultRates.append(try defaultRate()) }
            try communicator.barrier()
            reduction.resetTimes()
            let start = Timing.now(), startCPU = Timing.processCPUSeconds()
            try runSteps(settings.steps, on: trainingStep)
            let elapsed = Timing.now() - start
            let cpu = Timing.processCPUSeconds() - startCPU
            let times = reduction.times
            let worst = try communicator.allreduce(
                [elapsed, times.waitSeconds / elapsed, times.progressSeconds / elapsed, -cpu / elapsed], operation: .max)
            let gflops = flopsPerStep * Double(settings.steps) / elapsed / 1e9
            rates.append(Double(settings.steps * configuration.globalBatchSize) / worst[0])
            if let ceiling {
                ceilings.append(ceiling)
                ceilingFractions.append(rates.last! / ceiling)
            }
            if defaultStep != nil {
                if !defaultFirst { defaultRates.append(try defaultRate()) }
                defaultFractions.append(rates.last! / defaultRates.last!)
            }
            if let timeline {  // untraced and traced back to back, in alternating order
                var untraced = 0.0, traced = 0.0
                if tracedRates.count.isMultiple(of: 2) {
                    untraced = try tracedRate(nil)
                    traced = try tracedRate(timeline)
                } else {
                    traced = try tracedRate(timeline)
                    untraced = try tracedRate(nil)
                }
                tracedRates.append(traced)
                traceOverheads.append(1 - traced / untraced)
            }
            stepSeconds.append(worst[0] / Double(settings.steps))
            achieved.append(gflops)
            rooflines.append(roofline)
            fractions.append(gflops / roofline)
            waits.append(worst[1])
            progresses.append(worst[2])
            utilizations.append(-worst[3])
        }
        return Result(
            model: plan.name, ranks: communicator.worldSize,
            globalBatch: configuration.globalBatchSize, localBatch: sampler.localBatchSize,
            reduction: configuration.invariantMicroBatchSize == nil ? configuration.reduction.rawValue : "fixed-point",
            microBatch: configuration.invariantMicroBatchSize,
            microBatchesTogether: configuration.invariantMicroBatchSize == nil ? nil : trainingStep.microBatchesTogether,
            microBatchesPerPass: configuration.invariantMicroBatchSize == nil ? nil : trainingStep.microBatchesPerPass,
            fixedPointBits: trainingStep.invariantSum?.width,
            overlap: configuration.invariantMicroBatchSize == nil ? reduction.overlaps : true,
            bucketMegabytes: configuration.bucketMegabytes, buckets: reduction.plan.buckets.count,
            steps: settings.steps, repetitions: settings.repetitions,
            samplesPerSecond: Timing.median(rates),
            ceilingSamplesPerSecond: ceilings.isEmpty ? nil : Timing.median(ceilings),
            ceilingFraction: ceilingFractions.isEmpty ? nil : Timing.median(ceilingFractions),
            defaultSamplesPerSecond: defaultRates.isEmpty ? nil : Timing.median(defaultRates),
            defaultFraction: defaultFractions.isEmpty ? nil : Timing.median(defaultFractions),
            tracedSamplesPerSecond: tracedRates.isEmpty ? nil : Timing.median(tracedRates),
            traceOverhead: traceOverheads.isEmpty ? nil : Timing.median(traceOverheads), stepSeconds: Timing.median(stepSeconds),
            gflopsPerRank: Timing.median(achieved), rooflineGFLOPS: Timing.median(rooflines),
            rooflineFraction: Timing.median(fractions), waitFraction: Timing.median(waits),
            progressFraction: Timing.median(progresses), cpuPerWall: Timing.median(utilizations),
            peakResidentBytes: try PeakMemory.maximumOverRanks(communicator),
            memoryBudgetBytes: PeakMemory.budgetBytes(data: data, parameterCount: trainingStep.model.parameterCount)
                + (trainingStep.invariantSum?.byteCount ?? 0)
                + (soloStep.map { 4 * $0.model.parameterCount * MemoryLayout<Float>.stride + ($0.invariantSum?.byteCount ?? 0) } ?? 0)
                + (defaultStep.map { 4 * $0.model.parameterCount * MemoryLayout<Float>.stride } ?? 0),
            optimizerStateBytes: Int(try communicator.allreduce(
                [Int64(trainingStep.optimizer.stateBuffers.reduce(0) { $0 + $1.buffer.byteCount })], operation: .max)[0]),
            blasCore: BLASRuntime.coreName, blasThreads: BLASRuntime.threadCount)
    }
}
