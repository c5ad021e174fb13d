// RoPE.swift: rotary position embedding applied to queries and keys (Llama / SmolLM2).
//
// Each head vector of length D is split into D/2 pairs; pair i of a token at position p is
// rotated by the angle p * invFreq[i], with invFreq[i] = base^(-2i / D):
//   (a, b) -> (a * cos - b * sin,  a * sin + b * cos)
// Two pairings are in use:
//   adjacentPairs: (x[2i], x[2i+1])      -- GGUF / llama.cpp / the original Meta code
//   halves:        (x[i],  x[i + D/2])    -- Hugging Face `rotate_half`
// They are the same operation up to a fixed permutation of the head dimension
// (GGUF converters permute the q/k weight rows to switch between them).
//
// Reference: Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding" (2021);
// `apply_rotary_pos_emb` in Hugging Face transformers' modeling_llama.py.
// Layout: x: [N, H, D] row-major (token-major, then heads, head dim contiguous);
// positions: [N] Int32, the absolute position of each token, so packed sequences and
// KV-cache offsets need no special casing.
//
// Math names:
//   N = number of tokens, H = number of heads, D = head dimension (even), P = table positions.

import Foundation

/// Rotary position embedding, in place on a `[N, H, D]` tensor, using a precomputed table.
public enum RoPE {
    /// Which elements of a head vector form a rotating pair.
    public enum Convention: Sendable, Equatable {
        /// GGUF / llama.cpp layout: pair i is `(x[2i], x[2i+1])`.
        case adjacentPairs
        /// Hugging Face layout: pair i is `(x[i], x[i + D/2])`.
        case halves
    }

    /// Precomputed `cos` and `sin` of `p * invFreq[i]` for positions `p` in `0..<maxPositions`
    /// and pairs `i` in `0..<headDim/2`, so the hot path does no trigonometry.
    ///
    /// Angles are computed in Double and rounded to Float once (Hugging Face computes them in
    /// Float32, which differs by up to a few ulps of the angle at large positions).
    public struct Table: Sendable {
        /// Number of positions covered: valid positions are `0..<maxPositions`.
        public let maxPositions: Int
        /// Head dimension D (even).
        public let headDim: Int
        /// The RoPE base (theta): 10000 in the original paper, 100000 for SmolLM2.
        public let base: Double
        /// `cos(p * invFreq[i])`, layout `[maxPositions, headDim / 2]`.
        public let cos: [Float]
        /// `sin(p * invFreq[i])`, layout `[maxPositions, headDim / 2]`.
        public let sin: [Float]

        /// Builds the table for positions `0..<maxPositions`.
        /// - Parameters:
        ///   - maxPositions: number of positions; must be >= 1.
        ///   - headDim: head dimension D; must be even and >= 2.
        ///   - base: theta in `invFreq[i] = base^(-2i / D)`; must be > 0.
        public init(maxPositions: Int, headDim: Int, base: Double = 10000) {
            precondition(maxPositions >= 1, "RoPE.Table: maxPositions must be >= 1, got \(maxPositions)")
            precondition(headDim >= 2 && headDim % 2 == 0, "RoPE.Table: headDim must be even and >= 2, got \(headDim)")
            precondition(base > 0, "RoPE.Table: base must be > 0, got \(base)")
            self.maxPositions = maxPositions
            self.headDim = headDim
            self.base = base
            let half = headDim / 2
            var cosTable = [Float](repeating: 0, count: maxPositions * half)
            var sinTable = [Float](repeating: 0, count: maxPositions * half)
            for i in 0..<half {
                let invFreq = Foundation.pow(base, -Double(2 * i) / Double(headDim))
                for p in 0..<maxPositions {
                    let angle = Double(p) * invFreq
                    cosTable[p * half + i] = Float(Foundation.cos(angle))
                    sinTable[p * half + i] = Float(Foundation.sin(angle))
                }
            }
            cos = cosTable
            sin = sinTable
        }
    }

    /// `x: [N, H, D]` (in place), `positions: [N]` (Int32), table for head dim `D`.
    ///
    /// Rotates pair `i` of every head of token `n` by the angle `positions[n] * invFreq[i]`
    /// (see ``Convention`` for which elements pair up). Nothing needs saving for the backward
    /// pass beyond `positions` and the table. Each position must lie in `0..<table.maxPositions`.
    /// - Parameters:
    ///   - x: queries or keys, `N * H * D` floats, rotated in place.
    ///   - positions: absolute position of each token, `N` values.
    ///   - table: precomputed cos/sin; `table.headDim` must equal `D`.
    ///   - N: number of tokens; must be >= 0.
    ///   - H: number of heads; must be >= 0.
    ///   - D: head dimension; must be even.
    ///   - convention: the pairing of head-dimension elements.
    public static func forward(
        x: UnsafeMutablePointer<Float>,
        positions: UnsafePointer<Int32>,
        table: Table,
        N: Int, H: Int, D: Int,
        convention: Convention
    ) {
        rotate(x, positions, table, N, H, D, convention, sinSign: 1, caller: "RoPE.forward")
    }

    /// `dx: [N, H, D]` (in place), `positions: [N]` (Int32), table for head dim `D`.
    ///
    /// On entry `dx` holds dL/dout; on exit it holds dL/dx. Because the rotation is applied in
    /// place, this backward OVERWRITES rather than accumulates (the one exception to the
    /// module's accumulate convention): a caller that needs to add into an existing gradient
    /// adds the result itself. Needs only the forward's `positions` and table.
    /// - Parameters:
    ///   - dx: gradient, `N * H * D` floats, transformed in place.
    ///   - positions: the forward's positions, `N` values.
    ///   - table: the forward's table; `table.headDim` must equal `D`.
    ///   - N: number of tokens; must be >= 0.
    ///   - H: number of heads; must be >= 0.
    ///   - D: head dimension; must be even.
    ///   - convention: the forward's pairing.
    public static func backward(
        dx: UnsafeMutablePointer<Float>,
        positions: UnsafePointer<Int32>,
        table: Table,
        N: Int, H: Int, D: Int,
        convention: Convention
    ) {
        // in the forward pass this was: out = R(theta) x, a rotation of each pair.
        // R is orthogonal, so dx = R(theta)^T dout = R(-theta) dout: the same rotation with
        // sin negated.
        rotate(dx, positions, table, N, H, D, convention, sinSign: -1, caller: "RoPE.backward")
    }

    /// Shared body of forward (`sinSign = 1`) and backward (`sinSign = -1`).
    @inline(__always)
    static func rotate(
        _ x: UnsafeMutablePointer<Float>,
        _ positions: UnsafePointer<Int32>,
        _ table: Table,
        _ N: Int, _ H: Int, _ D: Int,
        _ convention: Convention,
        sinSign: Float,
        caller: StaticString
    ) {
        precondition(N >= 0 && H >= 0, "\(caller): need N >= 0 and H >= 0, got N=\(N) H=\(H)")
        precondition(D == table.headDim,
                     "\(caller): head dim D=\(D) does not match table.headDim=\(table.headDim)")
        let half = D / 2
        table.cos.withUnsafeBufferPointer { cosBuffer in
            table.sin.withUnsafeBufferPointer { sinBuffer in
                let cosBase = cosBuffer.baseAddress!
                let sinBase = sinBuffer.baseAddress!
                for n in 0..<N {
                    let p = Int(positions[n])
                    precondition(p >= 0 && p < table.maxPositions,
                                 "\(caller): position \(p) of token \(n) is outside 0..<\(table.maxPositions)")
                    let cosRow = cosBase + p * half
                    let sinRow = sinBase + p * half
                    for h in 0..<H {
                        let head = x + (n * H + h) * D
                        switch convention {
                        case .adjacentPairs:
                            for i in 0..<half {
                                let a = head[2 * i], b = head[2 * i + 1]
                                let c = cosRow[i], s = sinSign * sinRow[i]
                                head[2 * i] = a * c - b * s
                                head[2 * i + 1] = a * s + b * c
                            }
                        case .halves:
                            for i in 0..<half {
                                let a = head[i], b = head[i + half]
                                let c = cosRow[i], s = sinSign * sinRow[i]
                                head[i] = a * c - b * s
                                head[i + half] = a * s + b * c
                            }
                        }
                    }
                }
            }
        }
    }

    /// Naive reference for tests: `x: [N, H, D]`, `positions: [N]` -> rotated `[N, H, D]`,
    /// with `invFreq`, the angle and its cos/sin computed in Double for every element.
    public static func reference(
        x: [Float], positions: [Int32], N: Int, H: Int, D: Int, base: Double,
        convention: Convention
    ) -> [Float] {
        precondition(x.count == N * H * D && positions.count == N && D % 2 == 0,
                     "RoPE.reference: x has \(x.count) (want N*H*D=\(N * H * D)), positions \(positions.count) (want N=\(N)), D=\(D) must be even")
        var out = x
        let half = D / 2
        for n in 0..<N {
            for h in 0..<H {
                let start = (n * H + h) * D
                for i in 0..<half {
                    let angle = Double(positions[n]) * Foundation.pow(base, -Double(2 * i) / Double(D))
                    let (ia, ib) = convention == .adjacentPairs ? (2 * i, 2 * i + 1) : (i, i + half)
                    let a = Double(x[start + ia]), b = Double(x[start + ib])
                    out[start + ia] = Float(a * Foundation.cos(angle) - b * Foundation.sin(angle))
                    out[start + ib] = Float(a * Foundation.sin(angle) + b * Foundation.cos(angle))
                }
            }
        }
        return out
    }
}
