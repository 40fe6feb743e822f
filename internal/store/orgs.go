package store

import (
	"context"
	"database/sql"
	"fmt"
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
}

// NewOrg is what provisioning an org takes. Numbers must already be E.164.
type NewOrg struct {
	Slug, Name, Timezone, ForwardTo, TextbackTemplate, StripeCustomerID string
	// NotifyNumber is where the owner is told about missed calls; "" for nowhere.
	NotifyNumber     string
	Numbers          []string
	MinAnswerSeconds int
	TextbackDisabled bool
}

const orgColumns = `id, slug, name, timezone, forward_to, notify_number, textback_template,
	textback_enabled, min_answer_seconds, stripe_customer_id, created_at`

// CreateOrg provisions an org and its tracked numbers in one transaction. A slug, number
// or Stripe customer that is already taken fails with ErrDuplicate.
func (s *Store) CreateOrg(ctx context.Context, in NewOrg, now time.Time) (Org, error) {
	var org Org
	err := s.Write(ctx, func(tx *Tx) error {
		var cust any
		if in.StripeCustomerID != "" {
			cust = in.StripeCustomerID
		}
		tz := in.Timezone
		if tz == "" {
			tz = "America/New_York"
		}
		var id int64
		err := tx.row(ctx, `INSERT INTO orgs (slug, name, timezone, forward_to, notify_number,
			textback_template, textback_enabled, min_answer_seconds, stripe_customer_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			in.Slug, in.Name, tz, in.ForwardTo, in.NotifyNumber, in.TextbackTemplate, !in.TextbackDisabled,
			in.MinAnswerSeconds, cust, T(now)).Scan(&id)
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
	})
	if err != nil {
		return org, err
	}
	return s.OrgBySlug(ctx, in.Slug)
}

// OrgBySlug finds an org with its numbers.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (Org, error) {
	var org Org
	if err := s.db.GetContext(ctx, &org, s.rebind(`SELECT `+orgColumns+` FROM orgs WHERE slug = ?`), slug); err != nil {
		return org, fmt.Errorf("org %q: %w", slug, classify(err))
	}
	return org, s.fillNumbers(ctx, []*Org{&org})
}

// OrgByNumber finds the org a tracked number belongs to; it is on every Twilio request.
func (s *Store) OrgByNumber(ctx context.Context, number string) (Org, error) {
	var org Org
	const q = `SELECT o.id, o.slug, o.name, o.timezone, o.forward_to,
		o.notify_number, o.textback_template, o.textback_enabled, o.min_answer_seconds,
		o.stripe_customer_id, o.created_at
		FROM tracked_numbers n JOIN orgs o ON o.id = n.org_id WHERE n.number = ?`
	var err error
	if st := s.readStmt(ctx, q); st != nil {
		err = st.GetContext(ctx, &org, number)
	} else {
		err = s.db.GetContext(ctx, &org, s.rebind(q), number)
	}
	if err != nil {
		return org, fmt.Errorf("org of %s: %w", number, classify(err))
	}
	return org, nil
}

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
