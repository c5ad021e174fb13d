// Entry.swift: process start. Before any numeric work, make sure OpenBLAS runs kernels made
// for this CPU (see Kernels/BLASCore.swift): when it fell back to generic SSE3 kernels on an
// AVX2/AVX-512 machine, re-execute this binary once with OPENBLAS_CORETYPE set. BLAS runs on one
// thread unless OPENBLAS_NUM_THREADS says otherwise.

import Foundation
import Kernels
import Store

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
        if ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil { GEMM.singleThreaded = true }
        Interruption.install()
        await LongReward.main()
    }
}

/// Ctrl-C (SIGINT) and SIGTERM end a run cleanly: calls in flight are abandoned, every run of
/// this process is marked `interrupted` in its store (committed rows stay; SQLite discards any
/// transaction left open), output files stay as `<output>.partial`, and the process exits with
/// 128 + the signal number. A rerun resumes from the store.
enum Interruption {
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []

    static func install() {
        for signal in [SIGINT, SIGTERM] {
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
                let marked = ActiveRuns.interruptAll(reason: "interrupted by \(name); rerun the same command to resume")
                let note = marked > 0 ? "; the run is marked interrupted and a rerun resumes from the store" : ""
                FileHandle.standardError.write(Data("\nlongreward: interrupted by \(name)\(note)\n".utf8))
                _exit(128 + signal)
            }
            source.resume()
            sources.append(source)
        }
    }
}
