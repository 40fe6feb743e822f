// Package migrations embeds the schema migrations, one folder per database driver, so that
// the binary can apply them itself.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql in goose's format.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
