package hostnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/network/ifaces"
	"github.com/hearth-virt/hearth/internal/network/netapply"
)

// apply starts the task that makes the host match the pending
// configuration (or the current one when nothing is pending).
func (s *Service) apply(_ context.Context, _ *api.Call, _ *api.NodeParam) (api.Task, error) {
	return api.Task{Type: "srvreload", ID: "networking", Run: s.Apply}, nil
}

// Apply is the work of the apply task: it holds the network lock, applies
// the pending file to the namespace, and on success makes it the file.
// On failure every change already made is undone and the pending file
// stays for the administrator to fix.
func (s *Service) Apply(ctx context.Context, log api.TaskLog) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	current, pending, err := s.files()
	if err != nil {
		return err
	}
	name, data := s.cfg.File, current
	if pending != nil {
		name, data = s.pendingFile(), pending
		log.Printf("applying %s", name)
	} else {
		log.Printf("no pending changes; applying %s again", name)
	}
	want, err := ifaces.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	links, err := s.hostLinks()
	if err != nil {
		return err
	}
	if err := want.Validate(links); err != nil {
		var ve *ifaces.ValidationError
		if errors.As(err, &ve) {
			for _, fe := range ve.Errors {
				log.Printf("%s: %s: %s", fe.Iface, fe.Field, fe.Msg)
			}
		}
		return fmt.Errorf("%s is not valid; nothing was changed", name)
	}
	wantIfs, err := s.withIncludes(want, name)
	if err != nil {
		return err
	}
	// What the last applied file configured is Hearth's to change or
	// remove; anything else on the host (guest ports, the NAT bridge,
	// links made by hand) is left alone.
	old, err := ifaces.Parse(current)
	if err != nil {
		return fmt.Errorf("%s: %w", s.cfg.File, err)
	}
	oldIfs, err := s.withIncludes(old, s.cfg.File)
	if err != nil {
		return err
	}
	var managed []string
	for _, it := range oldIfs {
		if it.Type != ifaces.TypeLoopback {
			managed = append(managed, it.Name)
		}
	}

	h, err := s.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	state, err := netapply.Observe(ctx, h)
	if err != nil {
		return fmt.Errorf("read the running network: %w", err)
	}
	des, notes, err := desired(wantIfs, state)
	if err != nil {
		return err
	}
	steps, planNotes, err := netapply.Plan(state, des, managed)
	for _, n := range append(notes, planNotes...) {
		log.Warnf("%s", n)
	}
	if err != nil {
		return fmt.Errorf("cannot apply %s: %w", name, err)
	}
	if len(steps) == 0 {
		log.Printf("the running network already matches")
	} else {
		log.Printf("%d changes to make", len(steps))
	}
	if err := netapply.Apply(ctx, h, steps, func(line string) { log.Printf("%s", line) }); err != nil {
		return applyFailure(log, err)
	}
	if pending != nil {
		if err := os.Rename(s.pendingFile(), s.cfg.File); err != nil {
			return fmt.Errorf("the network was changed, but %s could not replace %s: %w", s.pendingFile(), s.cfg.File, err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(s.cfg.File)); err != nil {
			log.Warnf("sync %s: %v", filepath.Dir(s.cfg.File), err)
		}
		log.Printf("%s is now %s", s.pendingFile(), s.cfg.File)
	}
	return nil
}

// withIncludes returns the interfaces of f followed by those of the files
// it sources.
func (s *Service) withIncludes(f *ifaces.File, name string) ([]*ifaces.Interface, error) {
	// Included files are read relative to the real file, also when the
	// pending copy is being applied.
	inc, err := included(f, s.cfg.File, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return append(f.Interfaces(), inc...), nil
}

// applyFailure logs what failed and what the rollback did, and returns
// the task's error.
func applyFailure(log api.TaskLog, err error) error {
	var ae *netapply.ApplyError
	if !errors.As(err, &ae) {
		return fmt.Errorf("apply: %w", err)
	}
	log.Printf("step %d of %d failed: %s: %v", ae.Index+1, ae.Total, ae.Step.Desc, ae.Err)
	if ae.RolledBack() {
		log.Printf("rolled back: %d changes undone; the network is as it was", ae.Undone)
		return fmt.Errorf("applying failed at %q (%v); every change was undone", ae.Step.Desc, ae.Err)
	}
	for _, u := range ae.Unrestored {
		log.Printf("could not restore: %s", u)
	}
	return fmt.Errorf("applying failed at %q (%v) and the rollback could not restore everything: %s",
		ae.Step.Desc, ae.Err, strings.Join(ae.Unrestored, "; "))
}
