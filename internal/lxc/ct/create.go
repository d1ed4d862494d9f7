package ct

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/lxc/ossetup"
	"github.com/hearth-virt/hearth/internal/lxc/vztmpl"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// newVolume reports whether a mount point asks for an allocation
// ([<storage>:]<GiB>), on which storage (defStorage when it names none)
// and of how many bytes.
func newVolume(mp *ctconf.MountPoint, defStorage string) (sid string, bytes int64, ok bool) {
	sid, gib, ok := mp.NewVolume()
	if !ok {
		return "", 0, false
	}
	if sid == "" {
		sid = defStorage
	}
	return sid, int64(gib * (1 << 30)), true
}

func (s *Service) createCT(ctx context.Context, c *api.Call, in *api.CTCreateParams) (api.Task, error) {
	vmid := in.VMID
	if in.Restore {
		return api.Task{}, api.Errorf(http.StatusNotImplemented, "restoring a container from a backup archive is not available yet")
	}
	pool := in.Pool
	vmPath := "/vms/" + strconv.Itoa(vmid)
	if c.Perm != nil && !c.Perm.Has(vmPath, "VM.Allocate") && (pool == "" || !c.Perm.Has("/pool/"+pool, "VM.Allocate")) {
		return api.Task{}, &api.Denied{Path: vmPath, Priv: "VM.Allocate"}
	}
	if node, exists := s.repo.GuestNode(vmid); exists {
		return api.Task{}, api.ParamError("vmid", "CT %d already exists on node '%s'", vmid, node)
	}
	values := api.Params(in.Config).ConfigValues(nil)
	if err := checkKeys(c, vmid, values, nil); err != nil {
		return api.Task{}, err
	}
	defStorage := in.Storage
	if defStorage == "" {
		defStorage = "local"
	}
	if values["rootfs"] == "" {
		values["rootfs"] = defStorage + ":4"
	}
	s.fillGenerated(vmid, values)
	if _, _, err := ctconf.Validate(vmid, values, true); err != nil {
		return api.Task{}, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	template, err := s.templatePath(ctx, c, in.OSTemplate)
	if err != nil {
		return api.Task{}, err
	}
	if err := s.checkMountPoints(ctx, c, vmid, values, defStorage); err != nil {
		return api.Task{}, err
	}
	o := createOptions{
		template: template, password: in.Password, sshKeys: in.SSHPublicKeys,
		defStorage: defStorage, ignoreUnpackErrors: in.IgnoreUnpackErrors,
	}
	start := in.Start
	return api.Task{Type: "vzcreate", ID: strconv.Itoa(vmid), Run: func(ctx context.Context, log api.TaskLog) error {
		if err := s.create(ctx, vmid, values, o, log); err != nil {
			return err
		}
		if pool != "" && s.o.Pools != nil {
			if err := s.o.Pools.AddGuestToPool(ctx, pool, vmid); err != nil {
				log.Warnf("adding CT %d to pool %s: %v", vmid, pool, err)
			}
		}
		if start {
			return s.start(ctx, vmid, startOptions{}, log)
		}
		return nil
	}}, nil
}

// createOptions are the parts of a create call that are not kept in the
// configuration. The password never is.
type createOptions struct {
	template           string
	password, sshKeys  string
	defStorage         string
	ignoreUnpackErrors bool
}

// fillGenerated completes what Proxmox VE generates for a new container:
// MAC addresses of NICs that name none.
func (s *Service) fillGenerated(vmid int, values map[string]string) {
	for k, v := range values {
		if !strings.HasPrefix(k, "net") || strings.Contains(v, "hwaddr=") {
			continue
		}
		if _, err := strconv.Atoi(k[3:]); err != nil {
			continue
		}
		values[k] = v + ",hwaddr=" + vmconf.GenerateMAC(s.o.MACPrefix(), nil)
	}
}

// templatePath resolves ostemplate (a vztmpl volume id, or a path for
// root) to the archive file, checking the caller may read it.
func (s *Service) templatePath(ctx context.Context, c *api.Call, tmpl string) (string, error) {
	if tmpl == "" {
		return "", api.ParamError("ostemplate", "a template is needed: a vztmpl volume such as local:vztmpl/<file>")
	}
	if strings.HasPrefix(tmpl, "/") {
		if c != nil && c.Perm != nil && c.User != api.RootUser {
			return "", api.ParamError("ostemplate", "only root may create a container from a host path")
		}
		if _, err := os.Stat(tmpl); err != nil {
			return "", api.ParamError("ostemplate", "%v", err)
		}
		return tmpl, nil
	}
	sid, name, err := storage.ParseVolumeID(tmpl)
	if err != nil {
		return "", api.ParamError("ostemplate", "%v", err)
	}
	if !strings.HasPrefix(name, "vztmpl/") {
		return "", api.ParamError("ostemplate", "%s is not a container template (expected <storage>:vztmpl/<file>)", tmpl)
	}
	if c != nil && c.Perm != nil {
		if err := s.checkAccess(ctx, c, sid, name, false); err != nil {
			return "", err
		}
	}
	a, err := s.attach(ctx, tmpl, "")
	if err != nil {
		return "", api.ParamError("ostemplate", "%v", err)
	}
	if _, err := os.Stat(a.Path); err != nil {
		return "", api.ParamError("ostemplate", "template %s: %v", tmpl, err)
	}
	return a.Path, nil
}

// checkMountPoints checks every mount point of a create or update call:
// storages of new volumes exist here and may be used, existing volumes
// belong to the container or may be read.
func (s *Service) checkMountPoints(ctx context.Context, c *api.Call, vmid int, values map[string]string, defStorage string) error {
	mps := ctconf.MountPoints(values)
	for _, mp := range mps {
		if mp.IsBind() || mp.IsDevice() {
			continue
		}
		if sid, _, ok := newVolume(mp, defStorage); ok {
			if c != nil && c.Perm != nil && !c.Perm.Has("/storage/"+sid, "Datastore.AllocateSpace") {
				return &api.Denied{Path: "/storage/" + sid, Priv: "Datastore.AllocateSpace"}
			}
			cfg, _, err := s.o.Storage.Open(ctx, sid)
			if err != nil {
				return api.ParamError(mp.Key, "%v", err)
			}
			if !cfg.Holds(storage.Rootdir) {
				return api.ParamError(mp.Key, "storage '%s' does not hold container volumes (content rootdir)", sid)
			}
			continue
		}
		sid, name, err := storage.ParseVolumeID(mp.Volume)
		if err != nil {
			return api.ParamError(mp.Key, "%v", err)
		}
		if c != nil && c.Perm != nil {
			if err := s.checkAccess(ctx, c, sid, name, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// create writes the configuration locked for creation, allocates and
// formats the volumes, unpacks the template, adapts the system inside
// and unlocks. A failure removes everything it made.
func (s *Service) create(ctx context.Context, vmid int, values map[string]string, o createOptions, log api.TaskLog) (err error) {
	f, _, perr := guestconf.Parse(guestconf.KindLXC, nil)
	if perr != nil {
		return perr
	}
	if err := f.Main.Set("lock", "create"); err != nil {
		return err
	}
	for k, v := range values {
		if err := f.Main.Set(k, v); err != nil {
			return api.ParamError(k, "%v", err)
		}
	}
	c, err := s.repo.Create(ctx, vmid, f)
	if err != nil {
		return err
	}
	var allocated []string
	defer func() {
		if err == nil {
			return
		}
		cleanup := context.WithoutCancel(ctx)
		_ = hook.UnmountAll(s.rootDir(vmid))
		for _, v := range allocated {
			if ferr := s.freeVolume(cleanup, v); ferr != nil {
				log.Warnf("could not remove %s: %v", v, ferr)
			}
		}
		if rerr := s.repo.Remove(cleanup, c); rerr != nil {
			log.Warnf("could not remove the configuration of CT %d: %v", vmid, rerr)
		}
		_ = os.RemoveAll(s.dir(vmid))
	}()

	unpriv := values["unprivileged"] == "1"
	uid, gid := 0, 0
	if unpriv {
		uid, gid = 100000, 100000
	}
	mps := ctconf.MountPoints(values)
	for _, mp := range mps {
		sid, size, ok := newVolume(mp, o.defStorage)
		if !ok {
			continue
		}
		volid, err := s.allocVolume(ctx, vmid, sid, size, uid, gid, log)
		if volid != "" {
			allocated = append(allocated, volid)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", mp.Key, err)
		}
		mp.Volume, mp.Size = volid, ctconf.Some(size)
		values[mp.Key] = mp.String()
		if err := c.Main().Set(mp.Key, values[mp.Key]); err != nil {
			return err
		}
	}

	// Mount the new file systems as the container will see them and put
	// the template's files in.
	plan := &hook.Plan{VMID: vmid, Root: s.rootDir(vmid), UIDBase: uid, GIDBase: gid}
	mps = ctconf.MountPoints(values)
	for _, mp := range mps {
		if mp.IsBind() || mp.IsDevice() {
			continue // the host's files are not the template's business
		}
		m, err := s.mountOf(ctx, mp)
		if err != nil {
			return err
		}
		plan.Mounts = append(plan.Mounts, m)
	}
	if err := os.MkdirAll(s.dir(vmid), 0o755); err != nil {
		return err
	}
	if err := hook.MountAll(plan); err != nil {
		return err
	}
	defer func() {
		if uerr := hook.UnmountAll(plan.Root); uerr != nil && err == nil {
			err = uerr
		}
	}()
	root := plan.Root
	var shift *vztmpl.IDShift
	if unpriv {
		shift = &vztmpl.IDShift{UIDBase: uint32(uid), GIDBase: uint32(gid), Size: 65536}
	}
	log.Printf("extracting archive '%s'", o.template)
	if err := vztmpl.Extract(ctx, o.template, root, shift, log.Printf); err != nil {
		if !o.ignoreUnpackErrors {
			return fmt.Errorf("extracting the template: %w", err)
		}
		log.Warnf("extracting the template: %v", err)
	}
	ostype := values["ostype"]
	if ostype == "" {
		ostype, err = ossetup.Detect(root)
		if err != nil {
			return err
		}
		log.Printf("detected OS type %s", ostype)
		if err := c.Main().Set("ostype", ostype); err != nil {
			return err
		}
	}
	idShift := ossetup.IDShift{UID: uid, GID: gid}
	if o.password != "" {
		if err := ossetup.SetRootPassword(root, ostype, o.password, idShift); err != nil {
			return err
		}
	}
	if o.sshKeys != "" {
		if err := ossetup.SetSSHKeys(root, o.sshKeys, idShift); err != nil {
			return err
		}
	}
	if c.Main().Value("arch") == "" {
		_ = c.Main().Set("arch", "amd64")
	}
	c.Main().Delete("lock")
	if err := s.repo.Save(ctx, c); err != nil {
		return err
	}
	log.Printf("CT %d created", vmid)
	return nil
}

// allocVolume creates a container volume of size bytes on a storage: a
// subvolume where the storage has them with a size (btrfs, ZFS) or the
// size is 0 (a plain directory), else a raw image with ext4.
func (s *Service) allocVolume(ctx context.Context, vmid int, sid string, size int64, uid, gid int, log api.TaskLog) (string, error) {
	cfg, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return "", err
	}
	p, _ := s.o.Storage.Plugin(cfg.Type)
	format := "raw"
	subvolWithSize := cfg.Type == "btrfs" || cfg.Type == "zfspool"
	if size == 0 || subvolWithSize {
		if !slices.Contains(p.Info().Formats, "subvol") {
			return "", fmt.Errorf("storage '%s' cannot hold a container volume without a size; give a size in GiB", sid)
		}
		format = "subvol"
	}
	name, err := st.Alloc(ctx, vmid, "", format, size)
	if err != nil {
		return "", err
	}
	volid := sid + ":" + name
	a, err := st.Attach(ctx, name, "")
	if err != nil {
		return volid, err
	}
	if format == "subvol" {
		if a.Path != "" {
			if err := os.Chown(a.Path, uid, gid); err != nil {
				return volid, err
			}
		}
		return volid, nil
	}
	if a.Path == "" {
		return volid, fmt.Errorf("volume %s has no local path to make a file system on", volid)
	}
	log.Printf("formatting %s with ext4", volid)
	args := []string{"-q", "-F", "-O", "mmp", "-E", fmt.Sprintf("root_owner=%d:%d", uid, gid), a.Path}
	if _, err := s.o.Runner.Run(ctx, runner.Cmd{Name: "mkfs.ext4", Args: args}); err != nil {
		return volid, fmt.Errorf("mkfs.ext4: %w", err)
	}
	return volid, nil
}

// freeVolume removes a volume.
func (s *Service) freeVolume(ctx context.Context, volid string) error {
	sid, name, err := storage.ParseVolumeID(volid)
	if err != nil {
		return err
	}
	_, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return err
	}
	if err := st.Free(ctx, name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// checkAccess applies the storage's volume access rules to a volume a
// call names (a template, an existing volume).
func (s *Service) checkAccess(ctx context.Context, c *api.Call, sid, name string, write bool) error {
	_, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return api.ParamError("volume", "%v", err)
	}
	v, err := storage.ParseVolname(st, name)
	if err != nil {
		return api.ParamError("volume", "%v", err)
	}
	return storage.CheckVolumeAccess(c, sid, v, write)
}
