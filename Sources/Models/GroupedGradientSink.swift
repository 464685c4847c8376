/// Where grouped backward (`LayerStack.computeGradients(groups:)` with `GradientGroups(rows:sink:)`)
/// writes each group's parameter gradients: tile by tile (`LayerStack.gradientTiles`), every group's
/// part of a tile before the next tile, so that the sink can consume a tile (for example, turn it
/// into the exact sum's integers, `FixedPointSum`) while it is still in the core's cache and reuse
/// its memory. After writing a tile for every group, backward reports `.tileComputed(elements)`.
/// Before a linear layer's tiles, it gives bounds on their magnitudes (`noteBounds`), so that the
/// sink can agree the tiles' scale before they exist and consume each one as it comes.
public protocol GroupedGradientSink: AnyObject {
    /// A pointer `p` such that `p[i]`, for `i` in `elements` (a tile, or the loss slot
    /// `parameterCount ..< parameterCount + 1`), is where group `group`'s gradient element `i`
    /// goes: the memory at other indices may not exist. Valid until the tile is reported.
    func target(group: Int, elements: Range<Int>) -> UnsafeMutablePointer<Float>

    /// Before a linear layer's gradients are computed: `|gradient element| ≤ rowBounds[r]` (in
    /// exact arithmetic) for every group and every element of row `r` of `elements` (rows of
    /// `rowLength` elements). Backward then reports `.boundsNoted` with the layer's elements.
    func noteBounds(elements: Range<Int>, rowLength: Int, rowBounds: UnsafePointer<Double>)
}
