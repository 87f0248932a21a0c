import BallastAPI
import BallastConfig
import BallastProxy
import Foundation
import Hummingbird
import NIOCore
import NIOFoundationEssentialsCompat

/// What `POST /api/v1/events` accepts: a note from an operator or a drill's step.

extension AdminAPI {
    /// Kinds a client may record; the rest are the stack's own.
    static let postableKinds = ["drill.", "note."]

    /// ```
    /// GET  /api/v1/incidents                    every incident, newest first
    /// GET  /api/v1/incidents/{id|latest}        the incident with its events, prior changes and vitals
    /// GET  /api/v1/incidents/{id}/postmortem    the Markdown draft (?chart=FILE links the chart)
    /// GET  /api/v1/incidents/{id}/chart.svg     its chart
    /// GET  /api/v1/postmortem?from=&to=&title=  the same for a window no alert opened (drills)
    /// GET  /api/v1/postmortem/chart.svg?…       and its chart
    /// POST /api/v1/events                       records a drill step or operator note (JSON)
    /// ```
    func addIncidentRoutes<Context: RequestContext>(to router: Router<Context>) {
        let api = router.group("api/v1")
        let store: any TimelineStore = timeline  // reads include events not yet written
        api.get("incidents") { _, _ in
            let book = try await IncidentBook.load(from: store)
            return try jsonResponse(.ok, AdminReplies.Incidents(incidents: Array(book.incidents.reversed())))
        }
        api.get("incidents/:id") { _, context in
            try await incidentResponse(context.parameters.get("id")) { try jsonResponse(.ok, $0) }
        }
        api.get("incidents/:id/postmortem") { request, context in
            let chart = request.uri.queryParameters["chart"].map(String.init)
            return try await incidentResponse(context.parameters.get("id")) {
                Self.text(PostmortemRenderer(record: $0, chartName: chart).markdown(), type: "text/markdown; charset=utf-8")
            }
        }
        api.get("incidents/:id/chart.svg") { _, context in
            try await incidentResponse(context.parameters.get("id")) { Self.text(IncidentChart(record: $0).svg(), type: "image/svg+xml") }
        }
        api.get("postmortem") { request, _ in
            try await windowResponse(request) {
                Self.text(PostmortemRenderer(record: $0, chartName: request.uri.queryParameters["chart"].map(String.init)).markdown(),
                          type: "text/markdown; charset=utf-8")
            }
        }
        api.get("postmortem/chart.svg") { request, _ in
            try await windowResponse(request) { Self.text(IncidentChart(record: $0).svg(), type: "image/svg+xml") }
        }
        api.post("events") { request, _ in
            let body = try await request.body.collect(upTo: 64 << 10)
            guard let posted = try? JSONDecoder().decode(PostedEvent.self, from: Data(buffer: body)) else {
                return jsonError(.badRequest, "bad_event", "send JSON {\"kind\", \"message\"} with optional source, subject and details")
            }
            guard Self.postableKinds.contains(where: posted.kind.hasPrefix), posted.kind.count <= 64,
                  posted.kind.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }) else {
                return jsonError(.unprocessableContent, "kind_not_allowed",
                                 "clients may record kinds starting with \(Self.postableKinds.joined(separator: " or ")) (letters, digits, dots, underscores)")
            }
            guard posted.message.count <= 2000, (posted.subject?.count ?? 0) <= 200, (posted.details?.count ?? 0) <= 32 else {
                return jsonError(.unprocessableContent, "event_too_large", "message ≤ 2000 characters, subject ≤ 200, at most 32 details")
            }
            var details = posted.details ?? [:]
            // Who posted it, as authenticated (a client's own claim does not stand alone).
            if let identity = request.headers[AdminAuthMiddleware<Context>.identity] { details["posted_by"] = identity }
            let event = TimelineEvent(source: posted.source ?? String(posted.kind.prefix { $0 != "." }), kind: posted.kind,
                                      subject: posted.subject, message: posted.message, details: details.isEmpty ? nil : details)
            await timeline.record(event)
            return try jsonResponse(.created, event)
        }
    }

    private func incidentResponse(_ id: String?, _ render: (IncidentRecord) throws -> Response) async throws -> Response {
        let number: Int?
        switch id {
        case "latest", nil: number = nil
        case let text?:
            guard let value = Int(text), value > 0 else {
                return jsonError(.badRequest, "bad_incident", "an incident is a positive number or 'latest'")
            }
            number = value
        }
        guard var record = try await IncidentRecord.load(incident: number, from: timeline.store) else {
            return jsonError(.notFound, "no_incident", number.map { "there is no incident \($0)" } ?? "no incident has been recorded")
        }
        record.failedRequests = await balancer.failedRequests(from: record.window.from, to: record.window.to)
        return try render(record)
    }

    private func windowResponse(_ request: Request, _ render: (IncidentRecord) throws -> Response) async throws -> Response {
        let query = request.uri.queryParameters
        guard let fromText = query["from"], let from = ISOTime.parse(String(fromText)) else {
            return jsonError(.badRequest, "bad_window", "pass from= (and optionally to=) as ISO 8601 times")
        }
        let to = query["to"].flatMap { ISOTime.parse(String($0)) }
        guard to.map({ $0 >= from }) ?? true, (to ?? Date()).timeIntervalSince(from) <= 86_400 else {
            return jsonError(.badRequest, "bad_window", "to must follow from, by at most a day")
        }
        let incident = Incident(id: 0, openedAt: from, closedAt: to, title: query["title"].map(String.init) ?? "window from \(fromText)",
                                alerts: [], firing: [])
        var record = try await IncidentRecord.load(incident, from: timeline.store)
        record.failedRequests = await balancer.failedRequests(from: record.window.from, to: record.window.to)
        return try render(record)
    }

    static func text(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
