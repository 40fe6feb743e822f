package callflow

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Hours are an org's business hours in its own timezone: for each weekday, the spans it
// is open. The zero value is always open.
type Hours struct {
	spans [7][]span // by time.Weekday
	set   bool
}

type span struct{ from, to int } // minutes since midnight, from < to

var dayNames = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// ErrInvalidHours is what ParseHours returns for a spec it cannot read.
var ErrInvalidHours = errors.New("invalid business hours")

// ParseHours reads a spec such as "Mon-Fri 08:00-18:00, Sat 09:00-13:00": comma-separated
// entries of a day or a range of days (Mon..Sun, a range may wrap: Sat-Sun) and a span of
// 24-hour times, the end after the start (24:00 is the end of the day). "" is always open.
func ParseHours(spec string) (Hours, error) {
	var h Hours
	if strings.TrimSpace(spec) == "" {
		return h, nil
	}
	for _, entry := range strings.Split(spec, ",") {
		fields := strings.Fields(entry)
		if len(fields) != 2 {
			return Hours{}, fmt.Errorf("%w: %q: want DAYS HH:MM-HH:MM", ErrInvalidHours, strings.TrimSpace(entry))
		}
		days, err := parseDays(fields[0])
		if err != nil {
			return Hours{}, err
		}
		sp, err := parseSpan(fields[1])
		if err != nil {
			return Hours{}, err
		}
		for _, d := range days {
			h.spans[d] = append(h.spans[d], sp)
		}
		h.set = true
	}
	return h, nil
}

func parseDay(s string) (time.Weekday, error) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("%w: day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", ErrInvalidHours, s)
}

func parseDays(s string) ([]time.Weekday, error) {
	a, b, isRange := strings.Cut(s, "-")
	first, err := parseDay(a)
	if err != nil {
		return nil, err
	}
	if !isRange {
		return []time.Weekday{first}, nil
	}
	last, err := parseDay(b)
	if err != nil {
		return nil, err
	}
	var days []time.Weekday
	for d := first; ; d = (d + 1) % 7 {
		days = append(days, d)
		if d == last {
			return days, nil
		}
	}
}

func parseSpan(s string) (span, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return span{}, fmt.Errorf("%w: %q: want HH:MM-HH:MM", ErrInvalidHours, s)
	}
	from, err1 := parseClock(a)
	to, err2 := parseClock(b)
	if err := errors.Join(err1, err2); err != nil {
		return span{}, err
	}
	if to <= from {
		return span{}, fmt.Errorf("%w: %q: the end must be after the start", ErrInvalidHours, s)
	}
	return span{from, to}, nil
}

func parseClock(s string) (int, error) {
	var hh, mm int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%w: time %q: want HH:MM", ErrInvalidHours, s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &hh, &mm); err != nil || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%w: time %q: want HH:MM", ErrInvalidHours, s)
	}
	return hh*60 + mm, nil
}

// AlwaysOpen reports whether the hours are unset.
func (h Hours) AlwaysOpen() bool { return !h.set }

// OpenAt reports whether the business is open at t, read in timezone tz (UTC when tz is
// unknown).
func (h Hours) OpenAt(t time.Time, tz string) bool {
	if !h.set {
		return true
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	local := t.In(loc)
	m := local.Hour()*60 + local.Minute()
	for _, sp := range h.spans[local.Weekday()] {
		if m >= sp.from && m < sp.to {
			return true
		}
	}
	return false
}

// ChooseTemplate picks the text-back template of a call: the after-hours one for a call
// missed while closed, when the org has one.
func ChooseTemplate(open bool, template, afterHours string) string {
	if !open && strings.TrimSpace(afterHours) != "" {
		return afterHours
	}
	return template
}
