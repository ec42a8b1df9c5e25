// The `negotiation` fuzz target: the `openportal-protocol` header values through `ProtocolOffer` and
// both decisions (paddington-v2 §4), and CONTROL bodies through `ControlMessage.decode` (§6).
//
// Input: the whole input is one header value and one CONTROL body; split at line feeds it is also the
// list of a repeated header's values (at most four); read as big-endian 16-bit numbers it is a list of
// protocol numbers whose canonical text must parse back.
import Paddington
import PaddingtonCrypto

private let policies: [ProtocolPolicy] = [.auto, .require, .off]

func fuzzNegotiation(_ data: [UInt8]) {
    let text = String(decoding: data, as: UTF8.self)
    checkOffer(text)
    let values = data.split(separator: 0x0A, maxSplits: 3, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    for headers in [[], [text], values] {
        for policy in policies {
            checkServer(headers, policy: policy)
            for offered in [ProtocolOffer.protocolTwo, nil] as [String?] {
                checkClient(offered: offered, selection: headers, policy: policy)
            }
        }
    }
    checkCanonicalOffer(data)
    checkControl(data)
}

/// A value parses only in its canonical form: the numbers, highest first, joined by commas.
private func checkOffer(_ text: String) {
    guard let offer = ProtocolOffer(text) else { return }
    precondition(offer.text == text, "an offer changed its text")
    precondition(!offer.versions.isEmpty && text.utf8.count <= ProtocolOffer.maximumLength, "an empty or long offer parsed")
    precondition(offer.versions.allSatisfy { (1...65535).contains($0) }, "an offer has a number out of range")
    precondition(zip(offer.versions, offer.versions.dropFirst()).allSatisfy { $0 > $1 }, "an offer is not strictly descending")
    precondition(offer.versions.map(String.init).joined(separator: ",") == text, "a value that is not canonical parsed")
    precondition(offer.offersProtocolTwo == offer.versions.contains(2), "offersProtocolTwo disagrees with the list")
}

/// Any strictly descending list of 1...65535 that fits parses back to itself.
private func checkCanonicalOffer(_ data: [UInt8]) {
    var numbers: [Int] = []
    var index = 0
    while index + 1 < data.count, numbers.count < 16 {
        numbers.append(Int(data[index]) << 8 | Int(data[index + 1]))
        index += 2
    }
    let list = Array(Set(numbers.filter { $0 > 0 })).sorted(by: >)
    guard !list.isEmpty else { return }
    let text = list.map(String.init).joined(separator: ",")
    guard text.utf8.count <= ProtocolOffer.maximumLength else { return }
    precondition(ProtocolOffer(text)?.versions == list, "a canonical offer did not parse: \(text)")
}

private func checkServer(_ headers: [String], policy: ProtocolPolicy) {
    let result = NegotiatedProtocol.server(headerValues: headers, policy: policy)
    if policy == .off {
        guard case .success(let negotiated) = result, negotiated == .rustCompatible else {
            preconditionFailure("a server with protocol 2 off did not ignore the header")
        }
        return
    }
    let offer = headers.count == 1 ? ProtocolOffer(headers[0]) : nil
    switch result {
    case .success(let negotiated):
        precondition(headers.count <= 1 && (headers.isEmpty || offer != nil), "a malformed or repeated header was accepted")
        precondition(negotiated.protocolTwoEnabled && negotiated.offer == headers.first, "the decision lost the offer")
        if negotiated.version == 2 {
            precondition(offer?.offersProtocolTwo == true && negotiated.selection == ProtocolOffer.protocolTwo, "protocol 2 without an offer of it")
            precondition(negotiated.prologue == ProtocolTwo.prologue(offer: headers[0], select: "2"), "the prologue is not the headers'")
        } else {
            precondition(negotiated.version == 1 && negotiated.selection == nil, "an odd decision")
            precondition(offer?.offersProtocolTwo != true && policy == .auto, "protocol 1 despite an offer of 2, or under require")
        }
    case .failure(.badRequest):
        precondition(headers.count > 1 || (headers.count == 1 && offer == nil), "a valid header was refused with 400")
    case .failure(.upgradeRequired):
        precondition(policy == .require && headers.count <= 1 && offer?.offersProtocolTwo != true, "426 for a valid offer of 2")
    }
}

private func checkClient(offered: String?, selection: [String], policy: ProtocolPolicy) {
    let result = Result { try NegotiatedProtocol.client(offered: offered, selectionValues: selection, policy: policy, server: "s") }
    guard offered != nil else {
        guard case .success(let negotiated) = result, negotiated == .rustCompatible else {
            preconditionFailure("a client that did not offer did not ignore the selection")
        }
        return
    }
    switch result {
    case .success(let negotiated):
        if negotiated.version == 2 {
            precondition(selection == ["2"], "protocol 2 without the exact selection 2")
            precondition(negotiated.prologue == ProtocolTwo.prologue(offer: "2", select: "2"), "the prologue is not the headers'")
        } else {
            precondition(selection.isEmpty && policy != .require, "protocol 1 despite a selection, or under require")
        }
    case .failure(let error):
        let code = (error as? PaddingtonError)?.code
        precondition(code == .protocolViolation || code == .protocolVersionMismatch, "the client threw \(error)")
        precondition(selection != ["2"], "the exact selection 2 was refused")
    }
}

/// A body that decodes writes a body that decodes to the same message.
private func checkControl(_ body: [UInt8]) {
    guard let message = try? ControlMessage.decode(body) else { return }
    let again: ControlMessage
    do {
        again = try ControlMessage.decode(message.json())
    } catch {
        preconditionFailure("a CONTROL message did not read back what it wrote: \(error)")
    }
    precondition(again == message, "a CONTROL message changed in a round trip")
}
