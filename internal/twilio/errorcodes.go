package twilio

// errorDescriptions are Twilio's own titles of the error codes a text-back meets: at send
// time (21xxx) and in delivery callbacks (30xxx). Support reads them in calls and leads.
var errorDescriptions = map[string]string{
	"21211": "Invalid 'To' Phone Number",
	"21408": "Permission to send an SMS has not been enabled for the region",
	"21610": "Attempt to send to unsubscribed recipient",
	"21612": "The 'To' phone number is not currently reachable via SMS",
	"21614": "'To' number is not a valid mobile number",
	"30001": "Queue overflow",
	"30002": "Account suspended",
	"30003": "Unreachable destination handset",
	"30004": "Message blocked",
	"30005": "Unknown destination handset",
	"30006": "Landline or unreachable carrier",
	"30007": "Message filtered",
	"30008": "Unknown error",
	"30034": "Message from an unregistered number",
}

// ErrorCodeOptedOut is the send error of a recipient who texted STOP at Twilio.
const ErrorCodeOptedOut = "21610"

// DescribeError returns "code: description" for a Twilio error code, using the message
// Twilio sent when there is one; "" when code is empty.
func DescribeError(code, message string) string {
	if code == "" || code == "0" {
		return message
	}
	if message == "" {
		message = errorDescriptions[code]
	}
	if message == "" {
		return code
	}
	return code + ": " + message
}

// DescribeErrorCode is Twilio's title of an error code, "" when unknown.
func DescribeErrorCode(code string) string { return errorDescriptions[code] }
