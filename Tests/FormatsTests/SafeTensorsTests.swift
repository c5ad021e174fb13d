// SafeTensorsTests.swift: safetensors write/read round trips (F32, F16, BF16), one committed
// corrupt fixture per error case, and the real all-MiniLM-L6-v2 checkpoint.

import Foundation
import Formats
import Kernels
import TestSupport
import Testing

@Suite struct SafeTensorsTests {
    @Test func roundTrip() throws {
        let a = randomFloats(6, seed: 1, scale: 4)
        let b = randomFloats(24, seed: 2, scale: 100)
        let c = randomFloats(5, seed: 3, scale: 1)
        let d = FloatBuffer(randomFloats(8, seed: 4))
        let url = try makeTemporaryDirectory().appendingPathComponent("rt.safetensors")
        try SafeTensorsWriter.write(
            tensors: [
                .init(name: "z.f32", shape: [2, 3], values: a, dtype: .f32),
                .init(name: "a.f16", shape: [2, 3, 4], values: b, dtype: .f16),
                .init(name: "m.bf16", shape: [5], values: c, dtype: .bf16),
                .init(name: "buf \"quoted\"", shape: [2, 2, 2], buffer: d),
                .init(name: "scalar", shape: [], values: [7]),
                .init(name: "empty", shape: [0, 3], values: []),
            ],
            metadata: ["format": "pt", "note": "ünïcode\n"], to: url)

        let file = try SafeTensorsFile(path: url.path)
        #expect(file.metadata == ["format": "pt", "note": "ünïcode\n"])
        #expect(file.dataOffset % 8 == 0)
        #expect(file.tensors.map(\.name) == ["a.f16", "buf \"quoted\"", "empty", "m.bf16", "scalar", "z.f32"])
        #expect(try file.floats(named: "z.f32").array == a)
        #expect(try file.floats(named: "a.f16").array == b.map { HalfPrecision.float(fromHalf: HalfPrecision.half(from: $0)) })
        #expect(try file.floats(named: "m.bf16").array
            == c.map { HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(from: $0)) })
        #expect(compareClose(try file.floats(named: "a.f16").array, b, rtol: 1e-3, atol: 0).ok)
        #expect(compareClose(try file.floats(named: "m.bf16").array, c, rtol: 8e-3, atol: 0).ok)
        #expect(try file.floats(named: "buf \"quoted\"").array == d.array)
        #expect(try file.floats(named: "scalar").array == [7])
        #expect(try file.floats(named: "empty").count == 0)
        let info = try file.tensor(named: "a.f16")
        #expect(info.shape == [2, 3, 4] && info.dtype == .f16 && info.byteCount == 48)
        // Tensors are stored back to back in name order.
        #expect(info.dataOffsets == 0..<48)
        expectFormatError("tensorNotFound") { _ = try file.tensor(named: "nope") }

        // Overwriting is atomic and leaves no temporary files behind.
        try SafeTensorsWriter.write(tensors: [.init(name: "x", shape: [1], values: [1])], to: url)
        #expect(try SafeTensorsFile(path: url.path).tensors.map(\.name) == ["x"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        #expect(leftovers == ["rt.safetensors"])
    }

    @Test func writerRejectsBadInput() throws {
        let url = try makeTemporaryDirectory().appendingPathComponent("bad.safetensors")
        expectFormatError("invalidArgument") {
            try SafeTensorsWriter.write(tensors: [.init(name: "a", shape: [2, 2], values: [1, 2, 3])], to: url)
        }
        expectFormatError("invalidArgument") {
            try SafeTensorsWriter.write(tensors: [.init(name: "a", shape: [1], values: [1]),
                                                  .init(name: "a", shape: [1], values: [2])], to: url)
        }
        expectFormatError("invalidArgument") {
            try SafeTensorsWriter.write(tensors: [.init(name: "a", shape: [1], values: [1], dtype: .i32)], to: url)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    /// (fixture, expected FormatError case): one committed fixture per error.
    static let corruptCases: [(String, String)] = [
        ("st-header-past-eof.safetensors", "truncated"),
        ("st-bad-json.safetensors", "invalidHeader"),
        ("st-offsets-out-of-range.safetensors", "tensorOutOfBounds"),
        ("st-size-mismatch.safetensors", "sizeMismatch"),
        ("st-unknown-dtype.safetensors", "unknownDType"),
        ("st-overlap.safetensors", "overlappingTensors"),
    ]

    @Test(arguments: corruptCases)
    func corruptFixtureThrows(fixture: String, expected: String) throws {
        let path = try fixturePath(fixture)
        let error = expectFormatError(expected) { _ = try SafeTensorsFile(path: path) }
        #expect(error?.description.contains(fixture) == true, "message should name the file: \(String(describing: error))")
    }

    @Test func absurdHeaderLength() throws {
        let path = try writeFile(leBytes([UInt64(1) << 60]) + Array("{}".utf8), named: "huge.safetensors",
                                 in: try makeTemporaryDirectory())
        expectFormatError("absurdLength") { _ = try SafeTensorsFile(path: path) }
    }

    @Test func miniLMCheckpoint() throws {
        guard let path = requireModelFile("all-MiniLM-L6-v2/model.safetensors") else { return }
        let file = try SafeTensorsFile(path: path)
        // Header facts read with python's json module: 104 tensors (103 F32 + position_ids I64).
        #expect(file.tensors.count == 104)
        #expect(file.metadata == ["format": "pt"])
        let emb = try file.tensor(named: "embeddings.word_embeddings.weight")
        #expect(emb.shape == [30522, 384])
        #expect(emb.dtype == .f32)
        #expect(emb.dataOffsets == 796_672..<47_678_464)
        #expect(try file.tensor(named: "embeddings.position_ids").dtype == .i64)
        expectFormatError("unsupportedConversion") { _ = try file.floats(named: "embeddings.position_ids") }
        #expect(try file.tensor(named: "encoder.layer.5.output.LayerNorm.weight").shape == [384])
        let values = try file.floats(named: "embeddings.word_embeddings.weight")
        #expect(values.count == 30522 * 384)
        var finite = true
        for i in 0..<values.count where !values.pointer[i].isFinite { finite = false }
        #expect(finite)
        let gamma = try file.floats(named: "embeddings.LayerNorm.weight").array
        #expect(gamma.allSatisfy { $0.isFinite && abs($0) < 10 })
    }
}
