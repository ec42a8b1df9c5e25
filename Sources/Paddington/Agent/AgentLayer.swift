import Foundation
import Logging
import NIOCore

/// Request/reply over the links of one mesh (docs/agents.md): the routes this service answers, the
/// requests it has in flight, and what a link's read loop does with each agent frame.
final class AgentLayer: Sendable {
    let routes = RouteTable()
    let pending = PendingRequests()
    private let options: MeshConfiguration
    private let statistics: StatisticsRecorder

    /// The built-in routes every agent of ours answers.
    static let pingRoute = "paddington.ping"
    static let infoRoute = "paddington.info"

    init(options: MeshConfiguration, statistics: StatisticsRecorder) {
        self.options = options
        self.statistics = statistics
        routes.register(Self.pingRoute) { request, _ in Reply(bytes: request.bytes) }
        routes.register(Self.infoRoute) { _, context in
            let info = context.mesh.serviceInfo
            let body = try JSONEncoder().encode(info)
            return Reply(bytes: [UInt8](body), headers: ["content-type": "application/json"])
        }
    }

    // MARK: Calling

    /// Sends a request on `link` and waits for its outcome.
    func request(_ body: [UInt8], route: String, headers: [String: String], on link: Link, timeout: Duration) async throws -> Reply {
        guard timeout > .zero, timeout <= .milliseconds(Int64(AgentFrame.Limits.maxDeadlineMilliseconds)) else {
            throw PaddingtonError(.invalidArgument, "a request's timeout must be more than zero and at most one day")
        }
        if Task.isCancelled { throw PaddingtonError(.cancelled, "the request to \(link.id) was cancelled before it was sent") }
        let deadline = NIODeadline.now() + .nanoseconds(timeout.nanoseconds)
        switch await link.agentSupport(waitingUntil: deadline) {
        case .supported:
            break
        case .unsupported:
            if let reason = link.closeReason {
                throw PaddingtonError(.linkLost, "the link to \(link.id) ended before the request was sent (\(reason.code)); nothing was sent")
            }
            throw PaddingtonError(.unsupportedByPeer,
                "\(link.id) does not take requests (\(link.info.engine) \(link.info.version) did not announce agent frames); nothing was sent")
        case .undecided:
            if Task.isCancelled { throw PaddingtonError(.cancelled, "the request to \(link.id) was cancelled before it was sent") }
            throw PaddingtonError(.deadlineExceeded, "\(link.id) had not said whether it takes requests within \(timeout); nothing was sent")
        }
        let (id, outcome) = try pending.open(on: link, limit: options.maxRequestsInFlightPerPeer)
        let pending = self.pending
        let milliseconds = UInt32(clamping: max(1, (timeout.nanoseconds + 999_999) / 1_000_000))
        let timer = link.channel.eventLoop.scheduleTask(deadline: deadline) {
            if pending.finish(id, with: .failure(PaddingtonError(.deadlineExceeded,
                "\(link.id) did not answer within \(timeout); the handler may or may not have run, and was told to stop"))) {
                Self.cancelRemote(id, on: link)
            }
        }
        defer { timer.cancel() }
        let frame = AgentFrame(kind: .request, id: id, route: route, deadlineMilliseconds: milliseconds, headers: headers, body: body)
        do {
            try await link.send(agent: frame)
        } catch {
            let failure = error as? PaddingtonError ?? PaddingtonError(.transport, "the request could not be sent", cause: error)
            // Nothing reached the peer; a reply cannot come.
            if pending.finish(id, with: .failure(failure)) { throw failure }
        }
        let result = await outcome.wait {
            if pending.finish(id, with: .failure(PaddingtonError(.cancelled,
                "the request to \(link.id) was cancelled; the peer was told to stop the handler"))) {
                Self.cancelRemote(id, on: link)
            }
        }
        return try result.get()
    }

    /// Tells the peer to stop request `id`; never waits (a cancel that cannot be sent at once is moot).
    private static func cancelRemote(_ id: UInt64, on link: Link) {
        Task { try? await link.send(agent: AgentFrame(kind: .cancel, id: id), wait: false) }
    }

    // MARK: Receiving

    /// Handles one agent frame from `link`, on its read loop (never blocks). Returns the message to
    /// queue for the handlers when the frame is a plain message.
    func receive(_ payload: Payload, on link: Link, running: RunningRequests, mesh: Mesh, logger: Logger) -> Message? {
        let frame: AgentFrame
        do {
            frame = try AgentFrame.decode(payload)
        } catch {
            statistics.malformedAgentFrame()
            logger.debug("malformed agent frame", metadata: ["error": "\(error.reason)"])
            if let id = error.requestID {
                answer(id, on: link, with: PaddingtonError(.malformedAgentFrame, error.reason))
            }
            return nil
        }
        switch frame.kind {
        case .message:
            return Message(sender: link.id.name, recipient: mesh.configuration.name, zone: link.id.zone, content: .bytes(frame.body))
        case .request:
            serve(frame, on: link, running: running, mesh: mesh, logger: logger)
        case .reply:
            if !pending.finish(frame.id, on: link, with: .success(Reply(bytes: frame.body, headers: frame.headers))) {
                statistics.strayReply()
                logger.debug("reply for no request in flight", metadata: ["request.id": "\(frame.id)"])
            }
        case .error:
            let code = PaddingtonError.Code(named: frame.route) ?? .remoteError
            let said = String(decoding: frame.body, as: UTF8.self)
            let message = "\(link.id) answered \(frame.route): \(said)"
            if !pending.finish(frame.id, on: link, with: .failure(PaddingtonError(code, message))) {
                statistics.strayReply()
                logger.debug("error for no request in flight", metadata: ["request.id": "\(frame.id)"])
            }
        case .cancel:
            running.cancel(frame.id)
        }
        return nil
    }

    private func serve(_ frame: AgentFrame, on link: Link, running: RunningRequests, mesh: Mesh, logger: Logger) {
        let id = frame.id
        switch running.reserve(id, limit: options.maxRequestHandlersPerPeer) {
        case .granted:
            break
        case .duplicate:
            statistics.malformedAgentFrame()
            answer(id, on: link, with: PaddingtonError(.malformedAgentFrame, "request id \(id) is already running"))
            return
        case .overloaded:
            answer(id, on: link, with: PaddingtonError(.overloaded,
                "\(options.maxRequestHandlersPerPeer) requests from this peer are running already"))
            return
        case .closed:
            return
        }
        var logger = logger
        logger[metadataKey: "route"] = "\(frame.route)"
        let context = RequestContext(
            mesh: mesh, peer: link.id, route: frame.route,
            deadline: .now + .milliseconds(Int64(frame.deadlineMilliseconds)), logger: logger)
        let request = Request(route: frame.route, headers: frame.headers, bytes: frame.body)
        let handler = routes.handler(for: frame.route)
        let eventLoop = link.channel.eventLoop
        let task = Task {
            // The deadline cancels the handler: the caller has stopped waiting.
            let timer = eventLoop.scheduleTask(in: .milliseconds(Int64(frame.deadlineMilliseconds))) { running.cancel(id) }
            defer {
                timer.cancel()
                running.remove(id)
            }
            guard let handler else {
                try? await link.send(agent: Self.errorFrame(id, PaddingtonError(.unknownRoute,
                    "\(mesh.configuration.name) has no handler for route '\(frame.route)'")))
                return
            }
            let answer: AgentFrame
            do {
                let reply = try await handler(request, context)
                answer = AgentFrame(kind: .reply, id: id, headers: reply.headers, body: reply.bytes)
            } catch {
                if Task.isCancelled { return }
                logger.debug("request handler failed", metadata: ["error": "\(error)"])
                answer = Self.errorFrame(id, error)
            }
            // Cancelled (deadline, the caller, the link): nobody waits for the answer.
            if Task.isCancelled { return }
            do {
                try await link.send(agent: answer)
            } catch let error as PaddingtonError where error.code == .payloadTooLarge || error.code == .invalidArgument {
                try? await link.send(agent: Self.errorFrame(id, PaddingtonError(.remoteError, "the reply could not be sent: \(error.message)")))
            } catch {
                logger.debug("reply not sent", metadata: ["error": "\(error)"])
            }
        }
        running.register(id, task)
    }

    /// Answers request `id` with an error, off the read loop.
    private func answer(_ id: UInt64, on link: Link, with error: PaddingtonError) {
        Task { try? await link.send(agent: Self.errorFrame(id, error)) }
    }

    /// The error frame for what a handler threw.
    static func errorFrame(_ id: UInt64, _ error: any Error) -> AgentFrame {
        let code: String, message: String
        if let error = error as? PaddingtonError {
            code = error.code.description
            message = error.message
        } else {
            code = PaddingtonError.Code.remoteError.description
            message = "the handler threw \(String(reflecting: type(of: error))): \(error)"
        }
        return AgentFrame(kind: .error, id: id, route: code, body: Array(message.utf8))
    }
}
