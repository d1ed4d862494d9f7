package glusterfs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// Plugin is the "glusterfs" storage type.
type Plugin struct {
	// MountInfo is the mount table read ("" for /proc/self/mountinfo).
	MountInfo string
	// Dial opens the connections that check remote servers (nil: the
	// host network).
	Dial netfs.DialFunc
}

// The capabilities of a Store, checked at compile time.
var (
	_ storage.Plugin      = Plugin{}
	_ storage.Storage     = (*Store)(nil)
	_ storage.Renamer     = (*Store)(nil)
	_ storage.Snapshotter = (*Store)(nil)
	_ storage.Cloner      = (*Store)(nil)
	_ storage.Exporter    = (*Store)(nil)
	_ storage.FileStore   = (*Store)(nil)
)

// Type is "glusterfs".
func (Plugin) Type() string { return "glusterfs" }

// Info describes the glusterfs type as Proxmox VE's GlusterfsPlugin did.
func (Plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.Images, storage.VZTmpl, storage.ISO, storage.Backup, storage.Snippets},
		DefaultContent: []storage.Content{storage.Images},
		Formats:        []string{"raw", "qcow2", "vmdk"},
		DefaultFormat:  "raw",
		Shared:         true,
		Snapshots:      []string{"qcow2"},
		LinkedClones:   true,
		Sparse:         true,
		Options: map[string]storage.Option{
			"path":                  {Fixed: true},
			"server":                {},
			"server2":               {},
			"volume":                {Required: true, Fixed: true},
			"transport":             {},
			"content":               {},
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

// Store is a mounted GlusterFS volume: a directory store on the mount
// point whose images QEMU opens with its gluster driver.
type Store struct {
	*netfs.FS
	m *mounter
}

// Transports are the values of transport.
var Transports = []string{"tcp", "rdma", "unix"}

// GlusterdPort is where glusterd serves volume files.
const GlusterdPort = 24007

// glusterdSocket is glusterd's local socket, the server of the unix
// transport.
const glusterdSocket = "/var/run/glusterd.socket"

var (
	volumeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	hostRE   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
)

// Open makes the storage of a glusterfs section; it touches nothing on
// the host.
func (p Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	m := &mounter{server: "localhost", dial: p.Dial}
	if v, ok := cfg.Get("server"); ok && v != "" {
		m.server = v
	}
	m.server2, _ = cfg.Get("server2")
	m.volume, _ = cfg.Get("volume")
	if !volumeRE.MatchString(m.volume) {
		return nil, fmt.Errorf("storage '%s': a glusterfs storage needs a volume name (letters, digits, '_', '.', '-'), not %q", cfg.ID, m.volume)
	}
	m.transport, _ = cfg.Get("transport")
	if m.transport != "" && !slices.Contains(Transports, m.transport) {
		return nil, fmt.Errorf("storage '%s': transport %q is not one of %s", cfg.ID, m.transport, strings.Join(Transports, ", "))
	}
	for _, s := range []string{m.server, m.server2} {
		if s != "" && net.ParseIP(s) == nil && !hostRE.MatchString(s) {
			return nil, fmt.Errorf("storage '%s': server %q is not a host name or address", cfg.ID, s)
		}
	}
	if env.Runner == nil {
		env.Runner = runner.Exec{}
	}
	m.run = env.Runner
	f, err := netfs.New(cfg, env, m, p.MountInfo)
	if err != nil {
		return nil, err
	}
	m.point = f.Root()
	return &Store{FS: f, m: m}, nil
}

// mounter is the GlusterFS side of a glusterfs storage.
type mounter struct {
	server, server2   string
	volume, transport string
	point             string
	run               runner.Runner
	dial              netfs.DialFunc
}

func (m *mounter) Kind() string { return "GlusterFS" }

// Mine: a FUSE glusterfs mount of the same volume, from any server.
func (m *mounter) Mine(e netfs.Mount) bool {
	if e.FSType != "fuse.glusterfs" {
		return false
	}
	i := strings.LastIndex(e.Source, ":")
	return i > 0 && strings.TrimPrefix(e.Source[i+1:], "/") == m.volume
}

func isLocal(server string) bool {
	return server == "localhost" || server == "127.0.0.1" || server == "::1"
}

var volumeStartedRE = regexp.MustCompile(`(?m)^Status: Started$`)

// probe checks one server: glusterd's port for remote servers; for the
// node itself, that the volume is started, as Proxmox VE did.
func (m *mounter) probe(ctx context.Context, server string) error {
	if !isLocal(server) {
		return netfs.TCPPing(ctx, m.dial, server, GlusterdPort, 2*time.Second)
	}
	res, err := m.run.Run(ctx, runner.Cmd{Name: "gluster", Args: []string{"volume", "info", m.volume}})
	if err != nil {
		return err
	}
	if !volumeStartedRE.Match(res.Stdout) {
		return fmt.Errorf("volume %s is not started", m.volume)
	}
	return nil
}

// active picks the server to use: the first of server and server2 that
// answers. With orDefault, a single server is taken unchecked (there is
// nothing to choose from) and, when none answers, the first server is
// returned anyway.
func (m *mounter) active(ctx context.Context, orDefault bool) (string, error) {
	if orDefault && m.server2 == "" {
		return m.server, nil
	}
	var errs []error
	for _, s := range []string{m.server, m.server2} {
		if s == "" {
			continue
		}
		err := m.probe(ctx, s)
		if err == nil {
			return s, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s, err))
	}
	if orDefault {
		return m.server, nil
	}
	return "", fmt.Errorf("no GlusterFS server answers for volume %s: %w", m.volume, errors.Join(errs...))
}

// others are the servers besides the active one, for failover.
func (m *mounter) others(active string) []string {
	var out []string
	for _, s := range []string{m.server, m.server2} {
		if s != "" && s != active {
			out = append(out, s)
		}
	}
	return out
}

// Check succeeds when a server answers.
func (m *mounter) Check(ctx context.Context) error {
	_, err := m.active(ctx, false)
	return err
}

// Mount runs mount -t glusterfs <server>:<volume> from the active server,
// naming the other as the backup volfile server.
func (m *mounter) Mount(ctx context.Context) error {
	server, _ := m.active(ctx, true)
	args := []string{"-t", "glusterfs", netfs.BracketIPv6(server) + ":" + m.volume, m.point}
	var opts []string
	if o := m.others(server); len(o) > 0 {
		opts = append(opts, "backup-volfile-servers="+strings.Join(o, ":"))
	}
	// The unix transport is how QEMU reaches the node's own glusterd; the
	// FUSE client takes only tcp or rdma.
	if m.transport == "rdma" {
		opts = append(opts, "transport=rdma")
	}
	if len(opts) > 0 {
		args = append(args, "-o", strings.Join(opts, ","))
	}
	_, err := m.run.Run(ctx, runner.Cmd{Name: "mount", Args: args})
	return err
}

// serverNode is a QEMU SocketAddress for a gluster server.
func (m *mounter) serverNode(server string) map[string]any {
	if m.transport == "unix" {
		return map[string]any{"type": "unix", "path": glusterdSocket}
	}
	// QEMU treats rdma as tcp (its rdma support is gone).
	return map[string]any{"type": "inet", "host": server, "port": fmt.Sprint(GlusterdPort)}
}

// Attach gives disk images as QEMU gluster nodes (the active server
// first, the other for failover) besides the path on the mount; other
// content is reached through the mount.
func (s *Store) Attach(ctx context.Context, volname, snap string) (storage.Attachment, error) {
	a, err := s.FS.Attach(ctx, volname, snap)
	if err != nil {
		return a, err
	}
	v, err := storage.ParseFileVolname(volname)
	if err != nil || v.Content != storage.Images || a.Blockdev == nil {
		return a, err
	}
	rel, err := filepath.Rel(s.Root(), a.Path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return storage.Attachment{}, fmt.Errorf("storage '%s': %s lies outside the volume", s.Config().ID, volname)
	}
	server, _ := s.m.active(ctx, true)
	servers := []any{s.m.serverNode(server)}
	if s.m.transport != "unix" {
		for _, o := range s.m.others(server) {
			servers = append(servers, s.m.serverNode(o))
		}
	}
	a.Blockdev = map[string]any{
		"driver": "gluster",
		"volume": s.m.volume,
		"path":   "/" + filepath.ToSlash(rel),
		"server": servers,
	}
	return a, nil
}
