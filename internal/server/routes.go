package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Route paths, as providers are configured to call them.
const (
	RouteVoiceInbound = "/api/twilio/voice/inbound"
	RouteDialComplete = "/api/twilio/voice/dial-complete"
	RouteVoiceStatus  = "/api/twilio/voice/status"
	RouteSMSInbound   = "/api/twilio/sms/inbound"
	RouteSMSStatus    = "/api/twilio/sms/status"
	RouteStripe       = "/api/stripe/webhook"
)

// Handler is the whole HTTP surface on one screen.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(RouteVoiceInbound, s.instrument(RouteVoiceInbound, s.bounded(s.twilioRoute(voiceInbound))))
	mux.Handle(RouteDialComplete, s.instrument(RouteDialComplete, s.bounded(s.twilioRoute(dialComplete))))
	mux.Handle(RouteVoiceStatus, s.instrument(RouteVoiceStatus, s.bounded(s.twilioRoute(voiceStatus))))
	mux.Handle(RouteSMSInbound, s.instrument(RouteSMSInbound, s.bounded(s.twilioRoute(smsInbound))))
	mux.Handle(RouteSMSStatus, s.instrument(RouteSMSStatus, s.bounded(s.twilioRoute(smsStatus))))
	mux.Handle(RouteStripe, s.instrument(RouteStripe, s.bounded(s.handleStripe())))
	mux.Handle("GET /healthz", s.handleHealthz())
	mux.Handle("GET /readyz", s.handleReadyz())
	if s.metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	}
	return mux
}
