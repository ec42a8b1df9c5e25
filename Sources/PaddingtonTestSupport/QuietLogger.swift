import Foundation
import Logging

/// A logger that prints only critical messages, or every message from `PADDINGTON_TEST_LOG`'s level
/// (e.g. `PADDINGTON_TEST_LOG=debug`) when that variable is set.
package func quietLogger(_ label: String = "paddington-test") -> Logger {
    var logger = Logger(label: label)
    if let level = ProcessInfo.processInfo.environment["PADDINGTON_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) {
        logger.logLevel = level
    } else {
        logger.logLevel = .critical
    }
    return logger
}
