package twilio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
)

func TestNewSenderChecksConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SenderConfig
		wantErr bool
	}{
		{name: "real api", cfg: SenderConfig{AccountSID: testSID, AuthToken: testToken}},
		{name: "local base", cfg: SenderConfig{AccountSID: testSID, AuthToken: testToken, APIBaseURL: "http://127.0.0.1:4010"}},
		{name: "trailing slash", cfg: SenderConfig{AccountSID: testSID, AuthToken: testToken, APIBaseURL: "http://127.0.0.1:4010/"}},
		{name: "no sid", cfg: SenderConfig{AuthToken: testToken}, wantErr: true},
		{name: "no token", cfg: SenderConfig{AccountSID: testSID}, wantErr: true},
		{name: "token with symbols", cfg: SenderConfig{AccountSID: testSID, AuthToken: "abc-123"}, wantErr: true},
		{name: "base without scheme", cfg: SenderConfig{AccountSID: testSID, AuthToken: testToken, APIBaseURL: "127.0.0.1:4010"}, wantErr: true},
		{name: "base with path", cfg: SenderConfig{AccountSID: testSID, AuthToken: testToken, APIBaseURL: "http://127.0.0.1:4010/api"}, wantErr: true},
		{name: "base with ftp scheme", cfg: SenderConfig{AccountSID: testSID, AuthToken: testToken, APIBaseURL: "ftp://example.com"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSender(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

// TestSendRequestShape checks what reaches the API: the rewritten host, the
// account in the path, basic auth and the form.
func TestSendRequestShape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json":
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		case user != testSID || pass != testToken:
			t.Errorf("basic auth %q:%q", user, pass)
		case r.FormValue("From") != "+15005550006" || r.FormValue("To") != "+15005550001" || r.FormValue("Body") != "hi ✓":
			t.Errorf("form %v", r.PostForm)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`))
	}))
	defer srv.Close()
	s := mustSender(t, srv.URL, 0)
	res, err := s.Send(context.Background(), "+15005550006", "+15005550001", "hi ✓")
	if err != nil {
		t.Fatal(err)
	}
	if res != (SendResult{SID: "SM0123456789abcdef0123456789abcdef", Status: "queued"}) {
		t.Fatalf("result %+v", res)
	}
}

// TestSendClassifiesUndecodableAnswers covers answers twilio-go cannot
// decode, whose status it drops; the transport keeps it.
func TestSendClassifiesUndecodableAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantKind   SendErrorKind
		wantStatus int
	}{
		{name: "html 502 from a proxy", status: 502, body: "<html>bad gateway</html>", wantKind: ErrKindUnknown, wantStatus: 502},
		{name: "html 429", status: 429, body: "slow down", wantKind: ErrKindRetrySafe, wantStatus: 429},
		{name: "html 403", status: 403, body: "<html>forbidden</html>", wantKind: ErrKindPermanent, wantStatus: 403},
		{name: "201 without json", status: 201, body: "ok", wantKind: ErrKindUnknown, wantStatus: 201},
		{name: "201 without sid", status: 201, body: "{}", wantKind: ErrKindUnknown, wantStatus: 201},
		{name: "twilio json 400 without status field", status: 400, body: `{"code":21211,"message":"invalid 'To'"}`, wantKind: ErrKindPermanent, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			_, err := mustSender(t, srv.URL, 0).Send(context.Background(), "+15005550006", "+15005550001", "hi")
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SendError", err)
			}
			if se.Kind != tt.wantKind || se.HTTPStatus != tt.wantStatus {
				t.Fatalf("kind %s status %d, want %s %d (%v)", se.Kind, se.HTTPStatus, tt.wantKind, tt.wantStatus, err)
			}
		})
	}
}

func TestSendWithoutConnectionIsRetrySafe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	_, err = mustSender(t, "http://"+addr, 0).Send(context.Background(), "+15005550006", "+15005550001", "hi")
	if k := KindOf(err); k != ErrKindRetrySafe {
		t.Fatalf("kind %s, want retry_safe (%v)", k, err)
	}
}

func TestSendHonoursContext(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		// Reading the body lets the server notice the client hang up.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()

	t.Run("already cancelled sends nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := mustSender(t, srv.URL, 0).Send(ctx, "+15005550006", "+15005550001", "hi")
		if k := KindOf(err); k != ErrKindRetrySafe || !errors.Is(err, context.Canceled) {
			t.Fatalf("kind %s err %v", k, err)
		}
		if hits.Load() != 0 {
			t.Fatal("request sent after cancellation")
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := mustSender(t, srv.URL, 0).Send(ctx, "+15005550006", "+15005550001", "hi")
		if k := KindOf(err); k != ErrKindUnknown || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("kind %s err %v", k, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %s", d)
		}
	})
	t.Run("configured timeout", func(t *testing.T) {
		start := time.Now()
		_, err := mustSender(t, srv.URL, 150*time.Millisecond).Send(context.Background(), "+15005550006", "+15005550001", "hi")
		if k := KindOf(err); k != ErrKindUnknown {
			t.Fatalf("kind %s err %v", k, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %s", d)
		}
	})
}

func TestSendRejectsMissingFields(t *testing.T) {
	s := mustSender(t, "http://127.0.0.1:1", 0)
	for _, args := range [][3]string{{"", "+1", "b"}, {"+1", "", "b"}, {"+1", "+2", ""}} {
		if _, err := s.Send(context.Background(), args[0], args[1], args[2]); KindOf(err) != ErrKindPermanent {
			t.Errorf("Send%q: err %v, want permanent", args, err)
		}
	}
}

func TestKindOf(t *testing.T) {
	wrapped := &SendError{Kind: ErrKindPermanent, Code: 21610}
	if KindOf(errors.Join(errors.New("x"), wrapped)) != ErrKindPermanent {
		t.Error("KindOf should find a wrapped *SendError")
	}
	if KindOf(errors.New("plain")) != ErrKindUnknown {
		t.Error("KindOf of a plain error should be unknown")
	}
}

func mustSender(t *testing.T, baseURL string, timeout time.Duration) *Sender {
	t.Helper()
	s, err := NewSender(SenderConfig{AccountSID: testSID, AuthToken: testToken, APIBaseURL: baseURL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSendsReuseConnections sends two waves of text-backs side by side: the second wave
// goes on the first's connections (with Go's default of two idle connections per host,
// every send past the second opened one, at Twilio a TLS handshake).
func TestSendsReuseConnections(t *testing.T) {
	const wave = 16
	var wg atomic.Pointer[sync.WaitGroup]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answer once the whole wave is in: its sends are open at once.
		g := wg.Load()
		g.Done()
		g.Wait()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`))
	}))
	var opened atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s := mustSender(t, srv.URL, 0)
	for range 2 {
		g := new(sync.WaitGroup)
		g.Add(wave)
		wg.Store(g)
		errs := make(chan error, wave)
		for range wave {
			go func() {
				_, err := s.Send(context.Background(), "+15005550006", "+15005550001", "hi")
				errs <- err
			}()
		}
		for range wave {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := opened.Load(); n != wave {
		t.Errorf("%d connections opened for two waves of %d sends; want %d", n, wave, wave)
	}
}
