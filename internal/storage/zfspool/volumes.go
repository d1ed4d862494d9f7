package zfspool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// checkNewName checks a name given for a new volume of vmid and format:
// vm-<vmid>-… zvols, subvol-<vmid>-… file systems.
func checkNewName(name string, vmid int, format string) error {
	v, err := ParseVolname(name)
	if err != nil {
		return err
	}
	prefix := "vm-"
	if format == "subvol" {
		prefix = "subvol-"
	}
	switch {
	case v.Base != "" || v.IsBase || !strings.HasPrefix(name, prefix):
		return fmt.Errorf("illegal volume name %q: a new %s volume is named %s%d-<name>", name, format, prefix, vmid)
	case v.VMID != vmid:
		return fmt.Errorf("illegal volume name %q: it belongs to guest %d, not %d", name, v.VMID, vmid)
	}
	return nil
}

// pick returns name if no dataset has it, or the next free name.
func pick(list []Dataset, vmid int, name, format string) (string, error) {
	if name == "" {
		return NextName(list, vmid, format)
	}
	for _, d := range list {
		if d.Name == name {
			return "", fmt.Errorf("volume %s already exists", name)
		}
	}
	return name, nil
}

// Alloc creates a zvol (format raw) or a subvolume (format subvol, a
// file system with POSIX ACLs whose refquota is the size; 0 is no limit).
func (s *Storage) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format == "" {
		format = "raw"
	}
	if format != "raw" && format != "subvol" {
		return "", s.fail("allocate", name, fmt.Errorf("unsupported format %q: zfspool holds raw zvols and subvol file systems", format))
	}
	if size < 0 || (size == 0 && format == "raw") {
		return "", s.fail("allocate", name, fmt.Errorf("invalid size %d", size))
	}
	if name != "" {
		if err := checkNewName(name, vmid, format); err != nil {
			return "", s.fail("allocate", name, err)
		}
	}
	list, err := s.list(ctx)
	if err != nil {
		return "", s.fail("allocate", name, err)
	}
	if name, err = pick(list, vmid, name, format); err != nil {
		return "", s.fail("allocate", name, err)
	}
	v, _ := ParseVolname(name)
	if format == "subvol" {
		quota := "none"
		if size > 0 {
			quota = strconv.FormatInt((size+1023)/1024, 10) + "k"
		}
		if _, err := s.zfs(ctx, "create", "-o", "acltype=posixacl", "-o", "xattr=sa", "-o", "refquota="+quota, s.dataset(v)); err != nil {
			return "", s.fail("create subvolume", s.dataset(v), err)
		}
		return name, nil
	}
	if _, err := s.zfs(ctx, CreateZvolArgs(s.pool, name, size, s.blocksize, s.sparse)...); err != nil {
		return "", s.fail("create zvol", s.dataset(v), err)
	}
	if err := s.waitDev(ctx, s.zvolPath(v)); err != nil {
		err = s.fail("create zvol", s.dataset(v), err)
		if derr := s.destroy(ctx, v); derr != nil {
			err = errors.Join(err, derr)
		}
		return "", err
	}
	return name, nil
}

// Free destroys a volume with its snapshots. A dataset that is busy
// (udev still holds a new zvol) is retried for a few seconds; one that
// is already gone counts as freed.
func (s *Storage) Free(ctx context.Context, volname string) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("free", volname, err)
	}
	return s.destroy(ctx, v)
}

func (s *Storage) destroy(ctx context.Context, v Vol) error {
	var err error
	for try := 0; try < 6; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return s.fail("destroy", s.dataset(v), ctx.Err())
			case <-time.After(s.busyDelay):
			}
		}
		if _, err = s.zfs(ctx, "destroy", "-r", s.dataset(v)); err == nil {
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
	return s.fail("destroy", s.dataset(v), err)
}

func exitStderr(err error) string {
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return ""
}

// Resize sets a zvol's volsize (whole MiB) or a subvolume's refquota.
func (s *Storage) Resize(ctx context.Context, volname string, size int64) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("resize", volname, err)
	}
	if size <= 0 {
		return s.fail("resize", volname, fmt.Errorf("invalid size %d", size))
	}
	if _, err := s.zfs(ctx, ResizeArgs(s.pool, v, size)...); err != nil {
		return s.fail("resize", volname, err)
	}
	return nil
}

// Volume reports a volume's size (volsize or refquota) and the space its
// data takes.
func (s *Storage) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return storage.Volume{}, s.fail("volume", volname, err)
	}
	attr := "volsize"
	if v.Format == "subvol" {
		attr = "refquota"
	}
	out, err := s.zfs(ctx, GetArgs(s.dataset(v), attr, "usedbydataset")...)
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	n, err := ParseNumbers(out, 2)
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	return storage.Volume{Volname: volname, Content: v.Content(), Format: v.Format, Size: n[0], Used: n[1], VMID: v.VMID, Parent: v.Base}, nil
}

// subvolDir finds where a subvolume is mounted: below the storage's
// mountpoint option when it is set, else where zfs mounts it. It mounts
// the subvolume when zfs says it is not mounted.
func (s *Storage) subvolDir(ctx context.Context, v Vol, mount bool) (string, error) {
	out, err := s.zfs(ctx, GetArgs(s.dataset(v), "mounted", "mountpoint")...)
	if err != nil {
		return "", err
	}
	vals, err := ParseValues(out, 2)
	if err != nil {
		return "", err
	}
	dir := vals[1]
	if s.mountpoint != "" {
		dir = s.mountpoint + "/" + v.Name
	} else if !strings.HasPrefix(dir, "/") {
		return "", fmt.Errorf("dataset %s has no mountpoint (%s)", s.dataset(v), dir)
	}
	if mount && vals[0] != "yes" {
		if _, err := s.zfs(ctx, "mount", s.dataset(v)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Attach says how to reach a volume: a zvol is a block device (its
// snapshots appear as <zvol>@<snap> where snapdev=visible); a subvolume
// is bind-mounted from its mountpoint, and its snapshots are mounted
// read-only by name, as Proxmox VE's pct does.
func (s *Storage) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	if snap != "" {
		if err := CheckSnapshotName(snap); err != nil {
			return storage.Attachment{}, s.fail("attach", volname, err)
		}
	}
	if v.Format == "raw" {
		p := s.zvolPath(v)
		if snap != "" {
			p += "@" + snap
		} else if err := s.waitDev(ctx, p); err != nil {
			return storage.Attachment{}, s.fail("attach", volname, err)
		}
		a := storage.Attachment{Path: p, Format: "raw", Blockdev: map[string]any{"driver": "host_device", "filename": p}}
		if snap != "" {
			a.Blockdev["read-only"] = true
		}
		return a, nil
	}
	dir, err := s.subvolDir(ctx, v, snap == "")
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	if snap != "" {
		return storage.Attachment{Path: dir + "/.zfs/snapshot/" + snap, Format: "subvol",
			Mount: &storage.Mount{Source: s.dataset(v) + "@" + snap, FSType: "zfs", Options: []string{"ro"}}}, nil
	}
	return storage.Attachment{Path: dir, Format: "subvol", Mount: &storage.Mount{Source: dir, Bind: true}}, nil
}

// exists reports whether a dataset exists; zfs get exits non-zero for a
// missing one.
func (s *Storage) exists(ctx context.Context, dataset string) bool {
	_, err := s.zfs(ctx, "get", "-H", "name", dataset)
	return err == nil
}

// Rename renames a volume, possibly to another guest; a linked clone
// keeps its base. Template bases keep their names.
func (s *Storage) Rename(ctx context.Context, volname string, vmid int, name string) (string, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return "", s.fail("rename", volname, err)
	}
	if v.IsBase {
		return "", s.fail("rename", volname, errors.New("template base volumes cannot be renamed"))
	}
	if name != "" {
		if err := checkNewName(name, vmid, v.Format); err != nil {
			return "", s.fail("rename", volname, err)
		}
	} else {
		list, err := s.list(ctx)
		if err != nil {
			return "", s.fail("rename", volname, err)
		}
		if name, err = NextName(list, vmid, v.Format); err != nil {
			return "", s.fail("rename", volname, err)
		}
	}
	target := v
	target.Name, target.VMID = name, vmid
	if s.exists(ctx, s.dataset(target)) {
		return "", s.fail("rename", volname, fmt.Errorf("volume %s already exists", name))
	}
	if _, err := s.zfs(ctx, "rename", s.dataset(v), s.dataset(target)); err != nil {
		return "", s.fail("rename", volname, err)
	}
	return target.Volname(), nil
}
