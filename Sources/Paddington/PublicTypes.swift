import PaddingtonCrypto

// The types of the crypto module that the mesh's API uses, named here so that `import Paddington` is
// all an application needs. The rest of PaddingtonCrypto (the envelope, hex, JSON strings) is not part
// of this module's API.

/// The one error type of swift-paddington: a `PaddingtonError.Code`, a message and a cause.
public typealias PaddingtonError = PaddingtonCrypto.PaddingtonError
/// A 32-byte key: opaque, zeroed when freed, compared in constant time, never printed.
public typealias SecretKey = PaddingtonCrypto.SecretKey
/// The two pre-shared keys of an invitation (`inner_key`, `outer_key`).
public typealias EnvelopeKeys = PaddingtonCrypto.EnvelopeKeys
