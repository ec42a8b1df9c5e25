// The `agentframe` fuzz target: agent frames through `AgentFrame.decode`, as the bytes of a protocol 2
// DATA frame and as the text of a protocol 1 payload (base64).
//
// Whatever decodes must encode again, decode to the same frame, and obey the rules the decoder
// enforces (ids by kind, deadlines only on requests, the limits); a refusal that names a request id
// must come from a request.
import Foundation
import Paddington

func fuzzAgentFrame(_ data: [UInt8]) {
    check(Result { () throws(AgentFrame.DecodingFailure) in try AgentFrame.decode(data) }, input: data)
    let text = String(decoding: data, as: UTF8.self)
    check(Result { () throws(AgentFrame.DecodingFailure) in try AgentFrame.decode(.text(text)) }, input: nil)
    // The base64 of the input reaches the binary decoder through the text path too.
    let viaText = Result { () throws(AgentFrame.DecodingFailure) in try AgentFrame.decode(.text(Data(data).base64EncodedString())) }
    let direct = Result { () throws(AgentFrame.DecodingFailure) in try AgentFrame.decode(data) }
    switch (viaText, direct) {
    case (.success(let a), .success(let b)): precondition(a == b, "base64 and bytes decode differently")
    case (.failure(let a), .failure(let b)): precondition(a.reason == b.reason && a.requestID == b.requestID, "base64 and bytes fail differently")
    default: preconditionFailure("base64 and bytes disagree on whether a frame decodes")
    }
}

private func check(_ result: Result<AgentFrame, AgentFrame.DecodingFailure>, input: [UInt8]?) {
    switch result {
    case .failure(let failure):
        if failure.requestID != nil, let input {
            precondition(input.count > 1 && input[1] == AgentFrame.Kind.request.rawValue, "a refusal names a request id for a frame that is no request")
        }
    case .success(let frame):
        switch frame.kind {
        case .message: precondition(frame.id == 0 && frame.route.isEmpty && frame.deadlineMilliseconds == 0, "a bad message decoded")
        case .request: precondition(frame.id != 0 && (1...AgentFrame.Limits.maxDeadlineMilliseconds).contains(frame.deadlineMilliseconds), "a bad request decoded")
        case .reply, .cancel: precondition(frame.id != 0 && frame.route.isEmpty && frame.deadlineMilliseconds == 0, "a bad \(frame.kind) decoded")
        case .error: precondition(frame.id != 0 && !frame.route.isEmpty && frame.deadlineMilliseconds == 0, "a bad error decoded")
        }
        precondition(frame.kind != .cancel || frame.body.isEmpty, "a cancel with a body decoded")
        precondition(frame.headers.count <= AgentFrame.Limits.maxHeaders, "too many headers decoded")
        let encoded: [UInt8]
        do { encoded = try frame.encoded() } catch { preconditionFailure("a decoded frame does not encode: \(error)") }
        do {
            let again = try AgentFrame.decode(encoded)
            precondition(again == frame, "a frame changed through encode and decode")
        } catch {
            preconditionFailure("an encoded frame does not decode: \(error.reason)")
        }
    }
}
