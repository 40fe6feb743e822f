package simulate

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run measured and concluded.
type Report struct {
	RunID      string            `json:"run_id"`
	Seed       uint64            `json:"seed"`
	Target     string            `json:"target"`
	Started    time.Time         `json:"started"`
	Elapsed    float64           `json:"elapsed_s"` // the sending window
	Drain      float64           `json:"drain_s"`
	Calls      int               `json:"calls"`
	SMS        int               `json:"sms"`
	Events     int               `json:"stripe_events"`
	Forged     int               `json:"forged"`
	Textbacks  int               `json:"textbacks_sent"`
	Routes     []RouteReport     `json:"routes"`
	Overall    RouteReport       `json:"overall"`
	FakeTwilio *FakeTwilioReport `json:"fake_twilio,omitempty"`
	Checks     []Check           `json:"checks"`
	Passed     bool              `json:"passed"`
}

// Failed lists the checks that did not hold.
func (r Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

func (s *sim) report(t0 time.Time, elapsed, drain time.Duration) Report {
	routes, all := s.e.stats.reports(elapsed)
	r := Report{RunID: s.o.RunID, Seed: s.o.Seed, Target: s.target, Started: t0.UTC(), Elapsed: elapsed.Seconds(),
		Drain: drain.Seconds(), Calls: len(s.led.calls), SMS: len(s.led.sms), Events: len(s.led.events),
		Forged: s.led.forged, Routes: routes, Overall: all}
	return r
}

// thresholds checks the latency, error and rate limits that were set.
func (s *sim) thresholds(r Report) []Check {
	var out []Check
	t := s.o.Thresholds
	if t.MaxP99 > 0 {
		c := newCheck(fmt.Sprintf("p99 latency <= %s", t.MaxP99), "threshold")
		if p99 := r.Overall.Latency.P99; p99 > float64(t.MaxP99)/float64(time.Millisecond) {
			c.fail("p99 %.2fms", p99)
		}
		out = append(out, c.done())
	}
	c := newCheck(fmt.Sprintf("error rate <= %g", t.MaxErrorRate), "threshold")
	if n := r.Overall.Requests; n > 0 && float64(r.Overall.Errors)/float64(n) > t.MaxErrorRate {
		c.fail("%d errors in %d requests (%.4f)", r.Overall.Errors, n, float64(r.Overall.Errors)/float64(n))
	}
	out = append(out, c.done())
	if t.MinRate > 0 {
		c := newCheck(fmt.Sprintf("achieved rate >= %g/s", t.MinRate), "threshold")
		if r.Overall.Rate < t.MinRate {
			c.fail("%.1f requests/s", r.Overall.Rate)
		}
		out = append(out, c.done())
	}
	return out
}

// Print writes the report for people: the table of routes, then the verdict.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "run %s (seed %d) against %s: %d calls, %d SMS, %d Stripe events, %d forged deliveries in %.1fs; drained in %.1fs\n",
		r.RunID, r.Seed, r.Target, r.Calls, r.SMS, r.Events, r.Forged, r.Elapsed, r.Drain)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\trequests\trate/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\tretries\terrors\tstatus codes\t")
	for _, rr := range append(r.Routes, r.Overall) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%s\t\n", rr.Route, rr.Requests, rr.Rate,
			rr.Latency.P50, rr.Latency.P90, rr.Latency.P99, rr.Latency.P999, rr.Latency.Max, rr.Retries, rr.Errors, codes(rr.Codes))
	}
	tw.Flush()
	if r.FakeTwilio != nil {
		fmt.Fprintf(w, "fake Twilio: %d message requests, %d accepted\n", r.FakeTwilio.Requests, r.FakeTwilio.Accepted)
	}
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %s %s", mark, c.Kind, c.Name)
		if c.Failures > 0 {
			fmt.Fprintf(w, ": %d failures", c.Failures)
		}
		fmt.Fprintln(w)
		for _, e := range c.Examples {
			fmt.Fprintf(w, "       e.g. %s\n", e)
		}
	}
	if r.Passed {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

func codes(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, " ")
}

// WriteJSON writes the report to a file.
func (r Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the checks as a JUnit test suite, one case per check, for CI.
func (r Report) WriteJUnit(path string) error {
	s := junitSuite{Name: "callsnare simulate", Tests: len(r.Checks), Time: strconv.FormatFloat(r.Elapsed+r.Drain, 'f', 3, 64)}
	for _, c := range r.Checks {
		jc := junitCase{Name: c.Name, ClassName: "simulate." + c.Kind}
		if !c.Passed {
			s.Failures++
			jc.Failure = &junitFailure{Message: fmt.Sprintf("%d failures", c.Failures), Text: strings.Join(c.Examples, "\n")}
		}
		s.Cases = append(s.Cases, jc)
	}
	b, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	if err := os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}
