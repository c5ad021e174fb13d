// URLSession+Deadline.swift: one data task with a client-side deadline and prompt cancellation.
//
// Why not `session.data(for:)` with `timeoutInterval`: swift-corelibs-foundation (URLSession on
// Linux) arms its timeout as `Int(timeoutInterval) * 1000` milliseconds, so any timeout below one
// second becomes 0 ms and fails at once, and 2.7 s becomes 2 s. Here the deadline is a Dispatch
// timer of our own that cancels the task; URLSession's timer is set a second later as a backstop.
// Whichever of completion, deadline or Swift task cancellation comes first wins; the others are
// ignored.

import Dispatch
import Foundation
import Kernels

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// How one data task ended.
enum DataTaskOutcome: Sendable {
    /// The transfer finished (any HTTP status).
    case response(Data, URLResponse)
    /// The transport failed before a complete response.
    case failure(URLError)
    /// The deadline passed first.
    case timedOut
    /// The calling Swift task was cancelled.
    case cancelled
}

/// The transfer and its timer. `URLSessionTask.cancel()` and `DispatchWorkItem.cancel()` are
/// documented as callable from any thread; corelibs does not mark the classes Sendable.
private struct DataTaskHandles: @unchecked Sendable {
    let task: URLSessionDataTask
    let timer: DispatchWorkItem

    func cancel() {
        timer.cancel()
        task.cancel()
    }
}

/// Resumes a continuation exactly once, whichever of completion, deadline or cancellation comes
/// first, and then stops the other two.
private final class DataTaskRace: Sendable {
    private struct State {
        var continuation: Continuation?
        var handles: DataTaskHandles?
        var finished: DataTaskOutcome?
    }
    private let state = Locked(State())

    typealias Continuation = CheckedContinuation<DataTaskOutcome, Never>

    func arm(_ continuation: Continuation, handles: DataTaskHandles) {
        let early = state.withLock { s -> DataTaskOutcome? in
            if let finished = s.finished { return finished }  // cancelled before arming
            s.continuation = continuation
            s.handles = handles
            return nil
        }
        if let early {
            handles.cancel()
            continuation.resume(returning: early)
        }
    }

    /// Delivers `outcome` if nothing was delivered yet, then cancels the timer and the transfer
    /// (cancelling a finished transfer does nothing).
    func finish(_ outcome: DataTaskOutcome) {
        let taken = state.withLock { s -> (Continuation?, DataTaskHandles?)? in
            if s.finished != nil { return nil }
            s.finished = outcome
            defer {
                s.continuation = nil
                s.handles = nil
            }
            return (s.continuation, s.handles)
        }
        guard let (continuation, handles) = taken else { return }
        handles?.cancel()
        continuation?.resume(returning: outcome)
    }
}

extension URLSession {
    /// Runs `request` until it completes, `seconds` pass, or the Swift task is cancelled.
    func dataOutcome(for request: URLRequest, deadline seconds: Double) async -> DataTaskOutcome {
        var request = request
        request.timeoutInterval = seconds.rounded(.up) + 1  // backstop only; see the file comment
        let race = DataTaskRace()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let task = dataTask(with: request) { data, response, error in
                    if let response, error == nil {
                        race.finish(.response(data ?? Data(), response))
                    } else if let error = error as? URLError {
                        race.finish(error.code == .timedOut ? .timedOut : .failure(error))
                    } else {
                        let reason = error.map { String(describing: $0) } ?? "no response"
                        let info = [NSLocalizedDescriptionKey: reason]
                        race.finish(.failure(URLError(.unknown, userInfo: info)))
                    }
                }
                let timer = DispatchWorkItem { race.finish(.timedOut) }
                race.arm(continuation, handles: DataTaskHandles(task: task, timer: timer))
                task.resume()
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: timer)
            }
        } onCancel: {
            race.finish(.cancelled)
        }
    }
}
