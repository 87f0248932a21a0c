import Foundation

/// The topology as an SVG drawn by Ballast itself: listeners → routes (in evaluation order) →
/// upstreams → servers, one column each, with an arrow for every link.
package struct TopologyDiagram: Sendable {
    package var facts: TopologyFacts

    package init(facts: TopologyFacts) { self.facts = facts }

    struct Box {
        var id: String
        var lines: [String]
        var x: Double
        var y: Double
        var cssClass: String
    }

    static let columnX: [Double] = [10, 230, 520, 740]
    static let widths: [Double] = [190, 260, 190, 250]
    static let rowHeight: Double = 44
    static let gap: Double = 10

    package func svg() -> String {
        var boxes: [Box] = []
        func column(_ index: Int, _ items: [(id: String, lines: [String])], cssClass: String) {
            for (row, item) in items.enumerated() {
                boxes.append(Box(id: item.id, lines: item.lines, x: Self.columnX[index],
                                 y: 40 + Double(row) * (Self.rowHeight + Self.gap), cssClass: cssClass))
            }
        }
        column(0, facts.listeners.map { ("listener:\($0.name)", [$0.name, ($0.tls ? "https://" : "http://") + $0.listen]) }, cssClass: "listener")
        column(1, facts.routes.enumerated().map { ("route:\($0.element.listener)/\($0.element.name)", ["\($0.offset + 1). \($0.element.name)", $0.element.match]) },
               cssClass: "route")
        column(2, facts.upstreams.map { ("upstream:\($0.name)", [$0.name, $0.balance]) }, cssClass: "upstream")
        column(3, facts.upstreams.flatMap { upstream in
            upstream.servers.map { ("server:\(upstream.name)/\($0.address)", [$0.address, "weight \($0.weight) · \(TopologyFacts.number($0.share))%"]) }
        }, cssClass: "server")
        let byID = Dictionary(boxes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var edges: [(Box, Box)] = []
        for route in facts.routes {
            guard let to = byID["route:\(route.listener)/\(route.name)"] else { continue }
            if let from = byID["listener:\(route.listener)"] { edges.append((from, to)) }
            if let upstream = byID["upstream:\(route.upstream)"] { edges.append((to, upstream)) }
        }
        for upstream in facts.upstreams {
            guard let from = byID["upstream:\(upstream.name)"] else { continue }
            for server in upstream.servers { if let to = byID["server:\(upstream.name)/\(server.address)"] { edges.append((from, to)) } }
        }
        let height = (boxes.map { $0.y + Self.rowHeight }.max() ?? 60) + 20
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="1000" height="\(Int(height))" viewBox="0 0 1000 \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <title>Topology of config sha256 \(Self.escape(facts.configHash))\(facts.configVersion.map { " (version \($0))" } ?? "")</title>
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>
            <rect width="1000" height="\(Int(height))" fill="#ffffff"/>

            """
        for (index, title) in ["listeners", "routes (evaluation order)", "upstreams", "servers"].enumerated() {
            out += "<text x=\"\(Self.columnX[index])\" y=\"24\" font-weight=\"bold\" fill=\"#24292f\">\(title)</text>\n"
        }
        for (from, to) in edges {
            let fromIndex = Self.columnX.firstIndex(of: from.x) ?? 0
            let x1 = from.x + Self.widths[fromIndex], y1 = from.y + Self.rowHeight / 2
            let x2 = to.x, y2 = to.y + Self.rowHeight / 2
            out += "<path class=\"link\" d=\"M\(x1),\(y1) C\(x1 + 30),\(y1) \(x2 - 30),\(y2) \(x2),\(y2)\" fill=\"none\" stroke=\"#57606a\" marker-end=\"url(#arrow)\"/>\n"
        }
        let fills = ["listener": "#ddf4ff", "route": "#fff8c5", "upstream": "#dafbe1", "server": "#f6f8fa"]
        for box in boxes {
            let width = Self.widths[Self.columnX.firstIndex(of: box.x) ?? 0]
            out += "<g class=\"\(box.cssClass)\" data-id=\"\(Self.escape(box.id))\">"
            out += "<rect x=\"\(box.x)\" y=\"\(box.y)\" width=\"\(width)\" height=\"\(Self.rowHeight)\" rx=\"5\" fill=\"\(fills[box.cssClass] ?? "#fff")\" stroke=\"#8c959f\"/>"
            for (line, text) in box.lines.enumerated() {
                let weight = line == 0 ? " font-weight=\"bold\"" : " fill=\"#57606a\""
                out += "<text x=\"\(box.x + 8)\" y=\"\(box.y + 18 + Double(line) * 16)\"\(weight)>\(Self.escape(Self.clip(text, width: width)))</text>"
            }
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    /// Text that fits the box (about 6.5 px a character at 12 px).
    static func clip(_ text: String, width: Double) -> String {
        let limit = Int((width - 16) / 6.5)
        return text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
