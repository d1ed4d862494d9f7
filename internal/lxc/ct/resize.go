package ct

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/runner"
)

// Growing a volume of a container: the storage grows the volume, the
// mount point records the new size, and the file system on it follows.
// A raw image holds ext4, which resize2fs grows; while the container
// runs, the start hook has the image on a loop device, which is first
// told the image's new size. A subvolume has no file system of its own:
// on btrfs and ZFS its size is the quota the storage sets, and a
// subvolume on a plain directory has no size at all.

// resizeSizeRE is the size argument of a resize: an optional + (grow by),
// a decimal number and an optional binary unit. It is the API pattern,
// checked again here because internal callers skip the schema.
var resizeSizeRE = regexp.MustCompile(`^(\+)?(\d+(?:\.\d+)?)([KMGT])?$`)

var sizeUnits = map[string]int64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

// resizeTarget works out the size a volume of cur bytes is to have after
// a resize to spec: "+<n>[KMGT]" grows by n, "<n>[KMGT]" is the size to
// reach. Fractions of a byte are dropped and the result is rounded up to
// whole KiB, as the storages allocate in such units. It refuses to
// shrink. A result equal to cur means the volume has the size already.
func resizeTarget(cur int64, spec string) (int64, error) {
	m := resizeSizeRE.FindStringSubmatch(spec)
	if m == nil {
		return 0, fmt.Errorf("size '%s' is not a size: expected [+]<number>[K|M|G|T], such as +2G (grow by 2 GiB) or 16G (grow to 16 GiB)", spec)
	}
	n, ok := new(big.Rat).SetString(m[2])
	if !ok {
		return 0, fmt.Errorf("size '%s': cannot read the number %s", spec, m[2])
	}
	n.Mul(n, new(big.Rat).SetInt64(sizeUnits[m[3]]))
	bytes := new(big.Int).Quo(n.Num(), n.Denom())
	if m[1] == "+" {
		bytes.Add(bytes, big.NewInt(cur))
	}
	if !bytes.IsInt64() || bytes.Int64() > math.MaxInt64-1023 {
		return 0, fmt.Errorf("size '%s' is too large", spec)
	}
	size := bytes.Int64()
	if size < cur {
		return 0, fmt.Errorf("shrinking volumes is not supported: %s is below the current size %s", vmconf.FormatSize(size), vmconf.FormatSize(cur))
	}
	if size == cur {
		return cur, nil
	}
	return (size + 1023) / 1024 * 1024, nil
}

// resizePlan is a checked growth of one volume.
type resizePlan struct {
	mp   *ctconf.MountPoint
	v    *ctVolume
	cur  int64 // bytes now
	size int64 // bytes after
}

// planResize checks a resize against the configuration and works out
// the new size. It runs when the call comes in, so that mistakes fail
// the call, and again inside the task under the container's mutex.
func (s *Service) planResize(ctx context.Context, c *api.Call, cf *guestconf.Config, in *api.CTResizeParams) (*resizePlan, error) {
	if err := s.repo.CheckLock(cf, false); err != nil {
		return nil, err
	}
	if err := s.repo.CheckDigest(cf, in.Digest); err != nil {
		return nil, err
	}
	value, ok := cf.Main().Get(in.Disk)
	if !ok {
		return nil, errNoVolume(cf.VMID, in.Disk)
	}
	if _, pending := cf.File.Pending.Get(in.Disk); pending {
		return nil, api.Errorf(http.StatusInternalServerError, "%s has a pending change; apply it (restart the container) or revert it first", in.Disk)
	}
	mp, err := ctconf.ParseMountPoint(in.Disk, value)
	if err != nil {
		return nil, api.ParamError("disk", "%v", err)
	}
	if !mp.IsVolume() {
		return nil, api.Errorf(http.StatusInternalServerError, "%s is the host path %s, not a storage volume; grow it on the host", in.Disk, mp.Volume)
	}
	v, err := s.openVolume(ctx, in.Disk, mp.Volume)
	if err != nil {
		return nil, err
	}
	v.mp = mp
	if err := checkSpace(c, v.Storage); err != nil {
		return nil, err
	}
	switch format := v.format(); {
	case v.vol.IsBase:
		return nil, api.Errorf(http.StatusInternalServerError, "%s is a template's base volume; linked clones depend on its size", v.ID)
	case v.vol.VMID != cf.VMID:
		return nil, api.Errorf(http.StatusInternalServerError, "%s: volume %s belongs to guest %d; only its owner can grow it", in.Disk, v.ID, v.vol.VMID)
	case format == "subvol" && !subvolsHaveSize(v.cfg.Type):
		return nil, api.Errorf(http.StatusInternalServerError, "%s is a directory on storage '%s' of type %s, which has no size to grow: "+
			"it uses what the storage has free (a volume with a size is an image, or a subvolume on btrfs or ZFS)", in.Disk, v.Storage, v.cfg.Type)
	case format != "raw" && format != "subvol":
		return nil, api.Errorf(http.StatusInternalServerError, "%s is a %s volume; a container's volumes are raw images or subvolumes", in.Disk, format)
	}
	p := &resizePlan{mp: mp, v: v}
	info, err := v.st.Volume(ctx, v.Name)
	if err != nil {
		return nil, err
	}
	p.cur = info.Size
	if v.format() == "subvol" && mp.Size.Set && mp.Size.V > p.cur {
		p.cur = mp.Size.V
	}
	if p.cur <= 0 && v.format() == "raw" {
		return nil, api.Errorf(http.StatusInternalServerError, "could not determine the current size of volume '%s'", v.ID)
	}
	if p.size, err = resizeTarget(p.cur, in.Size); err != nil {
		return nil, api.ParamError("size", "%v", err)
	}
	return p, nil
}

func (s *Service) resizeTask(ctx context.Context, c *api.Call, in *api.CTResizeParams) (api.Task, error) {
	cf, err := s.repo.Load(in.VMID)
	if err != nil {
		return api.Task{}, err
	}
	if _, err := s.planResize(ctx, c, cf, in); err != nil {
		return api.Task{}, err
	}
	return ctTask("resize", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.resize(ctx, c, in, log)
	}), nil
}

// resize grows a volume and then its file system. The size is recorded
// before the file system is grown, as the volume has it from then on. A
// volume that has the size already still gets its file system grown,
// which finishes a resize whose file system step failed.
func (s *Service) resize(ctx context.Context, c *api.Call, in *api.CTResizeParams, log api.TaskLog) error {
	unlock := s.repo.Lock(in.VMID)
	defer unlock()
	cf, err := s.repo.Load(in.VMID)
	if err != nil {
		return err
	}
	p, err := s.planResize(ctx, c, cf, in)
	if err != nil {
		return err
	}
	if p.size == p.cur {
		log.Printf("%s already has %s", in.Disk, vmconf.FormatSize(p.cur))
	} else {
		if err := p.v.st.Resize(ctx, p.v.Name, p.size); err != nil {
			return fmt.Errorf("%s: %w", in.Disk, err)
		}
		log.Printf("%s: %s grown from %s to %s", in.Disk, p.v.ID, vmconf.FormatSize(p.cur), vmconf.FormatSize(p.size))
	}
	if !p.mp.Size.Set || p.mp.Size.V != p.size {
		p.mp.Size = ctconf.Some(p.size)
		if err := cf.Main().Set(in.Disk, p.mp.String()); err != nil {
			return err
		}
		if err := s.repo.Save(ctx, cf); err != nil {
			return err
		}
	}
	if p.v.format() != "raw" {
		return nil
	}
	_, running := s.running(in.VMID)
	return s.growFS(ctx, p.v, running, log)
}

// growFS grows the ext4 file system of a raw volume to fill it. A
// volume in use is grown online: an image the start hook put on a loop
// device (its loop device learns the new size first), or a block device
// of a running container. Those mounts live in the container's own
// mount namespaces, where resize2fs cannot see them; so, as Proxmox VE
// does, resize2fs runs in a private mount namespace of its own with the
// device mounted once more, which shares the mounted file system and
// lets resize2fs grow it online. A volume not in use is checked, as
// resize2fs insists, and grown offline.
func (s *Service) growFS(ctx context.Context, v *ctVolume, running bool, log api.TaskLog) error {
	a, err := v.st.Attach(ctx, v.Name, "")
	if err != nil {
		return err
	}
	if a.Path == "" {
		return fmt.Errorf("%s: volume %s has no local path; its file system cannot be grown here", v.Key, v.ID)
	}
	dev, online := a.Path, false
	if a.Mount != nil && a.Mount.Loop {
		loop, err := loopOf(a.Path)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Key, err)
		}
		if loop != "" {
			if err := setLoopCapacity(loop); err != nil {
				return fmt.Errorf("%s: telling %s the new size of %s: %w", v.Key, loop, a.Path, err)
			}
			dev, online = loop, true
		}
	} else if running {
		online = true
	}
	if fs := fsType(dev); fs != "ext" {
		log.Warnf("%s: %s holds no ext2/3/4 file system (%s); grow the file system on it from inside the container", v.Key, v.ID, fs)
		return nil
	}
	if !online {
		if err := runFsck(ctx, s.o.Runner, dev, true, log); err != nil {
			return fmt.Errorf("%s: checking the file system before growing it: %w", v.Key, err)
		}
		if _, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "resize2fs", Args: []string{dev}}); err != nil {
			return fmt.Errorf("%s: growing the file system: %w", v.Key, err)
		}
		log.Printf("%s: file system grown offline to fill %s", v.Key, v.ID)
		return nil
	}
	dir, err := os.MkdirTemp("", "hearth-resize-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	_, err = s.o.Runner.Run(ctx, runner.Cmd{Name: "unshare", Args: []string{"--mount", "--propagation", "private", "--",
		"sh", "-c", `mount "$1" "$2" && resize2fs "$1"`, "resize2fs", dev, dir}})
	if err != nil {
		if strings.Contains(err.Error(), "Permission denied") {
			// The kernel grows a mounted ext4 only for a process with
			// CAP_SYS_RESOURCE, which a confined daemon may lack.
			return fmt.Errorf("%s: the kernel refused to grow the mounted file system (%w); stop the container and "+
				"resize %s again to the same size to grow it offline", v.Key, err, v.Key)
		}
		return fmt.Errorf("%s: growing the mounted file system: %w", v.Key, err)
	}
	log.Printf("%s: file system grown online to fill %s", v.Key, v.ID)
	return nil
}

// loopOf finds the loop device backed by an image file, by the file's
// device and inode as the loop driver keeps them; "" when none is.
func loopOf(image string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(image, &st); err != nil {
		return "", err
	}
	bound, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, b := range bound {
		name := filepath.Base(filepath.Dir(filepath.Dir(b)))
		f, err := os.Open("/dev/" + name)
		if err != nil {
			continue
		}
		info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
		f.Close()
		if err == nil && info.Inode == st.Ino && info.Device == st.Dev {
			return "/dev/" + name, nil
		}
	}
	return "", nil
}

// setLoopCapacity makes a loop device take its backing file's new size.
func setLoopCapacity(dev string) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.IoctlSetInt(int(f.Fd()), unix.LOOP_SET_CAPACITY, 0)
}

// fsType reads which file system a device or image holds, as far as
// growing it goes: "ext" for ext2/3/4, "xfs", "btrfs", or "unknown".
func fsType(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	buf := make([]byte, 0x10048)
	n, _ := f.ReadAt(buf, 0)
	buf = buf[:n]
	switch {
	case len(buf) >= 1082 && buf[1080] == 0x53 && buf[1081] == 0xEF:
		return "ext"
	case strings.HasPrefix(string(buf), "XFSB"):
		return "xfs"
	case len(buf) >= 0x10048 && string(buf[0x10040:0x10048]) == "_BHRfS_M":
		return "btrfs"
	}
	return "unknown"
}
