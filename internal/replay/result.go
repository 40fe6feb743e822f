package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/callsnare/callsnare/internal/store"
)

// Where a result's log status was read.
const (
	FromLog      = "log"      // the row the target wrote, found by replay_of in the same database
	FromResponse = "response" // inferred from the HTTP answer: the target logs elsewhere
)

// Result is what became of one replayed delivery.
type Result struct {
	ID             int64     `json:"id"`
	ReceivedAt     time.Time `json:"received_at"`
	Route          string    `json:"route"`
	Kind           string    `json:"kind"`
	OriginalStatus string    `json:"original_status"`
	OriginalHTTP   int       `json:"original_http_status"`
	// HTTPStatus is the target's answer; 0 after a network error.
	HTTPStatus    int    `json:"http_status"`
	LogStatus     string `json:"log_status"`
	LogStatusFrom string `json:"log_status_from"`
	ReplayLogID   int64  `json:"replay_log_id,omitempty"`
	// LogError is the error the target logged for the delivery (same database only).
	LogError  string  `json:"log_error,omitempty"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// Failed is a delivery the target did not take: a 5xx or no answer at all. A 4xx is the
// target's considered refusal (a bad signature, say) and is reported, not failed.
func (r Result) Failed() bool { return r.Error != "" || r.HTTPStatus >= 500 }

func newResult(e store.Evidence) Result {
	return Result{
		ID: e.ID, ReceivedAt: e.ReceivedAt.Time.UTC(), Route: e.Route, Kind: e.Kind,
		OriginalStatus: e.Status, OriginalHTTP: e.HTTPStatus,
	}
}

// inferStatus names what an answer says about the delivery when its log row cannot be
// read: the answer does not tell processed from duplicate.
func inferStatus(code int) string {
	switch {
	case code == 0:
		return "error"
	case code < 300:
		return "accepted"
	case code < 400:
		return "redirected"
	case code < 500:
		return store.StatusRejected
	}
	return store.StatusFailed
}

func (r Result) line() string {
	ans := fmt.Sprintf("HTTP %d", r.HTTPStatus)
	if r.HTTPStatus == 0 {
		ans = "no answer"
	}
	s := fmt.Sprintf("#%d %s %-20s %-10s -> %s %s", r.ID, r.ReceivedAt.Format(time.RFC3339), r.Kind, r.OriginalStatus, ans, r.LogStatus)
	if r.LogStatusFrom == FromResponse && r.HTTPStatus != 0 {
		s += " (from the answer)"
	}
	if r.Error != "" {
		s += ": " + r.Error
	} else if r.LogError != "" {
		s += ": " + r.LogError
	}
	return s
}

// Summary is the whole run.
type Summary struct {
	Selected    int            `json:"selected"`
	Sent        int            `json:"sent"`
	Failed      int            `json:"failed"`
	ByStatus    map[string]int `json:"by_log_status"`
	Interrupted bool           `json:"interrupted"`
	// LastID is the last delivery finished in receive order before an interruption.
	LastID  int64         `json:"last_id,omitempty"`
	Elapsed time.Duration `json:"-"`
	Target  string        `json:"target"`
	DryRun  bool          `json:"dry_run"`
	Plan    Plan          `json:"-"`
	Results []Result      `json:"-"`
}

func (s *Summary) add(r Result) {
	s.Sent++
	if r.Failed() {
		s.Failed++
	}
	if s.ByStatus == nil {
		s.ByStatus = map[string]int{}
	}
	s.ByStatus[r.LogStatus]++
	s.Results = append(s.Results, r)
}

func (s Summary) write(w io.Writer) {
	if s.DryRun {
		fmt.Fprintln(w, "dry run: nothing sent")
		return
	}
	if s.Interrupted {
		fmt.Fprintf(w, "interrupted: %d of %d deliveries replayed to %s", s.Sent, s.Selected, s.Target)
		if s.LastID != 0 {
			fmt.Fprintf(w, " (all up to #%d in receive order)", s.LastID)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "replayed %d of %d deliveries to %s in %s\n", s.Sent, s.Selected, s.Target, s.Elapsed.Round(time.Millisecond))
	}
	keys := make([]string, 0, len(s.ByStatus))
	for k := range s.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, s.ByStatus[k])
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "  failed %d\n", s.Failed)
}

// printer writes results as lines for people or JSON Lines.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) result(r Result) error {
	if p.w == nil {
		return nil
	}
	if p.json {
		return json.NewEncoder(p.w).Encode(r)
	}
	_, err := fmt.Fprintln(p.w, r.line())
	return err
}
