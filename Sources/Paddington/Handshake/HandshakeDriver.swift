import NIOCore
import NIOWebSocket

/// What differs between the two roles while ``HandshakeDriver`` runs a handshake.
protocol HandshakeRole {
    /// Servers: may `peer` become primary now? Throws to refuse the connection.
    mutating func decideStandby(_ peer: PeerID) throws -> WireMessage.Standby
    /// Clients: wait `delay` as a standby connection before polling again. Throws to give up.
    func waitAsStandby(_ delay: Duration) async throws
}

/// Runs a handshake state machine over an upgraded connection, for either role: it writes the frames
/// the machine asks for, reads each next frame under the connection's step limit, and answers standby
/// questions through the role. It returns the established session; every failure is thrown as a
/// ``PaddingtonError`` with the right code (a step that timed out is a `PaddingtonError.Code.timeout`).
struct HandshakeDriver {
    let controller: LinkController
    let stepTimeout: Duration

    typealias Frames = NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator

    /// Makes a machine, runs it to the established session, and drops it.
    ///
    /// The machine lives in this function's frame, which is gone before the session starts. An async
    /// function's frame is allocated whole on entry and kept until it returns, so a machine declared
    /// in the connection's long-lived closure would stay allocated (in the task's stack) for the life
    /// of the link. On failure, `identified` is the peer the machine had recognised, if any.
    @inline(never)
    func establish<Machine: HandshakeMachine & ~Copyable, Role: HandshakeRole>(
        _ makeMachine: () throws -> Machine,
        start: (inout Machine) -> [HandshakeAction] = { _ in [] },
        role: inout Role,
        frames: inout Frames,
        identified: inout PeerID?
    ) async throws -> EstablishedSession {
        var machine = try makeMachine()
        let actions = start(&machine)
        do {
            return try await run(&machine, start: actions, role: &role, frames: &frames)
        } catch {
            identified = machine.identifiedPeer
            throw error
        }
    }

    func run<Machine: HandshakeMachine & ~Copyable, Role: HandshakeRole>(
        _ machine: inout Machine,
        start: [HandshakeAction],
        role: inout Role,
        frames: inout Frames
    ) async throws -> EstablishedSession {
        do {
            return try await exchange(&machine, start: start, role: &role, frames: &frames)
        } catch {
            // Protocol 2: a peer that refuses sends a Close with status 1002, then closes (the other
            // side must not rely on it). Protocol 1 closes without one, as the Rust crate does.
            if machine.usesBinaryFrames, !controller.stepTimedOut {
                var data = controller.channel.allocator.buffer(capacity: 2)
                data.write(webSocketErrorCode: .protocolError)
                controller.channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data), promise: nil)
            }
            throw error
        }
    }

    private func exchange<Machine: HandshakeMachine & ~Copyable, Role: HandshakeRole>(
        _ machine: inout Machine,
        start: [HandshakeAction],
        role: inout Role,
        frames: inout Frames
    ) async throws -> EstablishedSession {
        var actions = start
        let binary = machine.usesBinaryFrames
        let eachStep = machine.limitsEachStep
        // One limit for the whole exchange when the protocol says so (re-armed after standby waits).
        if !eachStep { controller.armStep() }
        while true {
            var next: [HandshakeAction] = []
            for action in actions {
                switch action {
                case .send(let bytes):
                    try await write(bytes, opcode: .text)
                case .sendBinary(let bytes):
                    try await write(bytes, opcode: .binary)
                case .decideStandby(let name, let zone):
                    next += machine.standbyDecided(try role.decideStandby(PeerID(name: name, zone: zone)))
                case .waitThenPoll(let delay):
                    controller.disarmStep()
                    try await role.waitAsStandby(delay)
                    if !eachStep { controller.armStep() }
                    next += machine.standbyTimerFired()
                case .established(let session):
                    controller.disarmStep()
                    return session
                case .fail(let error):
                    throw error
                }
            }
            if next.isEmpty {
                next = machine.receive(try await nextFrame(&frames, binary: binary, armStep: eachStep))
            }
            actions = next
        }
    }

    /// Writes one handshake frame and waits until it is written. Handshake frames and the link's frames
    /// take the same path to the channel (its event loop's task queue), and the link's first frame is
    /// sealed only after the handshake's last one is out: protocol 2 numbers its frames, and the peer
    /// opens them in that order.
    private func write(_ bytes: [UInt8], opcode: WebSocketOpcode) async throws {
        let channel = controller.channel
        let frame = WebSocketFrame(fin: true, opcode: opcode, data: channel.allocator.buffer(bytes: bytes))
        do {
            try await channel.writeAndFlush(frame).get()
            handOffFromEventLoop()
        } catch {
            throw failure(error, during: "the handshake")
        }
    }

    /// The next handshake frame's bytes, within the step limit. A Close is answered and ends the
    /// handshake; other control frames, and data frames of the other kind, break the protocol here.
    func nextFrame(_ frames: inout Frames, binary: Bool = false, armStep: Bool = true) async throws -> [UInt8] {
        if armStep { controller.armStep() }
        let frame: WebSocketFrame?
        do {
            frame = try await frames.next()
            handOffFromEventLoop()
        } catch {
            throw failure(error, during: "the handshake")
        }
        guard let frame else {
            if controller.stepTimedOut { throw timeout }
            throw PaddingtonError(.connectionClosed, "the peer closed the connection during the handshake")
        }
        controller.frameTaken()
        if frame.opcode == .connectionClose {
            var code = frame.data
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: code.readSlice(length: 2) ?? ByteBuffer())
            controller.channel.writeAndFlush(reply, promise: nil)
            throw PaddingtonError(.connectionClosed, "the peer closed the link during the handshake")
        }
        guard frame.opcode == (binary ? .binary : .text) else {
            throw PaddingtonError(.protocolViolation,
                "expected a \(binary ? "binary" : "text") frame in the handshake, got a \(frame.opcode) frame")
        }
        return Array(buffer: frame.data)
    }

    private var timeout: PaddingtonError {
        PaddingtonError(.timeout, "no handshake frame within \(stepTimeout)")
    }

    /// A read that failed: the step timer, a WebSocket protocol error from the peer, or a broken
    /// connection.
    func failure(_ error: any Error, during step: String) -> PaddingtonError {
        if controller.stepTimedOut { return timeout }
        return Self.linkFailure(error, during: step)
    }

    /// A read that failed: a WebSocket protocol error from the peer (an oversized or fragmented
    /// control frame, a frame over the size limit, bad framing) or a broken connection.
    static func linkFailure(_ error: any Error, during step: String) -> PaddingtonError {
        if error is NIOWebSocketError {
            return PaddingtonError(.protocolViolation, "the peer broke WebSocket framing during \(step)", cause: error)
        }
        if let error = error as? PaddingtonError { return error }
        return PaddingtonError(.connectionLost, "the connection failed during \(step)", cause: error)
    }
}
