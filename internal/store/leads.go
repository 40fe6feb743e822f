package store

import (
	"context"
	"fmt"
)

// Lead is one caller of one org, with its SMS thread.
type Lead struct {
	ID        int64     `db:"id"`
	OrgID     int64     `db:"org_id"`
	OrgSlug   string    `db:"org_slug"`
	Phone     string    `db:"phone"`
	Status    string    `db:"status"`
	OptedOut  bool      `db:"opted_out"`
	CreatedAt Time      `db:"created_at"`
	Messages  []Message `db:"-"`
}

// Leads lists an org's leads, newest first, each with its thread; phone narrows to one.
func (s *Store) Leads(ctx context.Context, orgID int64, phone string) ([]Lead, error) {
	q := `SELECT l.id, l.org_id, o.slug AS org_slug, l.phone, l.status, l.created_at,
		COALESCE(oo.opted_out, FALSE) AS opted_out
		FROM leads l JOIN orgs o ON o.id = l.org_id
		LEFT JOIN opt_outs oo ON oo.org_id = l.org_id AND oo.phone = l.phone
		WHERE l.org_id = ?`
	args := []any{orgID}
	if phone != "" {
		q += ` AND l.phone = ?`
		args = append(args, phone)
	}
	q += ` ORDER BY l.created_at DESC, l.id DESC`
	var leads []Lead
	if err := s.db.SelectContext(ctx, &leads, s.rebind(q), args...); err != nil {
		return nil, fmt.Errorf("list leads: %w", classify(err))
	}
	var msgs []Message
	mq := `SELECT ` + messageColumns + ` FROM messages WHERE org_id = ? AND lead_id IS NOT NULL`
	margs := []any{orgID}
	if phone != "" {
		mq += ` AND lead_id IN (SELECT id FROM leads WHERE org_id = ? AND phone = ?)`
		margs = append(margs, orgID, phone)
	}
	mq += ` ORDER BY created_at, id`
	if err := s.db.SelectContext(ctx, &msgs, s.rebind(mq), margs...); err != nil {
		return nil, fmt.Errorf("list messages: %w", classify(err))
	}
	byLead := make(map[int64]*Lead, len(leads))
	for i := range leads {
		leads[i].Messages = []Message{}
		byLead[leads[i].ID] = &leads[i]
	}
	for _, m := range msgs {
		if l := byLead[m.LeadID.Int64]; l != nil {
			l.Messages = append(l.Messages, m)
		}
	}
	return leads, nil
}
