package twilio

import (
	"encoding/xml"
	"reflect"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/twiml"
)

// node is a parsed XML element. twilio-go emits attributes in random order, so
// tests compare these, never bytes.
type node struct {
	Name     string
	Attrs    map[string]string
	Text     string
	Children []node
}

func parseXML(t *testing.T, s string) node {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	var stack []node
	var root *node
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := node{Name: tok.Name.Local, Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.Attrs[a.Name.Local] = a.Value
			}
			stack = append(stack, n)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += strings.TrimSpace(string(tok))
			}
		case xml.EndElement:
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				root = &n
			} else {
				stack[len(stack)-1].Children = append(stack[len(stack)-1].Children, n)
			}
		}
	}
	if root == nil || len(stack) != 0 {
		t.Fatalf("not one well-formed XML document: %q", s)
	}
	return *root
}

func el(name string, attrs map[string]string, text string, children ...node) node {
	if attrs == nil {
		attrs = map[string]string{}
	}
	return node{Name: name, Attrs: attrs, Text: text, Children: children}
}

func TestTwiML(t *testing.T) {
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name string
		xml  string
		want node
	}{
		{
			name: "dial",
			xml:  must(DialTwiML("https://hooks.example.com/twilio/dial?lead=1&x=2", 18, "+15005550006")),
			want: el("Response", nil, "",
				el("Dial", map[string]string{
					"action": "https://hooks.example.com/twilio/dial?lead=1&x=2", "method": "POST", "timeout": "18",
				}, "", el("Number", nil, "+15005550006"))),
		},
		{
			name: "dial with default timeout",
			xml:  must(DialTwiML("https://hooks.example.com/twilio/dial", 0, "+15005550006")),
			want: el("Response", nil, "",
				el("Dial", map[string]string{"action": "https://hooks.example.com/twilio/dial", "method": "POST"}, "",
					el("Number", nil, "+15005550006"))),
		},
		{
			name: "say then hang up",
			xml:  must(SayHangupTwiML("Sorry, we can't take your call <now> & then.")),
			want: el("Response", nil, "",
				el("Say", nil, "Sorry, we can't take your call <now> & then."),
				el("Hangup", nil, "")),
		},
		{
			name: "hang up",
			xml:  must(HangupTwiML()),
			want: el("Response", nil, "", el("Hangup", nil, "")),
		},
		{
			name: "empty",
			xml:  EmptyTwiML(),
			want: el("Response", nil, ""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.HasPrefix(tt.xml, "<?xml") {
				t.Errorf("no XML declaration: %q", tt.xml)
			}
			if got := parseXML(t, tt.xml); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parsed %+v\nwant   %+v\nfrom %s", got, tt.want, tt.xml)
			}
		})
	}
}

func TestTwiMLRejectsEmptyInput(t *testing.T) {
	if _, err := DialTwiML("https://x", 15, ""); err == nil {
		t.Error("DialTwiML with no number: want error")
	}
	if _, err := SayHangupTwiML(""); err == nil {
		t.Error("SayHangupTwiML with no message: want error")
	}
}

func TestEmptyTwiMLMatchesTwimlPackage(t *testing.T) {
	want, err := twiml.Messages(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseXML(t, EmptyTwiML()); !reflect.DeepEqual(got, parseXML(t, want)) {
		t.Fatalf("EmptyTwiML %q differs from twiml.Messages(nil) %q", EmptyTwiML(), want)
	}
}

func TestTwiMLIsByteStable(t *testing.T) {
	const want = `<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="https://hooks.example.com/api/twilio/voice/dial-complete" method="POST" timeout="20"><Number>+15125550199</Number></Dial></Response>`
	for i := range 200 { // twilio-go's map order would differ within a few renders
		got, err := DialTwiML("https://hooks.example.com/api/twilio/voice/dial-complete", 20, "+15125550199")
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("render %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestTwiMLMatchesTwimlPackage(t *testing.T) {
	verbs := []twiml.Element{
		twiml.VoiceDial{Action: "https://x/dial", Method: "POST", Timeout: "20", InnerElements: []twiml.Element{twiml.VoiceNumber{PhoneNumber: "+15005550006"}}},
		twiml.VoiceSay{Message: "a & b"}, twiml.VoiceHangup{},
	}
	want, err := twiml.Voice(verbs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := render(verbs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(parseXML(t, got), parseXML(t, want)) {
		t.Fatalf("render %q differs from twiml.Voice %q", got, want)
	}
}
