package store

import (
	"sync"
	"time"
)

// orgTTL is how long the org of a tracked number is kept in memory. Every Twilio
// delivery looks its org up; on SQLite that lookup was a tenth of serve's CPU under load.
// A change made by this process (UpdateOrg, CreateOrg) is seen by the next delivery; one
// made by another process (`callsnare org update` beside a running serve) within orgTTL.
const orgTTL = time.Second

// orgCache keeps found orgs by tracked number for orgTTL. An unknown number is not
// kept: it is looked up each time, so a number added by another process is found at
// once. gen counts this process's changes to orgs: a lookup that began before one does
// not keep what it read.
type orgCache struct {
	mu  sync.RWMutex
	gen uint64
	m   map[string]cachedOrg
}

type cachedOrg struct {
	org     Org
	expires time.Time
}

func newOrgCache() *orgCache { return &orgCache{m: make(map[string]cachedOrg)} }

// get returns the kept org of a number, and the generation a lookup that misses hands
// back to put.
func (c *orgCache) get(number string, now time.Time) (Org, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[number]
	if ok && now.Before(e.expires) {
		return e.org, true, c.gen
	}
	return Org{}, false, c.gen
}

// put keeps an org read while the generation was gen, unless orgs changed since.
func (c *orgCache) put(number string, org Org, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.m[number] = cachedOrg{org: org, expires: now.Add(orgTTL)}
}

// changed forgets every kept org: this process changed orgs or their numbers.
func (c *orgCache) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}
