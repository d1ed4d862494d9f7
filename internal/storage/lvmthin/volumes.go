package lvmthin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/lvm"
)

// checkNewName checks a name given for a new vm- volume of vmid.
func checkNewName(name string, vmid int) error {
	v, err := parseVolname(name)
	if err != nil {
		return err
	}
	if v.isBase {
		return fmt.Errorf("illegal volume name %q: new volumes are vm-%d-…; bases are made from them", name, vmid)
	}
	if v.vmid != vmid {
		return fmt.Errorf("illegal volume name %q: it belongs to guest %d, not %d", name, v.vmid, vmid)
	}
	return nil
}

// pickName returns name if no logical volume has it, or the next free
// vm-<vmid>-disk-<n> when name is empty.
func pickName(lvs map[string]lvm.LV, vmid int, name string) (string, error) {
	if name != "" {
		if _, ok := lvs[name]; ok {
			return name, fmt.Errorf("volume %s already exists", name)
		}
		return name, nil
	}
	taken := make([]string, 0, len(lvs))
	for n := range lvs {
		taken = append(taken, n)
	}
	return storage.NextDiskName(taken, vmid, "vm", "")
}

// Alloc creates a thin volume in the pool.
func (s *Storage) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format != "" && format != "raw" {
		return "", s.fail("allocate", name, fmt.Errorf("unsupported format %q: lvmthin holds raw volumes only", format))
	}
	if size <= 0 {
		return "", s.fail("allocate", name, fmt.Errorf("invalid size %d", size))
	}
	if name != "" {
		if err := checkNewName(name, vmid); err != nil {
			return "", s.fail("allocate", name, err)
		}
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return "", s.fail("allocate", name, err)
	}
	if p, ok := lvs[s.pool]; !ok || p.Type != 't' {
		return "", s.fail("allocate", name, fmt.Errorf("no thin pool %s/%s", s.vg, s.pool))
	}
	if name, err = pickName(lvs, vmid, name); err != nil {
		return "", s.fail("allocate", name, err)
	}
	c := lvm.Tool("lvcreate", "-aly", "-V", strconv.FormatInt(lvm.KiB(size), 10)+"k", "--name", name, "--thinpool", s.vg+"/"+s.pool)
	if _, err := s.r.Run(ctx, c); err != nil {
		return "", s.fail("create volume", s.vg+"/"+name, err)
	}
	return name, nil
}

// AllocRootdir allocates a container volume with an ext4 file system
// whose root belongs to uid:gid, as Proxmox VE's pct does; the volume is
// removed if mkfs fails.
func (s *Storage) AllocRootdir(ctx context.Context, vmid int, name string, size int64, uid, gid int) (string, error) {
	name, err := s.Alloc(ctx, vmid, name, "raw", size)
	if err != nil {
		return "", err
	}
	if err := lvm.MakeExt4(ctx, s.r, s.path(name), uid, gid); err != nil {
		if _, rerr := s.r.Run(ctx, lvm.Tool("lvremove", "-f", s.vg+"/"+name)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the new volume failed too: %w", rerr))
		}
		return "", s.fail("make file system on", name, err)
	}
	return name, nil
}

// Free removes a volume's snapshots, then the volume. Like Proxmox VE it
// does nothing for a volume that is already gone.
func (s *Storage) Free(ctx context.Context, volname string) error {
	if _, err := parseVolname(volname); err != nil {
		return s.fail("free", volname, err)
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return s.fail("free", volname, err)
	}
	for _, name := range snapshotsOf(lvs, volname) {
		if _, err := s.r.Run(ctx, lvm.Tool("lvremove", "-f", s.vg+"/"+name)); err != nil {
			return s.fail("remove snapshot", name, err)
		}
	}
	if _, ok := lvs[volname]; ok {
		if _, err := s.r.Run(ctx, lvm.Tool("lvremove", "-f", s.vg+"/"+volname)); err != nil {
			return s.fail("remove volume", volname, err)
		}
	}
	return nil
}

// snapshotsOf lists the snapshot volumes of vol, sorted.
func snapshotsOf(lvs map[string]lvm.LV, vol string) []string {
	var out []string
	for name := range lvs {
		if isSnapOf(name, vol) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Resize grows a volume.
func (s *Storage) Resize(ctx context.Context, volname string, size int64) error {
	if _, err := parseVolname(volname); err != nil {
		return s.fail("resize", volname, err)
	}
	if size <= 0 {
		return s.fail("resize", volname, fmt.Errorf("invalid size %d", size))
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvextend", "-L", lvm.ResizeArg(size), s.path(volname))); err != nil {
		return s.fail("resize", volname, err)
	}
	return nil
}

// Volume reports a volume's size.
func (s *Storage) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return storage.Volume{}, s.fail("volume", volname, err)
	}
	res, err := s.r.Run(ctx, lvm.LVSizeCmd(s.path(volname)))
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	size, err := lvm.ParseSize(res.Stdout)
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	return storage.Volume{Volname: volname, Content: storage.Images, Format: "raw", Size: size, VMID: v.vmid}, nil
}

// lvFor checks a volume (and snapshot) name and returns the logical
// volume that holds it.
func lvFor(volname, snap string) (string, error) {
	if _, err := parseVolname(volname); err != nil {
		return "", err
	}
	if snap == "" {
		return volname, nil
	}
	if err := checkSnap(snap); err != nil {
		return "", err
	}
	return snapLV(volname, snap), nil
}

// Attach activates the volume (or its snapshot) and says how to reach
// it. Snapshots are read-only: QEMU opens them so and containers mount
// them without replaying the journal.
func (s *Storage) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	lv, err := lvFor(volname, snap)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	if err := s.activateLV(ctx, lvs, lv); err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	p := s.path(lv)
	a := storage.Attachment{Path: p, Format: "raw", Blockdev: map[string]any{"driver": "host_device", "filename": p},
		Mount: &storage.Mount{Source: p, FSType: "ext4"}}
	if snap != "" {
		a.Blockdev["read-only"] = true
		a.Mount.Options = []string{"ro", "noload"}
	}
	return a, nil
}

// Rename renames a volume, possibly to another guest. Template bases and
// volumes with snapshots keep their names (their snapshot volumes are
// named after them).
func (s *Storage) Rename(ctx context.Context, volname string, vmid int, name string) (string, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return "", s.fail("rename", volname, err)
	}
	if v.isBase {
		return "", s.fail("rename", volname, errors.New("template base volumes cannot be renamed"))
	}
	if name != "" {
		if err := checkNewName(name, vmid); err != nil {
			return "", s.fail("rename", volname, err)
		}
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return "", s.fail("rename", volname, err)
	}
	if _, ok := lvs[volname]; !ok {
		return "", s.fail("rename", volname, errors.New("no such volume"))
	}
	if len(snapshotsOf(lvs, volname)) > 0 {
		return "", s.fail("rename", volname, errNoSnapshots)
	}
	if name, err = pickName(lvs, vmid, name); err != nil {
		return "", s.fail("rename", volname, err)
	}
	if _, err := s.r.Run(ctx, lvm.Tool("lvrename", s.vg, volname, name)); err != nil {
		return "", s.fail("rename", volname, err)
	}
	return name, nil
}

// ExportFormats: thin volumes and their snapshots stream as raw+size.
func (s *Storage) ExportFormats(ctx context.Context, volname string) []string {
	if _, err := parseVolname(volname); err != nil {
		return nil
	}
	return []string{"raw+size"}
}

// Export writes the volume, or one of its snapshots, as raw+size.
func (s *Storage) Export(ctx context.Context, volname, format, snap string, w io.Writer) error {
	lv, err := lvFor(volname, snap)
	if err != nil {
		return s.fail("export", volname, err)
	}
	if format != "raw+size" {
		return s.fail("export", volname, fmt.Errorf("unsupported export format %q (lvmthin exports raw+size)", format))
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return s.fail("export", volname, err)
	}
	if err := s.activateLV(ctx, lvs, lv); err != nil {
		return s.fail("export", volname, err)
	}
	if err := lvm.ExportRaw(ctx, s.r, s.path(lv), w); err != nil {
		return s.fail("export", volname, err)
	}
	return nil
}

// Import writes a raw+size stream into a new volume, skipping zero
// blocks so the thin volume stays sparse. A base-… name is imported as
// the vm-… volume and then turned into a template base. The new volume
// is freed if anything fails; an existing one is never overwritten.
func (s *Storage) Import(ctx context.Context, r io.Reader, vmid int, name, format string) (string, error) {
	if format != "raw+size" {
		return "", s.fail("import", name, fmt.Errorf("unsupported import format %q (lvmthin imports raw+size)", format))
	}
	target, base := name, false
	if name != "" {
		v, err := parseVolname(name)
		if err != nil {
			return "", s.fail("import", name, err)
		}
		if v.vmid != vmid {
			return "", s.fail("import", name, fmt.Errorf("the volume belongs to guest %d, not %d", v.vmid, vmid))
		}
		if v.isBase {
			base, target = true, "vm-"+name[len("base-"):]
		}
	}
	size, err := lvm.ReadSizeHeader(r)
	if err != nil {
		return "", s.fail("import", name, err)
	}
	if base {
		// the base name must be free as well as the vm- name it passes through
		lvs, err := s.lvs(ctx)
		if err != nil {
			return "", s.fail("import", name, err)
		}
		if _, ok := lvs[name]; ok {
			return "", s.fail("import", name, errors.New("the volume already exists"))
		}
	}
	target, err = s.Alloc(ctx, vmid, target, "raw", size)
	if err != nil {
		return "", err
	}
	undo := func(err error) (string, error) {
		if ferr := s.Free(ctx, target); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return "", err
	}
	if _, err := s.r.Run(ctx, runner.Cmd{Name: "dd", Args: []string{"of=" + s.path(target), "conv=sparse", "bs=64k"}, Stdin: r}); err != nil {
		return undo(s.fail("import into", target, err))
	}
	if !base {
		return target, nil
	}
	made, err := s.CreateBase(ctx, target)
	if err != nil {
		return undo(err)
	}
	return made, nil
}
