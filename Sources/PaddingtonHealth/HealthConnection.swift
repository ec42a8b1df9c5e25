import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Serves the requests of one HTTP/1 connection in order until the client closes it, asks to close, or
/// sends a body longer than the limit (answered `400`, then closed).
enum HealthConnection {
    static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, responder: HealthResponder, maxBodyBytes: Int,
        logger: Logger
    ) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var bodyBytes = 0
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                        bodyBytes = 0
                    case .body(let buffer):
                        bodyBytes += buffer.readableBytes
                        if bodyBytes > maxBodyBytes {
                            let date = HTTPDate.now()
                            try await write(
                                .init(status: .badRequest, headers: ["content-length": "0", "date": date, "connection": "close"], body: [], close: true),
                                version: head?.version ?? .http1_1, to: outbound)
                            return
                        }
                    case .end:
                        guard let requestHead = head else { continue }
                        head = nil
                        let response = responder.respond(to: requestHead, date: HTTPDate.now())
                        try await write(response, version: requestHead.version, to: outbound)
                        if response.close { return }
                    }
                }
            }
        } catch {
            logger.debug("health connection failed", metadata: ["error": "\(error)"])
        }
    }

    private static func write(
        _ response: HealthResponder.Response, version: HTTPVersion, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws {
        try await outbound.write(.head(HTTPResponseHead(version: version, status: response.status, headers: response.headers)))
        if !response.body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body)))) }
        try await outbound.write(.end(nil))
    }
}
