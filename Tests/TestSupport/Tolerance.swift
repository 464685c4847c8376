import XCTest

/// True when `actual` is within `relative × |expected|` or `absolute` of `expected`
/// (NaN is never close; infinities are close only to themselves).
public func isClose(_ actual: Double, _ expected: Double, relative: Double, absolute: Double = 0) -> Bool {
    if actual.isNaN || expected.isNaN { return false }
    if actual.isInfinite || expected.isInfinite { return actual == expected }
    return abs(actual - expected) <= max(relative * abs(expected), absolute)
}

/// The relative error |actual − expected| / |expected| (absolute error when expected is 0).
public func relativeError(_ actual: Double, _ expected: Double) -> Double {
    expected == 0 ? abs(actual) : abs(actual - expected) / abs(expected)
}

/// Asserts `isClose`, reporting both values and the relative error.
public func assertClose(
    _ actual: Double, _ expected: Double, relative: Double, absolute: Double = 0,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssert(
        isClose(actual, expected, relative: relative, absolute: absolute),
        "\(actual) is not within \(relative) relative / \(absolute) absolute of \(expected) "
            + "(relative error \(relativeError(actual, expected))) \(message())",
        file: file, line: line)
}

/// Asserts elementwise `isClose` over two equally long sequences.
public func assertAllClose(
    _ actual: [Double], _ expected: [Double], relative: Double, absolute: Double = 0,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "lengths differ \(message())", file: file, line: line)
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        assertClose(a, e, relative: relative, absolute: absolute, "at index \(index) \(message())", file: file, line: line)
    }
}
