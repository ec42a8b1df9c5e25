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
    func intercept(
        _ message: Message,
        context: MessageContext,
        next: (Message, MessageContext) async throws -> Void
    ) async throws
}
