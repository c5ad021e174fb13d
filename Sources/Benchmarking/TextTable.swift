// TextTable.swift: right-aligned plain-text tables for benchmark and summary output.

/// A table of strings rendered with columns padded to their widest cell.
public struct TextTable: Sendable {
    /// Column titles.
    public let header: [String]
    /// Rows added so far.
    public private(set) var rows: [[String]] = []

    /// Creates an empty table with the given column titles.
    public init(_ header: [String]) { self.header = header }

    /// Appends a row (missing cells render empty).
    public mutating func add(_ row: [String]) { rows.append(row) }

    /// The table as lines: header, a rule, then the rows. The first column is left-aligned.
    public func render() -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ r: [String]) -> String {
            header.indices.map { c in
                let cell = c < r.count ? r[c] : ""
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}
