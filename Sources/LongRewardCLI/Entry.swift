// Entry.swift: process start. Before any numeric work, make sure OpenBLAS runs kernels made
// for this CPU (see Kernels/BLASCore.swift): when it fell back to generic SSE3 kernels on an
// AVX2/AVX-512 machine, re-execute this binary once with OPENBLAS_CORETYPE set.

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
        await LongReward.main()
    }
}
