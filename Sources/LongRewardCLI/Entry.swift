// Entry.swift: process start. Before any numeric work, make sure OpenBLAS runs kernels made
// for this CPU (see Kernels/BLASCore.swift): when it fell back to generic SSE3 kernels on an
// AVX2/AVX-512 machine, re-execute this binary once with OPENBLAS_CORETYPE set. BLAS runs on one
// thread unless OPENBLAS_NUM_THREADS says otherwise.

import Foundation
import Kernels

@main
enum Entry {
    static func main() async {
        if let core = BLASCore.recommendedOverride {
            setenv("OPENBLAS_CORETYPE", core, 1)
            let args = CommandLine.arguments
            var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
            argv.append(nil)
            execv("/proc/self/exe", &argv)
            // execv returns only on failure: carry on with the slower kernels.
        }
        // Our kernels parallelise themselves (--threads); OpenBLAS threads of its own would spin
        // beside them (exec_blas_async took half the CPU of a scoring run on 2 cores). The
        // environment variable, when set, wins.
        if ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil { GEMM.threadCount = 1 }
        await LongReward.main()
    }
}
