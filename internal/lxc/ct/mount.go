package ct

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// pct mount, unmount and fsck work on a stopped container's file
// systems from the host, for repairs.

// lockMounted is the configuration lock of a container whose file
// systems are mounted on the host.
const lockMounted = "mounted"

// mountBase is where mounted containers appear (api.CTMountRoot); a
// variable for tests.
var mountBase = api.CTMountRoot

// mountRoot is where mount puts a container's root file system.
func mountRoot(vmid int) string {
	return filepath.Join(mountBase, strconv.Itoa(vmid), "rootfs")
}

// mountCT mounts a stopped container's file systems under mountRoot as
// the pre-start hook would, and locks the container until unmount.
func (s *Service) mountCT(ctx context.Context, _ *api.Call, in *api.CTParam) (string, error) {
	vmid := in.VMID
	unlock := s.repo.Lock(vmid)
	defer unlock()
	c, err := s.repo.Load(vmid)
	if err != nil {
		return "", err
	}
	if err := s.repo.CheckLock(c, false); err != nil {
		return "", err
	}
	if _, ok := s.running(vmid); ok {
		return "", api.Errorf(http.StatusInternalServerError, "CT %d is running; mount works on a stopped container (its files are under /proc/<pid>/root while it runs)", vmid)
	}
	_, plan, err := s.prepare(ctx, vmid, c.Main())
	if err != nil {
		return "", err
	}
	plan.Root = mountRoot(vmid)
	if err := hook.MountAll(plan); err != nil {
		return "", fmt.Errorf("mounting CT %d: %w", vmid, err)
	}
	err = c.Main().Set("lock", lockMounted)
	if err == nil {
		err = s.repo.Save(ctx, c)
	}
	if err != nil {
		// Unlocked file systems would let a start mount them twice.
		if uerr := hook.UnmountAll(plan.Root); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return "", err
	}
	return plan.Root, nil
}

// unmountCT undoes mountCT. It also cleans up after a mount whose lock
// was removed by hand, and removes a lock left by a host that crashed
// with the container mounted.
func (s *Service) unmountCT(ctx context.Context, _ *api.Call, in *api.CTParam) (any, error) {
	vmid := in.VMID
	unlock := s.repo.Lock(vmid)
	defer unlock()
	c, err := s.repo.Load(vmid)
	if err != nil {
		return nil, err
	}
	root := mountRoot(vmid)
	locked := c.Main().Value("lock") == lockMounted
	if !locked && !hook.Mounted(root) {
		return nil, api.Errorf(http.StatusInternalServerError, "CT %d is not mounted", vmid)
	}
	if err := hook.UnmountAll(root); err != nil {
		return nil, fmt.Errorf("unmounting CT %d: %w", vmid, err)
	}
	// Only empty directories go: anything else there is not ours.
	os.Remove(root)
	os.Remove(filepath.Dir(root))
	if locked {
		c.Main().Delete("lock")
		if err := s.repo.Save(ctx, c); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// fsckTask checks the file system of one volume of a stopped container.
func (s *Service) fsckTask(_ context.Context, _ *api.Call, in *api.CTFsckParams) (api.Task, error) {
	if err := s.exists(in.VMID); err != nil {
		return api.Task{}, err
	}
	device := or(in.Device, "rootfs")
	if !ctconf.IsMountPointKey(device) {
		return api.Task{}, api.ParamError("device", "'%s' is not rootfs or mp0 to mp255", device)
	}
	return ctTask("vzfsck", in.VMID, func(ctx context.Context, log api.TaskLog) error {
		return s.fsck(ctx, in.VMID, device, in.Force, log)
	}), nil
}

func (s *Service) fsck(ctx context.Context, vmid int, device string, force bool, log api.TaskLog) error {
	unlock := s.repo.Lock(vmid)
	defer unlock()
	c, err := s.repo.Load(vmid)
	if err != nil {
		return err
	}
	// A mounted container is locked too: checking a mounted file system
	// would damage it.
	if err := s.repo.CheckLock(c, false); err != nil {
		return err
	}
	if _, ok := s.running(vmid); ok {
		return api.Errorf(http.StatusInternalServerError, "CT %d is running; fsck works on a stopped container", vmid)
	}
	value := c.Main().Value(device)
	if value == "" {
		return api.Errorf(http.StatusInternalServerError, "CT %d has no %s", vmid, device)
	}
	mp, err := ctconf.ParseMountPoint(device, value)
	if err != nil {
		return fmt.Errorf("%s: %w", device, err)
	}
	target, err := fsckTarget(mp, func(volid string) (storage.Attachment, error) { return s.attach(ctx, volid, "") })
	if err != nil {
		return err
	}
	log.Printf("checking the file system of %s (%s) of CT %d", device, target, vmid)
	return runFsck(ctx, s.o.Runner, target, force, log)
}

// fsckTarget is the file or device holding a mount point's file system.
func fsckTarget(mp *ctconf.MountPoint, attach func(volid string) (storage.Attachment, error)) (string, error) {
	switch mp.Type() {
	case ctconf.MountBind:
		return "", fmt.Errorf("%s is the host directory %s: it has no file system of its own to check", mp.Key, mp.Volume)
	case ctconf.MountDevice:
		return mp.Volume, nil
	}
	a, err := attach(mp.Volume)
	if err != nil {
		return "", fmt.Errorf("%s: %w", mp.Key, err)
	}
	if a.Mount == nil {
		return "", fmt.Errorf("%s: volume %s cannot be mounted in a container, so it has no file system to check", mp.Key, mp.Volume)
	}
	if a.Mount.Bind {
		return "", fmt.Errorf("%s: volume %s is a directory (subvolume) on its storage, not a file system image or block device, so there is nothing to check; its storage's own tools check it", mp.Key, mp.Volume)
	}
	return a.Mount.Source, nil
}

// runFsck runs fsck in its automatic repair mode, as Proxmox VE's pct
// fsck does, and logs what it said. fsck's exit code is a bit mask: 1
// means errors were found and corrected, which is success here.
func runFsck(ctx context.Context, r runner.Runner, target string, force bool, log api.TaskLog) error {
	args := []string{"-a", "-l"}
	if force {
		args = append(args, "-f")
	}
	res, err := r.Run(ctx, runner.Cmd{Name: "fsck", Args: append(args, target)})
	for _, l := range strings.Split(strings.TrimRight(string(res.Stdout), "\n"), "\n") {
		if l != "" {
			log.Printf("%s", l)
		}
	}
	var ee *runner.ExitError
	if errors.As(err, &ee) && ee.Code == 1 {
		log.Printf("fsck corrected errors in the file system")
		return nil
	}
	return err
}
