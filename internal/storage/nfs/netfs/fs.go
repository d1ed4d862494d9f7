package netfs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/dir"
)

// DefaultMountRoot is where Proxmox VE mounts network storages.
const DefaultMountRoot = "/mnt/pve"

// CheckTimeout bounds a reachability check, as Proxmox VE bounds its
// connection checks, so a dead server cannot stall status polling.
const CheckTimeout = 10 * time.Second

// ErrOffline matches (errors.Is) the errors saying that a storage's
// server does not answer.
var ErrOffline = errors.New("storage is not online")

// OfflineError is a storage whose server does not answer, and why.
type OfflineError struct {
	Storage string
	Err     error
}

func (e *OfflineError) Error() string {
	return fmt.Sprintf("storage '%s' is not online: %v", e.Storage, e.Err)
}

func (e *OfflineError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrOffline) true.
func (e *OfflineError) Is(target error) bool { return target == ErrOffline }

// Mounter is the type-specific part of a network file system.
type Mounter interface {
	// Kind names the file system in messages: "NFS", "CIFS", ….
	Kind() string
	// Mine reports whether a mount table entry on the mount point is this
	// storage's file system (and not, say, another share).
	Mine(m Mount) bool
	// Check returns nil when the server answers, otherwise why it does
	// not. It gets a context bounded by CheckTimeout.
	Check(ctx context.Context) error
	// Mount mounts the file system on the existing mount point.
	Mount(ctx context.Context) error
}

// FS is a directory store on the mount point of a network file system.
// It embeds *dir.Store, so volumes, snapshots, clones, exports and
// content directories behave exactly as on a dir storage.
type FS struct {
	*dir.Store
	m         Mounter
	mountInfo string
	mkBase    bool
}

// MountPoint is the mount point of a network storage: its path option,
// or <MountRoot>/<id>.
func MountPoint(cfg storage.Config, env storage.Env) (string, error) {
	if p, ok := cfg.Get("path"); ok && p != "" {
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("storage '%s': path %q is not absolute", cfg.ID, p)
		}
		return filepath.Clean(p), nil
	}
	root := env.MountRoot
	if root == "" {
		root = DefaultMountRoot
	}
	return filepath.Join(root, cfg.ID), nil
}

// New wraps the directory store of cfg on its mount point. mountInfo is
// the mount table to read ("" for the process's own).
func New(cfg storage.Config, env storage.Env, m Mounter, mountInfo string) (*FS, error) {
	point, err := MountPoint(cfg, env)
	if err != nil {
		return nil, err
	}
	if env.Runner == nil {
		env.Runner = runner.Exec{}
	}
	store, err := dir.NewStore(cfg, env, point)
	if err != nil {
		return nil, err
	}
	mkBase, err := Bool(cfg, "create-base-path", true)
	if err != nil {
		return nil, err
	}
	if _, ok := cfg.Get("create-base-path"); !ok {
		// The deprecated mkdir stands in when the newer option is absent.
		if mkBase, err = Bool(cfg, "mkdir", true); err != nil {
			return nil, err
		}
	}
	return &FS{Store: store, m: m, mountInfo: mountInfo, mkBase: mkBase}, nil
}

// Bool reads a boolean option, def when it is not set.
func Bool(cfg storage.Config, key string, def bool) (bool, error) {
	v, ok := cfg.Get(key)
	if !ok {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "on", "true":
		return true, nil
	case "0", "no", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("storage '%s': %s: %q is not a boolean", cfg.ID, key, v)
}

func (f *FS) id() string { return f.Config().ID }

// Mounted reports whether the storage's file system is mounted on its
// mount point.
func (f *FS) Mounted() (bool, error) {
	mounts, err := ReadMountInfo(f.mountInfo)
	if err != nil {
		return false, fmt.Errorf("storage '%s': %w", f.id(), err)
	}
	for _, m := range At(mounts, f.Root()) {
		if f.m.Mine(m) {
			return true, nil
		}
	}
	return false, nil
}

// Check runs the type's reachability check with its time limit and
// words a failure as Proxmox VE does ("storage 'x' is not online").
func (f *FS) Check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	if err := f.m.Check(cctx); err != nil {
		return &OfflineError{Storage: f.id(), Err: err}
	}
	return nil
}

// Activate checks that the server answers, mounts the file system when
// it is not mounted yet (creating the mount point unless
// create-base-path says no) and then lets the directory store create the
// content directories. The mount point is touched only while nothing is
// mounted there, so a hung mount cannot block activation.
func (f *FS) Activate(ctx context.Context) error {
	if err := f.Check(ctx); err != nil {
		return err
	}
	mounted, err := f.Mounted()
	if err != nil {
		return err
	}
	if !mounted {
		point := f.Root()
		if f.mkBase {
			if err := os.MkdirAll(point, 0o755); err != nil {
				return fmt.Errorf("storage '%s': unable to create the mount point: %w", f.id(), err)
			}
		}
		if st, err := os.Stat(point); err != nil || !st.IsDir() {
			return fmt.Errorf("unable to activate storage '%s' - directory '%s' does not exist", f.id(), point)
		}
		if err := f.m.Mount(ctx); err != nil {
			return fmt.Errorf("storage '%s': %s mount error: %w", f.id(), f.m.Kind(), err)
		}
	}
	return f.Store.Activate(ctx)
}

// Deactivate unmounts the file system if it is mounted.
func (f *FS) Deactivate(ctx context.Context) error {
	mounted, err := f.Mounted()
	if err != nil || !mounted {
		return err
	}
	if _, err := f.Env().Runner.Run(ctx, runner.Cmd{Name: "umount", Args: []string{f.Root()}}); err != nil {
		return fmt.Errorf("storage '%s': umount error: %w", f.id(), err)
	}
	return nil
}

// Status reports the space of the mounted file system. A server that
// does not answer gives an inactive status together with an error
// (wrapping ErrOffline) that says why; a reachable storage that is not
// mounted is inactive with no error.
func (f *FS) Status(ctx context.Context) (storage.Status, error) {
	if err := f.Check(ctx); err != nil {
		return storage.Status{}, err
	}
	mounted, err := f.Mounted()
	if err != nil || !mounted {
		return storage.Status{}, err
	}
	return f.Store.Status(ctx)
}

// BracketIPv6 writes an IPv6 address the way mount sources and URLs need
// it ("[fd00::1]"); names and IPv4 addresses stay as they are.
func BracketIPv6(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "[" + host + "]"
	}
	return host
}

// DialFunc opens network connections (net.Dialer.DialContext's shape).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// TCPPing reports whether host accepts TCP connections on port, within
// timeout: the last-resort reachability check of several types.
func TCPPing(ctx context.Context, dial DialFunc, host string, port int, timeout time.Duration) error {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return conn.Close()
}

// WriteSecret writes a file only root can read, replacing it atomically
// so a mount helper never reads half a file; the directory is created
// 0700 when missing.
func WriteSecret(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SecretPath is where a type keeps the secret file of a storage for its
// mount helper: <StateDir>/<storage id>.<suffix>.
func SecretPath(cfg storage.Config, env storage.Env, suffix string) (string, error) {
	if env.StateDir == "" {
		return "", fmt.Errorf("storage '%s': no state directory configured for its %s file", cfg.ID, suffix)
	}
	return filepath.Join(env.StateDir, cfg.ID+"."+suffix), nil
}
