package store

import (
	"context"
	"fmt"
	"sync"
)

// orgCache keeps the orgs of tracked numbers, which every delivery looks up in its write
// transaction: on SQLite the lookup, then on the read pool, had been a tenth of serve's
// CPU under load; on PostgreSQL it was a join in every delivery's first round. An entry
// is used only in a transaction that sees the token it was read under (org_changes, set
// anew by every change to an org or its numbers, by any process), so a delivery acts on a
// change from the first transaction that sees it, as if it had read the org itself. A
// number that belongs to no org is not kept.
type orgCache struct {
	mu sync.RWMutex
	m  map[string]cachedOrg
}

type cachedOrg struct {
	org   Org
	token int64
}

func newOrgCache() *orgCache { return &orgCache{m: make(map[string]cachedOrg)} }

func (c *orgCache) get(number string) (cachedOrg, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[number]
	return e, ok
}

func (c *orgCache) put(number string, org Org, token int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[number] = cachedOrg{org: org, token: token}
}

// orgChanges is the token of the orgs' last change as one transaction sees it, read once.
type orgChanges struct {
	once  sync.Once
	token int64
	err   error
}

type orgChangesKey struct{}

const orgChangesToken = `SELECT token FROM org_changes`

// orgChanges asks for the token of the orgs' last change as the transaction sees it. On
// SQLite it is read once a transaction; on PostgreSQL each unit asks for it with its next
// round (a batch's units run side by side there, each in its own lane).
func (tx *Tx) orgChanges(ctx context.Context) func() (int64, error) {
	if tx.pipe != nil {
		var token int64
		asked := tx.ask(ctx, &token, orgChangesToken)
		return func() (int64, error) { return token, asked() }
	}
	return func() (int64, error) {
		ch := tx.Stash(orgChangesKey{}, func() any { return &orgChanges{} }).(*orgChanges)
		ch.once.Do(func() { ch.err = tx.get(ctx, &ch.token, orgChangesToken) })
		return ch.token, ch.err
	}
}

// keptOrgByNumber is AskOrgByNumber's answer: the kept org when nothing changed since it
// was read, else the org read in the transaction, and kept.
func (tx *Tx) keptOrgByNumber(ctx context.Context, number string, token func() (int64, error)) (Org, error) {
	t, err := token()
	if err != nil {
		return Org{}, fmt.Errorf("org changes: %w", classify(err))
	}
	if e, ok := tx.orgs.get(number); ok && e.token == t {
		return e.org, nil
	}
	var org Org
	if err := tx.get(ctx, &org, orgByNumber, number); err != nil {
		return org, fmt.Errorf("org of %s: %w", number, classify(err))
	}
	tx.orgs.put(number, org, t)
	return org, nil
}

// SeenOrg is the org this process last read for a tracked number, if any, unchecked: a
// hint for work that may be done before the transaction and is right either way.
func (s *Store) SeenOrg(number string) (Org, bool) {
	if s.w == nil {
		return Org{}, false
	}
	e, ok := s.w.orgs.get(number)
	return e.org, ok
}
