package zfspool

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Snapshot takes a zfs snapshot of the volume.
func (s *Storage) Snapshot(ctx context.Context, volname, snap string) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("snapshot", volname, err)
	}
	if err := CheckSnapshotName(snap); err != nil {
		return s.fail("snapshot", volname, err)
	}
	if _, err := s.zfs(ctx, "snapshot", s.dataset(v)+"@"+snap); err != nil {
		return s.fail("snapshot", volname, err)
	}
	return nil
}

// Rollback rolls the volume back to snap, which must be its newest
// snapshot (Proxmox VE refuses to destroy later snapshots on the way). A
// subvolume is unmounted afterwards so the kernel drops stale caches; the
// next Attach mounts it again.
func (s *Storage) Rollback(ctx context.Context, volname, snap string) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("rollback", volname, err)
	}
	if err := CheckSnapshotName(snap); err != nil {
		return s.fail("rollback", volname, err)
	}
	out, err := s.zfs(ctx, SnapshotListArgs(s.dataset(v))...)
	if err != nil {
		return s.fail("rollback", volname, err)
	}
	if err := CheckRollback(out, s.dataset(v), snap); err != nil {
		return s.fail("rollback", volname, err)
	}
	if _, err := s.zfs(ctx, "rollback", s.dataset(v)+"@"+snap); err != nil {
		return s.fail("rollback", volname, err)
	}
	if v.Format == "subvol" {
		if _, err := s.zfs(ctx, "unmount", s.dataset(v)); err != nil && !strings.Contains(exitStderr(err), "not currently mounted") {
			return s.fail("rollback: unmount", volname, err)
		}
	}
	return nil
}

// DeleteSnapshot destroys a snapshot.
func (s *Storage) DeleteSnapshot(ctx context.Context, volname, snap string) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	if err := CheckSnapshotName(snap); err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	if _, err := s.zfs(ctx, "destroy", s.dataset(v)+"@"+snap); err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	return nil
}

// CreateBase renames vm-… to base-… (subvol-… to basevol-…) and freezes
// it in the snapshot __base__ that linked clones are made from.
func (s *Storage) CreateBase(ctx context.Context, volname string) (string, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if v.IsBase {
		return "", s.fail("create base from", volname, errors.New("the volume is already a base"))
	}
	base := v
	base.IsBase = true
	if v.Format == "subvol" {
		base.Name = "basevol-" + strings.TrimPrefix(v.Name, "subvol-")
	} else {
		base.Name = "base-" + strings.TrimPrefix(v.Name, "vm-")
	}
	if _, err := s.zfs(ctx, "rename", s.dataset(v), s.dataset(base)); err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if _, err := s.zfs(ctx, "snapshot", s.dataset(base)+"@"+BaseSnapshot); err != nil {
		err = s.fail("create base from", volname, err)
		if _, rerr := s.zfs(ctx, "rename", s.dataset(base), s.dataset(v)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("renaming it back failed too: %w", rerr))
		}
		return "", err
	}
	return base.Volname(), nil
}

// Clone makes a linked clone for vmid: a zfs clone of the base's
// snapshot (__base__ unless snap names another), named <base>/<clone>.
// A subvolume clone keeps the base's refquota.
func (s *Storage) Clone(ctx context.Context, volname string, vmid int, snap string) (string, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	if !v.IsBase {
		return "", s.fail("clone", volname, errors.New("linked clones are made from template bases"))
	}
	if snap == "" {
		snap = BaseSnapshot
	}
	if err := CheckSnapshotName(snap); err != nil {
		return "", s.fail("clone", volname, err)
	}
	list, err := s.list(ctx)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	name, err := NextName(list, vmid, v.Format)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	clone := Vol{Name: name, VMID: vmid, Base: v.Name, BaseVMID: v.VMID, Format: v.Format}
	args := []string{"clone", s.dataset(v) + "@" + snap, s.dataset(clone)}
	if v.Format == "subvol" {
		out, err := s.zfs(ctx, "list", "-Hp", "-o", "refquota", s.dataset(v))
		if err != nil {
			return "", s.fail("clone", volname, err)
		}
		n, err := ParseNumbers(out, 1)
		if err != nil {
			return "", s.fail("clone", volname, err)
		}
		args = append(args, "-o", fmt.Sprintf("refquota=%d", n[0]))
	}
	if _, err := s.zfs(ctx, args...); err != nil {
		return "", s.fail("clone", volname, err)
	}
	return clone.Volname(), nil
}
