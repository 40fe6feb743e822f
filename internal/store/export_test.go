package store

import "github.com/jmoiron/sqlx"

// ReadPool is the read pool, for the store's own tests to look at its tables.
func (s *Store) ReadPool() *sqlx.DB { return s.db }
