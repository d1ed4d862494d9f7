package cfsfuse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hearth-virt/hearth/internal/cfs"
)

// Tree is what the mount needs from the store; *cfs.Store implements it.
type Tree interface {
	Get(path string) (cfs.Entry, error)
	List(dir string) ([]cfs.Entry, error)
	Apply(ctx context.Context, ops ...cfs.Op) (uint64, error)
	Quorate() bool
}

// Options configures a Mount.
type Options struct {
	// Node is this node's name. The root gets the symbolic links local,
	// qemu-server, lxc and openvz pointing into nodes/<Node>; empty means
	// no links.
	Node string
	// Logger receives the mount's messages. Default slog.Default().
	Logger *slog.Logger
	// AllowOther lets users other than root into the mount; the modes of
	// files and directories still decide what they may read.
	AllowOther bool
	// MaxFileSize bounds the content an open file may buffer, so that a
	// runaway writer fails at once with EFBIG instead of filling memory and
	// failing only at close. It should equal the store's
	// cfs.Config.MaxFileSize; zero means cfs.DefaultMaxFileSize. The
	// store's own limit is enforced at close in any case.
	MaxFileSize int
}

// devFuse is the kernel's FUSE device; its absence is the usual reason a
// mount fails inside containers, so it is checked first to say so.
const devFuse = "/dev/fuse"

// fsName is shown as the source and subtype of the mount in /proc/mounts.
const fsName = "hearth-cfs"

// Server serves one mounted view of a Tree. (It cannot be called Mount,
// the name of the function that creates it.)
type Server struct {
	dir    string
	log    *slog.Logger
	server *fuse.Server
	served chan struct{} // closed when the serve loop has returned

	closeOnce sync.Once
	closeErr  error
}

// Mount mounts tree at dir, which must be an existing directory, and
// serves it until Close. It mounts with mount(2) directly, which needs
// root and no helper binary, and falls back to the fusermount3 or
// fusermount helper only if that fails and a helper is installed. ctx is
// only checked before mounting; requests are served until Close.
func Mount(ctx context.Context, tree Tree, dir string, o Options) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if tree == nil {
		return nil, errors.New("cfsfuse: no tree to mount")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = cfs.DefaultMaxFileSize
	}
	if o.Node != "" && (strings.Contains(o.Node, "/") || cfs.ValidatePath(o.Node) != nil) {
		return nil, fmt.Errorf("cfsfuse: node name %q cannot be a directory of the tree", o.Node)
	}
	if _, err := os.Stat(devFuse); err != nil {
		return nil, fmt.Errorf("cfsfuse: cannot mount %s: %s is missing (%w); load the fuse kernel module, or pass the device into the container", dir, devFuse, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cfsfuse: %w", err)
	}
	if st, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("cfsfuse: mount point: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("cfsfuse: mount point %s is not a directory", abs)
	}

	fsys := newFS(tree, o)
	server, err := serve(fsys, abs, o, true)
	if err != nil {
		helper, lookErr := fusermount()
		if lookErr != nil {
			return nil, fmt.Errorf("cfsfuse: mount %s: %w (and no fusermount helper to fall back to)", abs, err)
		}
		o.Logger.Warn("cfsfuse: direct mount failed; trying the fusermount helper", "dir", abs, "err", err, "helper", helper)
		server, err = serve(fsys, abs, o, false)
		if err != nil {
			return nil, fmt.Errorf("cfsfuse: mount %s with %s: %w", abs, helper, err)
		}
	}
	m := &Server{dir: abs, log: o.Logger, server: server, served: make(chan struct{})}
	go func() {
		defer close(m.served)
		server.Serve()
	}()
	if err := server.WaitMount(); err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("cfsfuse: mount %s: %w", abs, err)
	}
	o.Logger.Info("cfsfuse: mounted the configuration tree", "dir", abs, "node", o.Node)
	return m, nil
}

// serve mounts a fresh root over fsys. Each attempt needs its own root
// because go-fuse binds the root node to the server it was mounted with.
func serve(fsys *fsys, dir string, o Options, direct bool) (*fuse.Server, error) {
	// Zero timeouts make the kernel ask again on every lookup and stat:
	// the tree changes under the mount (writes from other nodes), and
	// answering from memory is cheap enough not to cache at all.
	var zero time.Duration
	opts := &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		// go-fuse leaves the root's number 0, which ls -i shows as "?".
		RootStableAttr: &fs.StableAttr{Ino: rootIno},
		Logger:         slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		MountOptions: fuse.MountOptions{
			AllowOther: o.AllowOther,
			// The kernel checks the modes we report, which is what keeps
			// other users out of priv/; without it FUSE grants everything.
			Options:           []string{"default_permissions"},
			FsName:            fsName,
			Name:              fsName,
			DirectMountStrict: direct,
			// Attributes come from the tree on every call anyway, so the
			// plus variant would only do the same lookups twice.
			DisableReadDirPlus: true,
			// Extended attributes are not stored; ENOSYS once makes the
			// kernel answer EOPNOTSUPP itself from then on.
			DisableXAttrs: true,
			// O_TRUNC arrives with the open instead of as a separate
			// truncate, so the handle starts empty and dirty in one step.
			// Mapping direct-I/O files lets tools that mmap files work.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC | fuse.CAP_DIRECT_IO_ALLOW_MMAP,
			// go-fuse writes panics in handlers and protocol oddities here.
			Logger: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
	}
	return fuse.NewServer(fs.NewNodeFS(fsys.newRoot(), opts), dir, &opts.MountOptions)
}

// fusermount finds the helper go-fuse falls back to.
func fusermount() (string, error) {
	if p, err := exec.LookPath("fusermount3"); err == nil {
		return p, nil
	}
	return exec.LookPath("fusermount")
}

// Dir returns the absolute path of the mount point.
func (m *Server) Dir() string { return m.dir }

// Close unmounts and waits for the serve loop to end. If the mount is
// busy (a process has a file open or its working directory inside), it is
// detached lazily instead: it disappears from the file system tree at once
// and is served until the last user lets go, and Close reports that
// without waiting. Close is idempotent.
func (m *Server) Close() error {
	m.closeOnce.Do(func() {
		err := m.server.Unmount()
		if err == nil {
			<-m.served
			m.log.Info("cfsfuse: unmounted", "dir", m.dir)
			return
		}
		if derr := syscall.Unmount(m.dir, syscall.MNT_DETACH); derr != nil {
			m.closeErr = fmt.Errorf("cfsfuse: unmount %s: %w (lazy unmount: %w)", m.dir, err, derr)
			return
		}
		m.closeErr = fmt.Errorf("cfsfuse: %s was busy (%w) and was detached lazily; it is served until its last user is gone", m.dir, err)
	})
	return m.closeErr
}
