package rbd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hearth-virt/hearth/internal/storage"
)

// Snapshot takes an rbd snapshot of the image.
func (s *Storage) Snapshot(ctx context.Context, volname, snap string) error {
	v, err := ParseVolname(volname)
	if err == nil {
		err = checkSnap(snap)
	}
	if err == nil {
		_, err = s.rbd(ctx, "snap", "create", "--snap", snap, v.Name)
	}
	if err != nil {
		return s.fail("snapshot", volname, err)
	}
	return nil
}

// Rollback rolls the image back to snap. rbd keeps later snapshots, so
// any snapshot may be rolled back to.
func (s *Storage) Rollback(ctx context.Context, volname, snap string) error {
	v, err := ParseVolname(volname)
	if err == nil {
		err = checkSnap(snap)
	}
	if err == nil {
		_, err = s.rbd(ctx, "snap", "rollback", "--snap", snap, v.Name)
	}
	if err != nil {
		return s.fail("rollback", volname, err)
	}
	return nil
}

// DeleteSnapshot removes a snapshot; a protected one is unprotected
// first, which rbd refuses while linked clones of it exist.
func (s *Storage) DeleteSnapshot(ctx context.Context, volname, snap string) error {
	v, err := ParseVolname(volname)
	if err == nil {
		err = checkSnap(snap)
	}
	if err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	if err := s.unmap(ctx, v.Name+"@"+snap); err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	info, err := s.info(ctx, v.Name, snap)
	if err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	if info.IsProtected() {
		if _, err := s.rbd(ctx, "snap", "unprotect", v.Name, "--snap", snap); err != nil {
			return s.fail("delete snapshot of", volname, fmt.Errorf("cannot unprotect %s (linked clones still use it?): %w", snap, err))
		}
	}
	if _, err := s.rbd(ctx, "snap", "rm", "--snap", snap, v.Name); err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	return nil
}

// protect protects image@snap unless it is protected; it reports whether
// it did, so a failed operation can undo exactly that.
func (s *Storage) protect(ctx context.Context, image, snap string) (bool, error) {
	info, err := s.info(ctx, image, snap)
	if err != nil {
		return false, err
	}
	if info.IsProtected() {
		return false, nil
	}
	if _, err := s.rbd(ctx, "snap", "protect", image, "--snap", snap); err != nil {
		return false, err
	}
	return true, nil
}

// CreateBase renames vm-… to base-… (a linked clone keeps its base) and
// freezes it in the protected snapshot __base__ that clones are made
// from. Only format 2 images can be cloned. A failure half way renames
// the image back and removes the snapshot it took.
func (s *Storage) CreateBase(ctx context.Context, volname string) (string, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if v.IsBase {
		return "", s.fail("create base from", volname, errors.New("the volume is already a base"))
	}
	info, err := s.info(ctx, v.Name, "")
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if info.Format != 2 {
		return "", s.fail("create base from", volname, fmt.Errorf("the image has format %d; only format 2 images can be cloned", info.Format))
	}
	if v.Base != "" && (info.Parent == nil || info.Parent.Image != v.Base || info.Parent.Snapshot != BaseSnapshot) {
		return "", s.fail("create base from", volname, fmt.Errorf("the image is not a clone of %s@%s as its name says", v.Base, BaseSnapshot))
	}
	// A base made from a linked clone stands alone in its name: volume
	// names nest one base deep, and rbd tracks the parent by itself.
	base := storage.Vol{Content: v.Content, Name: "base-" + strings.TrimPrefix(v.Name, "vm-"), VMID: v.VMID, IsBase: true, Format: v.Format}
	if exists, err := s.exists(ctx, base.Name); err != nil || exists {
		if err == nil {
			err = fmt.Errorf("image %s already exists", base.Name)
		}
		return "", s.fail("create base from", volname, err)
	}
	if err := s.unmap(ctx, v.Name); err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if _, err := s.rbd(ctx, "rename", s.spec(v.Name), s.spec(base.Name)); err != nil {
		return "", s.fail("create base from", volname, err)
	}
	undo := func(err error, snapped bool) (string, error) {
		err = s.fail("create base from", volname, err)
		if snapped {
			if _, serr := s.rbd(ctx, "snap", "rm", "--snap", BaseSnapshot, base.Name); serr != nil {
				err = errors.Join(err, fmt.Errorf("removing snapshot %s again failed too: %w", BaseSnapshot, serr))
			}
		}
		if _, rerr := s.rbd(ctx, "rename", s.spec(base.Name), s.spec(v.Name)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("renaming %s back failed too: %w", base.Name, rerr))
		}
		return "", err
	}
	if _, err := s.rbd(ctx, "snap", "create", "--snap", BaseSnapshot, base.Name); err != nil {
		return undo(err, false)
	}
	if _, err := s.protect(ctx, base.Name, BaseSnapshot); err != nil {
		return undo(err, true)
	}
	return Vol{Vol: base}.Volname(), nil
}

// Clone makes a linked clone for vmid: an rbd clone of the base's
// protected __base__ snapshot, named <base>/vm-<vmid>-disk-<n>. Given a
// snapshot, any image can be cloned from it (the snapshot is protected
// on the way, as rbd requires) and the clone's name stands alone, as in
// Proxmox VE. If the clone fails, a protection this call added is
// removed again.
func (s *Storage) Clone(ctx context.Context, volname string, vmid int, snap string) (string, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	if snap != "" {
		if err := checkSnap(snap); err != nil {
			return "", s.fail("clone", volname, err)
		}
	} else if !v.IsBase {
		return "", s.fail("clone", volname, errors.New("linked clones are made from template bases or from a named snapshot"))
	}
	vols, err := s.list(ctx)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	name, err := nextName(vols, vmid)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	from, protected := BaseSnapshot, false
	if snap != "" {
		from = snap
		if protected, err = s.protect(ctx, v.Name, snap); err != nil {
			return "", s.fail("clone", volname, err)
		}
	}
	args := []string{s.spec(v.Name), "--snap", from}
	if s.dataPool != "" {
		args = append(args, "--data-pool", s.dataPool)
	}
	if _, err := s.rbd(ctx, "clone", append(args, s.spec(name))...); err != nil {
		err = s.fail("clone", volname, err)
		if protected {
			if _, uerr := s.rbd(ctx, "snap", "unprotect", v.Name, "--snap", snap); uerr != nil {
				err = errors.Join(err, fmt.Errorf("unprotecting %s@%s again failed too: %w", v.Name, snap, uerr))
			}
		}
		return "", err
	}
	if snap != "" {
		return name, nil
	}
	return v.Name + "/" + name, nil
}

// Rename renames an image, possibly to another guest; a linked clone
// keeps its base in the name. Template bases keep their names, since
// their clones' names refer to them.
func (s *Storage) Rename(ctx context.Context, volname string, vmid int, name string) (string, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return "", s.fail("rename", volname, err)
	}
	if v.IsBase {
		return "", s.fail("rename", volname, errors.New("template base volumes cannot be renamed"))
	}
	if name != "" {
		if err := checkNewName(name, vmid); err != nil {
			return "", s.fail("rename", volname, err)
		}
	} else {
		vols, err := s.list(ctx)
		if err != nil {
			return "", s.fail("rename", volname, err)
		}
		if name, err = nextName(vols, vmid); err != nil {
			return "", s.fail("rename", volname, err)
		}
	}
	if exists, err := s.exists(ctx, name); err != nil || exists {
		if err == nil {
			err = fmt.Errorf("target volume %s already exists", name)
		}
		return "", s.fail("rename", volname, err)
	}
	if err := s.unmap(ctx, v.Name); err != nil {
		return "", s.fail("rename", volname, err)
	}
	if _, err := s.rbd(ctx, "rename", s.spec(v.Name), s.spec(name)); err != nil {
		return "", s.fail("rename", volname, err)
	}
	t := v
	t.Name, t.VMID = name, vmid
	return Vol{Vol: t}.Volname(), nil
}
