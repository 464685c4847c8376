import Foundation
import Models
import Reporting

/// A model too large to train: more parameters than one MPI collective can carry, or more
/// memory than this machine has. Checked before anything is allocated, so an absurd `--hidden`
/// or layer list is a usage error instead of a failed allocation.
public struct ModelSizeError: ReportableError, Equatable {
    /// The model as the message names it: `784-512-256-10`, or a layer list.
    public let model: String
    public let reason: String
    /// The option to change: `--hidden` for the `mlp` preset, else `--model`.
    public let flag: String

    public var exitStatus: ExitStatus { .usage }
    public var description: String { "the model \(model) is too large: \(reason)" }
    public var hint: String? { flag == "--hidden" ? "choose smaller --hidden widths" : "choose a smaller \(flag)" }

    /// The `mlp` preset's check, from its widths: throws when one layer's weights or the
    /// parameter count (with its trailing loss slot) exceed MPI's `Int32` element count, or when
    /// what the ranks on this node allocate exceeds what it can give (`checkMemory`).
    public static func check(layerSizes: [Int], optimizerBuffers: Int, maximumBatch: Int) throws {
        let model = layerSizes.map(String.init).joined(separator: "-")
        let footprint: ModelFootprint
        do { footprint = try ModelFootprint(layerSizes: layerSizes) } catch {
            switch error {
            case let .layer(inputs, outputs):
                throw ModelSizeError(model: model, reason: "one layer has \(inputs) × \(outputs) weights", flag: "--hidden")
            case .total:
                throw ModelSizeError(model: model, reason: "its parameter count overflows", flag: "--hidden")
            }
        }
        let parameters = footprint.parameterCount
        guard parameters < Int(Int32.max) else {
            throw ModelSizeError(
                model: model, reason: "\(parameters) parameters, more than the \(Int32.max) elements one MPI collective can carry",
                flag: "--hidden")
        }
        try checkMemory(footprint, model: model, flag: "--hidden", optimizerBuffers: optimizerBuffers, maximumBatch: maximumBatch)
    }

    /// Throws when what one rank allocates (`ModelFootprint.trainingBytes`: parameters, gradients,
    /// `optimizerBuffers` optimizer buffers, activations and scratch for `maximumBatch` rows; and
    /// at a checkpoint `checkpointBytes` more), times the ranks on this node, is more than the
    /// node can give (`MemoryAdmission`).
    public static func checkMemory(
        _ footprint: ModelFootprint, model: String, flag: String, optimizerBuffers: Int, maximumBatch: Int,
        admission: MemoryAdmission = .current()
    ) throws {
        let bytes = footprint.trainingBytes(optimizerBuffers: optimizerBuffers, batchSize: maximumBatch)
            + footprint.checkpointBytes(optimizerBuffers: optimizerBuffers)
        if let refusal = admission.refusal(bytesPerRank: bytes) {
            throw ModelSizeError(model: model, reason: refusal, flag: flag)
        }
    }
}
