import Foundation

/// Central differences of `loss` at `point`, in Double: `(L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h`.
func centralDifferences(_ point: [Double], h: Double = 1e-6, _ loss: ([Double]) -> Double) -> [Double] {
    var x = point
    return point.indices.map { i in
        x[i] = point[i] + h
        let plus = loss(x)
        x[i] = point[i] - h
        let minus = loss(x)
        x[i] = point[i]
        return (plus - minus) / (2 * h)
    }
}

/// The largest `|analytic − numeric| / max(|numeric|, floor)`: what a gradient check bounds.
func gradientError(_ analytic: [Double], _ numeric: [Double], floor: Double = 1e-2) -> Double {
    precondition(analytic.count == numeric.count, "\(analytic.count) analytic vs \(numeric.count) numeric")
    return zip(analytic, numeric).map { abs($0 - $1) / max(abs($1), floor) }.max() ?? 0
}

/// `Σ r ⊙ y`: a scalar loss whose gradient with respect to `y` is `r`.
func weightedSum(_ y: [Double], _ r: [Double]) -> Double { zip(y, r).reduce(0) { $0 + $1.0 * $1.1 } }
