import Testing
@testable import Paddington
import PaddingtonCrypto

/// The `openportal-protocol` header on the WebSocket upgrade (paddington-v2 §4): its values, the
/// server's decision before the upgrade with its HTTP outcome, the client's decision from the `101`,
/// and the Noise prologue both make of it.
@Suite("Protocol negotiation on the upgrade")
struct NegotiationTests {
    // MARK: Header values

    @Test("valid offers: decimals 1...65535, highest first, comma-separated", arguments: [
        ("2", [2]), ("3,2", [3, 2]), ("2,1", [2, 1]), ("1", [1]), ("3", [3]), ("65535", [65535]),
        ("65535,2,1", [65535, 2, 1]), ("10,9,8,7,6,5,4,3,2,1", [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
    ])
    func validOffer(text: String, versions: [Int]) throws {
        let offer = try #require(ProtocolOffer(text))
        #expect(offer.versions == versions)
        #expect(offer.text == text, "kept byte for byte for the prologue")
        #expect(offer.offersProtocolTwo == versions.contains(2))
    }

    @Test("malformed offers are refused", arguments: [
        "", " ", " 2", "2 ", "2, 1", "2 ,1", "\t2", "2\t",  // spaces (after HTTP's stripping, none may remain)
        "02", "002", "01", "0", "00", "0,2",  // leading zeros, zero
        "65536", "99999", "100000", "4294967298", "18446744073709551618",  // out of range
        "2,2", "3,2,2", "2,1,1",  // duplicates
        "1,2", "2,3", "3,1,2",  // ascending
        ",", "2,", ",2", "2,,1",  // empty items
        "-1", "+2", "2.0", "2;q=1", "x", "two", "\u{0662}", "２", "2\u{0}", "0x2",  // not plain decimals
    ])
    func malformedOffer(text: String) {
        #expect(ProtocolOffer(text) == nil, "'\(text)'")
    }

    @Test("a very long value is refused, whatever it holds")
    func longOffer() {
        // Valid lists longer than the implementation's limit (the spec states none).
        let limit = ProtocolOffer.maximumLength
        let valid = (1...65535).reversed().prefix(50).map(String.init).joined(separator: ",")
        #expect(valid.utf8.count > limit)
        #expect(ProtocolOffer(valid) == nil)
        #expect(ProtocolOffer(String(repeating: "9", count: 100_000)) == nil)
        #expect(ProtocolOffer(String(repeating: "2,", count: 50_000) + "2") == nil)
        // The boundary: 42 five-digit numbers (251 bytes), then ",9999" makes exactly the limit and
        // ",10000" one byte more; both lists are otherwise valid.
        let head = (1...65535).reversed().prefix(42).map(String.init).joined(separator: ",")
        #expect((head + ",9999").utf8.count == limit)
        #expect(ProtocolOffer(head + ",9999") != nil)
        #expect((head + ",10000").utf8.count == limit + 1)
        #expect(ProtocolOffer(head + ",10000") == nil)
    }

    // MARK: The server's decision

    /// What the server answers the upgrade request with.
    enum HTTPOutcome: Equatable, CustomStringConvertible {
        /// `101`, speaking `version`, with `openportal-protocol: selection` when it selected one.
        case switching(version: Int, selection: String?, marked: Bool)
        /// `400`: malformed or repeated header.
        case badRequest
        /// `426` with `Upgrade: websocket` and `openportal-protocol: 2`.
        case upgradeRequired

        init(_ result: Result<NegotiatedProtocol, NegotiationRefusal>) {
            switch result {
            case .success(let negotiated):
                self = .switching(version: negotiated.version, selection: negotiated.selection, marked: negotiated.protocolTwoEnabled)
            case .failure(.badRequest):
                self = .badRequest
            case .failure(.upgradeRequired):
                self = .upgradeRequired
            }
        }

        var description: String {
            switch self {
            case .switching(let version, let selection, let marked):
                return "101 protocol \(version)\(selection.map { ", selecting \($0)" } ?? "")\(marked ? ", marked" : "")"
            case .badRequest: return "400"
            case .upgradeRequired: return "426"
            }
        }
    }

    static let v1Marked = HTTPOutcome.switching(version: 1, selection: nil, marked: true)
    static let v1Rust = HTTPOutcome.switching(version: 1, selection: nil, marked: false)
    static let v2 = HTTPOutcome.switching(version: 2, selection: "2", marked: true)

    static let serverCases: [(ProtocolPolicy, [String], HTTPOutcome)] = [
        // auto
        (.auto, [], v1Marked),
        (.auto, ["2"], v2),
        (.auto, ["3,2"], v2),
        (.auto, ["2,1"], v2),
        (.auto, ["3"], v1Marked),
        (.auto, ["1"], v1Marked),
        (.auto, ["02"], .badRequest),
        (.auto, [""], .badRequest),
        (.auto, ["2 ,1"], .badRequest),
        (.auto, ["65536"], .badRequest),
        (.auto, ["2", "2"], .badRequest),
        (.auto, ["2", "1"], .badRequest),
        (.auto, ["x", "2"], .badRequest),
        // require (`2`)
        (.require, [], .upgradeRequired),
        (.require, ["2"], v2),
        (.require, ["3,2"], v2),
        (.require, ["3"], .upgradeRequired),
        (.require, ["1"], .upgradeRequired),
        (.require, ["0"], .badRequest),
        (.require, [""], .badRequest),
        (.require, ["2", "2"], .badRequest),
        // off (`1`): the header means nothing, as to the Rust crate
        (.off, [], v1Rust),
        (.off, ["2"], v1Rust),
        (.off, ["3"], v1Rust),
        (.off, ["02"], v1Rust),
        (.off, [""], v1Rust),
        (.off, ["2", "2"], v1Rust),
    ]

    @Test("the server decides before the upgrade", arguments: serverCases)
    func server(policy: ProtocolPolicy, values: [String], expected: HTTPOutcome) {
        let result = NegotiatedProtocol.server(headerValues: values, policy: policy)
        #expect(HTTPOutcome(result) == expected, "\(policy) \(values)")
    }

    @Test("the server's decision carries the offer as received, and refusals say why", arguments: serverCases)
    func serverDetails(policy: ProtocolPolicy, values: [String], expected: HTTPOutcome) throws {
        switch NegotiatedProtocol.server(headerValues: values, policy: policy) {
        case .success(let negotiated):
            if policy == .off {
                #expect(negotiated == .rustCompatible)
            } else {
                #expect(negotiated.offer == values.first)
            }
            if negotiated.version == 2 {
                #expect(negotiated.prologue == ProtocolTwo.prologue(offer: values[0], select: "2"))
            }
        case .failure(let refusal):
            switch refusal {
            case .badRequest(let error):
                #expect(error.code == .protocolViolation)
                #expect(error.message.contains("openportal-protocol"))
                #expect(error.message.contains(values.count > 1 ? "repeats" : "is not a list of protocol numbers"), "\(error.message)")
            case .upgradeRequired(let error):
                #expect(error.code == .protocolVersionMismatch)
                #expect(error.message.contains(values.isEmpty ? "offered none" : "offered only '\(values[0])'"), "\(error.message)")
            }
            #expect(refusal.error.message.isEmpty == false)
        }
    }

    @Test("a refusal quotes at most 64 characters of a long header")
    func longRefusal() throws {
        let result = NegotiatedProtocol.server(headerValues: [String(repeating: "7", count: 10_000)], policy: .auto)
        guard case .failure(.badRequest(let error)) = result else {
            Issue.record("expected 400, got \(result)")
            return
        }
        #expect(error.message.utf8.count < 200, "\(error.message.utf8.count) bytes")
    }

    // MARK: The client's decision

    @Test("the client offers 2 unless protocol 2 is off")
    func clientOffer() {
        #expect(NegotiatedProtocol.clientOffer(policy: .auto) == "2")
        #expect(NegotiatedProtocol.clientOffer(policy: .require) == "2")
        #expect(NegotiatedProtocol.clientOffer(policy: .off) == nil)
    }

    /// The client's outcome: a protocol, or the code it throws.
    enum ClientOutcome: Equatable {
        case speaks(version: Int, marked: Bool)
        case refuses(PaddingtonError.Code)
    }

    static let clientCases: [(String?, [String], ProtocolPolicy, ClientOutcome)] = [
        // Offered, auto.
        ("2", [], .auto, .speaks(version: 1, marked: true)),
        ("2", ["2"], .auto, .speaks(version: 2, marked: true)),
        ("2", ["3"], .auto, .refuses(.protocolViolation)),
        ("2", [" 2"], .auto, .refuses(.protocolViolation)),
        ("2", ["2 "], .auto, .refuses(.protocolViolation)),
        ("2", ["02"], .auto, .refuses(.protocolViolation)),
        ("2", ["2,1"], .auto, .refuses(.protocolViolation)),
        ("2", [""], .auto, .refuses(.protocolViolation)),
        ("2", ["2", "2"], .auto, .refuses(.protocolViolation)),
        // Offered, require.
        ("2", [], .require, .refuses(.protocolVersionMismatch)),
        ("2", ["2"], .require, .speaks(version: 2, marked: true)),
        ("2", ["3"], .require, .refuses(.protocolViolation)),
        ("2", [" 2"], .require, .refuses(.protocolViolation)),
        ("2", ["2", "2"], .require, .refuses(.protocolViolation)),
        // Not offered: a selection means nothing, whatever it says.
        (nil, [], .off, .speaks(version: 1, marked: false)),
        (nil, ["2"], .off, .speaks(version: 1, marked: false)),
        (nil, ["3"], .off, .speaks(version: 1, marked: false)),
        (nil, [" 2"], .off, .speaks(version: 1, marked: false)),
        (nil, ["2", "2"], .off, .speaks(version: 1, marked: false)),
        (nil, ["2"], .auto, .speaks(version: 1, marked: false)),
        (nil, ["2", "2"], .require, .speaks(version: 1, marked: false)),
    ]

    @Test("the client decides from the 101", arguments: clientCases)
    func client(offered: String?, selection: [String], policy: ProtocolPolicy, expected: ClientOutcome) {
        let outcome: ClientOutcome
        do {
            let negotiated = try NegotiatedProtocol.client(offered: offered, selectionValues: selection, policy: policy, server: "echo-server@default")
            outcome = .speaks(version: negotiated.version, marked: negotiated.protocolTwoEnabled)
            #expect(negotiated.offer == offered)
            #expect(negotiated.selection == (negotiated.version == 2 ? "2" : nil))
        } catch let error as PaddingtonError {
            outcome = .refuses(error.code)
            #expect(error.message.contains("echo-server@default"), "\(error.message)")
        } catch {
            Issue.record("not a PaddingtonError: \(error)")
            return
        }
        #expect(outcome == expected, "offered \(String(describing: offered)), selection \(selection), \(policy)")
    }

    @Test("a client that offered 2 and got 2 uses the vectors' prologue")
    func clientPrologue() throws {
        let negotiated = try NegotiatedProtocol.client(offered: "2", selectionValues: ["2"], policy: .auto, server: "s")
        #expect(negotiated.prologue == Array("openportal-paddington/2\noffer=2\nselect=2\n".utf8))
    }

    // MARK: Prologue

    @Test("the prologue takes both values byte for byte", arguments: [("2", "2"), ("3,2", "2"), ("", "2"), ("2", ""), ("65535,2,1", "2")])
    func prologue(offer: String, select: String) {
        let expected = Array("openportal-paddington/2\noffer=\(offer)\nselect=\(select)\n".utf8)
        #expect(ProtocolTwoPrologue.bytes(offer: offer, select: select) == expected)
        #expect(ProtocolTwo.prologue(offer: offer, select: select) == expected, "the crypto module's prologue agrees")
        let negotiated = NegotiatedProtocol(version: 2, offer: offer, selection: select, protocolTwoEnabled: true)
        #expect(negotiated.prologue == expected)
    }

    @Test("the policy reads auto, 2 and 1 (and the names require and off) and prints auto, 2 and 1", arguments: [
        ("auto", ProtocolPolicy?.some(.auto), "auto"), ("2", .require, "2"), ("1", .off, "1"), ("require", .require, "2"),
        ("off", .off, "1"), ("3", nil, ""), ("", nil, ""), ("Auto", nil, ""), (" 2", nil, ""), ("on", nil, ""),
    ])
    func policyText(text: String, policy: ProtocolPolicy?, printed: String) {
        #expect(ProtocolPolicy(text) == policy)
        if let policy { #expect(policy.description == printed) }
    }
}
