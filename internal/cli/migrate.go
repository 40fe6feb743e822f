package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/callsnare/callsnare/internal/store"
)

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "migrate [up|status]",
		Short:     "Apply the database migrations, or show which are applied",
		Args:      args(cobra.MatchAll(cobra.MaximumNArgs(1), cobra.OnlyValidArgs)),
		ValidArgs: []string{"up", "status"},
		RunE: func(cmd *cobra.Command, argv []string) error {
			st, err := store.Open(cmd.Context(), a.cfg.DB, store.Options{Logger: a.log})
			if err != nil {
				return err
			}
			defer st.Close()
			if len(argv) == 1 && argv[0] == "status" {
				return a.migrationStatus(cmd.Context(), st)
			}
			if err := st.Migrate(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "migrations applied")
			return nil
		},
	}
}

func (a *app) migrationStatus(ctx context.Context, st *store.Store) error {
	ms, err := st.MigrationStatuses(ctx)
	if err != nil {
		return err
	}
	t := newTable(a.stdout, "VERSION", "SOURCE", "APPLIED")
	for _, m := range ms {
		t.row(fmt.Sprint(m.Version), m.Source, fmt.Sprint(m.Applied))
	}
	return t.flush()
}
