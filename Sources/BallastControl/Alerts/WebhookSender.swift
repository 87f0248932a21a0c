import AsyncHTTPClient
import BallastConfig
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// Delivers notifications to one webhook, in order, off the evaluation path: `enqueue` never
/// waits. A failed delivery is retried with exponential back-off (0.5 s doubling, capped at
/// 30 s) up to `max_attempts`; the queue keeps at most 1,000 notifications, dropping the oldest.
final class WebhookSender: Sendable {
    let webhook: Webhook
    private let continuation: AsyncStream<WebhookPayload>.Continuation
    private let task: Task<Void, Never>

    init(webhook: Webhook, client: HTTPClient = .shared, logger: Logger) {
        self.webhook = webhook
        let (stream, continuation) = AsyncStream<WebhookPayload>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        self.continuation = continuation
        task = Task {
            for await payload in stream {
                await Self.deliver(payload, to: webhook, client: client, logger: logger)
            }
        }
    }

    func enqueue(_ payload: WebhookPayload) {
        var payload = payload
        if !webhook.sendResolved {
            payload.alerts = payload.alerts.filter { $0.status == "firing" }
            if payload.alerts.isEmpty { return }
        }
        if case .dropped = continuation.yield(payload) {
            Counter(label: "ballast_alert_notifications_total", dimensions: [("receiver", webhook.name), ("result", "dropped")]).increment()
        }
    }

    func stop() {
        continuation.finish()
        task.cancel()
    }

    private static func deliver(_ payload: WebhookPayload, to webhook: Webhook, client: HTTPClient, logger: Logger) async {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let body = try? encoder.encode(payload) else { return }
        var delay = 0.5
        for attempt in 1...webhook.maxAttempts {
            var request = HTTPClientRequest(url: webhook.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "ballast-alerts")
            request.body = .bytes(ByteBuffer(bytes: body))
            let outcome: String
            do {
                let response = try await client.execute(request, timeout: .milliseconds(webhook.timeout.milliseconds))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(Int(response.status.code)) {
                    Counter(label: "ballast_alert_notifications_total", dimensions: [("receiver", webhook.name), ("result", "sent")]).increment()
                    return
                }
                outcome = "answered \(response.status.code)"
            } catch {
                outcome = "\(error)"
            }
            Counter(label: "ballast_alert_notifications_total", dimensions: [("receiver", webhook.name), ("result", "failed")]).increment()
            logger.warning("alert webhook delivery failed", metadata: [
                "receiver": .string(webhook.name), "attempt": .stringConvertible(attempt), "why": .string(outcome),
                "group": .string(payload.groupKey),
            ])
            guard attempt < webhook.maxAttempts, !Task.isCancelled else { break }
            try? await Task.sleep(for: .seconds(delay))
            delay = min(30, delay * 2)
        }
        logger.error("alert notification given up", metadata: ["receiver": .string(webhook.name), "group": .string(payload.groupKey)])
    }
}
