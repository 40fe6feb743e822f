package twilio

import (
	"errors"
	"fmt"
	"net/url"
)

// ErrMalformedForm reports a body that is not valid
// application/x-www-form-urlencoded data.
var ErrMalformedForm = errors.New("malformed form body")

// ErrRepeatedKey reports a form key that appears more than once. Twilio's
// voice and SMS webhooks never repeat keys, and twilio-go's validator takes a
// map, so such a body could not be verified over all its values.
var ErrRepeatedKey = errors.New("repeated form key")

// Params are the parameters of a Twilio webhook, one value per key.
type Params map[string]string

// ParseForm parses a form-encoded webhook body with url.ParseQuery semantics.
// Unlike url.ParseQuery it never returns a partial result: any malformed pair
// or repeated key fails the whole body. Empty values are kept, because
// Twilio signs them too.
func ParseForm(body []byte) (Params, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedForm, err)
	}
	params := make(Params, len(values))
	for k, vs := range values {
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: %q", ErrRepeatedKey, k)
		}
		params[k] = vs[0]
	}
	return params, nil
}
