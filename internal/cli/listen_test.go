package cli

import "testing"

// TestListenAddr: the demo, which takes any signature made with its published token,
// listens on loopback unless told otherwise; serve listens where it is configured.
func TestListenAddr(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		demo       bool
		chosen     bool
		want       string
	}{
		{"serve, default", ":8080", false, false, ":8080"},
		{"serve, chosen", "0.0.0.0:9000", false, true, "0.0.0.0:9000"},
		{"demo, default", ":8080", true, false, "127.0.0.1:8080"},
		{"demo, chosen", "0.0.0.0:9000", true, true, "0.0.0.0:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listenAddr(tt.configured, tt.demo, tt.chosen); got != tt.want {
				t.Errorf("listenAddr(%q, demo=%v, chosen=%v) = %q, want %q", tt.configured, tt.demo, tt.chosen, got, tt.want)
			}
		})
	}
}
