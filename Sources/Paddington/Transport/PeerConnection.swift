import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// One established, authenticated link to a peer: seals payloads into frames and writes them.
///
/// **Sending.** ``send(_:)`` seals the payload on the caller's task and hands the frame to the
/// channel; it returns without waiting for the event loop. Frames handed over but not yet written
/// count against a budget of bytes and of frames; while it is spent, senders wait (backpressure).
/// Waiting senders are let in again only when every frame in flight has been written: NIO's event
/// loop runs queued tasks until none are left before it polls for I/O, so a sender faster than the
/// loop would otherwise keep it from ever reading (a peer's Close would go unread).
///
/// **Closing without losing what was accepted.** Whoever starts closing (this side, or the peer with a
/// Close frame), the link first stops accepting frames, then waits until every frame it accepted has
/// been written, and only then writes its Close. A closing side keeps reading until the peer's Close,
/// so a frame that ``send(_:)`` accepted reaches the peer as long as the peer stays up.
final class PeerConnection: Sendable {
    /// The reserved payload that keeps links alive; never delivered to handlers, never sent as data.
    static let keepalivePayload = "KEEPALIVE"
    /// Frames accepted but not yet written, at most.
    static let maxFramesInFlight = 256
    /// How long a closing link waits, with the peer silent (see ``silence``), for the peer's Close before
    /// it shuts the socket. While frames keep arriving (the peer is draining what it had accepted) or the
    /// session is busy with one, it waits on.
    static let closeHandshakeTimeout: TimeAmount = .seconds(2)

    let id: PeerID
    let info: PeerInfo
    private let keys: EnvelopeKeys
    private let salts: ConnectionSalts
    private let channel: any Channel
    private let maxFrameSize: Int
    private let outboundBudget: Int
    private let activity: NIOLockedValueBox<Activity>

    /// When the link last sent, and what the session has been doing with what it receives.
    struct Activity {
        var sent: NIODeadline
        /// When the session last started waiting for a frame.
        var waitingSince: NIODeadline
        /// Whether the session is busy with a frame it took (a handler is running, or waiting for a
        /// delivery slot) rather than waiting for the next one.
        var busy = false
    }

    private struct Outbound {
        /// Why the link is closing; set once, after which no frame is accepted.
        var closing: PaddingtonError?
        /// Whether our Close frame is due (once nothing is in flight) or written.
        var closeDue = false
        var closeWritten = false
        var inFlightFrames = 0
        var inFlightBytes = 0
        /// Senders waiting for budget, served first come, first served.
        var waiters: [(id: UInt64, bytes: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextWaiter: UInt64 = 0

        func fits(_ bytes: Int, budget: Int) -> Bool {
            inFlightFrames == 0 || (inFlightFrames < PeerConnection.maxFramesInFlight && inFlightBytes + bytes <= budget)
        }

        /// Once nothing is in flight, grants budget to waiting senders in order, as far as it goes;
        /// returns those to resume.
        mutating func grant(budget: Int) -> [CheckedContinuation<Void, any Error>] {
            guard inFlightFrames == 0 else { return [] }
            var granted: [CheckedContinuation<Void, any Error>] = []
            while let first = waiters.first, fits(first.bytes, budget: budget) {
                waiters.removeFirst()
                inFlightFrames += 1
                inFlightBytes += first.bytes
                granted.append(first.continuation)
            }
            return granted
        }

        /// Fails every waiting sender (the link is closing).
        mutating func failWaiters() -> [CheckedContinuation<Void, any Error>] {
            defer { waiters = [] }
            return waiters.map(\.continuation)
        }
    }

    private let outbound = NIOLockedValueBox(Outbound())

    init(session: EstablishedSession, channel: any Channel, maxFrameSize: Int, outboundBudget: Int) {
        id = PeerID(name: session.peerName, zone: session.zone)
        info = PeerInfo(id: id, engine: session.peerEngine, version: session.peerVersion, weDialled: session.role == .client)
        keys = session.keys
        salts = session.salts
        self.channel = channel
        self.maxFrameSize = maxFrameSize
        self.outboundBudget = outboundBudget
        activity = NIOLockedValueBox(Activity(sent: .now(), waitingSince: .now()))
    }

    /// Seals and hands over one payload. Returns once the link has accepted the frame.
    func send(_ payload: String) async throws {
        guard !payload.isEmpty else {
            throw PaddingtonError(.invalidArgument, "an empty payload cannot be sent (the protocol has no empty messages)")
        }
        guard payload != Self.keepalivePayload else {
            throw PaddingtonError(.invalidArgument, "the payload 'KEEPALIVE' is reserved by the protocol")
        }
        try await write(payload)
    }

    /// Sends the `KEEPALIVE` payload, and a WebSocket Ping when `ping` is set.
    func sendKeepalive(ping: Bool) async throws {
        // Keepalives are small control traffic: they do not wait for budget behind application frames.
        try await write(Self.keepalivePayload, waitForBudget: false)
        if ping {
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer()), promise: nil)
        }
    }

    /// Whether liveness pings may go to this peer. A Rust server hands every Ping to its session
    /// loop, which logs a de-enveloping error for each; its clients skip them silently.
    var acceptsPings: Bool {
        !(info.weDialled && info.engine == "paddington")
    }

    private func write(_ payload: String, waitForBudget: Bool = true) async throws {
        let json = JSONString.encode(payload)
        let count = Envelope.frameCount(jsonCount: json.count)
        guard count <= maxFrameSize else {
            throw PaddingtonError(.payloadTooLarge,
                "a payload of \(json.count) JSON bytes makes a \(count)-byte frame, over the limit of \(maxFrameSize)")
        }
        var buffer = channel.allocator.buffer(capacity: count)
        json.withUnsafeBytes { json in
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { space in
                Envelope.seal(json, keys: keys, salts: salts, into: UnsafeMutableRawBufferPointer(rebasing: space[0..<count]))
                return count
            }
        }
        try await reserve(count, wait: waitForBudget)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer)).whenComplete { _ in
            self.written(count)
        }
        activity.withLockedValue { $0.sent = .now() }
    }

    /// Takes `bytes` of the outbound budget. While it is spent, waits in line: senders are served in
    /// arrival order, and a new sender never overtakes a waiting one. One frame is always allowed when
    /// nothing is in flight, however large. `wait: false` takes the bytes at once (keepalives).
    private func reserve(_ bytes: Int, wait: Bool) async throws {
        let id: UInt64? = try outbound.withLockedValue { state in
            if let reason = state.closing {
                throw PaddingtonError(.connectionClosed, "the link to \(self.id) is closing: \(reason.message)")
            }
            if !wait || (state.waiters.isEmpty && state.fits(bytes, budget: outboundBudget)) {
                state.inFlightFrames += 1
                state.inFlightBytes += bytes
                return nil
            }
            state.nextWaiter += 1
            return state.nextWaiter
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let failure: (any Error)? = outbound.withLockedValue { state in
                    if let reason = state.closing {
                        return PaddingtonError(.connectionClosed, "the link to \(self.id) is closing: \(reason.message)")
                    }
                    if Task.isCancelled { return CancellationError() }
                    state.waiters.append((id, bytes, continuation))
                    return nil
                }
                if let failure { continuation.resume(throwing: failure) }
                // Budget may have been freed before we queued.
                let granted = outbound.withLockedValue { $0.grant(budget: outboundBudget) }
                for waiter in granted { waiter.resume() }
            }
        } onCancel: {
            let waiter = outbound.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// A frame handed over earlier has been written (or has failed): give its bytes back, let waiting
    /// senders in, and write the Close once the last frame is out.
    private func written(_ bytes: Int) {
        let (granted, writeClose) = outbound.withLockedValue { state -> ([CheckedContinuation<Void, any Error>], Bool) in
            state.inFlightFrames -= 1
            state.inFlightBytes -= bytes
            return (state.grant(budget: outboundBudget), takeCloseIfDue(&state))
        }
        for waiter in granted { waiter.resume() }
        if writeClose { writeCloseFrame() }
    }

    private func takeCloseIfDue(_ state: inout Outbound) -> Bool {
        guard state.closeDue, !state.closeWritten, state.inFlightFrames == 0 else { return false }
        state.closeWritten = true
        return true
    }

    private func writeCloseFrame() {
        let channel = self.channel
        var code = ByteBuffer()
        code.write(webSocketErrorCode: closeReason?.code == .shutdown ? .goingAway : .normalClosure)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)).whenComplete { _ in
            self.closeIfSilent(after: Self.closeHandshakeTimeout)
        }
    }

    /// Shuts the socket once the peer has been silent for `timeout`; checks again while frames arrive
    /// or the session is still busy with what it received.
    private func closeIfSilent(after timeout: TimeAmount) {
        channel.eventLoop.scheduleTask(in: timeout) {
            guard self.channel.isActive else { return }
            let silent = self.silence
            if silent >= timeout {
                self.channel.close(promise: nil)
            } else {
                self.closeIfSilent(after: timeout - silent)
            }
        }
    }

    /// Opens a received text frame and returns its payload.
    func open(_ frame: ByteBuffer) throws -> String {
        let json = try frame.withUnsafeReadableBytes { try Envelope.open($0, keys: keys, salts: salts) }
        do {
            return try json.withUnsafeBytes { try JSONString.decode($0) }
        } catch let error as PaddingtonError {
            throw PaddingtonError(.invalidJSON, "a frame from \(id) decrypted but its payload is not a JSON string: \(error.message)")
        }
    }

    /// The session took a frame; it is busy with it until ``markWaiting()``.
    func markReceived() {
        activity.withLockedValue { $0.busy = true }
    }

    /// The session waits for the next frame: from now on, time without one is the peer's silence.
    func markWaiting() {
        activity.withLockedValue { $0.waitingSince = .now(); $0.busy = false }
    }

    /// How long the peer has been silent: the time the session has waited for a frame without one
    /// arriving; zero while the session is busy with a frame. While it is busy, the socket is not read
    /// (frames queue behind the one in hand), so a slow handler must not look like a silent peer: the
    /// close and idle timeouts would then cut off frames the peer sent and we accepted.
    var silence: TimeAmount {
        activity.withLockedValue { $0.busy ? .zero : .now() - $0.waitingSince }
    }

    /// When the link last sent a frame.
    var lastSent: NIODeadline {
        activity.withLockedValue { $0.sent }
    }

    var closeReason: PaddingtonError? { outbound.withLockedValue { $0.closing } }

    /// Starts the closing handshake: no more frames are accepted; once every accepted frame is
    /// written, the Close goes out. Used for our own closes and to answer the peer's Close.
    func close(reason: PaddingtonError) {
        let (waiters, writeClose) = outbound.withLockedValue { state -> ([CheckedContinuation<Void, any Error>], Bool) in
            if state.closing == nil { state.closing = reason }
            state.closeDue = true
            return (state.failWaiters(), takeCloseIfDue(&state))
        }
        let error = PaddingtonError(.connectionClosed, "the link to \(id) is closing: \(reason.message)")
        for waiter in waiters { waiter.resume(throwing: error) }
        if writeClose { writeCloseFrame() }
    }

    /// Closes the socket at once (idle peer, shutdown timeout); frames not yet written are lost.
    func abort(reason: PaddingtonError) {
        let waiters = outbound.withLockedValue { state -> [CheckedContinuation<Void, any Error>] in
            if state.closing == nil { state.closing = reason }
            return state.failWaiters()
        }
        let error = PaddingtonError(.connectionClosed, "the link to \(id) closed: \(reason.message)")
        for waiter in waiters { waiter.resume(throwing: error) }
        channel.close(promise: nil)
    }
}
