package service_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/service"
)

// TestHTTPServerCutsOffSlowClients: a client that sends half a request and then nothing
// (slowloris) is disconnected once the header timeout passes, while a prompt client on
// the same server is answered meanwhile.
func TestHTTPServerCutsOffSlowClients(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := service.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }), 0)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	if _, err := io.WriteString(slow, "POST /api/twilio/voice/inbound HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a prompt client was not served: %v", err)
	}
	resp.Body.Close()

	_ = slow.SetReadDeadline(time.Now().Add(srv.ReadHeaderTimeout + 5*time.Second))
	_, err = io.ReadAll(slow) // returns when the server closes the connection
	waited := time.Since(start)
	if err != nil {
		t.Fatalf("the slow client was not disconnected: %v after %v", err, waited)
	}
	if waited < srv.ReadHeaderTimeout-time.Second || waited > srv.ReadHeaderTimeout+3*time.Second {
		t.Errorf("disconnected after %v, want about %v", waited, srv.ReadHeaderTimeout)
	}
}

// TestStartsWithoutTwilioCredentials: a server with no Twilio account still starts and
// takes callbacks; its text-backs wait in the queue instead of failing.
func TestStartsWithoutTwilioCredentials(t *testing.T) {
	t.Parallel()
	svc, err := service.Start(context.Background(), service.Config{DSN: filepath.Join(t.TempDir(), "cs.db")}, nil)
	if err != nil {
		t.Fatalf("start without Twilio credentials: %v", err)
	}
	if err := svc.Close(context.Background()); err != nil {
		t.Errorf("close: %v", err)
	}
}
