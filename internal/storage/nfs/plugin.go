package nfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// Mode is how a node reaches NFS storages.
type Mode int

const (
	// Auto uses the kernel client when this node's kernel has one and
	// userspace mode otherwise.
	Auto Mode = iota
	// Kernel mounts exports with mount -t nfs, as Proxmox VE does.
	Kernel
	// Userspace mounts nothing: QEMU's nfs:// driver reaches disk
	// images, libnfs tools list and create them, and package nfs3 does
	// the directory operations.
	Userspace
)

func (m Mode) String() string {
	switch m {
	case Kernel:
		return "kernel"
	case Userspace:
		return "userspace"
	}
	return "auto"
}

// Plugin is the "nfs" storage type. The zero value is what a node uses;
// the fields exist for nodes that must force a mode and for tests.
//
// The mode is a property of the node, not of the storage: storage.cfg
// is shared by every node of a cluster, nodes may differ in what their
// kernel offers, and Proxmox VE passes the options key verbatim to
// mount, so a Hearth-only value there would break the section for it.
type Plugin struct {
	Mode Mode
	// MountInfo is the mount table read ("" for /proc/self/mountinfo).
	MountInfo string
	// Filesystems and Modules are where Auto looks for a kernel NFS
	// client ("" for /proc/filesystems and /lib/modules).
	Filesystems string
	Modules     string
	// Dial opens connections for reachability checks and the userspace
	// client (nil: the host network).
	Dial netfs.DialFunc
}

// The capabilities of both modes, checked at compile time.
var (
	_ storage.Plugin      = Plugin{}
	_ storage.Storage     = (*Store)(nil)
	_ storage.Renamer     = (*Store)(nil)
	_ storage.Snapshotter = (*Store)(nil)
	_ storage.Cloner      = (*Store)(nil)
	_ storage.Exporter    = (*Store)(nil)
	_ storage.FileStore   = (*Store)(nil)
	_ storage.Storage     = (*UserStore)(nil)
	_ storage.Renamer     = (*UserStore)(nil)
	_ storage.Snapshotter = (*UserStore)(nil)
)

// Type is "nfs".
func (Plugin) Type() string { return "nfs" }

// Info describes the nfs type as Proxmox VE's NFSPlugin does. In
// userspace mode a storage holds no container volumes and offers no
// content directories (no mount, so nothing local to bind or upload to).
func (Plugin) Info() storage.Info {
	return storage.Info{
		Content:        storage.AllContent,
		DefaultContent: []storage.Content{storage.Images},
		Formats:        []string{"raw", "qcow2", "vmdk"},
		DefaultFormat:  "raw",
		Shared:         true,
		Snapshots:      []string{"qcow2"},
		LinkedClones:   true,
		Sparse:         true,
		Options: map[string]storage.Option{
			"path":                  {Fixed: true},
			"server":                {Required: true, Fixed: true},
			"export":                {Required: true, Fixed: true},
			"options":               {},
			"content":               {},
			"content-dirs":          {},
			"nodes":                 {},
			"disable":               {},
			"format":                {},
			"preallocation":         {},
			"prune-backups":         {},
			"max-protected-backups": {},
			"mkdir":                 {},
			"create-base-path":      {},
			"create-subdirs":        {},
			"bwlimit":               {},
		},
	}
}

// Store is an NFS storage mounted by the kernel: a directory store on
// the mount point.
type Store struct {
	*netfs.FS
}

// Open makes the storage of an nfs section, in the plugin's mode.
func (p Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	server, _ := cfg.Get("server")
	export, _ := cfg.Get("export")
	if server == "" || export == "" {
		return nil, fmt.Errorf("storage '%s': an nfs storage needs server and export", cfg.ID)
	}
	if !strings.HasPrefix(export, "/") || slices.Contains(strings.Split(export, "/"), "..") {
		return nil, fmt.Errorf("storage '%s': export %q is not an absolute path without '..'", cfg.ID, export)
	}
	if env.Runner == nil {
		env.Runner = runner.Exec{}
	}
	opts, _ := cfg.Get("options")
	if strings.ContainsAny(opts, " \t\n") {
		return nil, fmt.Errorf("storage '%s': mount options %q contain white space", cfg.ID, opts)
	}
	mode := p.Mode
	if mode == Auto {
		mode = Userspace
		if p.kernelHasNFS() {
			mode = Kernel
		}
	}
	if mode == Userspace {
		return newUserStore(cfg, env, server, export, p.Dial)
	}
	m := &mounter{server: server, export: export, options: opts, run: env.Runner, dial: p.Dial}
	fs, err := netfs.New(cfg, env, m, p.MountInfo)
	if err != nil {
		return nil, err
	}
	m.point = fs.Root()
	return &Store{FS: fs}, nil
}

// kernelHasNFS reports whether the kernel can mount NFS: the file
// system is registered, or the module exists for the running kernel (it
// is loaded on the first mount).
func (p Plugin) kernelHasNFS() bool {
	fsPath := p.Filesystems
	if fsPath == "" {
		fsPath = "/proc/filesystems"
	}
	if data, err := os.ReadFile(fsPath); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 0 && (f[len(f)-1] == "nfs" || f[len(f)-1] == "nfs4") {
				return true
			}
		}
	}
	modules := p.Modules
	if modules == "" {
		modules = "/lib/modules"
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return false
	}
	release := unix.ByteSliceToString(uts.Release[:])
	for _, list := range []string{"modules.builtin", "modules.dep"} {
		data, err := os.ReadFile(filepath.Join(modules, release, list))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			name, _, _ := strings.Cut(line, ":")
			if strings.HasPrefix(name, "kernel/fs/nfs/nfs.ko") {
				return true
			}
		}
	}
	return false
}
