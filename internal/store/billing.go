package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Billing is an org's billing row as Stripe events left it.
type Billing struct {
	OrgID               int64  `db:"org_id"`
	CustomerID          string `db:"customer_id"`
	SubscriptionID      string `db:"subscription_id"`
	Status              string `db:"status"`
	PriceID             string `db:"price_id"`
	CurrentPeriodEnd    Time   `db:"current_period_end"`
	TrialEnd            Time   `db:"trial_end"`
	CancelAtPeriodEnd   bool   `db:"cancel_at_period_end"`
	LatestInvoiceID     string `db:"latest_invoice_id"`
	LatestInvoiceStatus string `db:"latest_invoice_status"`
	Delinquent          bool   `db:"delinquent"`
	UpdatedAt           Time   `db:"updated_at"`
}

// OrgBilling returns an org's billing row; an org Stripe never told us about has the zero
// row (status empty) and no error.
func (s *Store) OrgBilling(ctx context.Context, orgID int64) (Billing, error) {
	var b Billing
	err := s.db.GetContext(ctx, &b, s.rebind(`SELECT org_id, customer_id, subscription_id, status, price_id,
		current_period_end, trial_end, cancel_at_period_end, latest_invoice_id, latest_invoice_status,
		delinquent, updated_at FROM org_billing WHERE org_id = ?`), orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return Billing{OrgID: orgID}, nil
	}
	if err != nil {
		return b, fmt.Errorf("billing of org %d: %w", orgID, classify(err))
	}
	return b, nil
}
