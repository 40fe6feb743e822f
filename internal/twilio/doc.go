// Package twilio is the provider adapter for Twilio: webhook form parsing,
// signature verification and signing, TwiML answers, and sending SMS.
//
// The server verifies with it, and the simulator and replayer sign with it,
// so that a signature bug cannot hide in one place and not the other.
package twilio
