// QuantizedMatrix.swift: weight matrices kept in GGML block quantisation (Q4_1, Q8_0) or Float32,
// with y = x W^T computed by integer dot products against 8-bit activations for a few rows of x
// (decoding: the CQuantKernels x8 kernels) and through dequantised tiles + sgemm for many rows
// (prefill: compute bound).
//
// Weights are exact: every weight is q * d + m (Q4_1) or q * d (Q8_0) with the block's Float16
// scale(s) widened to Float32, as ggml's dequantize_row_q4_1 / _q8_0 define them.
//
// Activations (``ActivationPrecision``): with `.q8` (the default, llama.cpp's semantics for
// decoding) a product of at most 16 rows of x rounds each row to 8 bits per 32-block
// (x~ = dx * round(x / dx), dx = max|x| / 127) and runs the integer kernels on the integers;
// longer products (prefill) always multiply x as given, through dequantised tiles + sgemm, so
// long prompts are scored exactly. `.float32` keeps short products exact too, through a Float32
// kernel straight from a second packing of the blocks (QuantizedMatrix+FloatDecode.swift, built
// on first use; about 2.5x slower decoding than the integer kernels). The 8-bit rounding costs about
// 0.03 nats of log-probability at the median against the float64 reference (see ModelsTests).
//
// Source block layouts (ggml-common.h):
//   Q4_1: 32 weights in 20 bytes = { f16 d, f16 m, u8 qs[16] }, weight i = (qs[i] & 15) for
//         i < 16 and (qs[i - 16] >> 4) otherwise, value = q * d + m.
//   Q8_0: 32 weights in 34 bytes = { f16 d, i8 qs[32] }, value = qs[i] * d.
// Repacked ("x8", built once at load, see quant_kernels.h): rows in groups of 8, each 32-block
// of a group as 8 steps of 32 bytes (row j's weights 4 t ..< 4 t + 4 in bytes 4 j ..< 4 j + 4;
// Q4_1 steps t and t + 4 share a byte as low and high nibble), half-float scales per row and
// block. Rows are padded to a multiple of 8 with zero scales.
//
// Names: N rows (outputs), K columns (inputs), M rows of x. W: [N, K], x: [M, K], y: [M, N].

import CQuantKernels

/// How activations enter products with quantised weights.
public enum ActivationPrecision: String, Sendable {
    /// Rounded to 8 bits per 32-block in products of at most 16 rows (decoding: the integer
    /// kernels, llama.cpp's semantics); longer products use x as given.
    case q8
    /// Used as given (Float32) by every product: exact, slow decoding. For reference comparisons.
    case float32
}

/// Storage kinds of a ``QuantizedMatrix``.
public enum QuantizedLayout: String, Sendable {
    /// ggml Q4_1 blocks (4-bit weights with a scale and a minimum per 32).
    case q4_1
    /// ggml Q8_0 blocks (8-bit weights with a scale per 32).
    case q8_0
    /// Plain Float32.
    case float32
}

/// A weight matrix `W: [N, K]` for products `y = x W^T`, stored quantised or as Float32.
///
/// ```swift
/// let w = QuantizedMatrix(q4_1: rawBlocks, rows: 1536, cols: 576)
/// w.multiply(x: x, rows: 1, y: y)          // decode: integer kernels on 8-bit activations
/// w.multiply(x: x, rows: 512, y: y)        // prefill: dequantised tiles + sgemm
/// ```
/// Immutable after init; `@unchecked Sendable` because it owns raw buffers that are only read.
public final class QuantizedMatrix: @unchecked Sendable {
    /// Output rows `N`.
    public let rows: Int
    /// Input columns `K`.
    public let cols: Int
    /// How the weights are stored.
    public let layout: QuantizedLayout

    /// Row groups of 8 (rows padded up to `8 * rowGroups`).
    let rowGroups: Int
    /// Interleaved quantised values (x8 layout): `rowGroups * blocksPerRow * (128 | 256)` bytes.
    let quants: UnsafeMutableRawPointer?
    /// Half-float scales, `rowGroups * blocksPerRow * 8` (row j of a group at lane j).
    let halfScales: UnsafeMutablePointer<UInt16>?
    /// Half-float minimums (Q4_1 only), laid out as `halfScales`.
    let halfMins: UnsafeMutablePointer<UInt16>?
    /// Float32 weights (float32 layout).
    let dense: FloatBuffer?
    /// The exact few-row product's data, built on first use (`.float32` decoding).
    private let floatPack = Locked<FloatDecodePack?>(nil)

    /// 32-blocks per row.
    var blocksPerRow: Int { cols / 32 }
    /// Bytes of quantised values per group and block.
    var groupBlockBytes: Int { layout == .q4_1 ? 128 : 256 }

    private init(layout: QuantizedLayout, rows: Int, cols: Int) {
        precondition(cols % 32 == 0 && rows >= 0, "QuantizedMatrix(\(layout.rawValue)): cols \(cols) not a multiple of 32")
        self.rows = rows
        self.cols = cols
        self.layout = layout
        rowGroups = (rows + 7) / 8
        let units = max(1, rowGroups * (cols / 32))
        let bytes = units * (layout == .q4_1 ? 128 : 256)
        let q = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        q.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        quants = q
        halfScales = .allocate(capacity: units * 8)
        halfScales!.initialize(repeating: 0, count: units * 8)
        if layout == .q4_1 {
            halfMins = .allocate(capacity: units * 8)
            halfMins!.initialize(repeating: 0, count: units * 8)
        } else {
            halfMins = nil
        }
        dense = nil
    }

    /// Repacks ggml Q4_1 blocks.
    /// - Parameters:
    ///   - blocks: `rows * cols / 32` blocks of 20 bytes, row after row.
    ///   - rows: `N`.
    ///   - cols: `K`, a multiple of 32.
    public convenience init(q4_1 blocks: UnsafeRawPointer, rows: Int, cols: Int) {
        self.init(layout: .q4_1, rows: rows, cols: cols)
        let nb = cols / 32
        for r in 0..<rows {
            for b in 0..<nb {
                let blk = blocks + (r * nb + b) * 20
                setRawBlock(row: r, block: b, scale: blk.loadUnaligned(as: UInt16.self),
                            min: blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self), bytes: blk + 4)
            }
        }
    }

    /// Repacks ggml Q8_0 blocks.
    /// - Parameters:
    ///   - blocks: `rows * cols / 32` blocks of 34 bytes, row after row.
    ///   - rows: `N`.
    ///   - cols: `K`, a multiple of 32.
    public convenience init(q8_0 blocks: UnsafeRawPointer, rows: Int, cols: Int) {
        self.init(layout: .q8_0, rows: rows, cols: cols)
        let nb = cols / 32
        for r in 0..<rows {
            for b in 0..<nb {
                let blk = blocks + (r * nb + b) * 34
                setRawBlock(row: r, block: b, scale: blk.loadUnaligned(as: UInt16.self), min: 0, bytes: blk + 2)
            }
        }
    }

    /// Copies Float32 weights `w: [rows, cols]`.
    public init(float w: UnsafePointer<Float>, rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        layout = .float32
        rowGroups = 0
        let d = FloatBuffer(count: rows * cols)
        d.pointer.update(from: w, count: rows * cols)
        dense = d
        quants = nil
        halfScales = nil
        halfMins = nil
    }

    /// Stacks matrices with the same layout and `K` into one `[sum of N_i, K]` matrix (their
    /// rows copied in order), so that products sharing an input (Q/K/V, gate/up) run as one
    /// pass: `y = x [W_0; W_1; ...]^T` is `[M, sum N_i]` with each part's outputs in its own
    /// column range.
    /// - Precondition: `parts` is non-empty, with one layout and one column count.
    public convenience init(concatenating parts: [QuantizedMatrix]) {
        precondition(!parts.isEmpty, "QuantizedMatrix(concatenating:): no parts")
        let first = parts[0]
        precondition(parts.allSatisfy { $0.layout == first.layout && $0.cols == first.cols }, "QuantizedMatrix(concatenating:): layouts or column counts differ")
        let total = parts.reduce(0) { $0 + $1.rows }
        if first.layout == .float32 {
            let all = FloatBuffer(count: total * first.cols)
            var r0 = 0
            for p in parts {
                (all.pointer + r0 * first.cols).update(from: p.dense!.pointer, count: p.rows * p.cols)
                r0 += p.rows
            }
            self.init(float: all.pointer, rows: total, cols: first.cols)
            return
        }
        self.init(layout: first.layout, rows: total, cols: first.cols)
        if parts.allSatisfy({ $0.rows % 8 == 0 }) {
            // Whole row groups: each part's groups are one contiguous run of units.
            var unit = 0
            for p in parts {
                let units = p.rowGroups * blocksPerRow
                (quants! + unit * groupBlockBytes).copyMemory(from: p.quants!, byteCount: units * groupBlockBytes)
                (halfScales! + unit * 8).update(from: p.halfScales!, count: units * 8)
                if let mins = p.halfMins { (halfMins! + unit * 8).update(from: mins, count: units * 8) }
                unit += units
            }
            return
        }
        var values = [UInt8](repeating: 0, count: 32)
        var r0 = 0
        for p in parts {
            for r in 0..<p.rows {
                for b in 0..<blocksPerRow {
                    let (scale, min) = p.getBlock(row: r, block: b, values: &values)
                    setBlock(row: r0 + r, block: b, scale: scale, min: min, values: values)
                }
            }
            r0 += p.rows
        }
    }

    deinit {
        quants?.deallocate()
        halfScales?.deallocate()
        halfMins?.deallocate()
    }

    /// Writes one ggml block's quantised bytes as they are stored in the file (Q4_1: 16 bytes,
    /// value i in the low nibble of byte i and value i + 16 in its high nibble; Q8_0: 32 bytes,
    /// value i in byte i) and its raw half scale and minimum. In the x8 layout every 4-byte run
    /// of the source lands whole: bytes 4 t ..< 4 t + 4 go to step t at 4 j (Q4_1: the low
    /// nibbles are step t, the high nibbles step t + 4): placing a block is 4 (Q4_1) or 8
    /// (Q8_0) word copies.
    @inline(__always)
    private func setRawBlock(row r: Int, block b: Int, scale: UInt16, min: UInt16, bytes src: UnsafeRawPointer) {
        let unit = (r / 8) * blocksPerRow + b
        halfScales![unit * 8 + r % 8] = scale
        halfMins?[unit * 8 + r % 8] = min
        let dst = quants! + unit * groupBlockBytes + 4 * (r % 8)
        for t in 0..<(layout == .q4_1 ? 4 : 8) {
            dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self), toByteOffset: 32 * t, as: UInt32.self)
        }
    }

    /// Writes one source block (quantised values in weight order, raw half scale and minimum):
    /// the values packed as the file stores them, then ``setRawBlock``.
    private func setBlock(row r: Int, block b: Int, scale: UInt16, min: UInt16, values: [UInt8]) {
        var bytes = [UInt8](repeating: 0, count: 32)
        if layout == .q4_1 {
            for i in 0..<16 { bytes[i] = (values[i] & 15) | (values[i + 16] << 4) }
        } else {
            bytes = values
        }
        bytes.withUnsafeBytes { setRawBlock(row: r, block: b, scale: scale, min: min, bytes: $0.baseAddress!) }
    }

    /// Reads one block back (inverse of `setBlock`).
    fileprivate func getBlock(row r: Int, block b: Int, values: inout [UInt8]) -> (scale: UInt16, min: UInt16) {
        let unit = (r / 8) * blocksPerRow + b
        // The 4-byte runs setRawBlock wrote (see there), back to the values in weight order.
        let src = UnsafeRawPointer(quants! + unit * groupBlockBytes + 4 * (r % 8))
        values.withUnsafeMutableBufferPointer { v in
            if layout == .q4_1 {
                for i in 0..<16 {
                    let byte = src.load(fromByteOffset: 32 * (i / 4) + i % 4, as: UInt8.self)
                    v[i] = byte & 15
                    v[i + 16] = byte >> 4
                }
            } else {
                for t in 0..<8 {
                    UnsafeMutableRawPointer(v.baseAddress! + 4 * t).storeBytes(
                        of: src.loadUnaligned(fromByteOffset: 32 * t, as: UInt32.self), as: UInt32.self)
                }
            }
        }
        return (halfScales![unit * 8 + r % 8], halfMins?[unit * 8 + r % 8] ?? 0)
    }

    /// Bytes held by the weights (quantised values and half scales, or dense floats).
    public var byteCount: Int {
        let units = rowGroups * blocksPerRow
        switch layout {
        case .float32: return 4 * (dense?.count ?? 0)
        case .q4_1: return units * (128 + 32)
        case .q8_0: return units * (256 + 16)
        }
    }

    // MARK: - Dequantisation

    /// Writes rows `range` of W as Float32 into `out: [range.count, K]` (exact weights).
    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "QuantizedMatrix: rows \(range) outside 0..<\(rows)")
        let (K, r0, r1) = (cols, Int64(range.lowerBound), Int64(range.upperBound))
        switch layout {
        case .float32:
            out.update(from: dense!.pointer + range.lowerBound * K, count: range.count * K)
        case .q4_1:
            lrq_q4_1_dequantize(quants!.assumingMemoryBound(to: UInt8.self), halfScales!, halfMins!, Int64(K), r0, r1, out)
        case .q8_0:
            lrq_q8_0_dequantize(quants!.assumingMemoryBound(to: Int8.self), halfScales!, Int64(K), r0, r1, out)
        }
    }

    // MARK: - Products

    /// Largest `M` computed by the integer kernels; above it, dequantised tiles + sgemm.
    static let integerMaxRows = 16

    /// `y[M, N] = x[M, K] W^T` (overwrites `y`).
    ///
    /// Shapes: `x: [M, K]` (row stride K), `y: [M, N]` (row stride N). Quantised weights with
    /// `.q8` activations and `M <= 16` run the integer kernels on x rounded to 8-bit blocks
    /// (quantised once per call, rows of W split across `threads` workers in groups of 64);
    /// `.float32` with `M <= 16` decodes Float32 weights straight from a second packing (built on
    /// first use) once per 4 rows of x; above 16 rows W is dequantised 256 rows at a time into a
    /// scratch tile and multiplied with sgemm (single-threaded BLAS per worker). All but the
    /// integer kernels are exact in Float32.
    ///
    /// With `prefetch`, the integer kernels also prefetch the feed's next lines while they work
    /// (products of more than 4 rows only; speed only, see ``PrefetchFeed``).
    public func multiply(
        x: UnsafePointer<Float>, rows M: Int, y: UnsafeMutablePointer<Float>, threads: Int = 1,
        activations: ActivationPrecision = .q8, prefetch: PrefetchFeed? = nil
    ) {
        if M == 0 || rows == 0 { return }
        let (N, K) = (rows, cols)
        let yP = SendablePointer(y)
        if layout == .float32 {
            if M > 4 {
                GEMM.multiply(m: M, n: N, k: K, a: x, lda: K, b: dense!.pointer, ldb: K, transB: .transposed, c: y, ldc: N)
                return
            }
            let xP = SendablePointer(x)
            Parallel.forEachTask(
                threads: threads, tasks: (N + 63) / 64, setup: { _ in () },
                body: { _, t in self.denseRows(t * 64..<min(N, t * 64 + 64), x: xP.pointer, M: M, y: yP.pointer) })
            return
        }
        if activations == .float32 && M <= Self.integerMaxRows {
            let pack = floatDecodePack()
            let xP = SendablePointer(x)
            Parallel.forEachTask(
                threads: threads, tasks: (N + 63) / 64, setup: { _ in () },
                body: { _, t in pack.decodeRowsBlocked(t * 64..<min(N, t * 64 + 64), x: xP.pointer, M: M, y: yP.pointer) })
            return
        }
        if M <= Self.integerMaxRows {
            let nb = K / 32
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: M * K) { xq in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * M * nb) { scales in
                    let (xqP, dxP) = (SendablePointer(UnsafePointer(xq.baseAddress!)), SendablePointer(UnsafePointer(scales.baseAddress!)))
                    lrq_quantize_rows(x, Int64(M), Int64(K), xq.baseAddress!, scales.baseAddress!, scales.baseAddress! + M * nb)
                    // Small tasks (at least 8 per worker) so that 2 workers finish together.
                    let groupsPerTask = max(1, min(8, rowGroups / (8 * max(1, threads))))
                    Parallel.forEachTask(
                        threads: threads, tasks: (rowGroups + groupsPerTask - 1) / groupsPerTask, setup: { _ in () },
                        body: { _, t in
                            let g0 = t * groupsPerTask, g1 = min(self.rowGroups, g0 + groupsPerTask)
                            self.integerProduct(groups: g0..<g1, xq: xqP.pointer, dx: dxP.pointer, sx: dxP.pointer + M * nb, M: M, y: yP.pointer, prefetch: prefetch)
                        })
                }
            }
            return
        }
        let xP = SendablePointer(x)
        let tile = 256
        let tasks = (N + tile - 1) / tile
        let saved = GEMM.threadCount
        GEMM.threadCount = 1
        defer { GEMM.threadCount = saved }
        Parallel.forEachTask(
            threads: threads, tasks: tasks, setup: { _ in FloatBuffer(count: tile * K) },
            body: { scratch, t in
                let r0 = t * tile, r1 = min(N, r0 + tile)
                self.dequantizeRows(r0..<r1, into: scratch.pointer)
                GEMM.multiply(
                    m: M, n: r1 - r0, k: K, a: xP.pointer, lda: K, b: scratch.pointer, ldb: K, transB: .transposed,
                    c: yP.pointer + r0, ldc: N)
            })
    }

    /// The exact few-row product's data (built once, under a lock, from the x8 layout).
    func floatDecodePack() -> FloatDecodePack {
        floatPack.withLock { pack in
            if let pack { return pack }
            let built = FloatDecodePack(layout: layout, rows: rows, cols: cols) { r, b, values in
                let (d, m) = self.getBlock(row: r, block: b, values: &values)
                return (Float(Float16(bitPattern: d)), Float(Float16(bitPattern: m)))
            }
            pack = built
            return built
        }
    }

    /// Integer-kernel product of row groups `groups` against quantised activations
    /// (`xq: [M, K]`, `dx, sx: [M, K/32]`, as `lrq_quantize_rows` writes them) into `y: [M, N]`.
    /// With `reference`, the scalar C reference computes it instead (for tests).
    func integerProduct(
        groups: Range<Int>, xq: UnsafePointer<Int8>, dx: UnsafePointer<Float>, sx: UnsafePointer<Float>, M: Int,
        y: UnsafeMutablePointer<Float>, reference: Bool = false, prefetch: PrefetchFeed? = nil
    ) {
        let (N, K, g0, g1) = (Int64(rows), Int64(cols), Int64(groups.lowerBound), Int64(groups.upperBound))
        switch layout {
        case .q4_1:
            let q = quants!.assumingMemoryBound(to: UInt8.self)
            if reference {
                lrq_q4_1_product_reference(q, halfScales!, halfMins!, N, K, g0, g1, xq, dx, sx, Int64(M), y, N)
            } else {
                lrq_q4_1_product(q, halfScales!, halfMins!, N, K, g0, g1, xq, dx, sx, Int64(M), y, N, prefetch?.raw)
            }
        case .q8_0:
            let q = quants!.assumingMemoryBound(to: Int8.self)
            if reference {
                lrq_q8_0_product_reference(q, halfScales!, N, K, g0, g1, xq, dx, Int64(M), y, N)
            } else {
                lrq_q8_0_product(q, halfScales!, N, K, g0, g1, xq, dx, Int64(M), y, N, prefetch?.raw)
            }
        case .float32:
            preconditionFailure("QuantizedMatrix.integerProduct: float32 layout")
        }
    }

    /// The integer kernels' product computed by their scalar C reference (same formula, plain
    /// loops): `y[M, N] = x~ W^T` with x quantised as the kernels quantise it. For tests.
    /// - Precondition: a quantised layout.
    public func referenceIntegerProduct(x: UnsafePointer<Float>, rows M: Int, y: UnsafeMutablePointer<Float>) {
        let nb = cols / 32
        let xq = UnsafeMutablePointer<Int8>.allocate(capacity: M * cols), s = FloatBuffer(count: 2 * M * nb)
        defer { xq.deallocate() }
        lrq_quantize_rows(x, Int64(M), Int64(cols), xq, s.pointer, s.pointer + M * nb)
        integerProduct(groups: 0..<rowGroups, xq: xq, dx: s.pointer, sx: s.pointer + M * nb, M: M, y: y, reference: true)
    }

    /// `x` rounded to its 8-bit blocks (`x~ = dx * xq`), as the integer kernels see it:
    /// `x: [M, K]` into `out: [M, K]`.
    public static func roundActivations(_ x: UnsafePointer<Float>, rows M: Int, cols K: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(K % 32 == 0, "QuantizedMatrix.roundActivations: K \(K) not a multiple of 32")
        lrq_round_rows(x, Int64(M), Int64(K), out)
    }

    /// Whether the integer kernels run as AVX2 SIMD code (false: the scalar fallback).
    public static var simdKernels: Bool { lrq_simd_available() != 0 }

    /// Float32 layout, few rows of x: one dot product per output, `y[:, range] = x W[range]^T`.
    func denseRows(_ range: Range<Int>, x: UnsafePointer<Float>, M: Int, y: UnsafeMutablePointer<Float>) {
        let (N, K, W) = (rows, cols, dense!.pointer)
        for r in range {
            for i in 0..<M { y[i * N + r] = VectorMath.dot(x + i * K, W + r * K, K) }
        }
    }
}
