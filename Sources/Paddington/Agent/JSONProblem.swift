/// Says what was wrong with a JSON body, by field, from a `DecodingError`.
enum JSONProblem {
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, let context):
            return "field '\(path(context.codingPath + [key]))' is missing"
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' is not \(article(type))"
        case .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' is null; it must be \(article(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the body is not valid JSON" }
            return "field '\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        if keys.isEmpty { return "(the body)" }
        var out = ""
        for key in keys {
            if let index = key.intValue, key.stringValue.hasPrefix("Index") {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return out
    }

    private static func article(_ type: Any.Type) -> String {
        switch "\(type)" {
        case "String": return "a string"
        case "Int", "Int64", "Int32", "UInt", "UInt64", "UInt32", "Int16", "Int8", "UInt8", "UInt16": return "an integer (\(type))"
        case "Double", "Float": return "a number"
        case "Bool": return "a boolean"
        case let name where name.hasPrefix("Array") || name.hasPrefix("["): return "an array"
        case let name where name.hasPrefix("Dictionary"): return "an object"
        default: return "a \(type)"
        }
    }
}
