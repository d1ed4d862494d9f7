package logbook

import (
	"strings"
	"time"
)

// SyslogQuery selects lines for the syslog endpoint.
type SyslogQuery struct {
	Start, Limit int
	Since, Until time.Time // zero means unbounded; Until is exclusive
	Service      string    // only lines of this service ("hearth")
}

// Syslog returns the selected lines, numbered from Start+1, and how many
// lines matched before paging.
func (b *Book) Syslog(q SyslogQuery) (lines []string, total int, err error) {
	all, err := b.Lines()
	if err != nil {
		return nil, 0, err
	}
	var match []string
	for _, l := range all {
		if q.Service != "" && !strings.Contains(l, " "+q.Service+"[") {
			continue
		}
		if !q.Since.IsZero() || !q.Until.IsZero() {
			t, ok := LineTime(l)
			if !ok || (!q.Since.IsZero() && t.Before(q.Since)) || (!q.Until.IsZero() && !t.Before(q.Until)) {
				continue
			}
		}
		match = append(match, l)
	}
	total = len(match)
	if q.Start >= total {
		return nil, total, nil
	}
	end := total
	if q.Limit > 0 && q.Start+q.Limit < end {
		end = q.Start + q.Limit
	}
	return match[q.Start:end], total, nil
}

// JournalQuery selects lines for the journal endpoint.
type JournalQuery struct {
	Since, Until time.Time // zero means unbounded
	LastEntries  int       // only the newest N (0: all)
	StartCursor  string    // only lines after this cursor
	EndCursor    string    // only lines up to and including this cursor
}

// Journal returns the selected lines framed by cursors: the first and last
// elements are the cursors of the first and last line returned, which a
// client passes back as startcursor to read only what is new. A cursor is
// the time stamp that starts each line.
func (b *Book) Journal(q JournalQuery) ([]string, error) {
	all, err := b.Lines()
	if err != nil {
		return nil, err
	}
	var match []string
	for _, l := range all {
		t, ok := LineTime(l)
		if !ok {
			continue
		}
		c := cursor(l)
		if q.StartCursor != "" && c <= q.StartCursor {
			continue
		}
		if q.EndCursor != "" && c > q.EndCursor {
			continue
		}
		if (!q.Since.IsZero() && t.Before(q.Since)) || (!q.Until.IsZero() && t.After(q.Until)) {
			continue
		}
		match = append(match, l)
	}
	if q.LastEntries > 0 && len(match) > q.LastEntries {
		match = match[len(match)-q.LastEntries:]
	}
	if len(match) == 0 {
		c := q.StartCursor
		return []string{c, c}, nil
	}
	out := make([]string, 0, len(match)+2)
	out = append(out, cursor(match[0]))
	out = append(out, match...)
	return append(out, cursor(match[len(match)-1])), nil
}

func cursor(line string) string {
	c, _, _ := strings.Cut(line, " ")
	return c
}
