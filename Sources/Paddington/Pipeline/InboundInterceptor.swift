/// Inbound middleware: sees every message on its way to the handlers, and decides whether, and with
/// what, the rest of the pipeline runs.
///
/// Interceptors run in the order given to the ``Mesh``, on the delivery task of the sender's link (after
/// the message left the per-peer queue, under the global handler cap), before the handler lookup.
/// Call `next` to go on (with the message as it is, or changed); return without calling it to drop the
/// message; throw to fail it (the error is logged like a handler's).
///
/// ```swift
/// struct Audit: InboundInterceptor {
///     func intercept(_ message: Message, context: MessageContext,
///                    next: (Message, MessageContext) async throws -> Void) async throws {
///         context.logger.info("message", metadata: ["bytes": "\(message.bytes.count)"])
///         try await next(message, context)
///     }
/// }
/// ```
public protocol InboundInterceptor: Sendable {
    /// Handles one message on its way to the handler.
    ///
    /// - Parameters:
    ///   - message: the message as received, or as the previous interceptor passed it on.
    ///   - context: the sender and a way to answer, as the handler will get them.
    ///   - next: the rest of the pipeline (later interceptors, then the handler lookup). It returns when
    ///     the handler has returned (at once when no handler matches) and throws what the handler threw.
    ///     Each call runs the rest again: call it once to deliver the message, not at all to drop it.
    func intercept(
        _ message: Message,
        context: MessageContext,
        next: (Message, MessageContext) async throws -> Void
    ) async throws
}
