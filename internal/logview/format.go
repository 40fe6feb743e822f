package logview

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// escape makes untrusted text safe for a terminal: control characters (C0, DEL, C1),
// bidirectional overrides and invalid UTF-8 are written as Go-style escapes, so that a
// payload can never move the cursor, recolour the screen or reorder what is shown.
func escape(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case isBidi(r) || r == 0xfeff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// phoneRe finds E.164 numbers, also form-encoded ("%2B1512...").
var phoneRe = regexp.MustCompile(`(?i)(\+|%2B)[1-9][0-9]{7,14}`)

const masked = "•••"

// pii masks phone numbers and message bodies unless told to show them.
type pii struct{ show bool }

// text masks every phone number in s: +15125550100 becomes +1512•••0100.
func (p pii) text(s string) string {
	if p.show {
		return s
	}
	return phoneRe.ReplaceAllStringFunc(s, maskPhone)
}

// body masks a message body whole.
func (p pii) body(s string) string {
	if p.show || s == "" {
		return s
	}
	return masked
}

func maskPhone(m string) string {
	prefix := "+"
	digits := m[1:]
	if len(m) > 0 && m[0] == '%' {
		prefix, digits = m[:3], m[3:]
	}
	if len(digits) < 8 {
		return prefix + masked
	}
	return prefix + digits[:4] + masked + digits[len(digits)-4:]
}

// Bounds of every pretty-printer of untrusted payloads, so that no stored delivery (up to
// the 1 MiB body cap) can freeze or flood the viewer: past them a printer gives up and the
// payload is shown as escaped raw text, itself bounded.
const (
	maxDepth     = 64       // nesting of JSON values and XML elements
	maxNodes     = 5000     // JSON values, XML elements, form parameters
	maxLines     = 2000     // lines of one section
	maxLineBytes = 2048     // bytes of one line before escaping
	maxRawBytes  = 64 << 10 // bytes of a body shown as raw text
)

// rawPrefix is the part of a body shown as raw text, cut at a character boundary, and
// how many bytes it leaves out.
func rawPrefix(b []byte) ([]byte, int) {
	if len(b) <= maxRawBytes {
		return b, 0
	}
	cut := maxRawBytes
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return b[:cut], len(b) - cut
}

// errTooComplex is a payload past the printers' bounds.
var errTooComplex = fmt.Errorf("payload nested deeper than %d or larger than %d values", maxDepth, maxNodes)

// boundLines caps a section's line count and each line's length, saying what it left out.
func boundLines(lines []string) []string {
	out := lines
	if len(lines) > maxLines {
		out = append(lines[:maxLines:maxLines], fmt.Sprintf("… %d more lines not shown", len(lines)-maxLines))
	}
	for i, l := range out {
		if len(l) > maxLineBytes {
			cut := maxLineBytes
			for cut > 0 && !utf8.RuneStart(l[cut]) {
				cut--
			}
			out[i] = l[:cut] + fmt.Sprintf("… (%d more bytes)", len(l)-cut)
		}
	}
	return out
}

// formParam is one parameter of a form-encoded body, in the order it came.
type formParam struct{ Key, Value string }

// parseFormOrdered parses application/x-www-form-urlencoded data keeping its order; ok is
// false when the body is not a well-formed form.
func parseFormOrdered(body []byte) (params []formParam, ok bool) {
	s := string(body)
	if s == "" {
		return nil, true
	}
	if strings.Count(s, "&") >= maxNodes {
		return nil, false
	}
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		uk, err1 := url.QueryUnescape(k)
		uv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || uk == "" {
			return nil, false
		}
		params = append(params, formParam{uk, uv})
	}
	return params, true
}

// bodyParams are the form parameters that carry a message's text.
var bodyParams = map[string]bool{"Body": true}

// maskForm masks a form body's phone numbers and message text, keeping it a valid form.
func (p pii) maskForm(params []formParam) []formParam {
	if p.show {
		return params
	}
	out := make([]formParam, len(params))
	for i, kv := range params {
		v := p.text(kv.Value)
		if bodyParams[kv.Key] {
			v = p.body(kv.Value)
		}
		out[i] = formParam{kv.Key, v}
	}
	return out
}

// formTable renders form parameters as an aligned two-column table.
func formTable(params []formParam) []string {
	w := 0
	for _, kv := range params {
		w = max(w, len(escape(kv.Key)))
	}
	lines := make([]string, 0, len(params))
	for _, kv := range params {
		lines = append(lines, fmt.Sprintf("%-*s  %s", w, escape(kv.Key), escape(kv.Value)))
	}
	return lines
}

// jsonNode is a JSON value with its object keys in their original order.
type jsonNode struct {
	kind   byte // '{', '[' or 0 for a scalar
	keys   []string
	vals   []*jsonNode
	scalar string
}

func parseJSON(b []byte) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	budget := maxNodes
	n, err := parseJSONNode(dec, 0, &budget)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after json value")
	}
	return n, nil
}

// parseJSONNode reads one value; depth and budget (values left) bound the work, which a
// hostile body could otherwise make recurse a million levels deep.
func parseJSONNode(dec *json.Decoder, depth int, budget *int) (*jsonNode, error) {
	if *budget--; *budget < 0 || depth > maxDepth {
		return nil, errTooComplex
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jsonNode{kind: byte(t)}
		for dec.More() {
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				ks, _ := k.(string)
				n.keys = append(n.keys, ks)
			}
			v, err := parseJSONNode(dec, depth+1, budget)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		if len(t) > maxLineBytes { // the line would be cut anyway: quote no more of it
			cut := maxLineBytes
			for cut > 0 && !utf8.RuneStart(t[cut]) {
				cut--
			}
			return &jsonNode{scalar: jsonString(t[:cut]) + fmt.Sprintf("… (%d more bytes)", len(t)-cut)}, nil
		}
		return &jsonNode{scalar: jsonString(t)}, nil
	case json.Number:
		return &jsonNode{scalar: t.String()}, nil
	case bool:
		return &jsonNode{scalar: fmt.Sprint(t)}, nil
	case nil:
		return &jsonNode{scalar: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected json token %v", tok)
}

// jsonString quotes a string as JSON does, control characters escaped, HTML left alone.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// prettyJSON indents a JSON value; below depth collapse (when > 0) objects and arrays are
// folded to a count.
func prettyJSON(n *jsonNode, collapse int) []string {
	var lines []string
	var walk func(n *jsonNode, prefix string, depth int, indent string, comma string)
	walk = func(n *jsonNode, prefix string, depth int, indent string, comma string) {
		if n.kind == 0 {
			lines = append(lines, indent+prefix+n.scalar+comma)
			return
		}
		open, closeDelim := "{", "}"
		unit := "keys"
		if n.kind == '[' {
			open, closeDelim, unit = "[", "]", "items"
		}
		if len(n.vals) == 0 {
			lines = append(lines, indent+prefix+open+closeDelim+comma)
			return
		}
		if collapse > 0 && depth >= collapse {
			lines = append(lines, fmt.Sprintf("%s%s%s… %d %s%s%s", indent, prefix, open, len(n.vals), unit, closeDelim, comma))
			return
		}
		lines = append(lines, indent+prefix+open)
		for i, v := range n.vals {
			c := ","
			if i == len(n.vals)-1 {
				c = ""
			}
			p := ""
			if n.kind == '{' {
				p = jsonString(n.keys[i]) + ": "
			}
			walk(v, p, depth+1, indent+"  ", c)
		}
		lines = append(lines, indent+closeDelim+comma)
	}
	walk(n, "", 0, "", "")
	return lines
}

// xmlNode is an element of a TwiML document.
type xmlNode struct {
	name  string
	attrs []xml.Attr
	text  string
	kids  []*xmlNode
}

// prettyXML re-indents a TwiML answer, one element per line, short text kept inline.
func prettyXML(s string) ([]string, error) {
	dec := xml.NewDecoder(strings.NewReader(s))
	var lines []string
	root := &xmlNode{}
	stack := []*xmlNode{root}
	nodes := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		if len(stack) > maxDepth || len(lines) > maxNodes {
			return nil, errTooComplex
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if len(stack) == 1 {
				lines = append(lines, "<?"+t.Target+" "+string(t.Inst)+"?>")
			}
		case xml.StartElement:
			if nodes++; nodes > maxNodes {
				return nil, errTooComplex
			}
			n := &xmlNode{name: t.Name.Local, attrs: t.Attr}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if t := bytes.TrimSpace(t); len(t) > 0 && len(top.text) < maxLineBytes {
				top.text += string(t)
			}
		}
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("unclosed element")
	}
	var walk func(n *xmlNode, indent string)
	walk = func(n *xmlNode, indent string) {
		open := "<" + n.name
		for _, a := range n.attrs {
			open += fmt.Sprintf(" %s=%q", a.Name.Local, a.Value)
		}
		switch {
		case len(n.kids) == 0 && n.text == "":
			lines = append(lines, indent+open+"/>")
		case len(n.kids) == 0:
			lines = append(lines, indent+open+">"+n.text+"</"+n.name+">")
		default:
			lines = append(lines, indent+open+">")
			if n.text != "" {
				lines = append(lines, indent+"  "+n.text)
			}
			for _, k := range n.kids {
				walk(k, indent+"  ")
			}
			lines = append(lines, indent+"</"+n.name+">")
		}
	}
	for _, k := range root.kids {
		walk(k, "")
	}
	return lines, nil
}

var sparkBars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws counts as a row of bars scaled to the largest; an empty hour is a dot.
func sparkline(counts []int) string {
	hi := 0
	for _, c := range counts {
		hi = max(hi, c)
	}
	var b strings.Builder
	for _, c := range counts {
		switch {
		case c == 0:
			b.WriteRune('·')
		default:
			i := (c*len(sparkBars) - 1) / hi
			b.WriteRune(sparkBars[min(i, len(sparkBars)-1)])
		}
	}
	return b.String()
}

// latency formats microseconds briefly.
func latency(us int64) string {
	d := time.Duration(us) * time.Microsecond
	switch {
	case us <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", us)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}

const listTime = "01-02 15:04:05"

// fit cuts or pads s to exactly w terminal cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", max(0, w-ansi.StringWidth(s)))
}
