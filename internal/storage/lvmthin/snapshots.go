package lvmthin

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearth-virt/hearth/internal/storage/lvm"
)

// Snapshot makes a read-only thin snapshot snap_<volume>_<snap>.
func (s *Storage) Snapshot(ctx context.Context, volname, snap string) error {
	v, err := parseVolname(volname)
	if err != nil {
		return s.fail("snapshot", volname, err)
	}
	if err := checkSnap(snap); err != nil {
		return s.fail("snapshot", volname, err)
	}
	if v.isBase {
		return s.fail("snapshot", volname, errors.New("template base volumes have no snapshots"))
	}
	name := snapLV(volname, snap)
	if _, err := s.r.Run(ctx, lvm.Tool("lvcreate", "-n", name, "-pr", "-s", s.vg+"/"+volname)); err != nil {
		return s.fail("create snapshot", name, err)
	}
	return nil
}

// Rollback replaces the volume by a writable thin snapshot of snap, as
// Proxmox VE does. The snapshot is looked up first so that a missing
// snapshot never costs the volume.
func (s *Storage) Rollback(ctx context.Context, volname, snap string) error {
	if _, err := parseVolname(volname); err != nil {
		return s.fail("rollback", volname, err)
	}
	if err := checkSnap(snap); err != nil {
		return s.fail("rollback", volname, err)
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return s.fail("rollback", volname, err)
	}
	name := snapLV(volname, snap)
	if _, ok := lvs[name]; !ok {
		return s.fail("rollback", volname, fmt.Errorf("no snapshot %q", snap))
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvremove", "-f", s.vg+"/"+volname)); err != nil {
		return s.fail("rollback: remove volume", volname, err)
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvcreate", "-kn", "-n", volname, "-s", s.vg+"/"+name)); err != nil {
		return s.fail("rollback: recreate volume from snapshot", name, err)
	}
	return nil
}

// DeleteSnapshot removes a snapshot volume.
func (s *Storage) DeleteSnapshot(ctx context.Context, volname, snap string) error {
	if _, err := parseVolname(volname); err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	if err := checkSnap(snap); err != nil {
		return s.fail("delete snapshot of", volname, err)
	}
	name := snapLV(volname, snap)
	if _, err := s.r.Run(ctx, lvm.Tool("lvremove", "-f", s.vg+"/"+name)); err != nil {
		return s.fail("remove snapshot", name, err)
	}
	return nil
}

// CreateBase turns vm-<vmid>-… into the template base base-<vmid>-…:
// renamed, read-only, inactive and skipped by automatic activation.
func (s *Storage) CreateBase(ctx context.Context, volname string) (string, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if v.isBase {
		return "", s.fail("create base from", volname, errors.New("the volume is already a base"))
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return "", s.fail("create base from", volname, err)
	}
	if _, ok := lvs[volname]; !ok {
		return "", s.fail("create base from", volname, errors.New("no such volume"))
	}
	if len(snapshotsOf(lvs, volname)) > 0 {
		return "", s.fail("create base from", volname, errNoSnapshots)
	}
	base := "base-" + volname[len("vm-"):]
	if _, ok := lvs[base]; ok {
		return "", s.fail("create base from", volname, fmt.Errorf("volume %s already exists", base))
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvrename", s.vg, volname, base)); err != nil {
		return "", s.fail("create base: rename", volname, err)
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvchange", "-an", "-pr", "-ky", s.vg+"/"+base)); err != nil {
		err = s.fail("create base: make read-only", base, err)
		if _, rerr := s.r.Run(ctx, lvm.Tool("lvrename", s.vg, base, volname)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("renaming it back failed too: %w", rerr))
		}
		return "", err
	}
	return base, nil
}

// Clone makes a writable thin snapshot for vmid of a template base, or
// of snapshot snap of any volume. The clone is an ordinary
// vm-<vmid>-disk-<n> volume: thin volumes do not depend on their origin.
func (s *Storage) Clone(ctx context.Context, volname string, vmid int, snap string) (string, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	origin := volname
	if snap != "" {
		if err := checkSnap(snap); err != nil {
			return "", s.fail("clone", volname, err)
		}
		origin = snapLV(volname, snap)
	} else if !v.isBase {
		return "", s.fail("clone", volname, errors.New("linked clones are made from template bases or snapshots"))
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	if _, ok := lvs[origin]; !ok {
		return "", s.fail("clone", volname, fmt.Errorf("no such volume %s", origin))
	}
	name, err := pickName(lvs, vmid, "")
	if err != nil {
		return "", s.fail("clone", volname, err)
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvcreate", "-n", name, "-prw", "-kn", "-s", s.vg+"/"+origin)); err != nil {
		return "", s.fail("clone", origin, err)
	}
	return name, nil
}
