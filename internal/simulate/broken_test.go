package simulate

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/callflow"
	"github.com/callsnare/callsnare/internal/server"
	"github.com/callsnare/callsnare/internal/service"
	"github.com/callsnare/callsnare/internal/twilio"
)

// readForm reads a request's form body and puts it back for the real handler.
func readForm(r *http.Request) (twilio.Params, []byte) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	p, _ := twilio.ParseForm(body)
	return p, body
}

// resign puts p back as r's body, signed as Twilio would sign it.
func resign(r *http.Request, cfg service.Config, p twilio.Params) {
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	r.Body = io.NopCloser(strings.NewReader(form.Encode()))
	r.ContentLength = int64(len(form.Encode()))
	r.Header.Set(twilio.SignatureHeader, twilio.Sign(cfg.TwilioAuthToken, cfg.PublicURL+r.URL.Path, p))
}

// TestBrokenServersFail points the simulator at servers that break one invariant each,
// and expects the verdict to name it with example CallSids.
func TestBrokenServersFail(t *testing.T) {
	tests := []struct {
		name  string
		check string
		tweak func(*Options)
	}{
		{
			name:  "acknowledges but never texts back",
			check: CheckTextbackOK,
			tweak: func(o *Options) {
				o.DrainTimeout = time.Second
				o.Embed.Config = func(c *service.Config) { c.NoWorkers = true }
			},
		},
		{
			name:  "texts twice",
			check: CheckTextbackOK,
			tweak: func(o *Options) {
				o.Embed.Wrap = func(h http.Handler, cfg service.Config) http.Handler {
					sender, err := twilio.NewSender(twilio.SenderConfig{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, APIBaseURL: cfg.TwilioAPIBaseURL})
					if err != nil {
						t.Fatal(err)
					}
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						p, _ := readForm(r)
						h.ServeHTTP(w, r)
						if r.URL.Path == server.RouteDialComplete && p["DialCallStatus"] != "completed" && callflow.Textable(p["From"]) {
							go sender.Send(context.Background(), p["To"], p["From"], "Sorry we missed you (again)")
						}
					})
				}
			},
		},
		{
			name:  "drops the error code of an undelivered text-back",
			check: CheckDelivery,
			tweak: func(o *Options) {
				o.Embed.Wrap = func(h http.Handler, cfg service.Config) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						p, _ := readForm(r)
						if r.URL.Path == server.RouteSMSStatus && p["ErrorCode"] != "" {
							delete(p, "ErrorCode")
							resign(r, cfg, p)
						}
						h.ServeHTTP(w, r)
					})
				}
			},
		},
		{
			name:  "ignores STOP",
			check: CheckStop,
			tweak: func(o *Options) {
				o.Rules.Cooldown = 0 // every missed call may text, so a text after STOP shows
				o.ReplyRate, o.StopRate, o.RestartRate = 1, 1, 0
				o.Callers = 20
				// Callers answer the text-backs that reach them while the traffic lasts: paced
				// over seconds rather than a fraction of one, a slow machine (or the race
				// detector) still delivers texts in time for their STOPs.
				o.Rate = 100
				o.Embed.Config = func(c *service.Config) { c.Rules.Cooldown = 0 }
				o.Embed.Wrap = func(h http.Handler, cfg service.Config) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						p, _ := readForm(r)
						if r.URL.Path == server.RouteSMSInbound && callflow.ClassifyKeyword(p["Body"]) == callflow.KeywordOptOut {
							p["Body"] = "thanks"
							form := url.Values{}
							for k, v := range p {
								form.Set(k, v)
							}
							r.Body = io.NopCloser(strings.NewReader(form.Encode()))
							r.ContentLength = int64(len(form.Encode()))
							r.Header.Set(twilio.SignatureHeader, twilio.Sign(cfg.TwilioAuthToken, cfg.PublicURL+r.URL.Path, p))
						}
						h.ServeHTTP(w, r)
					})
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := runEmbedded(t, func(o *Options) {
				o.Calls, o.Rate = 300, 1000
				tc.tweak(o)
			})
			if rep.Passed {
				t.Fatal("verdict passed against a broken server")
			}
			for _, c := range rep.Failed() {
				if c.Name != tc.check {
					continue
				}
				if len(c.Examples) == 0 || !strings.Contains(strings.Join(c.Examples, " "), "CA") {
					t.Errorf("%s failed without example CallSids: %v", c.Name, c.Examples)
				}
				return
			}
			t.Errorf("failed checks %v, want %q among them", rep.Failed(), tc.check)
		})
	}
}
