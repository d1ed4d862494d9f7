package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// newDiskRE is the allocation syntax of a drive value: [<storage>:]<GiB>,
// as in scsi0: local:32 ("a new 32 GiB disk on local").
var newDiskRE = regexp.MustCompile(`^(?:([^/:\s]+):)?(\d+(?:\.\d+)?)$`)

// Fixed sizes of the special disks: the OVMF variable store of the 4 MiB
// and 2 MiB firmware images, and the TPM state.
const (
	efiVarsSize4M = 540672
	efiVarsSize2M = 131072
	tpmStateSize  = 4 << 20
)

// OVMF variable templates copied into a new efidisk.
var (
	ovmfVars4M = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ovmfVars2M = "/usr/share/OVMF/OVMF_VARS.fd"
	ovmfVarsMS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// newCloudInitRE is the allocation syntax of a cloud-init drive.
var newCloudInitRE = regexp.MustCompile(`^([^/:\s]+):cloudinit$`)

// isNewDisk reports whether a drive asks for an allocation, and where.
func isNewDisk(d *vmconf.Drive) (storageID string, gib float64, ok bool) {
	if m := newCloudInitRE.FindStringSubmatch(d.File); m != nil {
		return m[1], 0, true
	}
	m := newDiskRE.FindStringSubmatch(d.File)
	if m == nil {
		return "", 0, false
	}
	gib, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return "", 0, false
	}
	return m[1], gib, true
}

// volume is an opened volume of a VM configuration.
type volume struct {
	ID      string
	Storage string
	Name    string
	cfg     storage.Config
	st      storage.Storage
	vol     storage.Vol
}

// openVolume opens the storage of a volume id.
func (s *Service) openVolume(ctx context.Context, volid string) (*volume, error) {
	sid, name, err := storage.ParseVolumeID(volid)
	if err != nil {
		return nil, err
	}
	cfg, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return nil, err
	}
	v, err := storage.ParseVolname(st, name)
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", volid, err)
	}
	return &volume{ID: volid, Storage: sid, Name: name, cfg: cfg, st: st, vol: v}, nil
}

// isPath reports whether a drive's file is a host path rather than a
// volume id (root may attach /dev/sdb or an image file directly).
func isPath(file string) bool { return strings.HasPrefix(file, "/") }

// attachFile resolves a drive's file (volume id or path) for QEMU.
func (s *Service) attachFile(ctx context.Context, file, snap string) (storage.Attachment, error) {
	if isPath(file) {
		driver := "file"
		if strings.HasPrefix(file, "/dev/") {
			driver = "host_device"
		}
		return storage.Attachment{Path: file, Format: "raw", Blockdev: map[string]any{"driver": driver, "filename": file}}, nil
	}
	v, err := s.openVolume(ctx, file)
	if err != nil {
		return storage.Attachment{}, err
	}
	return v.st.Attach(ctx, v.Name, snap)
}

// defaultFormat is the image format of a new disk on a storage when the
// drive names none.
func (s *Service) defaultFormat(cfg storage.Config) string {
	p, ok := s.o.Storage.Plugin(cfg.Type)
	if !ok {
		return "raw"
	}
	if f := cfg.Props["format"]; f != "" {
		return f
	}
	return p.Info().DefaultFormat
}

// checkAllocate is the permission to allocate on a storage.
func checkAllocate(c *api.Call, storageID string) error {
	if c == nil || c.Perm == nil {
		return nil // internal work on behalf of an already checked call
	}
	if !c.Perm.Has("/storage/"+storageID, "Datastore.AllocateSpace") {
		return &api.Denied{Path: "/storage/" + storageID, Priv: "Datastore.AllocateSpace"}
	}
	return nil
}

// allocDrive allocates the volume a drive asks for (storage:size, or
// storage:0 with import-from) and returns the drive pointing at it.
func (s *Service) allocDrive(ctx context.Context, c *api.Call, vmid int, d *vmconf.Drive, log api.TaskLog) (*vmconf.Drive, error) {
	sid, gib, _ := isNewDisk(d)
	if sid == "" {
		return nil, api.ParamError(d.Key, "a new disk needs a storage: write <storage>:<size in GiB>")
	}
	if err := checkAllocate(c, sid); err != nil {
		return nil, err
	}
	cfg, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return nil, err
	}
	if !cfg.Holds(storage.Images) {
		return nil, api.ParamError(d.Key, "storage '%s' does not hold VM disk images (content images)", sid)
	}
	format := d.Format
	if format == "" {
		format = s.defaultFormat(cfg)
	}
	var size int64
	name := ""
	var src string
	switch {
	case d.Bus == "efidisk":
		size = efiVarsSize4M
		src = ovmfVars4M
		if d.EFIType == "2m" {
			size, src = efiVarsSize2M, ovmfVars2M
		} else if d.PreEnrolledKeys.Or(false) {
			src = ovmfVarsMS
		}
	case d.Bus == "tpmstate":
		size = tpmStateSize
		format = "raw"
	case d.IsCloudInit() || strings.HasSuffix(d.File, ":cloudinit"):
		size = 4 << 20
		name = "vm-" + strconv.Itoa(vmid) + "-cloudinit"
		if _, isFile := st.(storage.FileStore); isFile && d.Format == "" {
			// Proxmox VE keeps cloud-init drives on file storages as qcow2.
			format = "qcow2"
		}
	case d.ImportFrom != "":
		if src, size, err = s.importSource(ctx, c, d.ImportFrom); err != nil {
			return nil, err
		}
	default:
		if gib <= 0 {
			return nil, api.ParamError(d.Key, "a new disk needs a size above 0 GiB (or import-from)")
		}
		size = int64(math.Ceil(gib * (1 << 30)))
	}
	if name != "" && format != "subvol" {
		if _, ok := st.(storage.FileStore); ok {
			name += "." + format
		}
	}
	volname, err := st.Alloc(ctx, vmid, name, format, size)
	if err != nil {
		return nil, fmt.Errorf("%s: allocating %s on '%s': %w", d.Key, vmconf.FormatSize(size), sid, err)
	}
	volid := sid + ":" + volname
	if log != nil {
		log.Printf("%s: allocated %s (%s)", d.Key, volid, vmconf.FormatSize(size))
	}
	if src != "" {
		if err := s.copyInto(ctx, src, volid, st, volname, format); err != nil {
			_ = st.Free(context.WithoutCancel(ctx), volname)
			return nil, fmt.Errorf("%s: %w", d.Key, err)
		}
	}
	nd := *d
	nd.File = volid
	nd.Format = ""
	if format != "raw" || d.Format != "" {
		nd.Format = format
	}
	if _, isFile := st.(storage.FileStore); isFile {
		// The format is in the file name; Proxmox VE does not repeat it.
		nd.Format = ""
	}
	nd.ImportFrom = ""
	if name == "" || !strings.Contains(name, "cloudinit") {
		nd.Size = vmconf.Opt[int64]{V: size, Set: true}
	} else {
		nd.Media = "cdrom"
	}
	return &nd, nil
}

// importSource resolves import-from: a volume id the caller may read, or
// an absolute path (root only), and its virtual size.
func (s *Service) importSource(ctx context.Context, c *api.Call, from string) (string, int64, error) {
	path := from
	if !isPath(from) {
		v, err := s.openVolume(ctx, from)
		if err != nil {
			return "", 0, api.ParamError("import-from", "%v", err)
		}
		if c != nil {
			if err := storage.CheckVolumeAccess(c, v.Storage, v.vol, false); err != nil {
				return "", 0, err
			}
		}
		a, err := v.st.Attach(ctx, v.Name, "")
		if err != nil {
			return "", 0, err
		}
		if a.Path == "" {
			return "", 0, api.ParamError("import-from", "volume %s has no local path to import from", from)
		}
		path = a.Path
	} else if c != nil && c.User != api.RootUser {
		return "", 0, &api.Denied{Path: "/", Priv: "root@pam only: import-from with a path"}
	}
	size, err := s.imageSize(ctx, path)
	if err != nil {
		return "", 0, api.ParamError("import-from", "%v", err)
	}
	return path, size, nil
}

// imageSize reads the virtual size of an image with qemu-img.
func (s *Service) imageSize(ctx context.Context, path string) (int64, error) {
	res, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: []string{"info", "--output=json", path}})
	if err != nil {
		return 0, fmt.Errorf("cannot read image %s: %w", filepath.Base(path), err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(res.Stdout, &info); err != nil || info.VirtualSize <= 0 {
		return 0, fmt.Errorf("cannot read the size of image %s", filepath.Base(path))
	}
	return info.VirtualSize, nil
}

// copyInto writes an image (any format qemu-img reads) into a volume.
func (s *Service) copyInto(ctx context.Context, src, volid string, st storage.Storage, volname, format string) error {
	a, err := st.Attach(ctx, volname, "")
	if err != nil {
		return err
	}
	if a.Path == "" {
		return fmt.Errorf("volume %s has no local path to write the image to", volid)
	}
	if format == "subvol" {
		return fmt.Errorf("cannot import a disk image into a subvolume")
	}
	args := []string{"convert", "-p", "-n", "-O", format, src, a.Path}
	if _, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "qemu-img", Args: args}); err != nil {
		return fmt.Errorf("writing %s into %s: %w", filepath.Base(src), volid, err)
	}
	return nil
}

// freeVolume removes a volume of a destroyed or changed VM.
func (s *Service) freeVolume(ctx context.Context, volid string) error {
	v, err := s.openVolume(ctx, volid)
	if err != nil {
		return err
	}
	return v.st.Free(ctx, v.Name)
}

// ownedBy reports whether a drive's volume belongs to vmid (its own disk,
// not an ISO, not a template's base a linked clone reads from).
func (s *Service) ownedBy(ctx context.Context, file string, vmid int) bool {
	if isPath(file) || file == "none" || file == "cdrom" {
		return false
	}
	v, err := s.openVolume(ctx, file)
	if err != nil {
		return false
	}
	return v.vol.VMID == vmid && (v.vol.Content == storage.Images || v.vol.Content == storage.Rootdir || v.vol.Content == "")
}

// errNotRunning is Proxmox VE's error for a call that needs a running VM.
func errNotRunning(vmid int) error {
	return api.Errorf(http.StatusInternalServerError, "VM %d not running", vmid)
}

func errRunning(vmid int) error {
	return api.Errorf(http.StatusInternalServerError, "VM %d already running", vmid)
}
