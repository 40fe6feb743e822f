package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Org is a business and its settings.
type Org struct {
	ID               int64          `db:"id"`
	Slug             string         `db:"slug"`
	Name             string         `db:"name"`
	Timezone         string         `db:"timezone"`
	ForwardTo        string         `db:"forward_to"`
	NotifyNumber     string         `db:"notify_number"`
	TextbackTemplate string         `db:"textback_template"`
	TextbackEnabled  bool           `db:"textback_enabled"`
	MinAnswerSeconds int            `db:"min_answer_seconds"`
	StripeCustomerID sql.NullString `db:"stripe_customer_id"`
	CreatedAt        Time           `db:"created_at"`
	Numbers          []string       `db:"-"`
	// Hours is the business hours spec (callflow.ParseHours), "" for always open.
	Hours              string `db:"hours"`
	AfterHoursTemplate string `db:"after_hours_template"`
	UrgentKeywords     string `db:"urgent_keywords"` // comma-separated; "" for the defaults
	// TwilioAccount owns the org's numbers; empty means the main account. Deliveries of
	// any other account are refused for the org.
	TwilioAccount string `db:"twilio_account"`
}

// NewOrg is what provisioning an org takes. Numbers must already be E.164.
type NewOrg struct {
	Slug, Name, Timezone, ForwardTo, TextbackTemplate, StripeCustomerID string
	// NotifyNumber is where the owner is told about missed calls and replies; "" for nowhere.
	NotifyNumber                              string
	Hours, AfterHoursTemplate, UrgentKeywords string
	TwilioAccount                             string // empty: the main account
	Numbers                                   []string
	MinAnswerSeconds                          int
	TextbackDisabled                          bool
}

const orgColumns = `id, slug, name, timezone, forward_to, notify_number, textback_template,
	textback_enabled, min_answer_seconds, stripe_customer_id, created_at, hours, after_hours_template, urgent_keywords,
	twilio_account`

// CreateOrg provisions an org and its tracked numbers in one transaction. A slug, number
// or Stripe customer that is already taken fails with ErrDuplicate.
func (s *Store) CreateOrg(ctx context.Context, in NewOrg, now time.Time) (Org, error) {
	err := s.Write(ctx, func(tx *Tx) error { return tx.createOrg(ctx, in, now) })
	if err != nil {
		return Org{}, err
	}
	return s.OrgBySlug(ctx, in.Slug)
}

func (tx *Tx) createOrg(ctx context.Context, in NewOrg, now time.Time) error {
	var cust any
	if in.StripeCustomerID != "" {
		cust = in.StripeCustomerID
	}
	tz := in.Timezone
	if tz == "" {
		tz = "America/New_York"
	}
	var id int64
	err := tx.get(ctx, &id, `INSERT INTO orgs (slug, name, timezone, forward_to,
		textback_template, textback_enabled, min_answer_seconds, stripe_customer_id, created_at,
		notify_number, hours, after_hours_template, urgent_keywords, twilio_account)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		in.Slug, in.Name, tz, in.ForwardTo, in.TextbackTemplate, !in.TextbackDisabled,
		in.MinAnswerSeconds, cust, T(now), in.NotifyNumber, in.Hours, in.AfterHoursTemplate, in.UrgentKeywords,
		in.TwilioAccount)
	if err != nil {
		return fmt.Errorf("insert org: %w", classify(err))
	}
	for _, n := range in.Numbers {
		if _, err := tx.exec(ctx, `INSERT INTO tracked_numbers (number, org_id, created_at)
			VALUES (?, ?, ?)`, n, id, T(now)); err != nil {
			return fmt.Errorf("insert number %s: %w", n, classify(err))
		}
	}
	return nil
}

// OrgUpdate is a change of an org's settings: nil fields are left as they are. Numbers
// must already be E.164.
type OrgUpdate struct {
	Name, Timezone, ForwardTo, NotifyNumber, TextbackTemplate *string
	Hours, AfterHoursTemplate, UrgentKeywords                 *string
	TwilioAccount                                             *string // "": the main account
	MinAnswerSeconds                                          *int
	TextbackEnabled                                           *bool
	AddNumbers, RemoveNumbers                                 []string
}

// ErrNotOwned is returned when a number to remove is not one of the org's.
var ErrNotOwned = errors.New("number not tracked by this org")

// UpdateOrg changes an org's settings and numbers in one transaction: all of it or
// nothing. Every delivery sees the org as its own transaction does, so running servers act
// on the change from the next one. A number taken by another org fails with ErrDuplicate.
func (s *Store) UpdateOrg(ctx context.Context, slug string, u OrgUpdate, now time.Time) (Org, error) {
	err := s.Write(ctx, func(tx *Tx) error {
		var id int64
		if err := tx.get(ctx, &id, `SELECT id FROM orgs WHERE slug = ?`, slug); err != nil {
			return fmt.Errorf("org %q: %w", slug, classify(err))
		}
		var sets []string
		var args []any
		set := func(col string, v any) {
			sets = append(sets, col+" = ?")
			args = append(args, v)
		}
		for _, c := range []struct {
			col string
			v   *string
		}{{"name", u.Name}, {"timezone", u.Timezone}, {"forward_to", u.ForwardTo}, {"notify_number", u.NotifyNumber},
			{"textback_template", u.TextbackTemplate}, {"hours", u.Hours},
			{"after_hours_template", u.AfterHoursTemplate}, {"urgent_keywords", u.UrgentKeywords},
			{"twilio_account", u.TwilioAccount}} {
			if c.v != nil {
				set(c.col, *c.v)
			}
		}
		if u.MinAnswerSeconds != nil {
			set("min_answer_seconds", *u.MinAnswerSeconds)
		}
		if u.TextbackEnabled != nil {
			set("textback_enabled", *u.TextbackEnabled)
		}
		if len(sets) > 0 {
			if _, err := tx.exec(ctx, `UPDATE orgs SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...); err != nil {
				return fmt.Errorf("update org %q: %w", slug, classify(err))
			}
		}
		for _, n := range u.RemoveNumbers {
			res, err := tx.exec(ctx, `DELETE FROM tracked_numbers WHERE number = ? AND org_id = ?`, n, id)
			if err != nil {
				return fmt.Errorf("remove number %s: %w", n, classify(err))
			}
			if k, _ := res.RowsAffected(); k != 1 {
				return fmt.Errorf("remove number %s: %w", n, ErrNotOwned)
			}
		}
		for _, n := range u.AddNumbers {
			if _, err := tx.exec(ctx, `INSERT INTO tracked_numbers (number, org_id, created_at)
				VALUES (?, ?, ?)`, n, id, T(now)); err != nil {
				return fmt.Errorf("add number %s: %w", n, classify(err))
			}
		}
		return nil
	})
	if err != nil {
		return Org{}, err
	}
	return s.OrgBySlug(ctx, slug)
}

// OrgBySlug finds an org with its numbers.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (Org, error) {
	var org Org
	if err := s.db.GetContext(ctx, &org, s.rebind(`SELECT `+orgColumns+` FROM orgs WHERE slug = ?`), slug); err != nil {
		return org, fmt.Errorf("org %q: %w", slug, classify(err))
	}
	return org, s.fillNumbers(ctx, []*Org{&org})
}

// OrgByNumber finds the org a tracked number belongs to, on the read pool (a delivery
// finds its org in its write transaction: AskOrgByNumber).
func (s *Store) OrgByNumber(ctx context.Context, number string) (Org, error) {
	var org Org
	if err := s.db.GetContext(ctx, &org, s.rebind(orgByNumber), number); err != nil {
		return org, fmt.Errorf("org of %s: %w", number, classify(err))
	}
	return org, nil
}

// ReadsInWrites reports whether a delivery's reads cost less inside its write transaction
// than on the read pool: on PostgreSQL they ride the batch's pipelined rounds instead of
// round trips of their own; on SQLite the one writer is the bottleneck and the read pool
// works beside it.
func (s *Store) ReadsInWrites() bool { return s.driver == Postgres }

// AskOrgByNumber is Store.OrgByNumber within the transaction, asked for (see ask): a
// delivery finds its org in the transaction that applies it, mostly in memory (orgCache),
// checked against the token of the orgs' last change, which on PostgreSQL rides the
// batch's pipelined round together with the delivery's claim (AskClaim).
func (tx *Tx) AskOrgByNumber(ctx context.Context, number string) func() (Org, error) {
	token := tx.orgChanges(ctx)
	return func() (Org, error) { return tx.keptOrgByNumber(ctx, number, token) }
}

const orgByNumber = `SELECT o.id, o.slug, o.name, o.timezone, o.forward_to,
	o.notify_number, o.textback_template, o.textback_enabled, o.min_answer_seconds,
	o.stripe_customer_id, o.created_at, o.hours, o.after_hours_template, o.urgent_keywords, o.twilio_account
	FROM tracked_numbers n JOIN orgs o ON o.id = n.org_id WHERE n.number = ?`

// Orgs lists every org with its numbers, by slug.
func (s *Store) Orgs(ctx context.Context) ([]Org, error) {
	var orgs []Org
	if err := s.db.SelectContext(ctx, &orgs, `SELECT `+orgColumns+` FROM orgs ORDER BY slug`); err != nil {
		return nil, fmt.Errorf("list orgs: %w", classify(err))
	}
	ptrs := make([]*Org, len(orgs))
	for i := range orgs {
		ptrs[i] = &orgs[i]
	}
	return orgs, s.fillNumbers(ctx, ptrs)
}

func (s *Store) fillNumbers(ctx context.Context, orgs []*Org) error {
	var rows []struct {
		Number string `db:"number"`
		OrgID  int64  `db:"org_id"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT number, org_id FROM tracked_numbers ORDER BY number`); err != nil {
		return fmt.Errorf("list numbers: %w", classify(err))
	}
	byID := make(map[int64]*Org, len(orgs))
	for _, o := range orgs {
		byID[o.ID] = o
		o.Numbers = []string{}
	}
	for _, r := range rows {
		if o := byID[r.OrgID]; o != nil {
			o.Numbers = append(o.Numbers, r.Number)
		}
	}
	return nil
}
