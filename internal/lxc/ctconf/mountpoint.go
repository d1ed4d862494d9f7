package ctconf

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/storage"
)

// The kinds of mount point, as Proxmox VE names them.
const (
	// MountVolume is a volume of a storage.
	MountVolume = "volume"
	// MountBind is a host directory bind-mounted into the container.
	MountBind = "bind"
	// MountDevice is a host block device whose file system is mounted.
	MountDevice = "device"
)

// MountPoint is a file system of a container: the value of rootfs or of
// mp0 to mp255.
type MountPoint struct {
	Key   string // "rootfs" or "mp0" to "mp255"
	Index int    // -1 for rootfs

	// Volume is what is mounted: a volume id, an absolute host path (a
	// directory, or a block device below /dev), or when creating
	// <storage>:<size in GiB> or a bare size.
	Volume string
	// MP is the path inside the container; "/" for rootfs, which does
	// not write it.
	MP           string
	Size         Opt[int64] // bytes, as recorded
	MountOptions []string   // from api.LXCMountOptions

	ACL, Quota, RO    Opt[bool]
	Replicate, Shared Opt[bool]
	Backup, KeepAttrs Opt[bool] // mpN only
}

func (m *MountPoint) fields() []field {
	fs := []field{
		reqStrField("volume", &m.Volume), sizeField("size", &m.Size), listField("mountoptions", &m.MountOptions),
		optField("acl", &m.ACL), optField("quota", &m.Quota), optField("ro", &m.RO),
		optField("replicate", &m.Replicate), optField("shared", &m.Shared),
	}
	if !m.IsRoot() {
		fs = append(fs, reqStrField("mp", &m.MP), optField("backup", &m.Backup), optField("keepattrs", &m.KeepAttrs))
	}
	return fs
}

// IsMountPointKey reports whether key names a mount point: rootfs or
// mp0 to mp255.
func IsMountPointKey(key string) bool {
	_, ok := mountIndex(key)
	return ok
}

func mountIndex(key string) (int, bool) {
	if key == "rootfs" {
		return -1, true
	}
	return indexOf(key, "mp", api.LXCMaxMountPoints)
}

// ParseMountPoint parses the value of rootfs or of an mpN key.
func ParseMountPoint(key, value string) (*MountPoint, error) {
	index, ok := mountIndex(key)
	if !ok {
		return nil, fmt.Errorf("%q is not a mount point key; expected rootfs or mp0 to mp%d", key, api.LXCMaxMountPoints-1)
	}
	m := &MountPoint{Key: key, Index: index}
	if err := parseProp(propOf(key), value, m); err != nil {
		return nil, err
	}
	if m.IsRoot() {
		m.MP = "/"
	} else if path.Clean(m.MP) == "/" {
		return nil, errors.New("mp: only rootfs is mounted at /; a further mount point needs a path below it")
	}
	if err := m.checkVolume(); err != nil {
		return nil, err
	}
	return m, nil
}

// checkVolume applies what the volume pattern cannot say.
func (m *MountPoint) checkVolume() error {
	switch {
	case m.IsDevice():
		if path.Clean(m.Volume) == "/dev" {
			return fmt.Errorf("volume: %q names no device below /dev/", m.Volume)
		}
	case m.IsBind():
	default:
		if _, _, ok := m.NewVolume(); ok {
			return nil
		}
		if _, _, err := storage.ParseVolumeID(m.Volume); err != nil {
			return fmt.Errorf("volume: %w", err)
		}
	}
	return nil
}

// String prints the mount point canonically: the volume first, the other
// keys sorted.
func (m *MountPoint) String() string {
	key := "mp0"
	if m.IsRoot() {
		key = "rootfs"
	}
	return printProp(propOf(key), m)
}

// IsRoot reports whether this is the root file system.
func (m *MountPoint) IsRoot() bool { return m.Index < 0 }

// Type returns MountVolume, MountBind or MountDevice.
func (m *MountPoint) Type() string {
	switch {
	case m.IsDevice():
		return MountDevice
	case m.IsBind():
		return MountBind
	}
	return MountVolume
}

// IsBind reports whether the volume is a host directory to bind-mount:
// an absolute path outside /dev.
func (m *MountPoint) IsBind() bool { return strings.HasPrefix(m.Volume, "/") && !m.IsDevice() }

// IsDevice reports whether the volume is a host block device (a path
// below /dev).
func (m *MountPoint) IsDevice() bool { return strings.HasPrefix(m.Volume, "/dev/") }

// IsVolume reports whether the volume belongs to a storage (or is to be
// allocated on one).
func (m *MountPoint) IsVolume() bool { return !strings.HasPrefix(m.Volume, "/") }

// newVolumeRE is the allocation syntax: [<storage>:]<GiB>, as in
// "rootfs: local-lvm:8" ("a new 8 GiB volume on local-lvm"). Without a
// storage, the create call's storage parameter names it.
var newVolumeRE = regexp.MustCompile(`^(?:([^/:\s]+):)?(\d+(?:\.\d+)?)$`)

// NewVolume reports whether the mount point asks for a new volume, on
// which storage (empty: the one the create call names) and of what size
// in GiB. Size 0 asks for a plain directory on storages that can hold
// one.
func (m *MountPoint) NewVolume() (storageID string, gib float64, ok bool) {
	sm := newVolumeRE.FindStringSubmatch(m.Volume)
	if sm == nil {
		return "", 0, false
	}
	gib, err := strconv.ParseFloat(sm[2], 64)
	if err != nil {
		return "", 0, false
	}
	return sm[1], gib, true
}

// StorageVolume splits the volume id of an existing storage volume into
// storage id and volume name; ok is false for host paths and for new
// volumes.
func (m *MountPoint) StorageVolume() (storageID, volname string, ok bool) {
	if !m.IsVolume() {
		return "", "", false
	}
	if _, _, isNew := m.NewVolume(); isNew {
		return "", "", false
	}
	s, v, err := storage.ParseVolumeID(m.Volume)
	return s, v, err == nil
}

// InBackup reports whether a backup includes the mount point: rootfs
// always, a further mount point when it is a storage volume with backup
// set.
func (m *MountPoint) InBackup() bool {
	if m.IsRoot() {
		return true
	}
	return m.Type() == MountVolume && m.Backup.Or(false)
}

// cleanMP is the path inside the container without redundant slashes.
func (m *MountPoint) cleanMP() string { return path.Clean("/" + m.MP) }

// depth counts the elements of the path inside the container: 0 for /.
func (m *MountPoint) depth() int {
	p := m.cleanMP()
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// MountPoints parses rootfs and the mpN keys of values and returns them in
// mount order: rootfs first, then by the depth of the path inside, so a
// parent directory is always mounted before what is mounted below it;
// paths of equal depth sort by name, then by key. Values that do not
// parse are left out (Validate reports them).
func MountPoints(values map[string]string) []*MountPoint {
	var out []*MountPoint
	for k, v := range values {
		if !IsMountPointKey(k) {
			continue
		}
		if m, err := ParseMountPoint(k, v); err == nil {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.IsRoot() != b.IsRoot() {
			return a.IsRoot()
		}
		if da, db := a.depth(), b.depth(); da != db {
			return da < db
		}
		if pa, pb := a.cleanMP(), b.cleanMP(); pa != pb {
			return pa < pb
		}
		return a.Index < b.Index
	})
	return out
}
