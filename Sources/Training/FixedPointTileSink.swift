import Collectives
import Models

/// Hands the exact sum (`FixedPointSum`) to grouped backward (`LayerStack.GradientGroups(rows:count:sink:)`)
/// in the world-size-invariant mode: group `g` of a `computeGradients` call is the sum's local term
/// `firstTerm + g`. With the micro-batches together, one call holds every term; in several passes
/// (`TrainingStep.microBatchesPerPass`), each call holds some, and only the last call (`isLast`)
/// agrees and converts (the earlier terms wait in the sum's stash). The loss slot is written into the tail tile (the loss slot and the
/// stop-request slots, `GradientBuffer` layout), which gets this rank's stop requests in its last
/// term and zeros in the others.
final class FixedPointTileSink: GroupedGradientSink {
    let sum: FixedPointSum
    /// Holds this rank's stop requests (`GradientBuffer.setStopRequests`) before backward.
    let gradients: GradientBuffer
    /// The term of the current call's group 0, and whether the call holds the last local term.
    var firstTerm = 0
    var isLast = true

    init(sum: FixedPointSum, gradients: GradientBuffer) {
        precondition(sum.count == gradients.storage.count, "sum of \(sum.count), gradients \(gradients.storage.count)")
        self.sum = sum
        self.gradients = gradients
    }

    /// The sum's tiles below the parameters: the loss slot and the stop requests.
    var tail: Range<Int> { gradients.parameterCount..<sum.count }

    func target(group: Int, elements: Range<Int>) -> UnsafeMutablePointer<Float> {
        sum.target(term: firstTerm + group, elements: elements.lowerBound == gradients.parameterCount ? tail : elements)
    }

    func noteBounds(elements: Range<Int>, rowLength: Int, rowBounds: UnsafePointer<Double>) {
        sum.noteBounds(elements: elements, rowLength: rowLength, rowBounds: rowBounds)
    }

    /// Runs `body` (the step observers at `.lossComputed`) with the last local term's loss in
    /// `gradients.loss`, and keeps what it leaves there (fault injection's NaN) as that term's
    /// loss: as when the last term was computed in the gradient buffer. On the last call only.
    func withLastLoss(_ body: (GradientBuffer) -> Void) {
        guard isLast else { return }
        let slot = sum.target(term: sum.localTermCount - 1, elements: tail) + gradients.parameterCount
        gradients.loss = slot.pointee
        body(gradients)
        slot.pointee = gradients.loss
    }

    /// Backward's `.boundsNoted`: agrees the layer's scale on the last call. Collective.
    func boundsNoted(_ elements: Range<Int>) throws {
        if isLast { try sum.agreeBounds(elements: elements) }
    }

    /// Backward's `.tileComputed`: on the last call, the tile goes to the sum (the loss slot's
    /// with the stop requests). Collective.
    func tileComputed(_ elements: Range<Int>) throws {
        guard isLast else { return }
        guard elements.lowerBound == gradients.parameterCount else { return try sum.tileComputed(elements) }
        let tail = self.tail, last = sum.localTermCount - 1
        for term in 0...last {
            let base = sum.target(term: term, elements: tail)
            for i in (tail.lowerBound + 1)..<tail.upperBound { base[i] = term == last ? gradients.storage[i] : 0 }
        }
        try sum.tileComputed(tail)
    }
}
