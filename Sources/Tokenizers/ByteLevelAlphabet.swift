// ByteLevelAlphabet.swift: GPT-2's reversible mapping between bytes and printable characters.

/// GPT-2's byte-to-unicode table used by byte-level BPE vocabularies.
///
/// Printable Latin-1 bytes (`!`...`~`, `¡`...`¬`, `®`...`ÿ`) map to the same code point; the other
/// 68 bytes map, in increasing byte order, to U+0100, U+0101, ... (so a space, byte 0x20, is `Ġ`,
/// U+0120, and a newline is `Ċ`).
public enum ByteLevelAlphabet {
    /// `scalarForByte[b]` is the character standing for byte `b`.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
                || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or `nil` when it is not part of the alphabet.
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = scalar.value
        if value < 256 {
            let byte = UInt8(value)
            return scalarForByte[Int(byte)] == scalar ? byte : nil
        }
        return byteForExtendedScalar[value]
    }

    /// Inverse of the non-identity part of ``scalarForByte`` (code points U+0100 and up).
    private static let byteForExtendedScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarForByte.enumerated() where scalar.value >= 256 {
            map[scalar.value] = UInt8(byte)
        }
        return map
    }()

    /// The byte-level spelling of raw bytes (what a vocabulary piece looks like).
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var result = String.UnicodeScalarView()
        for byte in bytes { result.append(scalarForByte[Int(byte)]) }
        return String(result)
    }

    /// The raw bytes a byte-level piece stands for. Characters outside the alphabet (which a
    /// well-formed vocabulary never contains) are kept as their own UTF-8 bytes.
    public static func decode(_ piece: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(piece.unicodeScalars.count)
        for scalar in piece.unicodeScalars {
            if let byte = byte(for: scalar) {
                bytes.append(byte)
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        return bytes
    }
}
