package netapply

import (
	"context"
	"fmt"
	"strings"
)

// ApplyError reports a plan that did not run to its end.
type ApplyError struct {
	Index int   // of the failed step in the plan
	Total int   // steps in the plan
	Step  Step  // the step that failed
	Err   error // why it failed (the context's error when cancelled)
	// Undone counts the steps whose undo ran successfully.
	Undone int
	// Unrestored describes, for each undo that failed, what could not
	// be put back and why. Empty when the rollback succeeded.
	Unrestored []string
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d of %d (%s) failed: %v; ", e.Index+1, e.Total, e.Step.Desc, e.Err)
	switch {
	case len(e.Unrestored) > 0:
		fmt.Fprintf(&b, "rollback incomplete, could not restore: %s", strings.Join(e.Unrestored, "; "))
	case e.Index == 0:
		b.WriteString("nothing had been changed")
	default:
		fmt.Fprintf(&b, "rolled back the %d steps before it", e.Index)
	}
	return b.String()
}

func (e *ApplyError) Unwrap() error { return e.Err }

// RolledBack says whether every step done before the failure was undone.
func (e *ApplyError) RolledBack() bool { return len(e.Unrestored) == 0 }

// Apply runs the steps of a plan in order, telling log about each one
// (log may be nil). When a step fails, or ctx ends between steps, it
// undoes the steps already done, last first, and returns an *ApplyError
// that names the failed step and anything the rollback could not
// restore. The rollback runs to its end even when ctx has ended: leaving
// a host half-configured is worse than taking a moment longer.
func Apply(ctx context.Context, h Netlink, plan []Step, log func(string)) error {
	if log == nil {
		log = func(string) {}
	}
	for i, s := range plan {
		err := ctx.Err()
		if err == nil {
			log(s.Desc)
			err = s.Do.run(ctx, h)
		}
		if err == nil {
			continue
		}
		log(fmt.Sprintf("failed: %s: %v", s.Desc, err))
		e := &ApplyError{Index: i, Total: len(plan), Step: s, Err: err}
		rctx := context.WithoutCancel(ctx)
		for j := i - 1; j >= 0; j-- {
			u := plan[j].Undo
			if u == nil {
				e.Undone++
				continue
			}
			log("undo: " + u.String())
			if uerr := u.run(rctx, h); uerr != nil {
				log(fmt.Sprintf("undo failed: %s: %v", u, uerr))
				e.Unrestored = append(e.Unrestored, fmt.Sprintf("%s (undoing %q): %v", u, plan[j].Desc, uerr))
				continue
			}
			e.Undone++
		}
		return e
	}
	return nil
}
