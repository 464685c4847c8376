import Foundation
import Models
import Reporting

/// A model too large to train: more parameters than one MPI collective can carry, or more
/// memory than this machine has. Checked before anything is allocated, so an absurd `--hidden`
/// is a usage error instead of a failed allocation.
public struct ModelSizeError: ReportableError, Equatable {
    public let layerSizes: [Int]
    public let reason: String

    public var exitStatus: ExitStatus { .usage }
    public var description: String {
        "the model \(layerSizes.map(String.init).joined(separator: "-")) is too large: \(reason)"
    }
    public var hint: String? { "choose smaller --hidden widths" }

    /// Throws when the parameter count (with its trailing loss slot) exceeds MPI's `Int32`
    /// element count, or when what one rank allocates (`ModelFootprint.trainingBytes`: parameters,
    /// gradients, `optimizerBuffers` optimizer buffers, activations and scratch for
    /// `maximumBatch` rows) exceeds the machine's physical memory.
    public static func check(layerSizes: [Int], optimizerBuffers: Int, maximumBatch: Int) throws {
        let footprint: ModelFootprint
        do { footprint = try ModelFootprint(layerSizes: layerSizes) } catch {
            switch error {
            case let .layer(inputs, outputs):
                throw ModelSizeError(layerSizes: layerSizes, reason: "one layer has \(inputs) × \(outputs) weights")
            case .total:
                throw ModelSizeError(layerSizes: layerSizes, reason: "its parameter count overflows")
            }
        }
        let parameters = footprint.parameterCount
        guard parameters < Int(Int32.max) else {
            throw ModelSizeError(
                layerSizes: layerSizes,
                reason: "\(parameters) parameters, more than the \(Int32.max) elements one MPI collective can carry")
        }
        let bytes = footprint.trainingBytes(optimizerBuffers: optimizerBuffers, batchSize: maximumBatch)
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes < available else {
            throw ModelSizeError(
                layerSizes: layerSizes,
                reason: String(format: "one rank needs about %.1f GB, this machine has %.1f GB", bytes / 1e9, available / 1e9))
        }
    }
}
