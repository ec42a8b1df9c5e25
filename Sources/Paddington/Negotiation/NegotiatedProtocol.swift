/// The outcome of the `openportal-protocol` exchange on the WebSocket upgrade, for one connection
/// (paddington-v2 §4).
package struct NegotiatedProtocol: Equatable, Sendable {
    /// The protocol the connection speaks after the upgrade: 1 or 2.
    package var version: Int
    /// The client's offer as sent and received; nil when there was none.
    package var offer: String?
    /// The server's selection as sent and received; nil when there was none.
    package var selection: String?
    /// Whether this side has protocol 2 enabled. On a protocol 1 connection it then marks its
    /// `Handshake` with `"protocols":[2]` and refuses the peer's mark as a stripped header.
    package var protocolTwoEnabled: Bool

    /// The Noise prologue of a protocol 2 connection.
    package var prologue: [UInt8] {
        ProtocolTwoPrologue.bytes(offer: offer ?? "", select: selection ?? "")
    }

    // MARK: Server

    /// What a server decides from the request's `openportal-protocol` header values, before it knows
    /// the client: protocol 2 when offered and enabled, protocol 1 otherwise; a refusal (HTTP status
    /// and reason) for a malformed or repeated header, or a missing offer when protocol 2 is required.
    package static func server(headerValues: [String], policy: ProtocolPolicy) -> Result<NegotiatedProtocol, NegotiationRefusal> {
        guard policy.allowsProtocolTwo else {
            // As the Rust crate: the header means nothing.
            return .success(NegotiatedProtocol(version: 1, offer: nil, selection: nil, protocolTwoEnabled: false))
        }
        guard headerValues.count <= 1 else {
            return .failure(.badRequest(PaddingtonError(.protocolViolation, "the request repeats the \(ProtocolOffer.headerName) header")))
        }
        var offer: ProtocolOffer?
        if let text = headerValues.first {
            guard let parsed = ProtocolOffer(text) else {
                return .failure(.badRequest(PaddingtonError(.protocolViolation,
                    "the \(ProtocolOffer.headerName) header '\(text.prefix(64))' is not a list of protocol numbers, highest first")))
            }
            offer = parsed
        }
        if let offer, offer.offersProtocolTwo {
            return .success(NegotiatedProtocol(version: 2, offer: offer.text, selection: ProtocolOffer.protocolTwo, protocolTwoEnabled: true))
        }
        if policy.requiresProtocolTwo {
            return .failure(.upgradeRequired(PaddingtonError(.protocolVersionMismatch,
                "this service requires protocol 2 and the client offered \(offer.map { "only '\($0.text)'" } ?? "none")")))
        }
        return .success(NegotiatedProtocol(version: 1, offer: offer?.text, selection: nil, protocolTwoEnabled: true))
    }

    // MARK: Client

    /// The header a client with this policy adds to its upgrade request, if any.
    package static func clientOffer(policy: ProtocolPolicy) -> String? {
        policy.allowsProtocolTwo ? ProtocolOffer.protocolTwo : nil
    }

    /// What a client concludes from the `101`'s `openportal-protocol` header values.
    ///
    /// - Throws: `PaddingtonError.Code.protocolViolation` for a selection that was not
    ///   offered (anything but exactly `2`, or a repeated header);
    ///   `PaddingtonError.Code.protocolVersionMismatch` when protocol 2 is required and the
    ///   server did not select it.
    package static func client(offered: String?, selectionValues: [String], policy: ProtocolPolicy, server: String) throws -> NegotiatedProtocol {
        guard let offered else {
            // We did not offer: a selection means nothing to us (paddington-v2 §4).
            return NegotiatedProtocol(version: 1, offer: nil, selection: nil, protocolTwoEnabled: false)
        }
        guard selectionValues.count <= 1 else {
            throw PaddingtonError(.protocolViolation, "\(server) answered with a repeated \(ProtocolOffer.headerName) header")
        }
        if let selection = selectionValues.first {
            guard selection == ProtocolOffer.protocolTwo else {
                throw PaddingtonError(.protocolViolation,
                    "\(server) selected protocol '\(selection.prefix(64))', which was not offered (the offer was '\(offered)')")
            }
            return NegotiatedProtocol(version: 2, offer: offered, selection: selection, protocolTwoEnabled: true)
        }
        if policy.requiresProtocolTwo {
            throw PaddingtonError(.protocolVersionMismatch,
                "protocol 2 is required for \(server), which answered with protocol 1 (a Rust peer, or protocol 2 is off there)")
        }
        return NegotiatedProtocol(version: 1, offer: offered, selection: nil, protocolTwoEnabled: true)
    }
}

/// Why a server refuses an upgrade request over its `openportal-protocol` header.
package enum NegotiationRefusal: Error {
    /// HTTP 400: malformed or repeated header.
    case badRequest(PaddingtonError)
    /// HTTP 426 with `Upgrade: websocket` and `openportal-protocol: 2`: protocol 2 is required.
    case upgradeRequired(PaddingtonError)

    /// The error that the refusal reports.
    package var error: PaddingtonError {
        switch self {
        case .badRequest(let error), .upgradeRequired(let error): return error
        }
    }
}

/// The Noise prologue of protocol 2: both header values, as sent and received.
enum ProtocolTwoPrologue {
    static func bytes(offer: String, select: String) -> [UInt8] {
        Array("openportal-paddington/2\noffer=\(offer)\nselect=\(select)\n".utf8)
    }
}

extension NegotiatedProtocol {
    /// Protocol 1 with protocol 2 off: the Rust crate's behaviour.
    package static let rustCompatible = NegotiatedProtocol(version: 1, offer: nil, selection: nil, protocolTwoEnabled: false)
}
