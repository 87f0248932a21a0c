/// Active health of one server: `healthyAfter` passes in a row bring it up,
/// `unhealthyAfter` failures in a row take it down. Pure, so it is tested without sockets.
package struct HealthStateMachine: Sendable, Equatable {
    package private(set) var isHealthy: Bool
    package private(set) var successesInARow = 0
    package private(set) var failuresInARow = 0
    package let healthyAfter: Int
    package let unhealthyAfter: Int

    package init(healthyAfter: Int, unhealthyAfter: Int, startHealthy: Bool = true) {
        self.healthyAfter = max(1, healthyAfter)
        self.unhealthyAfter = max(1, unhealthyAfter)
        self.isHealthy = startHealthy
    }

    /// Records one probe; returns the new health when it flipped, nil otherwise.
    package mutating func record(success: Bool) -> Bool? {
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
