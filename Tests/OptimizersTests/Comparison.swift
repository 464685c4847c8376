import TestSupport
import XCTest

/// The tolerance of Float results against exact references: a few Float roundings (2⁻²⁴ ≈ 6e-8
/// each) accumulated over three updates stay inside it; a wrong formula does not. The worst case
/// in `ReferenceValueTests` is 5.3e-7 (exp_avg with coupled weight decay, a sum that cancels from
/// terms near 0.05 to 0.007, so its absolute error of one ulp of 0.05 looks larger relatively).
let floatRelativeTolerance = 1e-6

/// One line per element of `actual` that is not within `relative` (or `absolute`) of
/// `expected`, plus one if the lengths differ; empty when everything matches. This is the
/// checker all reference comparisons go through (and `ComparisonHelperTests` shows it firing).
func mismatches(
    _ actual: [Float], _ expected: [Double], relative: Double = floatRelativeTolerance, absolute: Double = 0,
    label: String
) -> [String] {
    var found: [String] = []
    if actual.count != expected.count {
        found.append("\(label): \(actual.count) values, expected \(expected.count)")
    }
    for (index, (a, e)) in zip(actual, expected).enumerated()
    where !isClose(Double(a), e, relative: relative, absolute: absolute) {
        found.append("\(label)[\(index)] = \(a), expected \(e) (relative error \(relativeError(Double(a), e)))")
    }
    return found
}

/// Fails the test once per mismatch found by `mismatches`.
func assertMatches(
    _ actual: [Float], _ expected: [Double], relative: Double = floatRelativeTolerance, absolute: Double = 0,
    _ label: String, file: StaticString = #filePath, line: UInt = #line
) {
    for mismatch in mismatches(actual, expected, relative: relative, absolute: absolute, label: label) {
        XCTFail(mismatch, file: file, line: line)
    }
}
