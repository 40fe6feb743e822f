// Package callsnare is the root of the CallSnare module: the webhook server that recovers
// missed calls for HVAC businesses, and the tools that operate it. The binary lives in
// cmd/callsnare; everything else is under internal/.
package callsnare
