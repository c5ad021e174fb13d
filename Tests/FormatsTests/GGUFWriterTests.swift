// GGUFWriterTests.swift: GGUFWriter round trips through GGUFFile (every metadata type, F32, F16
// and Q8_0 tensors), alignment, input validation, atomic replacement and I/O failures; Q8_0
// against an independent scalar transcription of ggml's quantize_row_q8_0_ref.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Formats
import Testing

/// Every metadata value type, with nested, empty and large arrays.
private let writerMetadata: [(String, GGUFValue)] = [
    ("general.architecture", .string("llama")),
    ("t.u8", .uint8(200)),
    ("t.i8", .int8(-100)),
    ("t.u16", .uint16(60000)),
    ("t.i16", .int16(-30000)),
    ("t.u32", .uint32(4_000_000_000)),
    ("t.i32", .int32(-2_000_000_000)),
    ("t.f32", .float32(-3.25)),
    ("t.bool.true", .bool(true)),
    ("t.bool.false", .bool(false)),
    ("t.string", .string("héllo, 世界 \"quoted\" \\ \u{0}end\n")),
    ("t.empty.string", .string("")),
    ("t.u64", .uint64(18_000_000_000_000_000_000)),
    ("t.i64", .int64(-9_000_000_000_000_000_000)),
    ("t.f64", .float64(-1.0e300)),
    ("t.strings", .array(elementType: .string, values: ["<|endoftext|>", "", "Ġ t", "世界"].map { .string($0) })),
    ("t.int32s", .array(elementType: .int32, values: [1, -2, Int32.max, Int32.min].map { .int32($0) })),
    ("t.float32s", .array(elementType: .float32, values: [0.5, -1.5, .infinity].map { .float32($0) })),
    ("t.u8s", .array(elementType: .uint8, values: [0, 255].map { .uint8($0) })),
    ("t.bools", .array(elementType: .bool, values: [.bool(true), .bool(false)])),
    ("t.f64s", .array(elementType: .float64, values: [.float64(1e-300)])),
    ("t.empty", .array(elementType: .uint64, values: [])),
    ("t.nested", .array(elementType: .array, values: [
        .array(elementType: .uint8, values: [.uint8(1), .uint8(2)]),
        .array(elementType: .string, values: [.string("x")]),
    ])),
]

/// Writes `writer` into a fresh temporary folder and opens the result.
private func roundTrip(_ writer: GGUFWriter, name: String = "model.gguf") throws -> (GGUFFile, URL) {
    let dir = try makeTemporaryDirectory()
    let path = dir.appendingPathComponent(name).path
    try writer.write(to: path)
    return (try GGUFFile(path: path), dir)
}

/// Deterministic values in [-scale, scale) (a 64-bit LCG; no dependence on Swift's RNG).
private func pseudoRandom(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

// MARK: - Independent Q8_0 reference

/// A line-by-line transcription of ggml's `quantize_row_q8_0_ref` with C's `fabsf`/`roundf`
/// and a bit-level F16 conversion (not Swift's Float16), used to check ``Q8_0/quantize(_:)``.
private func referenceQ8_0(_ x: [Float]) -> [UInt8] {
    var out = [UInt8]()
    for i in 0..<(x.count / 32) {
        var amax: Float = 0
        for j in 0..<32 {
            let v = x[i * 32 + j]
            amax = amax > fabsf(v) ? amax : fabsf(v)  // MAX(amax, fabsf(v))
        }
        let d = amax / Float((1 << 7) - 1)
        let id: Float = d != 0 ? 1.0 / d : 0.0
        let h = HalfPrecision.halfBitsFromFloat(d)
        out.append(UInt8(h & 0xFF))
        out.append(UInt8(h >> 8))
        for j in 0..<32 {
            let x0 = x[i * 32 + j] * id
            out.append(UInt8(bitPattern: Int8(roundf(x0))))
        }
    }
    return out
}

// MARK: - Tests

@Suite("GGUFWriter")
struct GGUFWriterTests {
    @Test("metadata of every value type round-trips in insertion order")
    func metadataRoundTrip() throws {
        var writer = GGUFWriter()
        for (key, value) in writerMetadata { writer.setMetadata(key, value) }
        let (file, _) = try roundTrip(writer)
        #expect(file.version == 3)
        #expect(file.metadataKeys == writerMetadata.map(\.0))
        for (key, value) in writerMetadata {
            #expect(file.metadata[key] == value, "key \(key)")
        }
        #expect(file.tensors.isEmpty)
        #expect(file.alignment == 32)
        #expect(file.metadata["general.alignment"] == nil, "the default alignment is not recorded")
    }

    @Test("setMetadata replaces a value in place")
    func replaceKeepsPosition() throws {
        var writer = GGUFWriter()
        writer.setMetadata("a", .uint32(1))
        writer.setMetadata("b", .string("two"))
        writer.setMetadata("c", .bool(false))
        writer.setMetadata("b", .array(elementType: .int32, values: [.int32(2)]))
        #expect(writer.metadataKeys == ["a", "b", "c"])
        let (file, _) = try roundTrip(writer)
        #expect(file.metadataKeys == ["a", "b", "c"])
        #expect(file.metadata["b"] == .array(elementType: .int32, values: [.int32(2)]))
    }

    @Test("a 49152-entry string array (tokenizer.ggml.tokens) round-trips")
    func largeStringArray() throws {
        let tokens = (0..<49152).map { i in i % 7 == 0 ? "Ġtok\(i)世" : "t\(i)" }
        var writer = GGUFWriter()
        writer.setMetadata("tokenizer.ggml.tokens", .array(elementType: .string, values: tokens.map { .string($0) }))
        writer.setMetadata("tokenizer.ggml.token_type",
                           .array(elementType: .int32, values: tokens.indices.map { .int32(Int32($0 % 7)) }))
        writer.setMetadata("tokenizer.ggml.scores",
                           .array(elementType: .float32, values: tokens.indices.map { .float32(Float($0) / 3) }))
        let (file, _) = try roundTrip(writer)
        #expect(try file.stringArray("tokenizer.ggml.tokens") == tokens)
        #expect(try file.int32Array("tokenizer.ggml.token_type") == tokens.indices.map { Int32($0 % 7) })
        #expect(try file.floatArray("tokenizer.ggml.scores") == tokens.indices.map { Float($0) / 3 })
    }

    @Test("F32 tensors are exact; shape is stored as reversed ne")
    func f32RoundTrip() throws {
        let matrix = pseudoRandom(3 * 5, seed: 1, scale: 100) + []
        let vector: [Float] = [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-20]
        var writer = GGUFWriter()
        try matrix.withUnsafeBufferPointer { try writer.addTensor(name: "m", shape: [3, 5], values: $0, type: .f32) }
        try vector.withUnsafeBufferPointer { try writer.addTensor(name: "v", shape: [7], values: $0, type: .f32) }
        let (file, _) = try roundTrip(writer)
        #expect(file.tensors.map(\.name) == ["m", "v"])
        let m = try file.tensor(named: "m")
        #expect(m.shape == [3, 5])
        #expect(m.dimensions == [5, 3])
        #expect(m.type == .f32)
        #expect(try file.dequantizeTensor(named: "m").array.map(\.bitPattern) == matrix.map(\.bitPattern))
        #expect(try file.dequantizeTensor(named: "v").array.map(\.bitPattern) == vector.map(\.bitPattern))
    }

    @Test("F16 tensors round to the nearest half")
    func f16RoundTrip() throws {
        let values = pseudoRandom(4 * 2 * 3, seed: 2, scale: 8) + [65504, 1e-7, -2.0e-5, 0.1, 1.0 / 3]
        let shape = [values.count]
        var writer = GGUFWriter()
        try values.withUnsafeBufferPointer { try writer.addTensor(name: "h", shape: shape, values: $0, type: .f16) }
        let cube = pseudoRandom(2 * 3 * 4, seed: 3)
        try cube.withUnsafeBufferPointer { try writer.addTensor(name: "c", shape: [2, 3, 4], values: $0, type: .f16) }
        let (file, _) = try roundTrip(writer)
        let back = try file.dequantizeTensor(named: "h").array
        for (x, y) in zip(values, back) {
            // Exactly the nearest-even half (bit-level conversion), and within half precision.
            #expect(y == HalfPrecision.floatFromHalfBits(HalfPrecision.halfBitsFromFloat(x)), "\(x) -> \(y)")
            #expect(abs(x - y) <= max(abs(x) * 0x1p-11, 0x1p-25), "\(x) -> \(y)")
        }
        let c = try file.tensor(named: "c")
        #expect(c.shape == [2, 3, 4])
        #expect(c.dimensions == [4, 3, 2])
        let cubeBack = try file.dequantizeTensor(c).array
        #expect(zip(cube, cubeBack).allSatisfy { abs($0 - $1) <= abs($0) * 0x1p-11 + 0x1p-25 })
    }

    @Test("Q8_0 matches ggml's reference formula bit for bit and stays within max|x|/254 per block")
    func q8_0MatchesReference() throws {
        // Random rows, a zero block, exact halves (d = 1: x = k + 0.5 must round away from zero),
        // a block with one huge value and a block of tiny values.
        var values = pseudoRandom(4 * 64, seed: 4, scale: 3)
        let zeroBlock = values.count / 32, halvesBlock = zeroBlock + 1
        values += [Float](repeating: 0, count: 32)
        values += (0..<32).map { j in j == 0 ? 127 : (j % 2 == 0 ? 1 : -1) * (Float(j) + 0.5) }
        values += (0..<32).map { j in j == 5 ? -1e6 : Float(j) * 1e-3 }
        values += pseudoRandom(32, seed: 5, scale: 1e-30)
        let rows = values.count / 64
        var writer = GGUFWriter()
        try values.withUnsafeBufferPointer { try writer.addTensor(name: "q", shape: [rows, 64], values: $0, type: .q8_0) }
        let direct = values.withUnsafeBufferPointer { Q8_0.quantize($0) }
        let reference = referenceQ8_0(values)
        #expect(direct == reference)
        // The halves block: 127 -> 127, 2.5 -> 3, -3.5 -> -4 (roundf, not round-to-even).
        let halves = Array(reference[(halvesBlock * 34 + 2)..<(halvesBlock * 34 + 8)]).map { Int8(bitPattern: $0) }
        #expect(halves == [127, -2, 3, -4, 5, -6])

        let (file, _) = try roundTrip(writer)
        let info = try file.tensor(named: "q")
        #expect(info.type == .q8_0)
        #expect(info.shape == [rows, 64])
        #expect(info.byteCount == values.count / 32 * 34)
        #expect(Array(try file.tensorData(info)) == reference, "stored bytes are the reference blocks")
        let back = try file.dequantizeTensor(info).array
        for b in 0..<(values.count / 32) {
            let block = values[(b * 32)..<(b * 32 + 32)]
            let amax = block.map { abs($0) }.max()!
            let d = amax / 127
            let d16 = HalfPrecision.floatFromHalfBits(HalfPrecision.halfBitsFromFloat(d))
            // |x - q d16| <= |x - q d| + |q| |d - d16| <= d/2 + 127 |d - d16|; the first term is
            // max|x|/254, the second is F16's rounding of the scale (at most 127 d 2^-11).
            let bound = amax / 254 + 127 * abs(d - d16) + amax * 0x1p-20
            for j in 0..<32 {
                let x = block[block.startIndex + j], y = back[b * 32 + j]
                #expect(abs(x - y) <= bound, "block \(b) element \(j): \(x) -> \(y), bound \(bound)")
            }
        }
        // A zero block stores d = 0 and q = 0.
        #expect(reference[(zeroBlock * 34)..<(zeroBlock * 34 + 34)].allSatisfy { $0 == 0 })
    }

    @Test("Q8_0 needs rows that are a whole number of 32-element blocks")
    func q8_0RejectsPartialBlocks() throws {
        var writer = GGUFWriter()
        let values = [Float](repeating: 1, count: 2 * 48)
        let error = expectFormatError("invalidShape") {
            try values.withUnsafeBufferPointer { try writer.addTensor(name: "bad", shape: [2, 48], values: $0, type: .q8_0) }
        }
        #expect(error?.description.contains("48") == true)
        // 48 rows of 32 is fine: only the last (contiguous) dimension matters.
        try values.withUnsafeBufferPointer { try writer.addTensor(name: "ok", shape: [3, 32], values: $0, type: .q8_0) }
        #expect(writer.tensorNamesInOrder == ["ok"])
    }

    @Test("invalid tensors are rejected with the right error")
    func tensorValidation() throws {
        var writer = GGUFWriter()
        let four: [Float] = [1, 2, 3, 4]
        try four.withUnsafeBufferPointer { buffer in
            try writer.addTensor(name: "a", shape: [2, 2], values: buffer, type: .f32)
            expectFormatError("invalidArgument") { try writer.addTensor(name: "a", shape: [4], values: buffer, type: .f32) }
            expectFormatError("invalidArgument") { try writer.addTensor(name: "b", shape: [5], values: buffer, type: .f32) }
            expectFormatError("invalidArgument") { try writer.addTensor(name: "", shape: [4], values: buffer, type: .f32) }
            expectFormatError("invalidArgument") {
                try writer.addTensor(name: String(repeating: "x", count: 64), shape: [4], values: buffer, type: .f32)
            }
            expectFormatError("invalidArgument") { try writer.addTensor(name: "c", shape: [4], values: buffer, type: .q4_0) }
            expectFormatError("invalidDimensionCount") {
                try writer.addTensor(name: "d", shape: [1, 1, 1, 2, 2], values: buffer, type: .f32)
            }
            expectFormatError("invalidDimensionCount") { try writer.addTensor(name: "e", shape: [], values: buffer, type: .f32) }
            expectFormatError("invalidShape") { try writer.addTensor(name: "f", shape: [-2, -2], values: buffer, type: .f32) }
        }
        #expect(writer.tensorNamesInOrder == ["a"])
    }

    @Test("mistyped arrays and a contradicting general.alignment are rejected at write time")
    func metadataValidation() throws {
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("bad.gguf").path
        var writer = GGUFWriter()
        writer.setMetadata("mixed", .array(elementType: .int32, values: [.int32(1), .uint32(2)]))
        expectFormatError("invalidArgument") { try writer.write(to: path) }
        var aligned = GGUFWriter(alignment: 64)
        aligned.setMetadata("general.alignment", .uint32(32))
        expectFormatError("invalidArgument") { try aligned.write(to: path) }
        expectFormatError("invalidArgument") { try GGUFWriter(alignment: 48).write(to: path) }
        expectFormatError("invalidArgument") { try GGUFWriter(alignment: 4).write(to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("the data section and every tensor start on the alignment", arguments: [32, 8, 64, 4096])
    func alignment(_ alignment: Int) throws {
        var writer = GGUFWriter(alignment: alignment)
        writer.setMetadata("general.name", .string("odd sizes"))
        let sizes = [3, 1, 17, 64, 5]
        for (i, n) in sizes.enumerated() {
            let values = pseudoRandom(n, seed: UInt64(i))
            try values.withUnsafeBufferPointer {
                try writer.addTensor(name: "t\(i)", shape: [n], values: $0, type: i % 2 == 0 ? .f16 : .f32)
            }
        }
        let q = pseudoRandom(32, seed: 9)
        try q.withUnsafeBufferPointer { try writer.addTensor(name: "q", shape: [1, 32], values: $0, type: .q8_0) }
        let (file, dir) = try roundTrip(writer)
        #expect(file.alignment == alignment)
        #expect(file.metadata["general.alignment"] == (alignment == 32 ? nil : .uint32(UInt32(alignment))))
        #expect(file.dataOffset % alignment == 0)
        var expectedOffset = 0
        for info in file.tensors {
            #expect(info.offset % alignment == 0, "\(info.name) at \(info.offset)")
            #expect(info.offset == expectedOffset, "tensors are packed at the next aligned offset")
            expectedOffset += (info.byteCount + alignment - 1) / alignment * alignment
        }
        #expect(file.fileSize == file.dataOffset + expectedOffset)
        // Every padding byte is zero.
        let image = try [UInt8](Data(contentsOf: dir.appendingPathComponent("model.gguf")))
        for (info, next) in zip(file.tensors, file.tensors.dropFirst().map(\.offset) + [expectedOffset]) {
            let padding = image[(file.dataOffset + info.offset + info.byteCount)..<(file.dataOffset + next)]
            #expect(padding.allSatisfy { $0 == 0 })
        }
        for (i, n) in sizes.enumerated() {
            let back = try file.dequantizeTensor(named: "t\(i)").array
            #expect(back.count == n)
            #expect(zip(pseudoRandom(n, seed: UInt64(i)), back).allSatisfy { abs($0 - $1) <= 0x1p-10 })
        }
    }

    @Test("writing over an existing file replaces it and leaves no partial file")
    func replacesExistingFile() throws {
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("m.gguf").path
        var first = GGUFWriter()
        first.setMetadata("version", .uint32(1))
        try first.write(to: path)
        var second = GGUFWriter()
        second.setMetadata("version", .uint32(2))
        try second.write(to: path)
        #expect(try GGUFFile(path: path).metadata["version"] == .uint32(2))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.gguf"])
    }

    @Test("an unwritable destination throws an I/O error naming the path and leaves nothing")
    func unwritablePath() throws {
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("missing-folder/m.gguf").path
        let error = expectFormatError("io") { try GGUFWriter().write(to: path) }
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("No such file or directory") == true, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("a full disk mid-write throws ENOSPC and removes the partial file")
    func diskFull() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("m.gguf").path
        // The partial file is a link to /dev/full, on which every write fails with ENOSPC.
        try FileManager.default.createSymbolicLink(atPath: path + ".partial", withDestinationPath: "/dev/full")
        var writer = GGUFWriter()
        let values = [Float](repeating: 0.5, count: 1024)
        try values.withUnsafeBufferPointer { try writer.addTensor(name: "w", shape: [32, 32], values: $0, type: .f32) }
        let error = expectFormatError("io") { try writer.write(to: path) }
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("No space left on device") == true, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("a failed rename (destination is a folder) removes the partial file")
    func renameFailure() throws {
        let dir = try makeTemporaryDirectory()
        let target = dir.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try Data([1]).write(to: target.appendingPathComponent("inside"))
        let error = expectFormatError("io") { try GGUFWriter().write(to: target.path) }
        #expect(error?.description.contains("rename") == true, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["taken"])
    }
}
