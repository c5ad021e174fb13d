// Embedding.swift: token-embedding lookup (gather) and its gradient (scatter-add).
//
//   forward:  out[n, :] = table[ids[n], :]
//   backward: dTable[ids[n], :] += dout[n, :]   (a token id that repeats accumulates)
//
// Reference: `torch.nn.Embedding` / `torch.nn.functional.embedding`; llm.c `encoder_forward`.
// Layout: table: [V, C] row-major; ids: [N] Int32; out: [N, C].
//
// Math names:
//   N = number of tokens, V = vocabulary size (table rows), C = embedding width.

/// Embedding lookup: gathers table rows by token id.
public enum Embedding {
    /// `ids: [N]` (Int32), `table: [V, C]`, `out: [N, C]`.
    ///
    /// Copies row `ids[n]` of `table` into row `n` of `out`. Every id must lie in `0..<V`
    /// (checked). The backward pass needs `ids`.
    /// - Parameters:
    ///   - out: output, `N * C` floats, overwritten; must not overlap `table`.
    ///   - ids: token ids, `N` values.
    ///   - table: embedding table, `V * C` floats.
    ///   - N: number of tokens; must be >= 0.
    ///   - V: vocabulary size; must be >= 1.
    ///   - C: embedding width; must be >= 0.
    public static func forward(
        out: UnsafeMutablePointer<Float>,
        ids: UnsafePointer<Int32>,
        table: UnsafePointer<Float>,
        N: Int, V: Int, C: Int
    ) {
        precondition(N >= 0 && V >= 1 && C >= 0, "Embedding.forward: need N >= 0, V >= 1, C >= 0, got N=\(N) V=\(V) C=\(C)")
        for n in 0..<N {
            let id = Int(ids[n])
            precondition(id >= 0 && id < V, "Embedding.forward: id \(id) at token \(n) is outside 0..<V (V=\(V))")
            (out + n * C).update(from: table + id * C, count: C)
        }
    }

    /// `dout: [N, C]`, `ids: [N]` (Int32); `dTable: [V, C]`.
    ///
    /// The table gradient is ACCUMULATED: `dTable[ids[n], :] += dout[n, :]` for every `n`, so a
    /// repeated id sums its rows, and callers zero `dTable` first. The ids have no gradient.
    /// Needs the forward's `ids`; every id must lie in `0..<V` (checked).
    /// - Parameters:
    ///   - dTable: gradient w.r.t. the table, `V * C` floats, accumulated into.
    ///   - dout: gradient w.r.t. the output, `N * C` floats.
    ///   - ids: the forward's token ids, `N` values.
    ///   - N: number of tokens; must be >= 0.
    ///   - V: vocabulary size; must be >= 1.
    ///   - C: embedding width; must be >= 0.
    public static func backward(
        dTable: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>,
        ids: UnsafePointer<Int32>,
        N: Int, V: Int, C: Int
    ) {
        precondition(N >= 0 && V >= 1 && C >= 0, "Embedding.backward: need N >= 0, V >= 1, C >= 0, got N=\(N) V=\(V) C=\(C)")
        // in the forward pass this was: out[n, c] = table[ids[n], c], a copy, so each output
        // element's gradient flows to exactly one table element; rows sharing an id add up.
        for n in 0..<N {
            let id = Int(ids[n])
            precondition(id >= 0 && id < V, "Embedding.backward: id \(id) at token \(n) is outside 0..<V (V=\(V))")
            let dRow = dTable + id * C
            let doutRow = dout + n * C
            for c in 0..<C {
                dRow[c] += doutRow[c]
            }
        }
    }
}
