package rbd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/storage"
)

// list reads the pool's images.
func (s *Storage) list(ctx context.Context) ([]Vol, error) {
	out, err := s.rbd(ctx, "ls", "-l", "--format", "json")
	if err != nil {
		return nil, err
	}
	return ParseList(out, s.pool, s.namespace)
}

// List returns the images of the pool (or namespace) that are volumes.
// Images hold both VM disks and container volumes, so every image is
// listed as images unless only rootdir is asked for.
func (s *Storage) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	vols, err := s.list(ctx)
	if err != nil {
		return nil, s.fail("list volumes", "", err)
	}
	ct := storage.Images
	if len(content) > 0 {
		ct = ""
		for _, c := range content {
			if c == storage.Images || (c == storage.Rootdir && ct == "") {
				ct = c
			}
		}
		if ct == "" {
			return nil, nil
		}
	}
	var out []storage.Volume
	for _, v := range vols {
		if vmid != 0 && v.VMID != vmid {
			continue
		}
		out = append(out, storage.Volume{Volname: v.Volname(), Content: ct, Format: "raw", Size: v.Size, VMID: v.VMID, Parent: v.Base})
	}
	storage.SortVolumes(out)
	return out, nil
}

// nextName picks the next free vm-<vmid>-disk-<n>.
func nextName(vols []Vol, vmid int) (string, error) {
	taken := make([]string, 0, len(vols))
	for _, v := range vols {
		taken = append(taken, v.Name)
	}
	return storage.NextDiskName(taken, vmid, "vm", "")
}

// checkNewName: a new image of vmid is named vm-<vmid>-<name>.
func checkNewName(name string, vmid int) error {
	if err := storage.CheckImageName(name, vmid, ""); err != nil {
		return err
	}
	if _, err := ParseVolname(name); err != nil || !strings.HasPrefix(name, "vm-") {
		return fmt.Errorf("illegal volume name %q: a new image is named vm-%d-<name>", name, vmid)
	}
	return nil
}

// mib is size in whole MiB, rounded up, the unit of rbd's --size.
func mib(size int64) string {
	return strconv.FormatInt((size+(1<<20)-1)>>20, 10)
}

// Alloc creates a format 2 image of size bytes (whole MiB) for vmid.
func (s *Storage) Alloc(ctx context.Context, vmid int, name, format string, size int64) (string, error) {
	if format != "" && format != "raw" {
		return "", s.fail("allocate", name, fmt.Errorf("unsupported format %q: rbd holds raw images only", format))
	}
	if size <= 0 {
		return "", s.fail("allocate", name, fmt.Errorf("invalid size %d", size))
	}
	if name != "" {
		if err := checkNewName(name, vmid); err != nil {
			return "", s.fail("allocate", name, err)
		}
	}
	vols, err := s.list(ctx)
	if err != nil {
		return "", s.fail("allocate", name, err)
	}
	if name == "" {
		if name, err = nextName(vols, vmid); err != nil {
			return "", s.fail("allocate", name, err)
		}
	}
	for _, v := range vols {
		if v.Name == name {
			return "", s.fail("allocate", name, errors.New("the volume already exists"))
		}
	}
	args := []string{"--image-format", "2", "--size", mib(size)}
	if s.dataPool != "" {
		args = append(args, "--data-pool", s.dataPool)
	}
	if _, err := s.rbd(ctx, "create", append(args, name)...); err != nil {
		return "", s.fail("create image", name, err)
	}
	return name, nil
}

// snapshots lists an image's snapshots.
func (s *Storage) snapshots(ctx context.Context, image string) ([]Snap, error) {
	out, err := s.rbd(ctx, "snap", "ls", image, "--format", "json")
	if err != nil {
		return nil, err
	}
	return ParseSnapList(out)
}

// Free removes an image with its snapshots: protected snapshots are
// unprotected first (which fails while clones of them exist, so a base
// with clones is never removed), a mapped image is unmapped. An image
// that is already gone counts as freed.
func (s *Storage) Free(ctx context.Context, volname string) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("free", volname, err)
	}
	snaps, err := s.snapshots(ctx, v.Name)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return s.fail("free", volname, err)
	}
	for _, sn := range snaps {
		if sn.Protected == "true" {
			if _, err := s.rbd(ctx, "snap", "unprotect", v.Name, "--snap", sn.Name); err != nil {
				return s.fail("free", volname, fmt.Errorf("cannot unprotect snapshot %s (linked clones still use it?): %w", sn.Name, err))
			}
		}
	}
	if err := s.unmap(ctx, v.Name); err != nil {
		return s.fail("free", volname, err)
	}
	if len(snaps) > 0 {
		if _, err := s.rbd(ctx, "snap", "purge", v.Name); err != nil {
			return s.fail("free", volname, err)
		}
	}
	if _, err := s.rbd(ctx, "rm", v.Name); err != nil && !notFound(err) {
		return s.fail("free", volname, err)
	}
	return nil
}

// Resize sets the image's size in whole MiB; rbd refuses to shrink.
func (s *Storage) Resize(ctx context.Context, volname string, size int64) error {
	v, err := ParseVolname(volname)
	if err != nil {
		return s.fail("resize", volname, err)
	}
	if size <= 0 {
		return s.fail("resize", volname, fmt.Errorf("invalid size %d", size))
	}
	if _, err := s.rbd(ctx, "resize", "--size", mib(size), v.Name); err != nil {
		return s.fail("resize", volname, err)
	}
	return nil
}

// Volume reports an image's provisioned size and the space it takes.
func (s *Storage) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	v, err := ParseVolname(volname)
	if err != nil {
		return storage.Volume{}, s.fail("volume", volname, err)
	}
	out, err := s.rbd(ctx, "du", v.Name, "--format", "json")
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	size, used, err := ParseDU(out, v.Name)
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	return storage.Volume{Volname: volname, Content: storage.Images, Format: "raw", Size: size, Used: used, VMID: v.VMID, Parent: v.Base}, nil
}

var snapRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)

// checkSnap refuses snapshot names that are not plain ids.
func checkSnap(snap string) error {
	if !snapRE.MatchString(snap) {
		return fmt.Errorf("illegal snapshot name %q: letters, digits, '_' and '-' only", snap)
	}
	return nil
}

// Map maps an image (or one of its snapshots, read-only) with the kernel
// client unless it is mapped already, and returns its device path.
// Containers always reach rbd images this way, whatever krbd says.
func (s *Storage) Map(ctx context.Context, volname, snap string) (string, error) {
	v, err := ParseVolname(volname)
	if err == nil && snap != "" {
		err = checkSnap(snap)
	}
	if err != nil {
		return "", s.fail("map", volname, err)
	}
	name := v.Name
	if snap != "" {
		name += "@" + snap
	}
	dev := s.DevicePath(name)
	if s.isDevice(dev) {
		return dev, nil
	}
	if _, err := s.rbd(ctx, "map", name); err != nil {
		return "", s.fail("map", volname, err)
	}
	return dev, nil
}

// Unmap unmaps an image (or snapshot) if it is mapped on this node.
func (s *Storage) Unmap(ctx context.Context, volname, snap string) error {
	v, err := ParseVolname(volname)
	if err == nil && snap != "" {
		err = checkSnap(snap)
	}
	if err != nil {
		return s.fail("unmap", volname, err)
	}
	name := v.Name
	if snap != "" {
		name += "@" + snap
	}
	if err := s.unmap(ctx, name); err != nil {
		return s.fail("unmap", volname, err)
	}
	return nil
}

func (s *Storage) unmap(ctx context.Context, name string) error {
	dev := s.DevicePath(name)
	if !s.isDevice(dev) {
		return nil
	}
	_, err := s.rbd(ctx, "unmap", dev)
	return err
}

// Attach says how a guest reaches an image. With krbd the image is
// mapped and handed over as a host device (a snapshot read-only);
// otherwise QEMU opens it with its rbd driver, reaching the monitors of
// monhost as the storage's user with the keyring named in the client
// configuration this storage writes. A container mounts the mapped
// device; without krbd it has to Map the image first.
func (s *Storage) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	v, err := ParseVolname(volname)
	if err == nil && snap != "" {
		err = checkSnap(snap)
	}
	if err != nil {
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	if s.krbd {
		dev, err := s.Map(ctx, volname, snap)
		if err != nil {
			return storage.Attachment{}, err
		}
		a := storage.Attachment{Path: dev, Format: "raw", Blockdev: map[string]any{"driver": "host_device", "filename": dev},
			Mount: &storage.Mount{Source: dev}}
		if snap != "" {
			a.Blockdev["read-only"] = true
			a.Mount.Options = []string{"ro"}
		}
		return a, nil
	}
	if err := s.writeFiles(); err != nil {
		return storage.Attachment{}, err
	}
	bd := map[string]any{"driver": "rbd", "pool": s.pool, "image": v.Name}
	if s.namespace != "" {
		bd["namespace"] = s.namespace
	}
	if snap != "" {
		bd["snapshot"] = snap
	}
	if len(s.mons) > 0 {
		servers := make([]any, len(s.mons))
		for i, m := range s.mons {
			port := m.port
			if port == 0 {
				port = DefaultMonPort
			}
			servers[i] = map[string]any{"host": m.host, "port": strconv.Itoa(port)}
		}
		bd["server"] = servers
	}
	switch {
	case s.keyring != "":
		bd["user"] = s.user
		bd["conf"] = s.conf
		bd["auth-client-required"] = []any{"cephx"}
	case len(s.mons) > 0:
		bd["auth-client-required"] = []any{"none"}
	}
	return storage.Attachment{Path: "rbd:" + s.spec(v.Name) + snapSuffix(snap), Format: "raw", Blockdev: bd}, nil
}

func snapSuffix(snap string) string {
	if snap == "" {
		return ""
	}
	return "@" + snap
}

// exists reports whether an image exists: rbd info fails with ENOENT for
// a missing one; any other failure is an error.
func (s *Storage) exists(ctx context.Context, image string) (bool, error) {
	_, err := s.run(ctx, s.rbdCmd("info", image, "--format", "json"))
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, err
}

// info reads an image's (or snapshot's) rbd info.
func (s *Storage) info(ctx context.Context, image, snap string) (Info, error) {
	args := []string{image, "--format", "json"}
	if snap != "" {
		args = append(args, "--snap", snap)
	}
	out, err := s.rbd(ctx, "info", args...)
	if err != nil {
		return Info{}, err
	}
	return ParseInfo(out)
}
