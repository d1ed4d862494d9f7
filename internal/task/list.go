package task

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Sources of Filter.Source, as Proxmox VE's source parameter.
const (
	SourceArchive = "archive" // finished tasks (the default)
	SourceActive  = "active"  // running tasks
	SourceAll     = "all"
)

// DefaultListLimit is the number of tasks List returns when Filter.Limit is
// 0, the default of Proxmox VE's task list.
const DefaultListLimit = 50

// Filter selects tasks for List, with the parameters of Proxmox VE's
// GET /nodes/{node}/tasks. Zero values select everything (but Limit, see
// there).
type Filter struct {
	// Start skips that many matching tasks.
	Start int
	// Limit caps the number returned: 0 means DefaultListLimit, negative
	// means no cap.
	Limit int
	// VMID keeps tasks whose id is this guest id; 0 keeps all.
	VMID int
	// TypeFilter keeps tasks of exactly this type ("qmstart"), as Proxmox VE
	// compares the type for equality.
	TypeFilter string
	// UserFilter keeps tasks whose user contains this text, ignoring case,
	// as Proxmox VE matches it ("root" finds "root@pam").
	UserFilter string
	// Errors keeps only tasks that did not end OK. As in Proxmox VE it
	// overrides StatusFilter, and it keeps running tasks (they have not
	// ended OK).
	Errors bool
	// Source is SourceArchive (also when empty), SourceActive or SourceAll.
	Source string
	// Since and Until bound the start time (Unix seconds, inclusive); 0
	// leaves that side open.
	Since, Until int64
	// StatusFilter keeps tasks whose outcome is listed: OutcomeOK,
	// OutcomeWarning, OutcomeError, OutcomeUnknown (case is ignored). Hearth
	// also accepts OutcomeRunning; running tasks are kept only if it is
	// listed, since they have none of the other outcomes. Empty keeps all.
	StatusFilter []string
}

// Validate reports values List cannot honour. List itself does not fail:
// it reads an unknown Source as SourceArchive and ignores unknown outcomes,
// so handlers should call Validate to answer such input with an error.
func (f Filter) Validate() error {
	switch f.Source {
	case "", SourceArchive, SourceActive, SourceAll:
	default:
		return fmt.Errorf("source %q is not one of archive, active, all", f.Source)
	}
	if f.Start < 0 {
		return fmt.Errorf("start %d is negative", f.Start)
	}
	for _, s := range f.StatusFilter {
		if !knownOutcome(strings.ToLower(s)) {
			return fmt.Errorf("status filter %q is not one of ok, warning, error, unknown, running", s)
		}
	}
	return nil
}

func knownOutcome(s string) bool {
	switch s {
	case OutcomeOK, OutcomeWarning, OutcomeError, OutcomeUnknown, OutcomeRunning:
		return true
	}
	return false
}

var listSep = regexp.MustCompile(`[\x00;,\s]+`)

// ParseStatusFilter splits the statusfilter parameter the way Proxmox VE
// splits its lists (commas, semicolons, white space) and checks each entry.
func ParseStatusFilter(s string) ([]string, error) {
	var out []string
	for _, v := range listSep.Split(s, -1) {
		if v == "" {
			continue
		}
		v = strings.ToLower(v)
		if !knownOutcome(v) {
			return nil, fmt.Errorf("status filter %q is not one of ok, warning, error, unknown, running", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// List returns the tasks f selects, newest (by start time) first, and how
// many matched before Start and Limit were applied.
func (r *Runner) List(f Filter) (items []ListEntry, total int) {
	m := newMatcher(f)
	var found []record
	r.mu.RLock()
	if f.Source != SourceActive {
		for _, rec := range r.archive {
			if m.match(rec) {
				found = append(found, rec)
			}
		}
	}
	if f.Source == SourceActive || f.Source == SourceAll {
		for _, j := range r.running {
			if m.match(j.rec) {
				found = append(found, j.rec)
			}
		}
	}
	r.mu.RUnlock()

	// Within one second the sequence in pstart tells the order of starts.
	slices.SortFunc(found, func(a, b record) int {
		return cmp.Or(
			cmp.Compare(b.upid.StartTime, a.upid.StartTime),
			cmp.Compare(b.upid.PStart, a.upid.PStart),
			strings.Compare(b.id, a.id),
		)
	})
	total = len(found)
	start := min(max(f.Start, 0), total)
	end := total
	switch {
	case f.Limit == 0:
		end = min(start+DefaultListLimit, total)
	case f.Limit > 0:
		end = min(start+f.Limit, total)
	}
	items = make([]ListEntry, 0, end-start)
	for _, rec := range found[start:end] {
		items = append(items, rec.listEntry())
	}
	return items, total
}

type matcher struct {
	f        Filter
	vmid     string
	user     string
	outcomes map[string]bool // nil: any outcome
}

func newMatcher(f Filter) matcher {
	m := matcher{f: f, user: strings.ToLower(f.UserFilter)}
	if f.VMID != 0 {
		m.vmid = strconv.Itoa(f.VMID)
	}
	switch {
	case f.Errors:
		m.outcomes = map[string]bool{OutcomeWarning: true, OutcomeError: true, OutcomeUnknown: true, OutcomeRunning: true}
	case len(f.StatusFilter) > 0:
		m.outcomes = make(map[string]bool)
		for _, s := range f.StatusFilter {
			m.outcomes[strings.ToLower(s)] = true
		}
	}
	return m
}

func (m matcher) match(rec record) bool {
	u := rec.upid
	switch {
	case m.f.TypeFilter != "" && u.Type != m.f.TypeFilter,
		m.vmid != "" && u.ID != m.vmid,
		m.user != "" && !strings.Contains(strings.ToLower(u.User), m.user),
		m.f.Since != 0 && u.StartTime < m.f.Since,
		m.f.Until != 0 && u.StartTime > m.f.Until,
		m.outcomes != nil && !m.outcomes[Outcome(rec.exit)]:
		return false
	}
	return true
}
