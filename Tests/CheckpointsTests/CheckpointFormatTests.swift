import Foundation
import XCTest
@testable import Checkpoints

/// The byte layout against values computed elsewhere: Python's `zlib` and the reference
/// `safetensors` package.
final class CheckpointFormatTests: XCTestCase {
    func testCRC32MatchesTheStandardCheckValue() {
        // The CRC-32/ISO-HDLC check value of "123456789" (zlib.crc32(b"123456789") == 0xcbf43926).
        let crc = Array("123456789".utf8).withUnsafeBytes { CheckpointFormat.crc32($0) }
        XCTAssertEqual(crc, 0xCBF4_3926)
        XCTAssertEqual(CheckpointFormat.checksumString(crc), "cbf43926")
        XCTAssertEqual(CheckpointFormat.checksumString(0x0000_00AB), "000000ab")
    }

    func testChecksumSpellingIsStrict() {
        XCTAssertEqual(CheckpointFormat.parseChecksum("cbf43926"), 0xCBF4_3926)
        for text in ["CBF43926", "cbf4392", "cbf439260", "0xcbf439", "cbf4392g", "", "+bf43926"] {
            XCTAssertNil(CheckpointFormat.parseChecksum(text), text)
        }
    }

    /// The writer's exact bytes for a tiny checkpoint. Checksums from Python:
    /// `format(zlib.crc32(struct.pack("<2f", 1.0, -2.0)), "08x")` == "c3872656", and the header
    /// digest of scripts/checkpoint_interop.py (`header_digest_input`) gives "97adc4e2" (and
    /// "e148fddf" with format_version "1", the value this test held before version 2).
    func testWriterBytesForATinyCheckpoint() {
        let checkpoint = Checkpoint(
            tensors: [CheckpointTensor(name: "w", shape: [2], values: [1, -2])], metadata: ["step": "35"])
        let header = #"{"__metadata__":{"data_crc32":"c3872656","format":"lockstep-checkpoint","format_version":"2","header_crc32":"97adc4e2","step":"35"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        XCTAssertEqual(header.utf8.count, 185)
        let expected: [UInt8] = [192, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + Array(repeating: 0x20, count: 7)
            + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]  // 1.0, -2.0 little-endian
        let bytes = CheckpointEncoder.encode(checkpoint)
        XCTAssertEqual(bytes, expected, String(decoding: bytes, as: UTF8.self))
        XCTAssertEqual(try CheckpointReader.decode(bytes, source: "tiny").checkpoint, checkpoint)
    }

    /// A file written by the reference implementation (Python safetensors 0.8.0, `save` of
    /// `layers.0.weight` [3, 2] and `layers.0.bias` [3] with our metadata keys; checksums from the
    /// Python digest): the library orders data and metadata its own way, and we still read it.
    func testReadsAFileWrittenByTheReferenceLibrary() throws {
        let base64 = "KAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXRfdmVyc2lvbiI6IjEiLCJoZWFkZXJfY3JjMzIiOiI1NGNmMTliMCIsImRhdGFfY3JjMzIiOiI5NDBiMDliZiIsImZvcm1hdCI6ImxvY2tzdGVwLWNoZWNrcG9pbnQiLCJub3RlIjoid3JpdHRlbiBieSBzYWZldGVuc29ycyJ9LCJsYXllcnMuMC5iaWFzIjp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlszXSwiZGF0YV9vZmZzZXRzIjpbMCwxMl19LCJsYXllcnMuMC53ZWlnaHQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzMsMl0sImRhdGFfb2Zmc2V0cyI6WzEyLDM2XX19ICAgICAgIAAAgD4AAIDAAADwQAAAAD8AAKC/AABAQAAAAAAAAACAbxKDOg=="
        let bytes = [UInt8](Data(base64Encoded: base64)!)
        let (checkpoint, layout) = try CheckpointReader.decode(bytes, source: "reference.safetensors")
        XCTAssertEqual(checkpoint.metadata, ["note": "written by safetensors"])
        XCTAssertEqual(checkpoint.tensors.map(\.name), ["layers.0.bias", "layers.0.weight"])
        XCTAssertEqual(checkpoint.tensor(named: "layers.0.bias"), CheckpointTensor(name: "layers.0.bias", shape: [3], values: [0.25, -4, 7.5]))
        XCTAssertEqual(
            checkpoint.tensor(named: "layers.0.weight"),
            CheckpointTensor(name: "layers.0.weight", shape: [3, 2], values: [0.5, -1.25, 3, 0, -0.0, 1e-3]))
        XCTAssertEqual(layout.headerByteCount, 296)
        XCTAssertEqual(layout.fileByteCount, 340)
        XCTAssertEqual(layout.dataCRC32, 0x940B_09BF)
        XCTAssertEqual(layout.headerCRC32, 0x54CF_19B0)
        XCTAssertEqual(layout.dataOffsets, [0..<12, 12..<36])
    }

    func testHeaderIsPaddedAndEncodingIsDeterministic() {
        let checkpoint = CheckpointSamples.mlp()
        let bytes = CheckpointEncoder.encode(checkpoint)
        let headerLength = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        XCTAssertEqual((8 + headerLength) % 8, 0)
        XCTAssertEqual(CheckpointEncoder.encode(checkpoint), bytes)
    }

    func testRoundTripsEdgeCases() throws {
        let checkpoint = Checkpoint(
            tensors: [
                CheckpointTensor(name: "scalar", shape: [], values: [.pi]),
                CheckpointTensor(name: "empty", shape: [0, 5], values: []),
                CheckpointTensor(name: "special \"quoted\" \\ / \n 名前 🙂", shape: [4], values: [.nan, -.infinity, -0.0, .leastNonzeroMagnitude]),
            ],
            metadata: ["": "empty key", "newline": "a\nb", "unicode": "é🙂\u{2028}", "control": "\u{1}\u{7F}"])
        let decoded = try CheckpointReader.decode(CheckpointEncoder.encode(checkpoint), source: "edge").checkpoint
        XCTAssertEqual(decoded, checkpoint)
        XCTAssertEqual(decoded.tensors.map(\.name), checkpoint.tensors.map(\.name))
        XCTAssertEqual(try CheckpointReader.decode(CheckpointEncoder.encode(Checkpoint()), source: "none").checkpoint, Checkpoint())
    }

    func testTensorEqualityIsBitwise() {
        let a = CheckpointTensor(name: "x", shape: [1], values: [0.0])
        XCTAssertNotEqual(a, CheckpointTensor(name: "x", shape: [1], values: [-0.0]))
        XCTAssertEqual(CheckpointTensor(name: "x", shape: [1], values: [.nan]), CheckpointTensor(name: "x", shape: [1], values: [.nan]))
        XCTAssertNotEqual(a, CheckpointTensor(name: "x", shape: [1, 1], values: [0.0]))
    }

    func testElementCountRefusesNegativeAndOverflowingShapes() {
        XCTAssertEqual(CheckpointTensor.elementCount(of: [512, 784]), 401_408)
        XCTAssertEqual(CheckpointTensor.elementCount(of: []), 1)
        XCTAssertEqual(CheckpointTensor.elementCount(of: [3, 0, 5]), 0)
        XCTAssertNil(CheckpointTensor.elementCount(of: [3, -1]))
        XCTAssertNil(CheckpointTensor.elementCount(of: [1 << 32, 1 << 32]))
    }
}
