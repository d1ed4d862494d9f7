package btrfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/dir"
)

// snapTarget checks a snapshot name and resolves the image's subvolume
// and the snapshot's path; the image must exist.
func (s *Store) snapTarget(volname, snap string) (sub, snapSub string, err error) {
	v, sub, _, err := s.image(volname)
	if err != nil {
		return "", "", err
	}
	if err := dir.CheckSnapName(snap); err != nil {
		return "", "", s.errorf("%v", err)
	}
	if !exists(dataPath(sub, v)) {
		return "", "", s.errorf("volume %s does not exist", volname)
	}
	return sub, snapPath(sub, snap), nil
}

// Snapshot takes a read-only snapshot subvolume <subvolume>@<snap>.
func (s *Store) Snapshot(ctx context.Context, volname, snap string) error {
	if _, _, ours, err := s.image(volname); err != nil || !ours {
		if err != nil {
			return err
		}
		return s.Store.Snapshot(ctx, volname, snap)
	}
	sub, target, err := s.snapTarget(volname, snap)
	if err != nil {
		return err
	}
	// An existing target directory would receive the snapshot inside it.
	if exists(target) {
		return s.errorf("snapshot %s of %s already exists", snap, volname)
	}
	if err := s.btrfs(ctx, "subvolume", "snapshot", "-r", "--", sub, target); err != nil {
		return s.errorf("snapshot %s of %s: %v", snap, volname, err)
	}
	return nil
}

// Rollback replaces the subvolume with a writable snapshot of the
// snapshot: the copy is made first and swapped in atomically, so a
// failure leaves the volume as it was.
func (s *Store) Rollback(ctx context.Context, volname, snap string) error {
	if _, _, ours, err := s.image(volname); err != nil || !ours {
		if err != nil {
			return err
		}
		return s.Store.Rollback(ctx, volname, snap)
	}
	sub, src, err := s.snapTarget(volname, snap)
	if err != nil {
		return err
	}
	if !exists(src) {
		return s.errorf("cannot roll back %s: it has no snapshot %s", volname, snap)
	}
	tmp := fmt.Sprintf("%s.tmp.%d", sub, os.Getpid())
	if exists(tmp) {
		return s.errorf("cannot roll back %s: %s is in the way (left by an interrupted rollback?)", volname, tmp)
	}
	if err := s.btrfs(ctx, "subvolume", "snapshot", "--", src, tmp); err != nil {
		return s.errorf("roll back %s to %s: %v", volname, snap, err)
	}
	swapErr := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, sub, unix.RENAME_EXCHANGE)
	// tmp now holds the old state, or the unused copy if the swap failed.
	if err := s.btrfs(ctx, "subvolume", "delete", "--", tmp); err != nil {
		s.warn("could not remove a rollback's leftover subvolume", "subvolume", tmp, "error", err)
	}
	if swapErr != nil {
		return s.errorf("roll back %s to %s: swap %s into place: %v", volname, snap, tmp, swapErr)
	}
	return nil
}

// DeleteSnapshot removes a snapshot subvolume.
func (s *Store) DeleteSnapshot(ctx context.Context, volname, snap string) error {
	if _, _, ours, err := s.image(volname); err != nil || !ours {
		if err != nil {
			return err
		}
		return s.Store.DeleteSnapshot(ctx, volname, snap)
	}
	_, target, err := s.snapTarget(volname, snap)
	if err != nil {
		return err
	}
	if !exists(target) {
		return s.errorf("cannot delete snapshot %s: %s has no such snapshot", snap, volname)
	}
	if err := s.btrfs(ctx, "subvolume", "delete", "--", target); err != nil {
		return s.errorf("delete snapshot %s of %s: %v", snap, volname, err)
	}
	return nil
}

// moveSubvol renames a subvolume and its snapshots.
func (s *Store) moveSubvol(sub, newSub string) error {
	snaps, err := snapshotsOf(sub)
	if err != nil {
		return err
	}
	if err := dir.RenameNoReplace(sub, newSub); err != nil {
		return err
	}
	for _, sn := range snaps {
		to := newSub + strings.TrimPrefix(sn, sub)
		if err := dir.RenameNoReplace(sn, to); err != nil {
			s.warn("could not move a snapshot with its volume", "snapshot", sn, "to", to, "error", err)
		}
	}
	return nil
}

// CreateBase renames a guest's raw image to base-… and makes its
// subvolume read-only. A subvolume keeps its name, as in Proxmox VE, and
// only becomes read-only.
func (s *Store) CreateBase(ctx context.Context, volname string) (string, error) {
	v, sub, ours, err := s.image(volname)
	if err != nil {
		return "", err
	}
	if !ours {
		return s.Store.CreateBase(ctx, volname)
	}
	if v.IsBase {
		return "", s.errorf("%s is already a base volume", volname)
	}
	if !exists(dataPath(sub, v)) {
		return "", s.errorf("volume %s does not exist", volname)
	}
	nv := v
	if rest, ok := strings.CutPrefix(v.Name, "vm-"); ok {
		nv.Name, nv.IsBase = "base-"+rest, true
	} else if rest, ok := strings.CutPrefix(v.Name, "subvol-"); ok {
		// A container template's subvolume, as Proxmox VE names it.
		nv.Name, nv.IsBase = "basevol-"+rest, true
	}
	newSub := s.subvolOf(nv)
	if newSub != sub {
		if err := s.moveSubvol(sub, newSub); err != nil {
			return "", s.errorf("rename %s to %s: %v", volname, nv.Name, err)
		}
	}
	if err := s.btrfs(ctx, "property", "set", newSub, "ro", "true"); err != nil {
		s.warn("could not make the base volume read-only", "volume", nv.Name, "error", err)
	}
	return storage.FileVolname(nv), nil
}

// Clone makes a writable snapshot of a base volume, or of a raw image or
// one of its snapshots, for vmid. The clone shares data with its source
// but does not depend on it, so it names no base.
func (s *Store) Clone(ctx context.Context, volname string, vmid int, snap string) (string, error) {
	v, sub, ours, err := s.image(volname)
	if err != nil {
		return "", err
	}
	if !ours {
		return s.Store.Clone(ctx, volname, vmid, snap)
	}
	if v.Format == "subvol" && !v.IsBase {
		return "", s.errorf("cannot clone %s: subvolumes are cloned from templates only", volname)
	}
	src := sub
	if snap != "" {
		if err := dir.CheckSnapName(snap); err != nil {
			return "", s.errorf("%v", err)
		}
		src = snapPath(sub, snap)
	}
	if !exists(dataPath(src, v)) {
		if snap != "" {
			return "", s.errorf("cannot clone %s: it has no snapshot %s", volname, snap)
		}
		return "", s.errorf("volume %s does not exist", volname)
	}
	return s.create(ctx, vmid, "", v.Format, func(dst string) error {
		return s.btrfs(ctx, "subvolume", "snapshot", "--", src, dst)
	}, nil)
}

// Rename moves an image (with its snapshots) to another name, possibly
// of another guest.
func (s *Store) Rename(ctx context.Context, volname string, vmid int, name string) (string, error) {
	v, sub, ours, err := s.image(volname)
	if err != nil {
		return "", err
	}
	if !ours {
		return s.Store.Rename(ctx, volname, vmid, name)
	}
	if !exists(dataPath(sub, v)) {
		return "", s.errorf("volume %s does not exist", volname)
	}
	if err := os.MkdirAll(s.ImageDir(vmid), 0o755); err != nil {
		return "", s.errorf("create the image directory of guest %d: %v", vmid, err)
	}
	for try := 0; ; try++ {
		taken, err := s.TakenNames(vmid)
		if err != nil {
			return "", err
		}
		n, err := dir.ImageName(taken, vmid, name, v.Format)
		if err != nil {
			return "", s.errorf("%v", err)
		}
		nv := storage.Vol{Content: v.Content, Name: n, VMID: vmid, Format: v.Format, IsBase: strings.HasPrefix(n, "base-")}
		newSub := s.subvolOf(nv)
		err = s.moveSubvol(sub, newSub)
		if errors.Is(err, fs.ErrExist) {
			if name == "" && try < 10 {
				continue
			}
			return "", s.errorf("cannot rename %s: target volume %d/%s already exists", volname, vmid, n)
		}
		if err != nil {
			return "", s.errorf("rename %s: %v", volname, err)
		}
		_ = os.Remove(filepath.Dir(sub))
		return storage.FileVolname(nv), nil
	}
}
