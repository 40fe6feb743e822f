package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	twilioclient "github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// DefaultSendTimeout matches twilio-go's own HTTP client timeout.
const DefaultSendTimeout = 10 * time.Second

const (
	// lookupSlack widens the search window for clock skew between us and
	// Twilio, and for the time between recording an attempt and sending it.
	lookupSlack = time.Minute
	// lookupLimit bounds how many messages Lookup reads; a missed-call
	// text-back sends one message per call, so a handful is plenty.
	lookupLimit    = 200
	lookupPageSize = 50
)

// twilio-go refuses credentials with other characters (codes 21222/21224)
// only when it sends; NewSender checks them up front instead.
var alphanumeric = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

// SenderConfig configures a Sender.
type SenderConfig struct {
	AccountSID string
	AuthToken  string
	// APIBaseURL replaces scheme and host of https://api.twilio.com, e.g.
	// http://127.0.0.1:4010 for the local fake. Empty means the real API.
	APIBaseURL string
	// Timeout bounds each Send and Lookup; zero means DefaultSendTimeout.
	Timeout time.Duration
	// StatusCallback, when set, is where Twilio reports each message's delivery status
	// (public_url + /api/twilio/sms/status).
	StatusCallback string
}

// Sender sends SMS through Twilio's Messages API with twilio-go.
type Sender struct {
	accountSID string
	authToken  string
	base       *url.URL // nil for the real API
	transport  http.RoundTripper
	timeout    time.Duration
	callback   string
}

// SendResult is Twilio's answer to an accepted message.
type SendResult struct {
	SID    string
	Status string
}

// sendTransport is the connection pool to Twilio's API. Text-backs go out side by side
// (up to the queue's workers at once), all to one host: with the default two idle
// connections per host, every send past the second opened a connection (a TLS handshake
// at Twilio) and closed it after.
func sendTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// NewSender checks cfg and returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if !alphanumeric.MatchString(cfg.AccountSID) {
		return nil, errors.New("new sender: account sid must be non-empty and alphanumeric")
	}
	if !alphanumeric.MatchString(cfg.AuthToken) {
		return nil, errors.New("new sender: auth token must be non-empty and alphanumeric")
	}
	s := &Sender{
		accountSID: cfg.AccountSID,
		authToken:  cfg.AuthToken,
		transport:  sendTransport(),
		timeout:    cfg.Timeout,
		callback:   cfg.StatusCallback,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultSendTimeout
	}
	if cfg.APIBaseURL != "" {
		u, err := url.Parse(cfg.APIBaseURL)
		if err != nil {
			return nil, fmt.Errorf("new sender: api base url: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("new sender: api base url %q: want scheme and host only", cfg.APIBaseURL)
		}
		s.base = u
	}
	return s, nil
}

// Send sends body from one number to another. An error is always a
// *SendError whose Kind says whether a resend is safe; for ErrKindUnknown,
// call Lookup before resending, as Twilio may have accepted the message.
func (s *Sender) Send(ctx context.Context, from, to, body string) (SendResult, error) {
	if from == "" || to == "" || body == "" {
		return SendResult{}, &SendError{Kind: ErrKindPermanent, Message: "from, to and body are required"}
	}
	if err := ctx.Err(); err != nil {
		return SendResult{}, &SendError{Kind: ErrKindRetrySafe, Message: "not sent", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	api, tr := s.api(ctx)

	params := &openapi.CreateMessageParams{}
	params.SetFrom(from).SetTo(to).SetBody(body)
	if s.callback != "" {
		params.SetStatusCallback(s.callback)
	}
	msg, err := api.CreateMessage(params)
	if err != nil {
		return SendResult{}, classify(err, tr.lastStatus())
	}
	if msg.Sid == nil || *msg.Sid == "" {
		// Something answered 2xx without a message resource.
		return SendResult{}, &SendError{Kind: ErrKindUnknown, HTTPStatus: tr.lastStatus(), Message: "answer has no message sid"}
	}
	res := SendResult{SID: *msg.Sid}
	if msg.Status != nil {
		res.Status = *msg.Status
	}
	return res, nil
}

// Lookup finds a message with this body sent from one number to another
// since the given time (less a minute of slack), so that a send whose result
// was unknown is resolved before any resend. Twilio lists newest first; the
// newest match wins.
func (s *Sender) Lookup(ctx context.Context, from, to, body string, since time.Time) (sid string, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	api, tr := s.api(ctx)

	after := since.Add(-lookupSlack).UTC()
	params := &openapi.ListMessageParams{}
	params.SetTo(to).SetFrom(from).SetDateSentAfter(after).
		SetPageSize(lookupPageSize).SetLimit(lookupLimit)
	msgs, err := api.ListMessage(params)
	if err != nil {
		return "", false, fmt.Errorf("look up message: %w", classify(err, tr.lastStatus()))
	}
	for _, m := range msgs {
		if m.Sid == nil || m.Body == nil || *m.Body != body {
			continue
		}
		// The date filter is documented at day granularity; check the time
		// here too so that yesterday's identical text does not match.
		if m.DateCreated != nil {
			if created, err := time.Parse(time.RFC1123Z, *m.DateCreated); err == nil && created.Before(after) {
				continue
			}
		}
		return *m.Sid, true, nil
	}
	return "", false, nil
}

// api returns a Messages API client bound to ctx.
//
// twilio-go's calls take no context: client.Client.SendRequest builds each
// request with context.Background() and relies on http.Client.Timeout. So
// each call gets its own client.Client (cheap: credentials and a pointer)
// whose transport re-issues the request under ctx, over the Sender's shared
// connection pool. http.Client.Timeout stays zero because the swapped
// context would detach from it; the timeout lives in ctx instead. Both
// CreateMessage and ListMessage read and close every body before returning,
// so cancelling ctx afterwards loses nothing. The service is what
// twilio.NewRestClientWithParams would put in RestClient.Api, without the
// sixty other services.
func (s *Sender) api(ctx context.Context) (*openapi.ApiService, *callTransport) {
	tr := &callTransport{ctx: ctx, base: s.base, next: s.transport}
	c := &twilioclient.Client{
		Credentials: twilioclient.NewCredentials(s.accountSID, s.authToken),
		HTTPClient: &http.Client{
			Transport: tr,
			// As twilio-go's default client: a redirected POST would
			// silently become a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	// Without it the path is /Accounts//Messages.json.
	c.SetAccountSid(s.accountSID)
	return openapi.NewApiServiceWithClient(c), tr
}

// callTransport sends one call's requests under the call's context, to the
// configured base URL, and remembers the last HTTP status: twilio-go drops
// it when an error body is not Twilio's JSON (a proxy's HTML 502, say).
type callTransport struct {
	ctx    context.Context
	base   *url.URL
	next   http.RoundTripper
	status atomic.Int64
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(t.ctx)
	if t.base != nil {
		req.URL.Scheme = t.base.Scheme
		req.URL.Host = t.base.Host
		req.Host = ""
	}
	resp, err := t.next.RoundTrip(req)
	if resp != nil {
		t.status.Store(int64(resp.StatusCode))
	}
	return resp, err
}

func (t *callTransport) lastStatus() int { return int(t.status.Load()) }
