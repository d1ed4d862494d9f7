package cephfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// Plugin is the "cephfs" storage type.
type Plugin struct {
	// MountInfo is the mount table read ("" for /proc/self/mountinfo).
	MountInfo string
	// Dial opens the connections that check the monitors (nil: the
	// host network).
	Dial netfs.DialFunc
}

// The capabilities of a Store, checked at compile time.
var (
	_ storage.Plugin    = Plugin{}
	_ storage.Storage   = (*Store)(nil)
	_ storage.FileStore = (*Store)(nil)
)

// Type is "cephfs".
func (Plugin) Type() string { return "cephfs" }

// Info describes the cephfs type as Proxmox VE's CephFSPlugin does: file
// content only, no disk images.
func (Plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.VZTmpl, storage.ISO, storage.Backup, storage.Snippets, storage.Import},
		DefaultContent: []storage.Content{storage.Backup},
		Shared:         true,
		Options: map[string]storage.Option{
			"path":                  {Fixed: true},
			"monhost":               {},
			"subdir":                {},
			"username":              {},
			"fs-name":               {},
			"fuse":                  {},
			"keyring":               {},
			"options":               {},
			"content":               {},
			"content-dirs":          {},
			"nodes":                 {},
			"disable":               {},
			"prune-backups":         {},
			"max-protected-backups": {},
			"mkdir":                 {},
			"create-base-path":      {},
			"create-subdirs":        {},
			"bwlimit":               {},
		},
	}
}

// Store is a mounted CephFS: a directory store on the mount point.
type Store struct {
	*netfs.FS
}

// Open makes the storage of a cephfs section. It touches nothing on the
// host; the secret file is written when the file system is mounted.
func (p Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	m := &mounter{id: cfg.ID, user: "admin", subdir: "/", dial: p.Dial}
	if v, ok := cfg.Get("username"); ok && v != "" {
		m.user = v
	}
	if v, ok := cfg.Get("subdir"); ok && v != "" {
		if !strings.HasPrefix(v, "/") || slices.Contains(strings.Split(v, "/"), "..") {
			return nil, fmt.Errorf("storage '%s': subdir %q is not an absolute path without '..'", cfg.ID, v)
		}
		m.subdir = v
	}
	m.fsName, _ = cfg.Get("fs-name")
	m.options, _ = cfg.Get("options")
	var err error
	if m.fuse, err = netfs.Bool(cfg, "fuse", false); err != nil {
		return nil, err
	}
	if m.mons, err = monitors(cfg.Props["monhost"]); err != nil {
		return nil, fmt.Errorf("storage '%s': %w", cfg.ID, err)
	}
	for key, v := range map[string]string{"username": m.user, "fs-name": m.fsName, "options": m.options} {
		if strings.ContainsAny(v, " \t\n\x00") || (key != "options" && strings.Contains(v, ",")) {
			return nil, fmt.Errorf("storage '%s': %s %q contains a character a mount option cannot hold", cfg.ID, key, v)
		}
	}
	if cfg.Secret != "" {
		if m.secret, err = secretKey(cfg.Secret); err != nil {
			return nil, fmt.Errorf("storage '%s': %w", cfg.ID, err)
		}
		if m.secretFile, err = netfs.SecretPath(cfg, env, "secret"); err != nil {
			return nil, err
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
	return &Store{FS: f}, nil
}

// monitor is one monitor address; port 0 means the default ports.
type monitor struct {
	host string
	port int
}

var monSepRE = regexp.MustCompile(`[\s,;]+`)

// monitors reads monhost: addresses with optional ports, separated by
// spaces, commas or semicolons, as Proxmox VE accepts them.
func monitors(v string) ([]monitor, error) {
	var out []monitor
	for _, item := range monSepRE.Split(strings.TrimSpace(v), -1) {
		if item == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(item, "[]")); ip != nil {
			out = append(out, monitor{host: ip.String()})
			continue
		}
		host, port, err := net.SplitHostPort(item)
		if err != nil {
			if strings.Contains(item, ":") {
				return nil, fmt.Errorf("monitor address %q is not host, host:port or [v6]:port", item)
			}
			out = append(out, monitor{host: item})
			continue
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("monitor address %q has a bad port", item)
		}
		out = append(out, monitor{host: host, port: n})
	}
	return out, nil
}

func (m monitor) String() string {
	h := netfs.BracketIPv6(m.host)
	if m.port != 0 {
		return h + ":" + strconv.Itoa(m.port)
	}
	return h
}

var keyLineRE = regexp.MustCompile(`(?m)^\s*key\s*=\s*(\S+)\s*$`)

// secretKey is the bare key for secretfile= and --keyfile: the secret as
// given, or the key of a keyring ("[client.x]\n\tkey = …").
func secretKey(s string) (string, error) {
	if m := keyLineRE.FindStringSubmatch(s); m != nil {
		return m[1], nil
	}
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, " \t\r\n[]") {
		return "", errors.New("the secret is neither a bare key nor a keyring with a key line")
	}
	return s, nil
}

// mounter is the Ceph side of a cephfs storage.
type mounter struct {
	id                   string
	mons                 []monitor
	user, subdir, fsName string
	options              string
	fuse                 bool
	secret, secretFile   string
	point                string
	run                  runner.Runner
	dial                 netfs.DialFunc
}

func (m *mounter) Kind() string { return "CephFS" }

// Mine: a kernel ceph mount of the same subdirectory (the source is
// "<mons>:<subdir>", or "<name>@<fsid>.<fs>=<subdir>" in the newer
// syntax), or a ceph-fuse mount, on the mount point.
func (m *mounter) Mine(e netfs.Mount) bool {
	switch e.FSType {
	case "ceph":
		return strings.HasSuffix(e.Source, ":"+m.subdir) || strings.HasSuffix(e.Source, "="+m.subdir)
	case "fuse.ceph-fuse", "fuse.ceph":
		return e.Source == "ceph-fuse" || strings.HasSuffix(e.Source, ":"+m.subdir)
	}
	return false
}

// Check connects to the monitors (the v2 port 3300, then the v1 port
// 6789, unless the address names one); one answering is enough. Without
// monhost the cluster is the node's own, found through ceph.conf by the
// mount helper, and nothing is checked here.
func (m *mounter) Check(ctx context.Context) error {
	if len(m.mons) == 0 {
		return nil
	}
	var errs []error
	for _, mon := range m.mons {
		ports := []int{3300, 6789}
		if mon.port != 0 {
			ports = []int{mon.port}
		}
		for _, port := range ports {
			err := netfs.TCPPing(ctx, m.dial, mon.host, port, 2*time.Second)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
	}
	return fmt.Errorf("no Ceph monitor answers: %w", errors.Join(errs...))
}

func (m *mounter) writeSecret() error {
	if m.secretFile == "" {
		return nil
	}
	want := []byte(m.secret + "\n")
	if have, err := os.ReadFile(m.secretFile); err == nil && bytes.Equal(have, want) {
		if st, err := os.Stat(m.secretFile); err == nil && st.Mode().Perm() == 0o600 {
			return nil
		}
	}
	if err := netfs.WriteSecret(m.secretFile, want); err != nil {
		return fmt.Errorf("write the secret file: %w", err)
	}
	return nil
}

func (m *mounter) monList() string {
	parts := make([]string, len(m.mons))
	for i, mon := range m.mons {
		parts[i] = mon.String()
	}
	return strings.Join(parts, ",")
}

// Mount runs the kernel client (mount -t ceph <mons>:<subdir> … -o
// name=…,secretfile=…,fs=…) or ceph-fuse with the same settings.
func (m *mounter) Mount(ctx context.Context) error {
	if err := m.writeSecret(); err != nil {
		return err
	}
	var cmd runner.Cmd
	if m.fuse {
		args := []string{m.point, "--id", m.user}
		if len(m.mons) > 0 {
			args = append(args, "-m", m.monList())
		}
		if m.secretFile != "" {
			args = append(args, "--keyfile", m.secretFile)
		}
		if m.fsName != "" {
			args = append(args, "--client_fs", m.fsName)
		}
		args = append(args, "-r", m.subdir)
		if m.options != "" {
			args = append(args, "-o", m.options)
		}
		cmd = runner.Cmd{Name: "ceph-fuse", Args: args}
	} else {
		opts := []string{"name=" + m.user}
		if m.secretFile != "" {
			opts = append(opts, "secretfile="+m.secretFile)
		}
		if m.fsName != "" {
			opts = append(opts, "fs="+m.fsName)
		}
		if m.options != "" {
			opts = append(opts, m.options)
		}
		cmd = runner.Cmd{Name: "mount", Args: []string{"-t", "ceph", m.monList() + ":" + m.subdir, m.point, "-o", strings.Join(opts, ",")}}
	}
	_, err := m.run.Run(ctx, cmd)
	return err
}
