// GGUFFileTests.swift: GGUF reader round trips (v2, v3, every value type), one committed corrupt
// fixture per error case, truncation/fuzz robustness, and facts about the real SmolLM2 file.

import Foundation
import Formats
import Kernels
import Testing

/// Every metadata value type, nested and empty arrays included.
private let allTypesMetadata: [(String, GGUFValue)] = [
    ("t.u8", .uint8(200)),
    ("t.i8", .int8(-100)),
    ("t.u16", .uint16(60000)),
    ("t.i16", .int16(-30000)),
    ("t.u32", .uint32(4_000_000_000)),
    ("t.i32", .int32(-2_000_000_000)),
    ("t.f32", .float32(3.25)),
    ("t.bool", .bool(true)),
    ("t.string", .string("héllo, 世界 \u{0}end")),
    ("t.u64", .uint64(18_000_000_000_000_000_000)),
    ("t.i64", .int64(-9_000_000_000_000_000_000)),
    ("t.f64", .float64(-1.0e300)),
    ("t.strings", .array(elementType: .string, values: ["<|endoftext|>", "", "Ġ t"].map { .string($0) })),
    ("t.ints", .array(elementType: .int32, values: [1, -2, 3].map { .int32($0) })),
    ("t.floats", .array(elementType: .float32, values: [0.5, -1.5].map { .float32($0) })),
    ("t.empty", .array(elementType: .uint64, values: [])),
    ("t.nested", .array(elementType: .array, values: [
        .array(elementType: .uint8, values: [.uint8(1), .uint8(2)]),
        .array(elementType: .string, values: [.string("x")]),
    ])),
]

/// A few tensors of several types with recognisable bytes.
private func sampleTensors() -> [TestGGUFWriter.Tensor] {
    let f32 = (0..<12).map { Float($0) - 5.5 }
    return [
        .init(name: "w.f32", dimensions: [4, 3], type: 0, bytes: leBytes(f32)),
        .init(name: "w.f16", dimensions: [8], type: 1, bytes: leBytes((0..<8).map { HalfPrecision.half(from: Float($0) * 0.25) })),
        .init(name: "w.q8_0", dimensions: [32, 2], type: 8, bytes: (0..<68).map { UInt8(truncatingIfNeeded: $0 &* 7) }),
        .init(name: "w.q4_1", dimensions: [64], type: 3, bytes: (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 13) }),
        .init(name: "w.bf16", dimensions: [2, 2, 2], type: 30, bytes: leBytes((0..<8).map { HalfPrecision.bfloat16(from: Float($0)) })),
        .init(name: "w.q4_k", dimensions: [256, 1, 1, 1], type: 12, bytes: (0..<144).map { UInt8(truncatingIfNeeded: $0) }),
    ]
}

@Suite struct GGUFFileTests {
    @Test(arguments: [(UInt32(2), 32), (UInt32(3), 64)])
    func roundTrip(version: UInt32, alignment: Int) throws {
        var w = TestGGUFWriter()
        w.version = version
        w.alignment = alignment
        w.metadata = [("general.alignment", .uint32(UInt32(alignment)))] + allTypesMetadata
        w.tensors = sampleTensors()
        let dir = try makeTemporaryDirectory()
        let path = try writeFile(w.bytes(), named: "rt.gguf", in: dir)

        let file = try GGUFFile(path: path)
        #expect(file.version == version)
        #expect(file.alignment == alignment)
        #expect(file.dataOffset % alignment == 0)
        #expect(file.metadataKeys == w.metadata.map(\.0))
        for (key, value) in w.metadata {
            #expect(file.metadata[key] == value, "key \(key)")
        }
        #expect(try file.int("t.u32") == 4_000_000_000)
        #expect(try file.int("t.i8") == -100)
        #expect(try file.float("t.f32") == 3.25)
        #expect(try file.bool("t.bool"))
        #expect(try file.string("t.string") == "héllo, 世界 \u{0}end")
        #expect(try file.stringArray("t.strings") == ["<|endoftext|>", "", "Ġ t"])
        #expect(try file.int32Array("t.ints") == [1, -2, 3])
        #expect(try file.floatArray("t.floats") == [0.5, -1.5])
        #expect(file.metadata["t.nested"]?.array?.count == 2)
        expectFormatError("missingKey") { _ = try file.string("nope") }
        expectFormatError("typeMismatch") { _ = try file.string("t.u32") }

        #expect(file.tensors.map(\.name) == w.tensors.map(\.name))
        for (t, offset) in zip(w.tensors, w.offsets) {
            let info = try file.tensor(named: t.name)
            #expect(info.dimensions == t.dimensions)
            #expect(info.shape == Array(t.dimensions.reversed()))
            #expect(info.type.rawValue == t.type)
            #expect(info.offset == offset)
            #expect(info.byteCount == t.bytes.count)
            #expect(Array(try file.tensorData(named: t.name)) == t.bytes)
        }
        #expect(try file.dequantizeTensor(named: "w.f32").array == (0..<12).map { Float($0) - 5.5 })
        #expect(try file.dequantizeTensor(named: "w.f16").array == (0..<8).map { Float($0) * 0.25 })
        #expect(try file.dequantizeTensor(named: "w.bf16").array == (0..<8).map { Float($0) })
        #expect(try file.dequantizeTensor(named: "w.q8_0").count == 64)
        #expect(try file.dequantizeTensor(named: "w.q4_k").count == 256)
        expectFormatError("tensorNotFound") { _ = try file.tensor(named: "missing") }
    }

    @Test func emptyFileHasNoTensors() throws {
        var w = TestGGUFWriter()
        w.metadata = [("general.architecture", .string("llama"))]
        let path = try writeFile(w.bytes(), named: "empty.gguf", in: try makeTemporaryDirectory())
        let file = try GGUFFile(path: path)
        #expect(file.tensors.isEmpty)
        #expect(file.alignment == 32)
        #expect(try file.string("general.architecture") == "llama")
    }

    @Test func unsupportedDequantizationThrows() throws {
        var w = TestGGUFWriter()
        w.tensors = [.init(name: "q2k", dimensions: [256], type: 10, bytes: [UInt8](repeating: 0, count: 84))]
        let path = try writeFile(w.bytes(), named: "q2k.gguf", in: try makeTemporaryDirectory())
        let file = try GGUFFile(path: path)
        #expect(try file.tensor(named: "q2k").type == .q2_K)
        expectFormatError("unsupportedConversion") { _ = try file.dequantizeTensor(named: "q2k") }
    }

    // MARK: - Corrupt files

    /// (fixture, expected FormatError case): one committed fixture per error.
    static let corruptCases: [(String, String)] = [
        ("gguf-bad-magic.gguf", "badMagic"),
        ("gguf-unsupported-version.gguf", "unsupportedVersion"),
        ("gguf-truncated-header.gguf", "truncated"),
        ("gguf-truncated-string.gguf", "truncated"),
        ("gguf-absurd-string-length.gguf", "absurdLength"),
        ("gguf-truncated-array.gguf", "truncated"),
        ("gguf-absurd-array-length.gguf", "absurdLength"),
        ("gguf-unknown-value-type.gguf", "unknownValueType"),
        ("gguf-unknown-tensor-type.gguf", "unknownTensorType"),
        ("gguf-too-many-dims.gguf", "invalidDimensionCount"),
        ("gguf-misaligned-offset.gguf", "misaligned"),
        ("gguf-tensor-past-eof.gguf", "tensorOutOfBounds"),
        ("gguf-duplicate-key.gguf", "duplicateKey"),
        ("gguf-duplicate-tensor.gguf", "duplicateTensor"),
        ("gguf-partial-block.gguf", "invalidShape"),
    ]

    @Test(arguments: corruptCases)
    func corruptFixtureThrows(fixture: String, expected: String) throws {
        let path = try fixturePath(fixture)
        let error = expectFormatError(expected) { _ = try GGUFFile(path: path) }
        #expect(error?.description.contains(fixture) == true, "message should name the file: \(String(describing: error))")
    }

    @Test func corruptFixtureDetails() throws {
        #expect(throws: FormatError.badMagic(file: try fixturePath("gguf-bad-magic.gguf"), found: "'GGUX'")) {
            _ = try GGUFFile(path: try fixturePath("gguf-bad-magic.gguf"))
        }
        #expect(throws: FormatError.unsupportedVersion(file: try fixturePath("gguf-unsupported-version.gguf"), version: 1)) {
            _ = try GGUFFile(path: try fixturePath("gguf-unsupported-version.gguf"))
        }
        let p = try fixturePath("gguf-unknown-value-type.gguf")
        #expect(throws: FormatError.unknownValueType(file: p, key: "weird", type: 13)) { _ = try GGUFFile(path: p) }
        let q = try fixturePath("gguf-misaligned-offset.gguf")
        #expect(throws: FormatError.misaligned(file: q, tensor: "b", offset: 36, alignment: 32)) { _ = try GGUFFile(path: q) }
        let r = try fixturePath("gguf-duplicate-key.gguf")
        #expect(throws: FormatError.duplicateKey(file: r, key: "x.count")) { _ = try GGUFFile(path: r) }
    }

    @Test func missingFileThrowsIO() {
        expectFormatError("io") { _ = try GGUFFile(path: "/nonexistent/model.gguf") }
    }

    /// Every strict prefix of a valid file must be rejected with a typed error, never a crash.
    @Test func everyTruncationIsDetected() throws {
        var w = TestGGUFWriter()
        w.metadata = allTypesMetadata
        w.tensors = sampleTensors()
        let full = w.bytes()
        let dir = try makeTemporaryDirectory()
        _ = try GGUFFile(path: try writeFile(full, named: "full.gguf", in: dir))
        // Cutting inside the final tensor's padding leaves a valid file; stop before it.
        let lastEnd = full.count - (w.alignment - w.tensors.last!.bytes.count % w.alignment) % w.alignment
        for length in stride(from: 0, to: lastEnd, by: 1) {
            let path = try writeFile(Array(full[..<length]), named: "cut.gguf", in: dir)
            do {
                _ = try GGUFFile(path: path)
                Issue.record("prefix of \(length) bytes was accepted")
            } catch {
                #expect(["truncated", "absurdLength", "tensorOutOfBounds"].contains(caseName(error)), "length \(length): \(error)")
            }
        }
    }

    /// Random byte corruption must never crash the reader (errors are fine, so is success).
    @Test func randomCorruptionNeverCrashes() throws {
        var w = TestGGUFWriter()
        w.metadata = allTypesMetadata
        w.tensors = sampleTensors()
        let full = w.bytes()
        let dir = try makeTemporaryDirectory()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var bytes = full
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<min(bytes.count, 900), using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let path = try writeFile(bytes, named: "fuzz.gguf", in: dir)
            if let file = try? GGUFFile(path: path) {
                for t in file.tensors { _ = try? file.dequantizeTensor(t) }
            }
        }
    }

    // MARK: - The real model

    @Test func smolLM2Layout() throws {
        guard let path = requireModelFile("SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let file = try GGUFFile(path: path)
        // Facts from shared/reference/smollm2/gguf-layout.txt (gguf python package 0.19.0).
        #expect(file.version == 3)
        #expect(file.tensors.count == 272)
        #expect(file.metadata.count == 33)
        #expect(file.alignment == 32)
        #expect(file.dataOffset == 1_785_664)
        #expect(try file.string("general.architecture") == "llama")
        #expect(try file.int("llama.block_count") == 30)
        #expect(try file.int("llama.embedding_length") == 576)
        #expect(try file.float("llama.rope.freq_base") == 100_000)
        #expect(try file.bool("tokenizer.ggml.add_bos_token") == false)
        let tokens = try file.stringArray("tokenizer.ggml.tokens")
        #expect(tokens.count == 49_152)
        #expect(Array(tokens.prefix(3)) == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        let merges = try file.stringArray("tokenizer.ggml.merges")
        #expect(merges.count == 48_900)
        #expect(merges.first == "Ġ t")
        #expect(try file.int32Array("tokenizer.ggml.token_type").count == 49_152)

        let embed = try file.tensor(named: "token_embd.weight")
        #expect(embed.type == .q8_0)
        #expect(embed.dimensions == [576, 49_152])
        #expect(embed.shape == [49_152, 576])
        #expect(embed.offset == 0)
        #expect(embed.byteCount == 30_081_024)
        let down = try file.tensor(named: "blk.0.ffn_down.weight")
        #expect(down.type == .q4_1)
        #expect(down.dimensions == [1536, 576])
        #expect(down.offset == 31_868_992 - 1_785_664)
        #expect(down.byteCount == 552_960)

        let norm = try file.dequantizeTensor(named: "blk.0.attn_norm.weight")
        #expect(norm.count == 576)
        #expect(norm.array.allSatisfy { $0.isFinite })
        let raw = try file.tensorData(named: "blk.0.attn_norm.weight")
        #expect(norm[5] == raw.loadUnaligned(fromByteOffset: 20, as: Float.self))

        let table = try file.dequantizeTensor(named: "token_embd.weight")
        #expect(table.count == 49_152 * 576)
        var sumAbs = 0.0, maxAbs: Float = 0, allFinite = true
        for i in 0..<table.count {
            let v = table.pointer[i]
            allFinite = allFinite && v.isFinite
            sumAbs += Double(abs(v))
            maxAbs = max(maxAbs, abs(v))
        }
        let meanAbs = sumAbs / Double(table.count)
        #expect(allFinite)
        #expect(meanAbs > 1e-3 && meanAbs < 1, "mean |x| = \(meanAbs)")
        #expect(maxAbs > 0.05 && maxAbs < 100, "max |x| = \(maxAbs)")
        let ffn = try file.dequantizeTensor(named: "blk.0.ffn_down.weight")
        #expect(ffn.count == 1536 * 576)
        #expect(ffn.array.allSatisfy { $0.isFinite })
    }
}
