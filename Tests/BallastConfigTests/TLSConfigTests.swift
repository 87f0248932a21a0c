import Foundation
import Testing
@testable import BallastConfig

/// `tls:` of listeners and upstreams as written (issue 22): the short and the long form, the
/// policy, client certificates, and what is refused with which rule.
@Suite struct TLSConfigTests {
    let listen = "    listen: 127.0.0.1:8080"

    func listenerTLS(_ yaml: String) throws -> ListenerTLS? {
        try #require(try ConfigLoader.load(text: goodConfig.replacingOccurrences(of: listen, with: listen + "\n" + yaml), file: "t.yaml",
                                           baseDirectory: "/etc/ballast").get().config.listeners.first).tls
    }

    @Test func theShortFormIsOneCertificateAndPathsAreRelativeToTheConfig() throws {
        let tls = try #require(try listenerTLS("    tls: { cert: certs/a.pem, key: /keys/a.key }"))
        #expect(tls.certificates.map(\.certificatePath) == ["/etc/ballast/certs/a.pem"])
        #expect(tls.certificates.map(\.keyPath) == ["/keys/a.key"])
        #expect(tls.minVersion == .v1_2)
        #expect(tls.clientCA == nil)
    }

    @Test func theLongFormListsCertificatesInOrderWithPolicyAndClientCA() throws {
        let tls = try #require(try listenerTLS("""
            tls:
              certificates: [ { cert: a.pem, key: a.key }, { cert: b.pem, key: b.key } ]
              min_version: "1.3"
              client_ca: ca.pem
        """))
        #expect(tls.certificates.map(\.certificate) == ["a.pem", "b.pem"])
        #expect(tls.minVersion == .v1_3)
        #expect(tls.clientCAPath == "/etc/ballast/ca.pem")
    }

    @Test func whatCannotWorkIsRefusedWithItsRule() {
        let both = findings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    tls: { cert: a.pem, key: a.key, certificates: [{ cert: b.pem, key: b.key }] }"))
        #expect(both.contains { $0.ruleID == "BL010" && $0.message.contains("both 'cert' and 'certificates'") }, "\(both)")
        let noKey = findings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    tls: { cert: a.pem }"))
        #expect(noKey.map(\.ruleID) == ["BL069"], "\(noKey)")
        let noCert = findings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    tls: { certificates: [{ key: a.key }] }"))
        #expect(noCert.contains { $0.ruleID == "BL069" && $0.message.contains("key but not its certificate") }, "\(noCert)")
        let nothing = findings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    tls: { min_version: \"1.2\" }"))
        #expect(nothing.contains { $0.ruleID == "BL008" }, "\(nothing)")
        let version = findings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    tls: { cert: a.pem, key: a.key, min_version: \"1.4\" }"))
        #expect(version.contains { $0.ruleID == "BL010" && $0.message.contains("'1.4'") }, "\(version)")
        let upstreamKey = findings(goodConfig.replacingOccurrences(of: "    panic_threshold_percent: 50",
                                                                  with: "    panic_threshold_percent: 50\n    tls: { ca: ca.pem, cert: client.pem }"))
        #expect(upstreamKey.map(\.ruleID) == ["BL069"], "\(upstreamKey)")
    }

    @Test func upstreamTLSIsReadWithItsDefaults() throws {
        let text = goodConfig.replacingOccurrences(of: "    panic_threshold_percent: 50",
                                                   with: "    panic_threshold_percent: 50\n    tls: { ca: ca.pem, server_name: auth.internal, cert: c.pem, key: c.key }")
        let upstream = try #require(try ConfigLoader.load(text: text, file: "t.yaml", baseDirectory: "/srv").get().config.upstreams.first)
        let tls = try #require(upstream.tls)
        #expect(tls.caPath == "/srv/ca.pem")
        #expect(tls.serverName == "auth.internal")
        #expect(tls.client?.certificatePath == "/srv/c.pem")
        #expect(tls.verify)
    }

    @Test func weakerPoliciesAndUnnamedIPUpstreamsAreWarnedAbout() {
        let weak = allFindings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    tls: { cert: a.pem, key: a.key, min_version: \"1.0\" }"))
        #expect(weak.contains { $0.ruleID == "BL071" && $0.message.contains("TLS 1.0") }, "\(weak)")
        let unverified = allFindings(goodConfig.replacingOccurrences(of: "    panic_threshold_percent: 50",
                                                                    with: "    panic_threshold_percent: 50\n    tls: { verify: false }"))
        #expect(unverified.contains { $0.ruleID == "BL071" && $0.message.contains("does not verify") }, "\(unverified)")
        #expect(!unverified.contains { $0.ruleID == "BL070" })
        let byIP = allFindings(goodConfig.replacingOccurrences(of: "    panic_threshold_percent: 50",
                                                              with: "    panic_threshold_percent: 50\n    tls: { ca: ca.pem }"))
        #expect(byIP.contains { $0.ruleID == "BL070" }, "\(byIP)")
        let named = allFindings(goodConfig.replacingOccurrences(of: "    panic_threshold_percent: 50",
                                                               with: "    panic_threshold_percent: 50\n    tls: { ca: ca.pem, server_name: auth.internal }"))
        #expect(!named.contains { $0.ruleID == "BL070" || $0.ruleID == "BL071" }, "\(named)")
    }
}
