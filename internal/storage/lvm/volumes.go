package lvm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// volRE is an lvm volume name: vm-<vmid>-<name>, the only kind the type
// allocates. Names ending in .qcow2 are volumes Proxmox VE 9 made with
// snapshot-as-volume-chain; they are listed, attached and freed.
var volRE = regexp.MustCompile(`^vm-([1-9][0-9]{2,8})-`)

// vol is a parsed volume name.
type vol struct {
	name   string
	vmid   int
	format string
}

// parseVolname checks an lvm volume name.
func parseVolname(volname string) (vol, error) {
	m := volRE.FindStringSubmatch(volname)
	if m == nil || !ValidName(volname) || strings.HasPrefix(volname, "snap_") {
		return vol{}, fmt.Errorf("illegal lvm volume name %q: expected vm-<vmid>-<name> made of letters, digits, '.', '_' and '-'", volname)
	}
	id, _ := strconv.Atoi(m[1])
	if err := storage.CheckImageName(volname, id, ""); err != nil {
		return vol{}, err
	}
	v := vol{name: volname, vmid: id, format: "raw"}
	if strings.HasSuffix(volname, ".qcow2") {
		v.format = "qcow2"
	}
	return v, nil
}

// checkNewName checks a name given for a new volume of vmid.
func checkNewName(name string, vmid int) error {
	v, err := parseVolname(name)
	if err != nil {
		return err
	}
	if v.vmid != vmid {
		return fmt.Errorf("illegal volume name %q: it belongs to guest %d, not %d", name, v.vmid, vmid)
	}
	if v.format != "raw" {
		return fmt.Errorf("illegal volume name %q: qcow2 volume chains are not supported on lvm", name)
	}
	return nil
}

// KiB rounds a size in bytes up to whole KiB, the unit the lvm and zfs
// commands are given sizes in.
func KiB(size int64) int64 { return (size + 1023) / 1024 }

// List returns the vm-<vmid>-… volumes of the group: linear, mirrored
// and RAID volumes, only tagged ones with tagged_only.
func (s *Storage) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	ct, ok := listContent(content)
	if !ok {
		return nil, nil
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return nil, s.fail("list volumes", "", err)
	}
	var out []storage.Volume
	for name, lv := range lvs {
		v, err := parseVolname(name)
		if err != nil || (vmid != 0 && v.vmid != vmid) {
			continue
		}
		if !strings.ContainsRune("-mMrR", rune(lv.Type)) || lv.Type == 0 {
			continue
		}
		if s.taggedOnly && !hasGuestTag(lv) {
			continue
		}
		out = append(out, storage.Volume{Volname: name, Content: ct, Format: v.format, Size: lv.Size, VMID: v.vmid, CTime: lv.CTime})
	}
	storage.SortVolumes(out)
	return out, nil
}

var guestTagRE = regexp.MustCompile(`^pve-vm-\d+$`)

func hasGuestTag(lv LV) bool {
	for _, t := range lv.Tags {
		if guestTagRE.MatchString(t) {
			return true
		}
	}
	return false
}

// listContent picks the content a listing reports. A block volume's name
// does not tell a VM disk from a container volume (Proxmox VE decides by
// the owner's guest type), so volumes are images unless only rootdir was
// asked for.
func listContent(content []storage.Content) (storage.Content, bool) {
	if len(content) == 0 {
		return storage.Images, true
	}
	rootdir := false
	for _, c := range content {
		if c == storage.Images {
			return storage.Images, true
		}
		rootdir = rootdir || c == storage.Rootdir
	}
	return storage.Rootdir, rootdir
}

// Alloc creates a thick logical volume tagged pve-vm-<vmid>.
func (s *Storage) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format == "" {
		format = "raw"
	}
	if format == "qcow2" && s.chain {
		return "", s.fail("allocate", name, errors.New("qcow2 volume chains (snapshot-as-volume-chain) are not supported by Hearth; allocate raw volumes"))
	}
	if format != "raw" {
		return "", s.fail("allocate", name, fmt.Errorf("unsupported format %q: lvm holds raw volumes only", format))
	}
	if size <= 0 {
		return "", s.fail("allocate", name, fmt.Errorf("invalid size %d", size))
	}
	if name != "" {
		if err := checkNewName(name, vmid); err != nil {
			return "", s.fail("allocate", name, err)
		}
	}
	kib := KiB(size)
	vgs, err := s.vgs(ctx)
	if err != nil {
		return "", s.fail("allocate", name, err)
	}
	vg := findVG(vgs, s.vg)
	if vg == nil {
		return "", s.fail("allocate", name, fmt.Errorf("no such volume group %q", s.vg))
	}
	if vg.Free < kib*1024 {
		return "", s.fail("allocate", name, fmt.Errorf("not enough free space in volume group %s (%d bytes free, %d needed)", s.vg, vg.Free, kib*1024))
	}
	lvs, err := s.lvs(ctx)
	if err != nil {
		return "", s.fail("allocate", name, err)
	}
	if name, err = pickName(lvs, vmid, name); err != nil {
		return "", s.fail("allocate", name, err)
	}
	c := Tool("lvcreate", "-aly", "-Wy", "--yes", "--size", strconv.FormatInt(kib, 10)+"k", "--name", name,
		"--addtag", "pve-vm-"+strconv.Itoa(vmid), s.vg)
	if _, err := s.r.Run(ctx, c); err != nil {
		return "", s.fail("create volume", s.vg+"/"+name, err)
	}
	return name, nil
}

// pickName returns name if it is free, or the next free
// vm-<vmid>-disk-<n> when name is empty.
func pickName(lvs map[string]LV, vmid int, name string) (string, error) {
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

// AllocRootdir allocates a container volume: a logical volume with an
// ext4 file system whose root directory belongs to uid:gid (the
// container's root user, mapped for unprivileged containers), made as
// Proxmox VE's pct makes it. The volume is removed if mkfs fails.
func (s *Storage) AllocRootdir(ctx context.Context, vmid int, name string, size int64, uid, gid int) (string, error) {
	name, err := s.Alloc(ctx, vmid, name, "raw", size)
	if err != nil {
		return "", err
	}
	if err := MakeExt4(ctx, s.r, s.path(name), uid, gid); err != nil {
		if _, rerr := s.r.Run(ctx, Tool("lvremove", "-f", s.vg+"/"+name)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the new volume failed too: %w", rerr))
		}
		return "", s.fail("make file system on", name, err)
	}
	return name, nil
}

// MakeExt4 makes the ext4 file system of a container volume, with
// multi-mount protection so that two nodes never mount a shared volume
// at once.
func MakeExt4(ctx context.Context, r runner.Runner, dev string, uid, gid int) error {
	_, err := r.Run(ctx, runner.Cmd{Name: "mkfs.ext4", Args: []string{"-O", "mmp", "-E", fmt.Sprintf("root_owner=%d:%d", uid, gid), dev}})
	return err
}

// Free removes a volume. With saferemove the volume is renamed to
// del-<name> first (so the name is free again at once), its data zeroed,
// and then removed.
func (s *Storage) Free(ctx context.Context, volname string) error {
	if _, err := parseVolname(volname); err != nil {
		return s.fail("free", volname, err)
	}
	lv := s.vg + "/" + volname
	if _, err := s.r.Run(ctx, Tool("lvchange", "-aly", lv)); err != nil {
		return s.fail("free", volname, fmt.Errorf("cannot activate the volume to remove it: %w", err))
	}
	if _, err := s.r.Run(ctx, Tool("lvchange", "--refresh", lv)); err != nil {
		return s.fail("free", volname, fmt.Errorf("cannot refresh the volume to remove it: %w", err))
	}
	if !s.saferemove {
		if _, err := s.r.Run(ctx, Tool("lvremove", "-f", lv)); err != nil {
			return s.fail("remove volume", volname, err)
		}
		return nil
	}
	del := "del-" + volname
	if _, err := s.r.Run(ctx, Tool("lvrename", s.vg, volname, del)); err != nil {
		return s.fail("rename volume for removal", volname, err)
	}
	s.wipe(ctx, del)
	if _, err := s.r.Run(ctx, Tool("lvremove", "-f", s.vg+"/"+del)); err != nil {
		return s.fail("remove volume", del, err)
	}
	return nil
}

var dmRE = regexp.MustCompile(`^dm-[0-9]+$`)

// wipe zeroes a volume: with blkdiscard --zeroout where the device
// supports write-zeroes, else by copying zeros with cstream at a capped
// rate. Like Proxmox VE it only warns when wiping fails (cstream always
// ends with "No space left on device").
func (s *Storage) wipe(ctx context.Context, lv string) {
	path := s.path(lv)
	dev, err := filepath.EvalSymlinks(filepath.Join(s.root, path))
	if err != nil || !dmRE.MatchString(filepath.Base(dev)) {
		s.log.Warn("not wiping the removed volume: it does not seem to be active", "storage", s.id, "volume", path, "err", err)
		return
	}
	var max int64
	if b, err := os.ReadFile(filepath.Join(s.root, "sys/block", filepath.Base(dev), "queue/write_zeroes_max_bytes")); err == nil {
		max, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if max <= 0 {
		t := s.throughput
		if t == "" {
			t = "-10485760"
		}
		c := runner.Cmd{Name: "cstream", Args: []string{"-i", "/dev/zero", "-o", path, "-T", "10", "-v", "1", "-b", "1048576", "-t", t}}
		if _, err := s.r.Run(ctx, c); err != nil {
			s.log.Warn("zeroing finished ('No space left on device' is expected)", "storage", s.id, "volume", path, "err", err)
		}
		return
	}
	step := min(s.stepsize, max)
	c := runner.Cmd{Name: "blkdiscard", Args: []string{"--zeroout", "--step", strconv.FormatInt(step, 10), path}}
	if _, err := s.r.Run(ctx, c); err != nil {
		s.log.Warn("zeroing the removed volume failed", "storage", s.id, "volume", path, "err", err)
	}
}

// ResizeArg renders a size in bytes as lvextend's -L argument in MiB, as
// Proxmox VE does (lvm rounds up to whole extents).
func ResizeArg(size int64) string {
	if size%(1<<20) == 0 {
		return strconv.FormatInt(size>>20, 10) + "M"
	}
	return strconv.FormatFloat(float64(size)/(1<<20), 'f', -1, 64) + "M"
}

// Resize grows a volume; lvextend refuses to shrink.
func (s *Storage) Resize(ctx context.Context, volname string, size int64) error {
	if _, err := parseVolname(volname); err != nil {
		return s.fail("resize", volname, err)
	}
	if size <= 0 {
		return s.fail("resize", volname, fmt.Errorf("invalid size %d", size))
	}
	if _, err := s.r.Run(ctx, Tool("lvextend", "-L", ResizeArg(size), s.path(volname))); err != nil {
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
	res, err := s.r.Run(ctx, LVSizeCmd(s.path(volname)))
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	size, err := ParseSize(res.Stdout)
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	return storage.Volume{Volname: volname, Content: storage.Images, Format: v.format, Size: size, VMID: v.vmid}, nil
}

// activate activates a volume on this node (exclusively where a lock
// manager makes that possible) and reloads its table, which may have
// changed on another node of a shared group.
func (s *Storage) activate(ctx context.Context, volname string) error {
	p := s.path(volname)
	if _, err := s.r.Run(ctx, Tool("lvchange", "-aey", p)); err != nil {
		return fmt.Errorf("cannot activate %s: %w", p, err)
	}
	if _, err := s.r.Run(ctx, Tool("lvchange", "--refresh", p)); err != nil {
		return fmt.Errorf("cannot refresh %s: %w", p, err)
	}
	return nil
}

// Attach activates the volume and says how to reach it: the device for
// QEMU, an ext4 mount for containers. lvm has no snapshots.
func (s *Storage) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	if snap != "" {
		return storage.Attachment{}, s.fail("attach", volname, errors.New("lvm volumes have no snapshots"))
	}
	if err := s.activate(ctx, volname); err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	p := s.path(volname)
	a := storage.Attachment{Path: p, Format: v.format, Blockdev: map[string]any{"driver": "host_device", "filename": p}}
	if v.format == "raw" {
		a.Mount = &storage.Mount{Source: p, FSType: "ext4"}
	}
	return a, nil
}

// Rename renames a volume, possibly to another guest. Like Proxmox VE it
// keeps the volume's tags.
func (s *Storage) Rename(ctx context.Context, volname string, vmid int, name string) (string, error) {
	if _, err := parseVolname(volname); err != nil {
		return "", s.fail("rename", volname, err)
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
	if name, err = pickName(lvs, vmid, name); err != nil {
		return "", s.fail("rename", volname, err)
	}
	if _, err := s.r.Run(ctx, Tool("lvrename", s.vg, volname, name)); err != nil {
		return "", s.fail("rename", volname, err)
	}
	return name, nil
}

// ExportFormats: lvm volumes stream as raw data behind their size.
func (s *Storage) ExportFormats(ctx context.Context, volname string) []string {
	if v, err := parseVolname(volname); err != nil || v.format != "raw" {
		return nil
	}
	return []string{"raw+size"}
}

// Export writes the volume as raw+size: its size as a little-endian
// uint64, then its bytes.
func (s *Storage) Export(ctx context.Context, volname, format, snap string, w io.Writer) error {
	if _, err := parseVolname(volname); err != nil {
		return s.fail("export", volname, err)
	}
	if format != "raw+size" {
		return s.fail("export", volname, fmt.Errorf("unsupported export format %q (lvm exports raw+size)", format))
	}
	if snap != "" {
		return s.fail("export", volname, errors.New("lvm volumes have no snapshots to export"))
	}
	if err := s.activate(ctx, volname); err != nil {
		return s.fail("export", volname, err)
	}
	return ExportRaw(ctx, s.r, s.path(volname), w)
}

// ExportRaw streams a block device as raw+size.
func ExportRaw(ctx context.Context, r runner.Runner, dev string, w io.Writer) error {
	res, err := r.Run(ctx, runner.Cmd{Name: "blockdev", Args: []string{"--getsize64", dev}})
	if err != nil {
		return fmt.Errorf("cannot read the size of %s: %w", dev, err)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("unexpected output of blockdev --getsize64 %s: %q", dev, res.Stdout)
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(size))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := r.Run(ctx, runner.Cmd{Name: "dd", Args: []string{"if=" + dev, "bs=64k", "status=progress"}, Stdout: w}); err != nil {
		return fmt.Errorf("reading %s failed: %w", dev, err)
	}
	return nil
}

// ReadSizeHeader reads the size that starts a +size stream.
func ReadSizeHeader(r io.Reader) (int64, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, fmt.Errorf("reading the size header of the stream: %w", err)
	}
	n := binary.LittleEndian.Uint64(hdr[:])
	if n == 0 || n > 1<<62 {
		return 0, fmt.Errorf("the stream announces an invalid size of %d bytes", n)
	}
	return int64(n), nil
}

// Import allocates a volume of the size the raw+size stream announces
// and writes the stream into it; the volume is freed if that fails. An
// existing volume is never overwritten.
func (s *Storage) Import(ctx context.Context, r io.Reader, vmid int, name, format string) (string, error) {
	if format != "raw+size" {
		return "", s.fail("import", name, fmt.Errorf("unsupported import format %q (lvm imports raw+size)", format))
	}
	if name != "" {
		if err := checkNewName(name, vmid); err != nil {
			return "", s.fail("import", name, err)
		}
	}
	size, err := ReadSizeHeader(r)
	if err != nil {
		return "", s.fail("import", name, err)
	}
	name, err = s.Alloc(ctx, vmid, name, "raw", size)
	if err != nil {
		return "", err
	}
	if _, err := s.r.Run(ctx, runner.Cmd{Name: "dd", Args: []string{"of=" + s.path(name), "bs=64k"}, Stdin: r}); err != nil {
		err = s.fail("import into", name, err)
		if ferr := s.Free(ctx, name); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return "", err
	}
	return name, nil
}
