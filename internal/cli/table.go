package cli

import (
	"io"
	"strings"
	"unicode/utf8"
)

// column is one column of a text table.
type column struct {
	title string
	// right aligns numbers to the right, as PVE does.
	right bool
}

// writeTable draws a table the way PVE's text output does: box-drawing
// borders with a double line under the header and a line between rows,
//
//	┌──────┬────────┐
//	│ node │ status │
//	╞══════╪════════╡
//	│ n1   │ online │
//	├──────┼────────┤
//	│ n2   │ online │
//	└──────┴────────┘
//
// or, without border, columns separated by one space (trailing spaces
// trimmed). Cells with newlines take several lines.
func writeTable(w io.Writer, cols []column, rows [][]string, border, header bool) {
	widths := make([]int, len(cols))
	if header {
		for i, c := range cols {
			widths[i] = utf8.RuneCountInString(c.title)
		}
	}
	for _, row := range rows {
		for i, cell := range row {
			for _, line := range strings.Split(cell, "\n") {
				widths[i] = max(widths[i], utf8.RuneCountInString(line))
			}
		}
	}
	var b strings.Builder
	rule := func(left, fill, mid, right string) {
		b.WriteString(left)
		for i, wd := range widths {
			if i > 0 {
				b.WriteString(mid)
			}
			b.WriteString(strings.Repeat(fill, wd+2))
		}
		b.WriteString(right + "\n")
	}
	line := func(cells []string) {
		lines := make([][]string, len(cells))
		height := 1
		for i, c := range cells {
			lines[i] = strings.Split(c, "\n")
			height = max(height, len(lines[i]))
		}
		for l := 0; l < height; l++ {
			var sb strings.Builder
			if border {
				sb.WriteString("│")
			}
			for i, wd := range widths {
				text := ""
				if l < len(lines[i]) {
					text = lines[i][l]
				}
				pad := strings.Repeat(" ", wd-utf8.RuneCountInString(text))
				if border {
					sb.WriteString(" ")
				} else if i > 0 {
					sb.WriteString(" ")
				}
				if cols[i].right {
					sb.WriteString(pad + text)
				} else {
					sb.WriteString(text + pad)
				}
				if border {
					sb.WriteString(" │")
				}
			}
			out := sb.String()
			if !border {
				out = strings.TrimRight(out, " ")
			}
			b.WriteString(out + "\n")
		}
	}
	if border {
		rule("┌", "─", "┬", "┐")
	}
	if header {
		titles := make([]string, len(cols))
		for i, c := range cols {
			titles[i] = c.title
		}
		line(titles)
		if border {
			rule("╞", "═", "╪", "╡")
		}
	}
	for i, row := range rows {
		if i > 0 && border {
			rule("├", "─", "┼", "┤")
		}
		line(row)
	}
	if border {
		rule("└", "─", "┴", "┘")
	}
	io.WriteString(w, b.String())
}
