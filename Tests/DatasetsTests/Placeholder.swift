import XCTest
final class DatasetsTestsPlaceholder: XCTestCase { func testNothing() {} }
