package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/cli"
)

// TestServeDemo runs `callsnare serve --demo` as a newcomer would: the sample missed call
// is texted back through the built-in fake Twilio, /healthz, /readyz and /metrics answer,
// and a shutdown (the context a SIGTERM cancels) stops it cleanly with exit code 0.
func TestServeDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logR, logW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := cli.Main(ctx, []string{"serve", "--demo", "--db", db, "--addr", "127.0.0.1:0", "--log-format", "json"},
			strings.NewReader(""), io.Discard, logW)
		logW.Close()
		done <- code
	}()

	var addr, see string
	var sawText, sawDone, sawStopped bool
	lines := bufio.NewScanner(logR)
	deadline := time.AfterFunc(30*time.Second, func() { logW.CloseWithError(io.ErrUnexpectedEOF) })
	defer deadline.Stop()
	for lines.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", lines.Text())
		}
		switch rec["msg"] {
		case "serving":
			addr, _ = rec["addr"].(string)
		case "demo_textback_sent":
			to, _ := rec["to"].(string)
			sawText = strings.Contains(rec["body"].(string), "Acme Heating & Cooling") && strings.HasPrefix(to, "+151255501")
		case "demo_failed":
			t.Fatalf("demo failed: %v", rec["err"])
		case "demo_done":
			sawDone = true
			see, _ = rec["see"].(string)
			checkEndpoints(t, "http://"+addr)
			cancel() // what SIGTERM does
		case "stopped":
			sawStopped = true
		}
	}
	if code := <-done; code != 0 {
		t.Errorf("exit code %d", code)
	}
	if !sawText || !sawDone || !sawStopped {
		t.Errorf("text-back logged %v, demo done %v, stopped %v", sawText, sawDone, sawStopped)
	}

	// The closing hints are commands that work as printed: the binary as it was started,
	// then arguments that need no quoting.
	hints := strings.Split(see, "; ")
	if len(hints) != 2 {
		t.Fatalf("demo_done see=%q, want two commands", see)
	}
	for _, h := range hints {
		argv := strings.Fields(h)
		if argv[0] != os.Args[0] {
			t.Errorf("hint %q names %s, want the binary as started (%s)", h, argv[0], os.Args[0])
		}
		var out, errb strings.Builder
		if code := cli.Main(context.Background(), argv[1:], strings.NewReader(""), &out, &errb); code != 0 || out.Len() == 0 {
			t.Errorf("hint %q: exit %d, output %q, errors %q", h, code, out.String(), errb.String())
		}
	}

	// What the demo left is what the operators' commands show, with their field names.
	call := jsonLine(t, "calls", "--org", "acme-hvac", "--json", "--db", db)
	for k, want := range map[string]any{"org": "acme-hvac", "to": "+15125550100", "outcome": "missed",
		"dial_status": "no-answer", "textback_status": "sent", "textback_reason": "", "textback_error": "",
		"notify_status": "suppressed", "notify_reason": "no_notify_number"} {
		if call[k] != want {
			t.Errorf("calls --json: %s = %v, want %v", k, call[k], want)
		}
	}
	for _, k := range []string{"call_sid", "from", "started_at", "lead_id"} {
		if call[k] == nil || call[k] == "" {
			t.Errorf("calls --json: no %s in %v", k, call)
		}
	}
	lead := jsonLine(t, "leads", "--org", "acme-hvac", "--json", "--db", db)
	msgs, _ := lead["messages"].([]any)
	if lead["phone"] != call["from"] || lead["opted_out"] != false || lead["status"] != "open" || len(msgs) != 2 {
		t.Fatalf("leads --json: %v", lead)
	}
	out, in := msgs[0].(map[string]any), msgs[1].(map[string]any)
	if out["direction"] != "outbound" || out["status"] != "sent" || out["sid"] == "" ||
		in["direction"] != "inbound" || in["status"] != "received" || in["body"] != "Yes please, my AC is blowing warm air" {
		t.Errorf("lead thread: %v", msgs)
	}
	for _, m := range []map[string]any{out, in} {
		if media, ok := m["media"].([]any); !ok || len(media) != 0 || m["error_code"] != "" {
			t.Errorf("leads --json message without media or error_code: %v", m)
		}
	}
}

// jsonLine runs a command and decodes the one JSON line it prints.
func jsonLine(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var out strings.Builder
	if code := cli.Main(context.Background(), args, strings.NewReader(""), &out, io.Discard); code != 0 {
		t.Fatalf("%v: exit %d", args, code)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &v); err != nil {
		t.Fatalf("%v printed %q: %v", args, out.String(), err)
	}
	return v
}

func checkEndpoints(t *testing.T, base string) {
	t.Helper()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready",
		"/metrics": `callsnare_deliveries_total{route="/api/twilio/voice/inbound",status="processed"} 1`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, want %q in:\n%.2000s", path, resp.StatusCode, want, body)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{
		`callsnare_textback_sends_total{result="sent"} 1`,
		`callsnare_http_requests_total{code="200",route="/api/twilio/voice/inbound"} 1`,
		`callsnare_http_request_duration_seconds_bucket{route="/api/twilio/voice/dial-complete"`,
		`callsnare_queue_depth`,
		`callsnare_write_units_total`,
		`callsnare_write_transactions_total`,
		`callsnare_write_round_trips_total`,
	} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}
