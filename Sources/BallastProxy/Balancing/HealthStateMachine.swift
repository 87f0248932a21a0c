/// Active health of one server: `healthyAfter` passes in a row bring it up,
/// `unhealthyAfter` failures in a row take it down. Pure, so it is tested without sockets.
public struct HealthStateMachine: Sendable, Equatable {
    public private(set) var isHealthy: Bool
    public private(set) var successesInARow = 0
    public private(set) var failuresInARow = 0
    public let healthyAfter: Int
    public let unhealthyAfter: Int

    public init(healthyAfter: Int, unhealthyAfter: Int, startHealthy: Bool = true) {
        self.healthyAfter = max(1, healthyAfter)
        self.unhealthyAfter = max(1, unhealthyAfter)
        self.isHealthy = startHealthy
    }

    /// Records one probe; returns the new health when it flipped, nil otherwise.
    public mutating func record(success: Bool) -> Bool? {
        if success {
            successesInARow += 1
            failuresInARow = 0
            if !isHealthy, successesInARow >= healthyAfter {
                isHealthy = true
                return true
            }
        } else {
            failuresInARow += 1
            successesInARow = 0
            if isHealthy, failuresInARow >= unhealthyAfter {
                isHealthy = false
                return false
            }
        }
        return nil
    }
}
