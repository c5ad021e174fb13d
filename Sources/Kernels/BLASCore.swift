// BLASCore.swift: which OpenBLAS kernel family runs, and the one to ask for when OpenBLAS does
// not know this CPU.
//
// OpenBLAS picks its kernels at load time from cpuid. Debian 12's 0.3.21 predates Sapphire
// Rapids and falls back to its SSE3 "Prescott" kernels there: sgemm runs about 4x slower
// (measured: SmolLM2 prefill 91 tokens/s with Prescott, 351 with SkylakeX, same host). The
// `OPENBLAS_CORETYPE` environment variable overrides the choice, but only before the library
// loads, so the CLI re-executes itself with it set (see LongRewardCLI/Entry.swift).

import CBLAS
import Foundation

/// The OpenBLAS kernel family in use and a better one for this CPU, if any.
public enum BLASCore {
    /// The kernel family OpenBLAS chose (e.g. `SkylakeX`, `Cooperlake`, `Prescott`).
    public static var current: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Families OpenBLAS falls back to for CPUs it does not recognise.
    static let fallbacks: Set<String> = ["prescott", "core2", "nehalem", "penryn", "dunnington", "atom", "katmai", "coppermine", "northwood", "unknown"]

    /// The `OPENBLAS_CORETYPE` to use instead, when OpenBLAS chose a generic fallback on a CPU
    /// with AVX-512 (`SkylakeX`) or AVX2 + FMA (`Haswell`); nil when the choice is already
    /// specific or the user set `OPENBLAS_CORETYPE`.
    public static var recommendedOverride: String? {
        if let set = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !set.isEmpty { return nil }
        guard fallbacks.contains(current.lowercased()) else { return nil }
        return recommended(cpuFlags: cpuFlags())
    }

    /// The kernel family for a CPU with these `/proc/cpuinfo` flags (nil: keep the default).
    public static func recommended(cpuFlags flags: Set<String>) -> String? {
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            return Set(line.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
        }
        return []
    }
}
