import Foundation

/// Naive references in `Double` for the convolution, pooling and activation kernels: direct
/// loops over the definitions, for tests (shapes as in `Convolution.swift` and `Pooling.swift`).
extension ReferenceKernels {
    /// `Y[n, o, r, c] = b[o] + Σ_{ch, i, j} W[o, ch, i, j] · X[n, ch, r·s − p + i, c·s − p + j]`
    /// (zero outside the input), by the definition of cross-correlation.
    public static func convolutionForward(
        input x: [Double], weights w: [Double], bias: [Double], batchSize: Int, geometry g: ConvolutionGeometry
    ) -> [Double] {
        var y = [Double](repeating: 0, count: batchSize * g.outputSize)
        for n in 0..<batchSize {
            for o in 0..<g.outputChannels {
                for r in 0..<g.outputHeight {
                    for c in 0..<g.outputWidth {
                        var sum = bias[o]
                        for ch in 0..<g.inputChannels {
                            for i in 0..<g.kernelHeight {
                                for j in 0..<g.kernelWidth {
                                    let row = r * g.stride - g.padding + i, column = c * g.stride - g.padding + j
                                    guard row >= 0, row < g.inputHeight, column >= 0, column < g.inputWidth else { continue }
                                    sum += w[((o * g.inputChannels + ch) * g.kernelHeight + i) * g.kernelWidth + j]
                                        * x[((n * g.inputChannels + ch) * g.inputHeight + row) * g.inputWidth + column]
                                }
                            }
                        }
                        y[((n * g.outputChannels + o) * g.outputHeight + r) * g.outputWidth + c] = sum
                    }
                }
            }
        }
        return y
    }

    /// `(dW, db, dX)` of the convolution for output gradient `dy`, by the chain rule written out
    /// element by element (each product of the forward sum sends `dy` to both of its factors).
    public static func convolutionBackward(
        outputGradient dy: [Double], input x: [Double], weights w: [Double], batchSize: Int, geometry g: ConvolutionGeometry
    ) -> (weightGradient: [Double], biasGradient: [Double], inputGradient: [Double]) {
        var dw = [Double](repeating: 0, count: g.weightCount)
        var db = [Double](repeating: 0, count: g.outputChannels)
        var dx = [Double](repeating: 0, count: batchSize * g.inputSize)
        for n in 0..<batchSize {
            for o in 0..<g.outputChannels {
                for r in 0..<g.outputHeight {
                    for c in 0..<g.outputWidth {
                        let gradient = dy[((n * g.outputChannels + o) * g.outputHeight + r) * g.outputWidth + c]
                        db[o] += gradient
                        for ch in 0..<g.inputChannels {
                            for i in 0..<g.kernelHeight {
                                for j in 0..<g.kernelWidth {
                                    let row = r * g.stride - g.padding + i, column = c * g.stride - g.padding + j
                                    guard row >= 0, row < g.inputHeight, column >= 0, column < g.inputWidth else { continue }
                                    let wIndex = ((o * g.inputChannels + ch) * g.kernelHeight + i) * g.kernelWidth + j
                                    let xIndex = ((n * g.inputChannels + ch) * g.inputHeight + row) * g.inputWidth + column
                                    dw[wIndex] += gradient * x[xIndex]
                                    dx[xIndex] += gradient * w[wIndex]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dw, db, dx)
    }

    /// Max (`average == false`) or average pooling of `planes` planes, by the definition.
    public static func pool(_ x: [Double], planes: Int, geometry g: PoolingGeometry, average: Bool) -> [Double] {
        var y = [Double](repeating: 0, count: planes * g.outputPlaneSize)
        for plane in 0..<planes {
            for r in 0..<g.outputHeight {
                for c in 0..<g.outputWidth {
                    var values: [Double] = []
                    for i in 0..<g.window {
                        for j in 0..<g.window {
                            values.append(x[plane * g.inputPlaneSize + (r * g.stride + i) * g.inputWidth + c * g.stride + j])
                        }
                    }
                    y[plane * g.outputPlaneSize + r * g.outputWidth + c] =
                        average ? values.reduce(0, +) / Double(values.count) : values.max()!
                }
            }
        }
        return y
    }

    /// GELU, tanh approximation: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    public static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }
}
