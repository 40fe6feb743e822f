package replay

import (
	"fmt"
	"io"
	"strings"
)

// progress draws a one-line bar on a terminal (stderr), redrawn in place.
type progress struct {
	w     io.Writer // nil: no bar
	total int
	shown bool
}

const barWidth = 30

func (p *progress) draw(done, failed int) {
	if p.w == nil || p.total == 0 {
		return
	}
	filled := barWidth * done / p.total
	fmt.Fprintf(p.w, "\r\033[Kreplay [%s%s] %d/%d failed %d", strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled), done, p.total, failed)
	p.shown = true
}

// clear removes the bar so that a line can be printed on the same terminal.
func (p *progress) clear() {
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
