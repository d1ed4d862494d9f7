package vm

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/pwhash"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/cloudinit"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/storage"
)

// callParams are the parameters of create and config calls that are not
// configuration keys.
var callParams = []string{"node", "vmid", "start", "pool", "unique", "archive", "storage", "force",
	"delete", "revert", "digest", "skiplock", "background_delay", "bwlimit", "live-restore", "import-working-storage"}

// configValues splits decoded parameters into configuration values, as
// the strings the file holds.
func configValues(p api.Params) map[string]string { return p.ConfigValues(callParams) }

func paramInt(p api.Params, k string) int    { return p.Int(k) }
func paramBool(p api.Params, k string) bool  { return p.Bool(k) }
func paramStr(p api.Params, k string) string { return p.Str(k) }

// uuid returns a random RFC 4122 version 4 UUID.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// fillGenerated completes what Proxmox VE generates for a new VM: MAC
// addresses of NICs without one, the SMBIOS UUID, the VM generation id
// and the creation metadata.
func (s *Service) fillGenerated(values map[string]string) error {
	for k, v := range values {
		if !strings.HasPrefix(k, "net") {
			continue
		}
		n, err := vmconf.ParseNet(k, v)
		if err != nil {
			continue // Validate reports it
		}
		if n.MACAddr == "" {
			n.MACAddr = vmconf.GenerateMAC(s.o.MACPrefix(), rand.Reader)
			values[k] = n.String()
		}
	}
	if _, ok := values["smbios1"]; !ok {
		values["smbios1"] = "uuid=" + uuid()
	}
	if v, ok := values["vmgenid"]; !ok || v == "1" {
		values["vmgenid"] = uuid()
	} else if v == "0" {
		delete(values, "vmgenid")
	}
	if err := hashCIPassword(values); err != nil {
		return err
	}
	meta := "creation-qemu=" + s.host.Version + ",ctime=" + strconv.FormatInt(time.Now().Unix(), 10)
	if s.host.Version == "" {
		meta = "ctime=" + strconv.FormatInt(time.Now().Unix(), 10)
	}
	values["meta"] = meta
	return nil
}

func (s *Service) createVM(ctx context.Context, c *api.Call, p *api.Params) (api.Task, error) {
	in := *p
	vmid := paramInt(in, "vmid")
	if paramStr(in, "archive") != "" {
		return api.Task{}, api.Errorf(http.StatusNotImplemented, "restoring a VM from a backup archive is not available yet")
	}
	pool := paramStr(in, "pool")
	vmPath := "/vms/" + strconv.Itoa(vmid)
	if c.Perm != nil && !c.Perm.Has(vmPath, "VM.Allocate") && (pool == "" || !c.Perm.Has("/pool/"+pool, "VM.Allocate")) {
		return api.Task{}, &api.Denied{Path: vmPath, Priv: "VM.Allocate"}
	}
	if node, exists := s.guestNode(vmid); exists {
		return api.Task{}, api.ParamError("vmid", "VM %d already exists on node '%s'", vmid, node)
	}
	values := configValues(in)
	if err := checkKeys(c, vmid, values, nil); err != nil {
		return api.Task{}, err
	}
	if err := s.fillGenerated(values); err != nil {
		return api.Task{}, err
	}
	clean, _, err := vmconf.Validate(vmid, values, true)
	if err != nil {
		return api.Task{}, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	// Check what can be checked before answering: storages of new disks
	// exist here and may be used, ISOs and existing volumes are readable.
	if err := s.checkDrives(ctx, c, vmid, clean); err != nil {
		return api.Task{}, err
	}
	start := paramBool(in, "start")
	return api.Task{Type: "qmcreate", ID: strconv.Itoa(vmid), Run: func(ctx context.Context, log api.TaskLog) error {
		if err := s.create(ctx, c, vmid, clean, log); err != nil {
			return err
		}
		if pool != "" && s.o.Pools != nil {
			if err := s.o.Pools.AddGuestToPool(ctx, pool, vmid); err != nil {
				log.Warnf("adding VM %d to pool %s: %v", vmid, pool, err)
			}
		}
		if start {
			return s.start(ctx, vmid, startOptions{}, log)
		}
		return nil
	}}, nil
}

// checkDrives checks every drive value of a create or update call.
func (s *Service) checkDrives(ctx context.Context, c *api.Call, vmid int, values map[string]string) error {
	for _, key := range vmconf.DriveKeys() {
		v, ok := values[key]
		if !ok {
			continue
		}
		d, err := vmconf.ParseDrive(key, v)
		if err != nil {
			return api.ParamError(key, "%v", err)
		}
		if err := s.checkDriveInput(ctx, c, vmid, d); err != nil {
			return err
		}
	}
	return nil
}

// allocNewDisks allocates the volumes of the drives that ask for one
// (storage:size) and puts the new volume ids into values. It returns
// what it allocated, also on failure, for the caller to undo.
func (s *Service) allocNewDisks(ctx context.Context, c *api.Call, vmid int, values map[string]string, log api.TaskLog) ([]string, error) {
	var allocated []string
	for _, key := range vmconf.DriveKeys() {
		v, ok := values[key]
		if !ok {
			continue
		}
		d, err := vmconf.ParseDrive(key, v)
		if err != nil {
			return allocated, err
		}
		if _, _, isNew := isNewDisk(d); !isNew {
			continue
		}
		nd, err := s.allocDrive(ctx, c, vmid, d, log)
		if err != nil {
			return allocated, err
		}
		allocated = append(allocated, nd.File)
		values[key] = nd.String()
	}
	return allocated, nil
}

// checkDriveInput checks a drive value of a create or update call.
func (s *Service) checkDriveInput(ctx context.Context, c *api.Call, vmid int, d *vmconf.Drive) error {
	if sid, _, ok := isNewDisk(d); ok {
		if sid == "" {
			return api.ParamError(d.Key, "a new disk needs a storage: write <storage>:<size in GiB>")
		}
		if err := checkAllocate(c, sid); err != nil {
			return err
		}
		if _, _, err := s.o.Storage.Open(ctx, sid); err != nil {
			return api.ParamError(d.Key, "%v", err)
		}
		return nil
	}
	if d.IsNone() || d.File == "cdrom" {
		return nil
	}
	if isPath(d.File) {
		if c != nil && c.Perm != nil && c.User != api.RootUser {
			return api.ParamError(d.Key, "only root may use a host path as a disk")
		}
		return nil
	}
	v, err := s.openVolume(ctx, d.File)
	if err != nil {
		return api.ParamError(d.Key, "%v", err)
	}
	if c != nil && c.Perm != nil {
		if err := checkVolumeUse(c, v, vmid); err != nil {
			return err
		}
	}
	return nil
}

// checkVolumeUse is the right to put an existing volume into a VM.
func checkVolumeUse(c *api.Call, v *volume, vmid int) error {
	if v.vol.VMID != 0 && v.vol.VMID != vmid && !v.vol.IsBase {
		return api.ParamError("volume", "volume %s belongs to VM %d", v.ID, v.vol.VMID)
	}
	return storageAccess(c, v)
}

// create allocates the disks of a new VM and writes its configuration.
// The configuration is written first, locked, so the id is taken while
// disks are allocated; on failure everything created is removed again.
func (s *Service) create(ctx context.Context, c *api.Call, vmid int, values map[string]string, log api.TaskLog) (err error) {
	f, _ := guestconf.New(guestconf.KindQemu)
	if err := f.Main.Set("lock", "create"); err != nil {
		return err
	}
	cf, err := s.createConf(ctx, vmid, f)
	if err != nil {
		return err
	}
	var allocated []string
	defer func() {
		if err == nil {
			return
		}
		cleanup := context.WithoutCancel(ctx)
		for _, volid := range allocated {
			if ferr := s.freeVolume(cleanup, volid); ferr != nil {
				log.Warnf("removing %s after the failed create: %v", volid, ferr)
			}
		}
		if rerr := s.removeConf(cleanup, cf); rerr != nil {
			log.Warnf("removing the configuration after the failed create: %v", rerr)
		}
	}()
	newVols, err := s.allocNewDisks(ctx, c, vmid, values, log)
	allocated = append(allocated, newVols...)
	if err != nil {
		return err
	}
	if _, ok := values["boot"]; !ok {
		if b := defaultBoot(values); b != "" {
			values["boot"] = b
		}
	}
	for k, v := range values {
		if err := cf.Main().Set(k, v); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	cf.Main().Delete("lock")
	if err := s.save(ctx, cf); err != nil {
		return err
	}
	log.Printf("VM %d created", vmid)
	return nil
}

// defaultBoot is the boot order of a new VM without one: its disks and
// CD-ROMs in bus order, then its first NIC, as Proxmox VE sets it.
func defaultBoot(values map[string]string) string {
	var order []string
	for _, key := range vmconf.DriveKeys() {
		if v, ok := values[key]; ok && !strings.HasPrefix(key, "efidisk") && !strings.HasPrefix(key, "tpmstate") {
			if d, err := vmconf.ParseDrive(key, v); err == nil && d.IsCloudInit() {
				continue
			}
			order = append(order, key)
		}
	}
	for i := range 32 {
		if _, ok := values["net"+strconv.Itoa(i)]; ok {
			order = append(order, "net"+strconv.Itoa(i))
			break
		}
	}
	if len(order) == 0 {
		return ""
	}
	return "order=" + strings.Join(order, ";")
}

// hashCIPassword stores a cloud-init password as a crypt(3) hash, as
// Proxmox VE does, except for Windows guests whose cloudbase-init needs
// the plain text. A value that already is a hash stays as it is.
func hashCIPassword(values map[string]string) error {
	pw, ok := values["cipassword"]
	if !ok || strings.HasPrefix(pw, "$") || cloudinit.IsWindows(values["ostype"]) {
		return nil
	}
	h, err := pwhash.Hash(pw)
	if err != nil {
		return err
	}
	values["cipassword"] = h
	return nil
}

// storageAccess is the right to use an existing volume in a guest.
func storageAccess(c *api.Call, v *volume) error {
	return storage.CheckVolumeAccess(c, v.Storage, v.vol, false)
}
