// LoopbackServer.swift: a scripted HTTP/1.1 server on 127.0.0.1 for tests and benchmarks.
//
// Not for the product path. POSIX sockets, one acceptor thread and one thread per connection
// (URLSession opens at most `httpMaximumConnectionsPerHost` of them). Supports keep-alive,
// `Content-Length` request bodies and `Expect: 100-continue`; chunked request bodies get 411.
// Every parsed request goes to the handler, whose `LoopbackAction` says what to do: answer
// (optionally after a delay), drop the connection, or stall until the client gives up.

import Foundation
import Kernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One request as the server parsed it.
public struct LoopbackRequest: Sendable {
    /// `GET`, `POST`...
    public let method: String
    /// The request target, e.g. `/v1/chat/completions` (query string included).
    public let path: String
    /// Header fields with lower-cased names; repeated fields are joined with ", ".
    public let headers: [String: String]
    /// The body (`Content-Length` bytes).
    public let body: Data
    /// 1-based position of this request among all requests this server received.
    public let index: Int
    /// 1-based number of the TCP connection it arrived on (equal numbers: a reused connection).
    public let connection: Int

    /// The value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// What the server does with a request.
public enum LoopbackAction: Sendable {
    /// Answer with `status`, extra `headers` and `body` after waiting `delay` seconds.
    /// `Content-Length` and `Connection` are added; `Content-Type` defaults to application/json.
    case respond(status: Int, headers: [String: String], body: Data, delay: Double)
    /// Close the connection without answering.
    case close
    /// Never answer; the connection stays open until the client closes it or the server stops.
    case stall

    /// `respond` with a UTF-8 body and no extra headers.
    public static func respond(_ status: Int = 200, body: String, delay: Double = 0)
        -> LoopbackAction
    {
        .respond(status: status, headers: [:], body: Data(body.utf8), delay: delay)
    }
}

/// Errors opening the listening socket.
public enum LoopbackServerError: Error, CustomStringConvertible {
    /// A socket call failed with `errno`.
    case socket(call: String, errno: Int32)

    /// The failing call and the system's message.
    public var description: String {
        switch self {
        case .socket(let call, let code):
            return
                "LoopbackServer: \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 with an ephemeral port, driven by a handler.
///
/// ```swift
/// let server = try LoopbackServer { request in
///     request.index <= 2 ? .respond(500, body: "{}") : .respond(200, body: #"{"ok":true}"#)
/// }
/// defer { server.stop() }
/// // point a client at server.baseURL ("http://127.0.0.1:<port>")
/// ```
///
/// Threads keep the server alive until ``stop()``; always call it.
public final class LoopbackServer: Sendable {
    /// Decides what to do with each request; called on the connection's thread.
    public typealias Handler = @Sendable (LoopbackRequest) -> LoopbackAction

    /// The port the kernel picked.
    public let port: UInt16
    private let listenFD: Int32
    private let handler: Handler
    private let keepAliveTimeout: Double?
    private let state = Locked(State())

    private struct State {
        var stopped = false
        var requestCount = 0
        var inFlight = 0
        var maxInFlight = 0
        var connectionCount = 0
        var openConnections: Set<Int32> = []
        var liveThreads = 0
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Requests received so far (parsed completely, whatever the action).
    public var requestCount: Int { state.withLock { $0.requestCount } }

    /// Most requests that were being handled at the same time (from parse until the answer was
    /// written, the connection dropped, or a stall ended).
    public var maxConcurrentRequests: Int { state.withLock { $0.maxInFlight } }

    /// TCP connections accepted so far (fewer than ``requestCount`` when keep-alive works).
    public var connectionCount: Int { state.withLock { $0.connectionCount } }

    /// Binds 127.0.0.1 on an ephemeral port and starts accepting.
    /// - Parameters:
    ///   - keepAliveTimeout: close a connection that stays idle this many seconds between
    ///     requests, as uvicorn (5 s) or nginx (75 s) do; nil keeps idle connections open.
    ///   - handler: what to do with each request.
    /// - Throws: ``LoopbackServerError`` when a socket call fails.
    public init(keepAliveTimeout: Double? = nil, handler: @escaping Handler) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackServerError.socket(call: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 256) == 0 else {
            let code = errno
            close(fd)
            throw LoopbackServerError.socket(call: bound == 0 ? "listen" : "bind", errno: code)
        }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let code = errno
            close(fd)
            throw LoopbackServerError.socket(call: "getsockname", errno: code)
        }
        listenFD = fd
        port = UInt16(bigEndian: address.sin_port)
        self.handler = handler
        self.keepAliveTimeout = keepAliveTimeout
        state.withLock { $0.liveThreads = 1 }
        Thread { [self] in acceptLoop() }.start()
    }

    /// Stops accepting, drops every open connection (stalled ones included) and waits up to two
    /// seconds for the server's threads to finish. Safe to call more than once.
    public func stop() {
        // An array built under the lock: iterating a copy of the set outside it would read
        // storage a connection thread may then mutate in place (ThreadSanitizer caught it).
        let connections: [Int32]? = state.withLock { s in
            if s.stopped { return nil }
            s.stopped = true
            return Array(s.openConnections)
        }
        guard let connections else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        for fd in connections { shutdown(fd, Int32(SHUT_RDWR)) }
        let deadline = Date().addingTimeInterval(2)
        while state.withLock({ $0.liveThreads }) > 0 && Date() < deadline { usleep(1000) }
    }

    // MARK: - Threads

    private func acceptLoop() {
        defer {
            close(listenFD)
            state.withLock { $0.liveThreads -= 1 }
        }
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if state.withLock({ $0.stopped }) { return }
                if errno == EINTR || errno == ECONNABORTED { continue }
                usleep(1000)  // EMFILE and friends: back off, keep serving
                continue
            }
            let accepted = state.withLock { s -> Int? in
                guard !s.stopped else { return nil }
                s.connectionCount += 1
                s.openConnections.insert(fd)
                s.liveThreads += 1
                return s.connectionCount
            }
            guard let number = accepted else {
                close(fd)
                return
            }
            var one: Int32 = 1
            setsockopt(
                fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            Thread { [self] in serve(fd, connection: number) }.start()
        }
    }

    /// Reads requests from one connection until it closes, an action ends it, or `stop()`.
    private func serve(_ fd: Int32, connection: Int) {
        defer {
            state.withLock {
                $0.openConnections.remove(fd)
                $0.liveThreads -= 1
            }
            close(fd)
        }
        var buffer: [UInt8] = []
        var scanFrom = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        while true {
            // Header block: up to the first CRLF CRLF.
            var headerEnd: Int? = nil
            while headerEnd == nil {
                headerEnd = Self.find(Self.crlfcrlf, in: buffer, from: max(0, scanFrom - 3))
                if headerEnd == nil {
                    if buffer.isEmpty, let keepAliveTimeout {
                        guard readable(fd, within: keepAliveTimeout) else { return }  // idle: close
                    }
                    scanFrom = buffer.count
                    guard buffer.count < 65536 else {
                        reply(fd, status: 431, headers: [:], body: Data(), keepAlive: false)
                        return
                    }
                    guard fill() else { return }
                }
            }
            let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
            guard let parsed = Self.parseHead(head) else {
                reply(fd, status: 400, headers: [:], body: Data(), keepAlive: false)
                return
            }
            if parsed.headers["transfer-encoding"] != nil {
                reply(fd, status: 411, headers: [:], body: Data(), keepAlive: false)
                return
            }
            let bodyStart = headerEnd! + 4
            let length = Int(parsed.headers["content-length"] ?? "0") ?? -1
            guard length >= 0 else {
                reply(fd, status: 400, headers: [:], body: Data(), keepAlive: false)
                return
            }
            if parsed.headers["expect"]?.lowercased() == "100-continue"
                && buffer.count < bodyStart + length
            {
                writeAll(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            }
            while buffer.count < bodyStart + length {
                guard fill() else { return }
            }
            let body = Data(buffer[bodyStart..<(bodyStart + length)])
            buffer.removeFirst(bodyStart + length)
            scanFrom = 0

            let index = state.withLock { s -> Int in
                s.requestCount += 1
                s.inFlight += 1
                s.maxInFlight = max(s.maxInFlight, s.inFlight)
                return s.requestCount
            }
            defer { state.withLock { $0.inFlight -= 1 } }
            let request = LoopbackRequest(
                method: parsed.method, path: parsed.path, headers: parsed.headers, body: body,
                index: index, connection: connection)
            switch handler(request) {
            case .respond(let status, let headers, let body, let delay):
                wait(seconds: delay)
                if state.withLock({ $0.stopped }) { return }
                let closing = headers.contains {
                    $0.key.lowercased() == "connection" && $0.value.lowercased() == "close"
                }
                let keepAlive = parsed.keepAlive && !closing
                reply(fd, status: status, headers: headers, body: body, keepAlive: keepAlive)
                if !keepAlive { return }
            case .close:
                return  // the deferred close(fd) sends FIN with no response
            case .stall:
                // Read (and discard) until the client closes or stop() shuts the socket down.
                while fill() {}
                return
            }
        }
    }

    /// Whether `fd` has data (or EOF) within `seconds`.
    private func readable(_ fd: Int32, within seconds: Double) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, Int32(seconds * 1000)) > 0
    }

    /// Sleeps `seconds` in steps of at most 10 ms, returning early once the server stops.
    private func wait(seconds: Double) {
        guard seconds > 0 else { return }
        let deadline = Date().addingTimeInterval(seconds)
        while !state.withLock({ $0.stopped }) {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return }
            usleep(useconds_t(min(remaining, 0.01) * 1e6))
        }
    }

    // MARK: - HTTP

    private func reply(
        _ fd: Int32, status: Int, headers: [String: String], body: Data, keepAlive: Bool
    ) {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        var hasContentType = false
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            let lower = name.lowercased()
            if lower == "content-length" || lower == "connection" { continue }
            if lower == "content-type" { hasContentType = true }
            head += "\(name): \(value)\r\n"
        }
        if !hasContentType { head += "Content-Type: application/json\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        head += "Connection: \(keepAlive ? "keep-alive" : "close")\r\n\r\n"
        writeAll(fd, Array(head.utf8) + Array(body))
    }

    /// Writes every byte (MSG_NOSIGNAL: a peer that left yields EPIPE, not SIGPIPE).
    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                return
            }
            offset += n
        }
    }

    private static let crlfcrlf: [UInt8] = [13, 10, 13, 10]

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0] && haystack[i + 1] == needle[1]
                && haystack[i + 2] == needle[2]
                && haystack[i + 3] == needle[3]
            {
                return i
            }
            i += 1
        }
        return nil
    }

    private struct Head {
        var method: String
        var path: String
        var headers: [String: String]
        var keepAlive: Bool
    }

    private static func parseHead(_ text: String) -> Head? {
        let lines = text.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ", omittingEmptySubsequences: true)
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        let connection = headers["connection"]?.lowercased() ?? ""
        let keepAlive =
            requestLine[2] == "HTTP/1.1"
            ? !connection.contains("close") : connection.contains("keep-alive")
        return Head(
            method: String(requestLine[0]), path: String(requestLine[1]), headers: headers,
            keepAlive: keepAlive)
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 411: return "Length Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
