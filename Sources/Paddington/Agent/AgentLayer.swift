import Foundation
import Logging
import NIOCore

/// Request/reply over the links of one mesh (docs/agents.md): the routes this service answers, the
/// requests it has in flight, and what a link's read loop does with each agent frame.
final class AgentLayer: Sendable {
    let routes = RouteTable()
    let pending: PendingRequests
    private let options: MeshConfiguration
    private let statistics: StatisticsRecorder
    /// The mesh's request middleware, outermost first.
    let middleware: [any RequestMiddleware]

    /// The built-in routes every agent of ours answers.
    static let pingRoute = "paddington.ping"
    static let infoRoute = "paddington.info"

    init(options: MeshConfiguration, middleware: [any RequestMiddleware] = [], statistics: StatisticsRecorder, eventLoop: any EventLoop) {
        pending = PendingRequests(eventLoop: eventLoop) { id, link in Self.cancelRemote(id, on: link) }
        self.options = options
        self.middleware = middleware
        self.statistics = statistics
        routes.register(Self.pingRoute) { request, _ in Reply(bytes: request.bytes) }
        routes.register(Self.infoRoute) { _, context in
            let info = context.mesh.serviceInfo
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let body = try encoder.encode(info)
            return Reply(bytes: [UInt8](body), headers: ["content-type": "application/json"])
        }
    }

    // MARK: Calling

    /// Sends a request on `link` and waits for its outcome. `timeout` is the time left, more than zero
    /// and at most a day: ``Mesh/request(bytes:to:zone:route:headers:timeout:)`` checks the caller's.
    func request(_ body: [UInt8], route: String, headers: [String: String], on link: Link, timeout: Duration) async throws -> Reply {
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
        // The deadline the peer gets is the time left now, not the whole timeout.
        let left = deadline - NIODeadline.now()
        guard left > .zero else {
            throw PaddingtonError(.deadlineExceeded, "the timeout of \(timeout) passed before the request to \(link.id) could be sent; nothing was sent")
        }
        let milliseconds = UInt32(clamping: max(1, (left.nanoseconds + 999_999) / 1_000_000))
        let (id, outcome) = try pending.open(on: link, limit: options.maxRequestsInFlightPerPeer, timeout: timeout, deadline: deadline)
        let pending = self.pending
        let prepared: PreparedFrame
        do {
            prepared = try link.prepare(agent: AgentFrame(
                kind: .request, id: id, route: route, deadlineMilliseconds: milliseconds, headers: headers, body: body))
        } catch {
            let failure = Self.sendFailure(error, to: link)
            pending.finish(id, with: .failure(failure))
            throw failure
        }
        let onCancel: @Sendable () -> Void = {
            let sent = pending.finish(id, with: .failure(PaddingtonError(.cancelled,
                "the request to \(link.id) was cancelled; the peer was told to stop the handler")))
            if sent == true { Self.cancelRemote(id, on: link) }
        }
        // Fast path: the budget lets the frame go at once (marked sent first, so that a deadline in
        // between tells the peer to cancel it).
        let sentAtOnce: Bool
        do {
            guard pending.markSent(id) else { return try await outcome.wait(onCancel: onCancel).get() }
            sentAtOnce = try link.emitIfFree(prepared)
            if !sentAtOnce { pending.unmarkSent(id) }
        } catch {
            pending.finish(id, with: .failure(Self.sendFailure(error, to: link)))
            return try await outcome.wait(onCancel: onCancel).get()
        }
        if sentAtOnce { return try await outcome.wait(onCancel: onCancel).get() }
        // The budget is spent: wait for it beside the outcome, which the deadline or a cancellation may
        // end first; then the frame is not sent at all.
        let result = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    _ = try await link.emitWhenFree(prepared) { pending.markSent(id) }
                } catch {
                    pending.finish(id, with: .failure(Self.sendFailure(error, to: link)))
                }
            }
            let result = await outcome.wait(onCancel: onCancel)
            group.cancelAll()
            return result
        }
        return try result.get()
    }

    /// What a failure to send a request means for its caller: nothing was sent.
    private static func sendFailure(_ error: any Error, to link: Link) -> PaddingtonError {
        if error is CancellationError {
            return PaddingtonError(.cancelled, "the request to \(link.id) was cancelled before it was sent; nothing was sent")
        }
        guard let error = error as? PaddingtonError else {
            return PaddingtonError(.transport, "the request to \(link.id) could not be sent; nothing was sent", cause: error)
        }
        switch error.code {
        case .connectionClosed, .connectionLost, .peerShutdown, .shutdown:
            return PaddingtonError(.linkLost, "the link to \(link.id) is closing (\(error.code): \(error.message)); nothing was sent")
        default:
            return error
        }
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
                answer(id, on: link, running: running, with: PaddingtonError(.malformedAgentFrame, error.reason))
            }
            return nil
        }
        switch frame.kind {
        case .message:
            return Message(sender: link.id.name, recipient: mesh.core.name, zone: link.id.zone, content: .bytes(frame.body))
        case .request:
            serve(frame, on: link, running: running, mesh: mesh, logger: logger)
        case .reply:
            if pending.finish(frame.id, on: link, with: .success(Reply(bytes: frame.body, headers: frame.headers))) == nil {
                statistics.strayReply()
                logger.debug("reply for no request in flight", metadata: ["request.id": "\(frame.id)"])
            }
        case .error:
            if pending.finish(frame.id, on: link, with: .failure(Self.remoteFailure(frame, from: link))) == nil {
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
        var routeLogger = logger
        routeLogger[metadataKey: "route"] = "\(frame.route)"
        let logger = routeLogger
        let context = RequestContext(
            mesh: mesh, peer: link.id, route: frame.route,
            deadline: .now + .milliseconds(Int64(frame.deadlineMilliseconds)), logger: logger)
        let request = Request(route: frame.route, headers: frame.headers, bytes: frame.body)
        let route = frame.route
        let routeHandler = routes.handler(for: route)
        let middleware = self.middleware
        // The deadline cancels the handler: the caller has stopped waiting.
        let deadline = NIODeadline.now() + .milliseconds(Int64(frame.deadlineMilliseconds))
        let started = running.start(id, limit: options.maxRequestHandlersPerPeer, deadline: deadline) {
            defer { running.remove(id) }
            // An unknown route goes through the middleware too, so that logs and metrics see it.
            let handler: RequestHandler = routeHandler ?? { _, _ in
                throw PaddingtonError(.unknownRoute, "\(mesh.core.name) has no handler for route '\(route)'")
            }
            let answer: AgentFrame
            do {
                let reply = try await MiddlewareChain.handle(middleware, request, context, handler: handler)
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
        switch started {
        case .started, .closed:
            break
        case .duplicate:
            statistics.malformedAgentFrame()
            answer(id, on: link, running: running, with: PaddingtonError(.malformedAgentFrame, "request id \(id) is already running"))
        case .overloaded:
            answer(id, on: link, running: running, with: PaddingtonError(.overloaded,
                "\(options.maxRequestHandlersPerPeer) requests from this peer are running already"))
        }
    }

    /// Answers request `id` with an error, off the read loop; dropped when too many refusals are on
    /// their way already (a peer that floods requests and does not read gets no more of them).
    private func answer(_ id: UInt64, on link: Link, running: RunningRequests, with error: PaddingtonError) {
        guard running.startRefusal() else { return }
        Task {
            defer { running.refusalSent() }
            try? await link.send(agent: Self.errorFrame(id, error))
        }
    }

    /// The codes a peer's error frame may carry as they are; any other code arrives as
    /// `PaddingtonError.Code.remoteError` (a code such as `deadlineExceeded` or `tooManyRequests` from a
    /// handler's own call must not read as this caller's, whose documented meaning is "nothing ran").
    static let remoteCodes: Set<PaddingtonError.Code> = [.remoteError, .unknownRoute, .badRequest, .overloaded, .malformedAgentFrame, .unknownActor]

    /// The error a peer's error frame means for the caller.
    static func remoteFailure(_ frame: AgentFrame, from link: Link) -> PaddingtonError {
        let said = String(decoding: frame.body, as: UTF8.self)
        if let code = PaddingtonError.Code(named: frame.route), remoteCodes.contains(code) {
            return PaddingtonError(code, "\(link.id) answered: \(said)")
        }
        return PaddingtonError(.remoteError, "\(link.id) answered \(frame.route): \(said)")
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
