package replay

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callsnare/callsnare/internal/store"
)

// Curl renders delivery id as a shell command that sends it to the target, re-signed as
// the provider would sign it: the log viewer's "copy as curl", for reproducing one
// delivery by hand. The command holds the real payload (phone numbers, message text) and
// a signature, never a secret; a Stripe signature is only good for the tolerance window.
func (s Single) Curl(ctx context.Context, id int64) (string, error) {
	target, err := parseTarget(s.Target)
	if err != nil {
		return "", err
	}
	signBase := target
	if s.SignBase != "" {
		if signBase, err = parseTarget(s.SignBase); err != nil {
			return "", err
		}
	}
	st, err := store.Open(ctx, s.DSN, store.Options{ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	e, err := st.LogByID(ctx, id)
	if err != nil {
		return "", err
	}
	sg := signer{target: baseString(target), signBase: baseString(signBase), secrets: s.Secrets, now: time.Now}
	req, err := sg.request(ctx, e)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	return curlCommand(req.Method, req.URL.String(), req.Header, body), nil
}

// curlCommand quotes every part for a POSIX shell. A body that is not plain text travels
// base64-encoded through a pipe, so that no byte is lost to the shell.
func curlCommand(method, url string, header map[string][]string, body []byte) string {
	var b strings.Builder
	keys := make([]string, 0, len(header))
	for k := range header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	plain := utf8.Valid(body) && !strings.ContainsRune(string(body), 0)
	if !plain {
		fmt.Fprintf(&b, "printf %%s %s | base64 -d | ", shellQuote(base64.StdEncoding.EncodeToString(body)))
	}
	fmt.Fprintf(&b, "curl -sS -i -X %s %s", method, shellQuote(url))
	for _, k := range keys {
		for _, v := range header[k] {
			fmt.Fprintf(&b, " \\\n  -H %s", shellQuote(k+": "+v))
		}
	}
	if plain {
		fmt.Fprintf(&b, " \\\n  --data-binary %s\n", shellQuote(string(body)))
	} else {
		b.WriteString(" \\\n  --data-binary @-\n")
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
