import CoreMetrics
import Foundation
import NIOConcurrencyHelpers

/// `ballast_tls_certificate_expiry_seconds{listener,subject}`: when each certificate in use
/// stops being valid, as a Unix time (as cert-manager's and the blackbox exporter's expiry
/// metrics: `ballast_tls_certificate_expiry_seconds - time()` is what is left). Listener
/// certificates under their listener's name, upstream client certificates as
/// `listener="upstream:NAME"`. A certificate no longer in use loses its series.
final class CertificateExpiryGauges: Sendable {
    private let gauges = NIOLockedValueBox<[String: Gauge]>([:])

    func publish(listeners: [(String, [LeafFacts])], upstreams: [(String, LeafFacts)]) {
        var wanted: [String: (String, String, Date)] = [:]
        for (listener, leaves) in listeners {
            for leaf in leaves { wanted["\(listener)\u{0}\(leaf.subject)"] = (listener, leaf.subject, leaf.notAfter) }
        }
        for (upstream, leaf) in upstreams {
            wanted["upstream:\(upstream)\u{0}\(leaf.subject)"] = ("upstream:\(upstream)", leaf.subject, leaf.notAfter)
        }
        gauges.withLockedValue { gauges in
            for (key, gauge) in gauges where wanted[key] == nil {
                gauge.destroy()
                gauges[key] = nil
            }
            for (key, (listener, subject, notAfter)) in wanted {
                let gauge = gauges[key] ?? Gauge(label: "ballast_tls_certificate_expiry_seconds",
                                                 dimensions: [("listener", listener), ("subject", subject)])
                gauge.record(notAfter.timeIntervalSince1970)
                gauges[key] = gauge
            }
        }
    }
}
