import XCTest
final class SchedulesTestsPlaceholder: XCTestCase { func testNothing() {} }
