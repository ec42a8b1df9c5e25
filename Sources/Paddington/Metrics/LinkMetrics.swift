import CoreMetrics

/// The instruments of one established link, made once when the link is established so that counting a
/// frame or a message is an increment, not a lookup. Every one carries `service`, `peer`, `zone` and
/// `protocol`; traffic counters add `direction` (`in` received, `out` sent), and the links-up gauge's
/// `direction` says who dialled (`in`: the peer, `out`: this service).
final class LinkMetrics: Sendable {
    let up: Gauge
    let messagesIn: Counter
    let messagesOut: Counter
    let framesIn: Counter
    let framesOut: Counter
    let bytesIn: Counter
    let bytesOut: Counter
    let sendQueue: Gauge

    init(info: PeerInfo, service: String, factory: any MetricsFactory) {
        let base = [("service", service), ("peer", info.id.name), ("zone", info.id.zone)]
        let version = ("protocol", "\(info.protocolVersion)")
        func traffic(_ name: String, _ direction: String) -> Counter {
            Counter(label: name, dimensions: base + [("direction", direction), version], factory: factory)
        }
        up = Gauge(
            label: MeshMetrics.Name.linksUp,
            dimensions: base + [("direction", MeshMetrics.direction(weDialled: info.weDialled)), version], factory: factory)
        messagesIn = traffic(MeshMetrics.Name.messages, "in")
        messagesOut = traffic(MeshMetrics.Name.messages, "out")
        framesIn = traffic(MeshMetrics.Name.frames, "in")
        framesOut = traffic(MeshMetrics.Name.frames, "out")
        bytesIn = traffic(MeshMetrics.Name.bytes, "in")
        bytesOut = traffic(MeshMetrics.Name.bytes, "out")
        sendQueue = Gauge(label: MeshMetrics.Name.sendQueue, dimensions: base + [version], factory: factory)
    }
}
