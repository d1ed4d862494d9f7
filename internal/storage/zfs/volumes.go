package zfs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/zfspool"
)

// export makes the zvol a LUN with a view; the LU is removed again if
// the view cannot be added.
func (s *Storage) export(ctx context.Context, p provider, name string) error {
	lu, err := p.createLU(ctx, s.device(name))
	if err != nil {
		return fmt.Errorf("exporting %s as a LUN failed: %w", name, err)
	}
	if err := p.addView(ctx, lu); err != nil {
		err = fmt.Errorf("adding the view of %s failed: %w", name, err)
		if derr := p.deleteLU(ctx, lu); derr != nil {
			err = errors.Join(err, derr)
		}
		return err
	}
	return nil
}

// unexport removes the zvol's LUN if it has one.
func (s *Storage) unexport(ctx context.Context, p provider, name string) (bool, error) {
	lu, err := p.listLU(ctx, s.device(name))
	if err != nil || lu == "" {
		return false, err
	}
	if err := p.deleteLU(ctx, lu); err != nil {
		return false, fmt.Errorf("removing the LUN of %s failed: %w", name, err)
	}
	return true, nil
}

// destroy destroys a zvol with its snapshots on the target, retrying
// while it is busy; a zvol that is gone counts as destroyed.
func (s *Storage) destroy(ctx context.Context, name string) error {
	var err error
	for try := 0; try < 6; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(s.busyDelay):
			}
		}
		if _, err = s.zfs(ctx, "destroy", "-r", s.pool+"/"+name); err == nil {
			return nil
		}
		switch stderr := exitStderr(err); {
		case strings.Contains(stderr, "dataset does not exist"):
			return nil
		case strings.Contains(stderr, "dataset is busy"):
			continue
		}
		break
	}
	return err
}

// Alloc creates a zvol on the target and exports it as a LUN; the zvol
// is destroyed again if it cannot be exported.
func (s *Storage) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format != "" && format != "raw" {
		return "", s.fail("allocate", name, fmt.Errorf("unsupported format %q: ZFS over iSCSI holds raw zvols only", format))
	}
	if size <= 0 {
		return "", s.fail("allocate", name, fmt.Errorf("invalid size %d", size))
	}
	if name != "" {
		v, err := parseVolname(name)
		switch {
		case err != nil:
			return "", s.fail("allocate", name, err)
		case v.IsBase || v.Base != "":
			return "", s.fail("allocate", name, fmt.Errorf("a new volume is named vm-%d-<name>", vmid))
		case v.VMID != vmid:
			return "", s.fail("allocate", name, fmt.Errorf("the name belongs to guest %d, not %d", v.VMID, vmid))
		}
	}
	p, err := s.lunProvider()
	if err != nil {
		return "", s.fail("allocate", name, err)
	}
	list, err := s.list(ctx)
	if err != nil {
		return "", s.fail("allocate", name, err)
	}
	if name == "" {
		if name, err = zfspool.NextName(list, vmid, "raw"); err != nil {
			return "", s.fail("allocate", name, err)
		}
	} else {
		for _, d := range list {
			if d.Name == name {
				return "", s.fail("allocate", name, errors.New("the volume already exists"))
			}
		}
	}
	if _, err := s.zfs(ctx, zfspool.CreateZvolArgs(s.pool, name, size, s.blocksize, s.sparse)...); err != nil {
		return "", s.fail("create zvol", s.pool+"/"+name, err)
	}
	if err := s.export(ctx, p, name); err != nil {
		err = s.fail("allocate", name, err)
		if derr := s.destroy(ctx, name); derr != nil {
			err = errors.Join(err, derr)
		}
		return "", err
	}
	return name, nil
}

// Free removes the zvol's LUN and destroys the zvol; if the zvol cannot
// be destroyed, the LUN is made again so the disk stays reachable.
func (s *Storage) Free(ctx context.Context, volname string) error {
	v, err := parseVolname(volname)
	if err != nil {
		return s.fail("free", volname, err)
	}
	p, err := s.lunProvider()
	if err != nil {
		return s.fail("free", volname, err)
	}
	had, err := s.unexport(ctx, p, v.Name)
	if err != nil {
		return s.fail("free", volname, err)
	}
	if err := s.destroy(ctx, v.Name); err != nil {
		err = s.fail("free", volname, err)
		if had {
			if xerr := s.export(ctx, p, v.Name); xerr != nil {
				err = errors.Join(err, xerr)
			}
		}
		return err
	}
	return nil
}

// Resize sets the zvol's size (whole MiB) and tells the target.
func (s *Storage) Resize(ctx context.Context, volname string, size int64) error {
	v, err := parseVolname(volname)
	if err != nil {
		return s.fail("resize", volname, err)
	}
	if size <= 0 {
		return s.fail("resize", volname, fmt.Errorf("invalid size %d", size))
	}
	p, err := s.lunProvider()
	if err != nil {
		return s.fail("resize", volname, err)
	}
	if _, err := s.zfs(ctx, zfspool.ResizeArgs(s.pool, v, size)...); err != nil {
		return s.fail("resize", volname, err)
	}
	lu, err := p.listLU(ctx, s.device(v.Name))
	if err == nil && lu == "" {
		err = errors.New("the zvol is not exported")
	}
	if err == nil {
		err = p.modifyLU(ctx, lu, zfspool.ZvolKiB(size))
	}
	if err != nil {
		return s.fail("resize: update the LUN of", volname, err)
	}
	return nil
}

// Attach finds the zvol's LUN: QEMU reaches it with its own iSCSI
// initiator. Snapshots are not exported.
func (s *Storage) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	if snap != "" {
		return storage.Attachment{}, s.fail("attach", volname, errors.New("snapshots of ZFS over iSCSI volumes are not exported"))
	}
	p, err := s.lunProvider()
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	lu, err := p.listLU(ctx, s.device(v.Name))
	if err == nil && lu == "" {
		err = errors.New("the zvol is not exported as a LUN")
	}
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	lun, err := p.listView(ctx, lu)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	return storage.Attachment{
		Path:     fmt.Sprintf("iscsi://%s/%s/%d", s.portal, s.target, lun),
		Format:   "raw",
		Blockdev: map[string]any{"driver": "iscsi", "transport": "tcp", "portal": s.portal, "target": s.target, "lun": lun},
	}, nil
}

// Snapshot takes a zfs snapshot on the target.
func (s *Storage) Snapshot(ctx context.Context, volname, snap string) error {
	v, err := parseVolname(volname)
	if err == nil {
		err = zfspool.CheckSnapshotName(snap)
	}
	if err == nil {
		_, err = s.zfs(ctx, "snapshot", s.dataset(v)+"@"+snap)
	}
	if err != nil {
		return s.fail("snapshot", volname, err)
	}
	return nil
}

// DeleteSnapshot destroys a snapshot on the target.
func (s *Storage) DeleteSnapshot(ctx context.Context, volname, snap string) error {
	v, err := parseVolname(volname)
	if err == nil {
		err = zfspool.CheckSnapshotName(snap)
	}
	if err == nil {
		_, err = s.zfs(ctx, "destroy", s.dataset(v)+"@"+snap)
	}
	if err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	return nil
}

// Rollback rolls the zvol back to its newest snapshot snap. The LUN is
// removed while zfs rewrites the zvol and exported again afterwards (also
// when the rollback fails).
func (s *Storage) Rollback(ctx context.Context, volname, snap string) error {
	v, err := parseVolname(volname)
	if err == nil {
		err = zfspool.CheckSnapshotName(snap)
	}
	if err != nil {
		return s.fail("rollback", volname, err)
	}
	p, err := s.lunProvider()
	if err != nil {
		return s.fail("rollback", volname, err)
	}
	out, err := s.zfs(ctx, zfspool.SnapshotListArgs(s.dataset(v))...)
	if err != nil {
		return s.fail("rollback", volname, err)
	}
	if err := zfspool.CheckRollback(out, s.dataset(v), snap); err != nil {
		return s.fail("rollback", volname, err)
	}
	if _, err := s.unexport(ctx, p, v.Name); err != nil {
		return s.fail("rollback", volname, err)
	}
	_, rerr := s.zfs(ctx, "rollback", s.dataset(v)+"@"+snap)
	if err := s.reexport(ctx, p, v.Name); err != nil {
		return s.fail("rollback", volname, errors.Join(rerr, err))
	}
	if rerr != nil {
		return s.fail("rollback", volname, rerr)
	}
	return nil
}

// reexport imports the zvol's LU again and adds its view.
func (s *Storage) reexport(ctx context.Context, p provider, name string) error {
	if err := p.importLU(ctx, s.device(name)); err != nil {
		return fmt.Errorf("exporting %s again failed: %w", name, err)
	}
	lu, err := p.listLU(ctx, s.device(name))
	if err == nil && lu == "" {
		err = errors.New("the imported LU is not listed")
	}
	if err == nil {
		err = p.addView(ctx, lu)
	}
	if err != nil {
		return fmt.Errorf("adding the view of %s failed: %w", name, err)
	}
	return nil
}

// CreateBase renames vm-… to base-…, moves its LUN along and freezes it
// in the snapshot __base__ that linked clones are made from.
func (s *Storage) CreateBase(ctx context.Context, volname string) (string, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if v.IsBase {
		return "", s.fail("create base from", volname, errors.New("the volume is already a base"))
	}
	base := v
	base.IsBase, base.Name = true, "base-"+strings.TrimPrefix(v.Name, "vm-")
	p, err := s.lunProvider()
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	had, err := s.unexport(ctx, p, v.Name)
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	restore := func(err error) (string, error) {
		if had {
			if xerr := s.export(ctx, p, v.Name); xerr != nil {
				err = errors.Join(err, xerr)
			}
		}
		return "", s.fail("create base from", volname, err)
	}
	if _, err := s.zfs(ctx, "rename", s.dataset(v), s.dataset(base)); err != nil {
		return restore(err)
	}
	if err := s.export(ctx, p, base.Name); err != nil {
		if _, rerr := s.zfs(ctx, "rename", s.dataset(base), s.dataset(v)); rerr != nil {
			return "", s.fail("create base from", volname, errors.Join(err, rerr))
		}
		return restore(err)
	}
	if _, err := s.zfs(ctx, "snapshot", s.dataset(base)+"@"+zfspool.BaseSnapshot); err != nil {
		// Undo in reverse: the base's LUN, the rename, then the old LUN.
		if _, uerr := s.unexport(ctx, p, base.Name); uerr != nil {
			return "", s.fail("create base from", volname, errors.Join(err, uerr))
		}
		if _, rerr := s.zfs(ctx, "rename", s.dataset(base), s.dataset(v)); rerr != nil {
			return "", s.fail("create base from", volname, errors.Join(err, rerr))
		}
		return restore(err)
	}
	return base.Volname(), nil
}

// Clone makes a linked clone for vmid, a zfs clone of the base's
// __base__ snapshot (or snap), and exports it; the clone is destroyed
// again if that fails.
func (s *Storage) Clone(ctx context.Context, volname string, vmid int, snap string) (string, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	if !v.IsBase {
		return "", s.fail("clone", volname, errors.New("linked clones are made from template bases"))
	}
	if snap == "" {
		snap = zfspool.BaseSnapshot
	}
	if err := zfspool.CheckSnapshotName(snap); err != nil {
		return "", s.fail("clone", volname, err)
	}
	p, err := s.lunProvider()
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	list, err := s.list(ctx)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	name, err := zfspool.NextName(list, vmid, "raw")
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	if _, err := s.zfs(ctx, "clone", s.dataset(v)+"@"+snap, s.pool+"/"+name); err != nil {
		return "", s.fail("clone", volname, err)
	}
	if err := s.export(ctx, p, name); err != nil {
		err = s.fail("clone", volname, err)
		if derr := s.destroy(ctx, name); derr != nil {
			err = errors.Join(err, derr)
		}
		return "", err
	}
	return v.Name + "/" + name, nil
}
