// GGUFValue.swift: the typed metadata values of a GGUF file (spec: ggml docs/gguf.md,
// "gguf_metadata_value_type") and convenient ways to read them as Swift values.

/// The type ids a GGUF metadata value can have, as written in the file (UInt32).
public enum GGUFValueType: UInt32, Sendable, CustomStringConvertible {
    /// Fixed-size numeric types (ids 0-6).
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    /// BOOL (one byte, 0 or 1), STRING (UInt64 length + UTF-8), ARRAY, and the 64-bit types.
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The spec's upper-case name, e.g. `UINT32`.
    public var description: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }

    /// The fewest bytes one value of this type occupies in a file (used to reject absurd counts).
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8  // a string is at least its UInt64 length
        case .array: 12  // element type (4) + count (8)
        }
    }
}

/// One metadata value of a GGUF file.
///
/// Arrays keep their declared element type so an empty array still knows what it holds; nested
/// arrays (arrays of arrays) are allowed by the spec and supported.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    /// UINT8.
    case uint8(UInt8)
    /// INT8.
    case int8(Int8)
    /// UINT16.
    case uint16(UInt16)
    /// INT16.
    case int16(Int16)
    /// UINT32.
    case uint32(UInt32)
    /// INT32.
    case int32(Int32)
    /// FLOAT32.
    case float32(Float)
    /// BOOL.
    case bool(Bool)
    /// STRING (UTF-8; invalid sequences repaired with U+FFFD).
    case string(String)
    /// An array: every element has type `elementType`.
    case array(elementType: GGUFValueType, values: [GGUFValue])
    /// UINT64.
    case uint64(UInt64)
    /// INT64.
    case int64(Int64)
    /// FLOAT64.
    case float64(Double)

    // MARK: - Accessors

    /// The value's type id.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// A type name for messages, e.g. `UINT32` or `ARRAY[STRING]`.
    public var typeName: String {
        if case .array(let elementType, _) = self { return "ARRAY[\(elementType)]" }
        return type.description
    }

    /// Any integer value as `Int` (nil for non-integers and for UInt64 values above `Int.max`).
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// A FLOAT32 or FLOAT64 value as `Float` (nil otherwise; integers are not converted).
    public var float: Float? {
        switch self {
        case .float32(let v): v
        case .float64(let v): Float(v)
        default: nil
        }
    }

    /// A FLOAT32 or FLOAT64 value as `Double` (nil otherwise).
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: nil
        }
    }

    /// A STRING value (nil otherwise).
    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// A BOOL value (nil otherwise).
    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The elements of an ARRAY value (nil otherwise).
    public var array: [GGUFValue]? {
        if case .array(_, let values) = self { return values }
        return nil
    }

    /// An ARRAY of STRING as `[String]` (nil for any other value).
    public var stringArray: [String]? {
        guard case .array(.string, let values) = self else { return nil }
        return values.map { if case .string(let s) = $0 { s } else { "" } }
    }

    /// An ARRAY of INT32 as `[Int32]` (nil for any other value).
    public var int32Array: [Int32]? {
        guard case .array(.int32, let values) = self else { return nil }
        return values.map { if case .int32(let v) = $0 { v } else { 0 } }
    }

    /// An ARRAY of any integer type as `[Int]` (nil for non-integer arrays).
    public var intArray: [Int]? {
        guard case .array(let t, let values) = self,
              [.uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64].contains(t) else { return nil }
        var out = [Int]()
        out.reserveCapacity(values.count)
        for v in values {
            guard let i = v.int else { return nil }
            out.append(i)
        }
        return out
    }

    /// An ARRAY of FLOAT32 or FLOAT64 as `[Float]` (nil for any other value).
    public var floatArray: [Float]? {
        guard case .array(let t, let values) = self, t == .float32 || t == .float64 else { return nil }
        return values.map { $0.float ?? 0 }
    }

    /// A short rendering: scalars in full, arrays as type, length and first few elements.
    public var description: String {
        switch self {
        case .uint8(let v): "\(v)"
        case .int8(let v): "\(v)"
        case .uint16(let v): "\(v)"
        case .int16(let v): "\(v)"
        case .uint32(let v): "\(v)"
        case .int32(let v): "\(v)"
        case .float32(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let v): "'\(v)'"
        case .uint64(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .float64(let v): "\(v)"
        case .array(let t, let values):
            "ARRAY[\(t)] len=\(values.count) first=[\(values.prefix(8).map(\.description).joined(separator: ", "))]"
        }
    }
}
