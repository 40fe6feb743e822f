package twilio

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/beevik/etree"
	"github.com/twilio/twilio-go/twiml"
)

// ContentTypeXML is the content type of every TwiML answer. Without it
// Twilio reports error 11200/12300 and the caller hears an application error.
const ContentTypeXML = "text/xml"

// emptyTwiML is what twiml.Messages(nil) renders; it is a constant so that
// EmptyTwiML cannot fail.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// DialTwiML forwards the call to forwardTo and has Twilio POST the outcome
// (DialCallStatus and friends) to actionURL. A timeoutSeconds of zero or less
// leaves Twilio's default of 30 seconds.
func DialTwiML(actionURL string, timeoutSeconds int, forwardTo string) (string, error) {
	if forwardTo == "" {
		return "", errors.New("dial twiml: empty forward number")
	}
	dial := twiml.VoiceDial{
		Action:        actionURL,
		Method:        "POST",
		InnerElements: []twiml.Element{twiml.VoiceNumber{PhoneNumber: forwardTo}},
	}
	if timeoutSeconds > 0 {
		dial.Timeout = strconv.Itoa(timeoutSeconds)
	}
	return render([]twiml.Element{dial})
}

// SayHangupTwiML speaks message and ends the call.
func SayHangupTwiML(message string) (string, error) {
	if message == "" {
		return "", errors.New("say twiml: empty message")
	}
	return render([]twiml.Element{twiml.VoiceSay{Message: message}, twiml.VoiceHangup{}})
}

// HangupTwiML ends the call.
func HangupTwiML() (string, error) {
	return render([]twiml.Element{twiml.VoiceHangup{}})
}

// EmptyTwiML is the answer to an inbound SMS or a status callback when there
// is nothing to say: an empty body would be Twilio error 11200.
func EmptyTwiML() string {
	return emptyTwiML
}

// render writes verbs as twiml.Voice does, with one difference: twilio-go sets attributes
// from a map, so their order changes from one call to the next. Here they are sorted by
// name, so that one request always gets byte-identical TwiML and stored answers compare.
// The verbs stay twilio-go's types; only the writing is ours, with the same etree
// document twilio-go builds.
func render(verbs []twiml.Element) (string, error) {
	doc, response := twiml.CreateDocument()
	twiml.AddAllVerbs(response, verbs)
	sortAttrs(response)
	s, err := twiml.ToXML(doc)
	if err != nil {
		return "", fmt.Errorf("render twiml: %w", err)
	}
	return s, nil
}

func sortAttrs(e *etree.Element) {
	e.SortAttrs()
	for _, c := range e.ChildElements() {
		sortAttrs(c)
	}
}
