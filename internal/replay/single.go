package replay

import (
	"context"
	"errors"
	"fmt"
)

// Single replays one delivery by id: the log viewer's replay action. The viewer asks the
// operator before calling it, so it does not ask again.
type Single struct {
	DSN      string
	Target   string
	SignBase string
	Secrets  Secrets
}

// Replay sends delivery id to the target, re-signed, and says what happened.
func (s Single) Replay(ctx context.Context, id int64) (string, error) {
	r := &Replay{
		DSN: s.DSN, Filter: Filter{IDs: []int64{id}}, Target: s.Target, SignBase: s.SignBase,
		Secrets: s.Secrets, Yes: true,
	}
	sum, err := r.Run(ctx)
	if err != nil && !errors.Is(err, ErrDeliveriesFailed) {
		return "", err
	}
	if len(sum.Results) == 0 {
		return "", fmt.Errorf("delivery %d: nothing sent", id)
	}
	res := sum.Results[0]
	if res.Error != "" {
		return "", fmt.Errorf("no answer from %s: %s", sum.Target, res.Error)
	}
	return fmt.Sprintf("HTTP %d, %s", res.HTTPStatus, res.LogStatus), nil
}
