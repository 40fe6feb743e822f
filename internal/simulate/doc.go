// Package simulate plays signed provider flows (whole Twilio calls and SMS threads, Stripe
// billing lifecycles) against a CallSnare server at a chosen rate, with the faults real
// delivery brings, and then gives a verdict on latency and on the business invariants
// checked in the server's database and at the fake Twilio.
package simulate
