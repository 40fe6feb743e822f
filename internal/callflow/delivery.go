package callflow

// A text-back's status moves forward only: queued (waiting for its job) < sending (an
// attempt is out) < sent (Twilio took it) < delivered | undelivered | failed. Twilio's
// status callbacks arrive more than once and out of order; a late "sent" never overwrites
// "delivered".

// Text-back statuses, as stored and shown.
const (
	StatusQueued      = "queued"
	StatusSending     = "sending"
	StatusSent        = "sent"
	StatusDelivered   = "delivered"
	StatusUndelivered = "undelivered"
	StatusFailed      = "failed"
	StatusSuppressed  = "suppressed"
)

// DeliveryStatus maps a Twilio MessageStatus onto the text-back statuses. ok is false for
// a status that says nothing about an outbound message (receiving, received, or unknown).
func DeliveryStatus(twilioStatus string) (status string, ok bool) {
	switch twilioStatus {
	case "accepted", "scheduled", "queued":
		return StatusQueued, true
	case "sending":
		return StatusSending, true
	case "sent":
		return StatusSent, true
	case "delivered", "read", "partially_delivered":
		return StatusDelivered, true
	case "undelivered":
		return StatusUndelivered, true
	case "failed", "canceled":
		return StatusFailed, true
	}
	return "", false
}

// StatusRank orders text-back statuses; a status may only be replaced by a higher one.
// The final statuses share the top rank, so the first of them to arrive stays; suppressed
// is final too.
func StatusRank(status string) int {
	switch status {
	case StatusQueued:
		return 0
	case StatusSending:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered, StatusUndelivered, StatusFailed, StatusSuppressed:
		return 3
	}
	return -1
}

// StatusesBelow lists the statuses a text-back may move from to reach status.
func StatusesBelow(status string) []string {
	var below []string
	for _, s := range []string{StatusQueued, StatusSending, StatusSent} {
		if StatusRank(s) < StatusRank(status) {
			below = append(below, s)
		}
	}
	return below
}
