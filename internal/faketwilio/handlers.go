package faketwilio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const apiVersion = "2010-04-01"

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /2010-04-01/Accounts/{AccountSid}/Messages.json", s.handleCreateMessage)
	s.mux.HandleFunc("GET /2010-04-01/Accounts/{AccountSid}/Messages.json", s.handleListMessages)
	// A pattern wildcard must be a whole segment, so ".json" is cut here.
	s.mux.HandleFunc("GET /2010-04-01/Accounts/{AccountSid}/Messages/{file}", s.handleFetchMessage)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
}

// handleCreateMessage serves POST /2010-04-01/Accounts/{AccountSid}/Messages.json.
func (s *Server) handleCreateMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	if !s.wait(r) || !s.authorize(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Invalid form body")
		return
	}
	f := r.PostForm
	m := Message{
		AccountSID:          r.PathValue("AccountSid"),
		From:                f.Get("From"),
		To:                  f.Get("To"),
		Body:                f.Get("Body"),
		MessagingServiceSID: f.Get("MessagingServiceSid"),
		StatusCallback:      f.Get("StatusCallback"),
	}
	switch {
	case m.To == "":
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case m.From == "" && m.MessagingServiceSID == "":
		writeError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case m.Body == "" && f.Get("MediaUrl") == "":
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}

	answer := s.decide(m.To)
	switch answer {
	case Accept:
		m = s.record(m)
		s.log.Info("fake_twilio_message_accepted", "sid", m.SID, "to", m.To)
		writeJSON(w, http.StatusCreated, messageResource(m))
		s.accepted(m)
	case AcceptThenServerError:
		m = s.record(m)
		s.log.Info("fake_twilio_message_accepted", "sid", m.SID, "to", m.To, "answer", answer.String())
		writeError(w, http.StatusInternalServerError, 20500, "Internal Server Error")
		s.accepted(m)
	case TooManyRequests:
		writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
	case ServerError:
		writeError(w, http.StatusInternalServerError, 20500, "Internal Server Error")
	case OptedOut:
		writeError(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
			// Drop the connection rather than let net/http answer 200.
			panic(http.ErrAbortHandler)
		}
	default:
		writeError(w, http.StatusInternalServerError, 20500, "unknown scripted response "+answer.String())
	}
}

// handleListMessages serves GET /2010-04-01/Accounts/{AccountSid}/Messages.json
// with the filters twilio-go's ListMessage sends: To, From, DateSent,
// "DateSent<" and "DateSent>" (RFC 3339 or YYYY-MM-DD), PageSize and Page.
// Dates compare against the creation time, as the fake never sends.
func (s *Server) handleListMessages(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) || !s.authorize(w, r) {
		return
	}
	q := r.URL.Query()
	match, err := listFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, 20001, err.Error())
		return
	}
	pageSize := 50
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid PageSize")
			return
		}
		pageSize = n
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid Page")
			return
		}
		page = n
	}

	account := r.PathValue("AccountSid")
	var all []Message
	for _, m := range s.Messages() {
		if m.AccountSID == account && match(m) {
			all = append(all, m)
		}
	}
	slices.Reverse(all) // Twilio lists newest first.

	start := min(page*pageSize, len(all))
	end := min(start+pageSize, len(all))
	resources := make([]map[string]any, 0, end-start)
	for _, m := range all[start:end] {
		resources = append(resources, messageResource(m))
	}
	pageURI := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Del("PageToken")
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(p))
		return r.URL.Path + "?" + v.Encode()
	}
	resp := map[string]any{
		"messages":          resources,
		"page":              page,
		"page_size":         pageSize,
		"start":             start,
		"end":               max(end-1, start),
		"uri":               pageURI(page),
		"first_page_uri":    pageURI(0),
		"next_page_uri":     nil,
		"previous_page_uri": nil,
	}
	if end < len(all) {
		resp["next_page_uri"] = pageURI(page + 1)
	}
	if page > 0 {
		resp["previous_page_uri"] = pageURI(page - 1)
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleFetchMessage serves GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json.
func (s *Server) handleFetchMessage(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) || !s.authorize(w, r) {
		return
	}
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	m, found := s.find(r.PathValue("AccountSid"), sid)
	if !ok || !found {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, messageResource(m))
}

// listFilter builds the predicate for a list query.
func listFilter(q url.Values) (func(Message) bool, error) {
	type bound struct {
		key string
		cmp func(created, t time.Time, dayOnly bool) bool
	}
	day := func(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
	bounds := []bound{
		{"DateSent>", func(c, t time.Time, d bool) bool {
			if d {
				return !day(c).Before(t)
			}
			return !c.Before(t)
		}},
		{"DateSent<", func(c, t time.Time, d bool) bool {
			if d {
				return !day(c).After(t)
			}
			return !c.After(t)
		}},
		{"DateSent", func(c, t time.Time, d bool) bool {
			if d {
				return day(c).Equal(t)
			}
			return c.Equal(t)
		}},
	}
	type check struct {
		t       time.Time
		dayOnly bool
		cmp     func(created, t time.Time, dayOnly bool) bool
	}
	var checks []check
	for _, b := range bounds {
		v := q.Get(b.key)
		if v == "" {
			continue
		}
		t, dayOnly, err := parseDate(v)
		if err != nil {
			return nil, fmt.Errorf("invalid %s: %q", b.key, v)
		}
		checks = append(checks, check{t, dayOnly, b.cmp})
	}
	to, from := q.Get("To"), q.Get("From")
	return func(m Message) bool {
		if (to != "" && m.To != to) || (from != "" && m.From != from) {
			return false
		}
		for _, c := range checks {
			if !c.cmp(m.Created, c.t, c.dayOnly) {
				return false
			}
		}
		return true
	}, nil
}

func parseDate(v string) (t time.Time, dayOnly bool, err error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, false, nil
	}
	t, err = time.Parse(time.DateOnly, v)
	return t, true, err
}

// messageResource renders m like Twilio's Message resource. A new message
// has no date_sent; the fake never moves one past queued.
func messageResource(m Message) map[string]any {
	uri := fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", m.AccountSID, m.SID)
	var mss any
	if m.MessagingServiceSID != "" {
		mss = m.MessagingServiceSID
	}
	created := m.Created.Format(time.RFC1123Z)
	return map[string]any{
		"account_sid":           m.AccountSID,
		"api_version":           apiVersion,
		"body":                  m.Body,
		"date_created":          created,
		"date_sent":             nil,
		"date_updated":          created,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  m.From,
		"messaging_service_sid": mss,
		"num_media":             "0",
		"num_segments":          strconv.Itoa(segments(m.Body)),
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   m.SID,
		"status":                m.Status,
		"subresource_uris": map[string]string{
			"media": strings.TrimSuffix(uri, ".json") + "/Media.json",
		},
		"to":  m.To,
		"uri": uri,
	}
}

// segments approximates how many SMS segments body takes: 160/153
// characters for plain text, 70/67 once anything needs UCS-2.
func segments(body string) int {
	n := utf8.RuneCountInString(body)
	single, multi := 160, 153
	for _, r := range body {
		if r > 0x7f {
			single, multi = 70, 67
			break
		}
	}
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with Twilio's error body, which twilio-go decodes into
// *client.TwilioRestError.
func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{
		"code":      code,
		"message":   message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
}
