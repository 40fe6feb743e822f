package callflow

// What a caller hears when nobody answers. A text is promised only when a text-back was
// queued for this very call: an untextable or opted-out caller, or an org with text-backs
// off, gets the apology alone.
const (
	sayMissed   = "Sorry we missed you."
	sayNobody   = "Sorry, nobody can take your call right now."
	sayPromise  = " We will text you back shortly."
	sayGoodbye  = " Goodbye."
	noForwardTo = "no_forward_to"
)

// MissedCallMessage is the apology for a missed call. reason is the call's outcome reason
// (no_forward_to: the call was never forwarded); textbackQueued says whether a text-back
// is on its way.
func MissedCallMessage(reason string, textbackQueued bool) string {
	msg := sayMissed
	if reason == noForwardTo {
		msg = sayNobody
	}
	if textbackQueued {
		return msg + sayPromise
	}
	return msg + sayGoodbye
}
