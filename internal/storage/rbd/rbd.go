package rbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// Plugin is the "rbd" storage type.
type Plugin struct{}

// The capabilities of a Storage, checked at compile time.
var (
	_ storage.Plugin      = Plugin{}
	_ storage.Storage     = (*Storage)(nil)
	_ storage.Renamer     = (*Storage)(nil)
	_ storage.Snapshotter = (*Storage)(nil)
	_ storage.Cloner      = (*Storage)(nil)
)

// Type is "rbd".
func (Plugin) Type() string { return "rbd" }

// Info describes the rbd type as Proxmox VE's RBD plugin does.
func (Plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.Images, storage.Rootdir},
		DefaultContent: []storage.Content{storage.Images},
		Formats:        []string{"raw"},
		DefaultFormat:  "raw",
		Shared:         true,
		Snapshots:      []string{"raw"},
		LinkedClones:   true,
		Sparse:         true,
		Options: map[string]storage.Option{
			"pool":      {Fixed: true},
			"namespace": {Fixed: true},
			"data-pool": {},
			"monhost":   {},
			"username":  {},
			"krbd":      {},
			"keyring":   {},
			"content":   {},
			"nodes":     {},
			"disable":   {},
			"bwlimit":   {},
		},
	}
}

// DefaultPool is the pool of a storage that names none.
const DefaultPool = "rbd"

// DefaultUser is the Ceph client of a storage that names none.
const DefaultUser = "admin"

// DefaultMonPort is the monitor port QEMU is given for monitors written
// without one: the v1 messenger port that monitors serve by default.
const DefaultMonPort = 6789

// BaseSnapshot is the protected snapshot a template base is frozen in.
const BaseSnapshot = "__base__"

// Storage is one configured rbd storage.
type Storage struct {
	id        string
	pool      string
	namespace string
	dataPool  string
	user      string
	mons      []monitor
	krbd      bool
	secret    string // the keyring (or bare key) from priv; never logged
	keyring   string // where the keyring file is written, "" without a secret
	conf      string // the client configuration QEMU reads, "" without a secret
	r         runner.Runner
	log       *slog.Logger
	// isDevice reports whether a path is a block device (a mapped image);
	// tests replace it.
	isDevice func(path string) bool
}

var (
	// nameRE: pool, namespace and user names, kept to characters that
	// need no quoting anywhere (config files, device paths, logs).
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	monSep = regexp.MustCompile(`[\s,;]+`)
)

// Open makes the storage of an rbd section. It touches nothing on the
// host: the keyring file is written before the first command needs it.
func (Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	s := &Storage{id: cfg.ID, pool: DefaultPool, user: DefaultUser, r: env.Runner, log: env.Log, secret: cfg.Secret, isDevice: isBlockDevice}
	bad := func(format string, a ...any) (storage.Storage, error) {
		return nil, fmt.Errorf("storage '%s': %s", cfg.ID, fmt.Sprintf(format, a...))
	}
	for key, dst := range map[string]*string{"pool": &s.pool, "namespace": &s.namespace, "data-pool": &s.dataPool, "username": &s.user} {
		v, ok := cfg.Get(key)
		if !ok || v == "" {
			continue
		}
		if !nameRE.MatchString(v) || strings.Contains(v, "..") {
			return bad("%s %q: letters, digits, '_', '.' and '-' only", key, v)
		}
		*dst = v
	}
	if strings.HasPrefix(s.user, "client.") {
		return bad("username %q: give the user id without the \"client.\" prefix", s.user)
	}
	var err error
	if s.mons, err = monitors(cfg.Props["monhost"]); err != nil {
		return bad("%v", err)
	}
	if s.krbd, err = netfs.Bool(cfg, "krbd", false); err != nil {
		return nil, err
	}
	if env.Runner == nil {
		return bad("no command runner")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.secret != "" {
		if _, err := keyringData(s.secret, s.user); err != nil {
			return bad("%v", err)
		}
		if s.keyring, err = netfs.SecretPath(cfg, env, "keyring"); err != nil {
			return nil, err
		}
		s.conf = filepath.Join(env.StateDir, cfg.ID+".conf")
	}
	return s, nil
}

// monitor is one monitor address; port 0 means the default ports.
type monitor struct {
	host string
	port int
}

// monitors reads monhost: addresses with optional ports, separated by
// spaces, commas or semicolons, as Proxmox VE accepts them.
func monitors(v string) ([]monitor, error) {
	var out []monitor
	for _, item := range monSep.Split(strings.TrimSpace(v), -1) {
		if item == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(item, "[]")); ip != nil {
			out = append(out, monitor{host: ip.String()})
			continue
		}
		host, port, err := net.SplitHostPort(item)
		if err != nil {
			if strings.Contains(item, ":") || !hostRE.MatchString(item) {
				return nil, fmt.Errorf("monitor address %q is not host, host:port or [v6]:port", item)
			}
			out = append(out, monitor{host: item})
			continue
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 || (net.ParseIP(host) == nil && !hostRE.MatchString(host)) {
			return nil, fmt.Errorf("monitor address %q has a bad host or port", item)
		}
		out = append(out, monitor{host: host, port: n})
	}
	return out, nil
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

func (m monitor) String() string {
	h := netfs.BracketIPv6(m.host)
	if m.port != 0 {
		return h + ":" + strconv.Itoa(m.port)
	}
	return h
}

// monList is monhost as the tools' -m option takes it.
func (s *Storage) monList() string {
	parts := make([]string, len(s.mons))
	for i, m := range s.mons {
		parts[i] = m.String()
	}
	return strings.Join(parts, ",")
}

var keyLineRE = regexp.MustCompile(`(?m)^\s*key\s*=\s*(\S+)\s*$`)

// keyringData is the keyring file for the secret: a keyring as given
// (it has a [client.…] section with a key line), or a bare key wrapped
// in a section for user.
func keyringData(secret, user string) ([]byte, error) {
	if keyLineRE.MatchString(secret) {
		if !strings.Contains(secret, "[") {
			return nil, errors.New("the keyring has a key but no [client.<user>] section")
		}
		if !strings.HasSuffix(secret, "\n") {
			secret += "\n"
		}
		return []byte(secret), nil
	}
	key := strings.TrimSpace(secret)
	if key == "" || strings.ContainsAny(key, " \t\r\n[]") {
		return nil, errors.New("the secret is neither a keyring nor a bare Ceph key")
	}
	return []byte("[client." + user + "]\n\tkey = " + key + "\n"), nil
}

// writeFiles writes the keyring (0600) and the client configuration QEMU
// reads it through, unless they already hold what they should.
func (s *Storage) writeFiles() error {
	if s.keyring == "" {
		return nil
	}
	data, err := keyringData(s.secret, s.user)
	if err != nil {
		return err
	}
	conf := []byte("[global]\n\tkeyring = " + s.keyring + "\n")
	for _, f := range []struct {
		path string
		data []byte
	}{{s.keyring, data}, {s.conf, conf}} {
		if have, err := os.ReadFile(f.path); err == nil && bytes.Equal(have, f.data) {
			if st, err := os.Stat(f.path); err == nil && st.Mode().Perm() == 0o600 {
				continue
			}
		}
		if err := netfs.WriteSecret(f.path, f.data); err != nil {
			return fmt.Errorf("storage '%s': cannot write %s: %w", s.id, filepath.Base(f.path), err)
		}
	}
	return nil
}

// connArgs are the options that reach the cluster, as Proxmox VE gives
// them: the monitors of an external cluster, and cephx with the
// storage's user and keyring file when it has a secret. Without monhost
// and secret the node's own ceph.conf decides.
func (s *Storage) connArgs() []string {
	var a []string
	if len(s.mons) > 0 {
		a = append(a, "-m", s.monList())
	}
	switch {
	case s.keyring != "":
		a = append(a, "--auth_supported", "cephx", "-n", "client."+s.user, "--keyring", s.keyring)
	case len(s.mons) > 0:
		a = append(a, "--auth_supported", "none")
	}
	return a
}

// rbdCmd builds an rbd command on the storage's pool and namespace.
func (s *Storage) rbdCmd(op string, args ...string) runner.Cmd {
	a := []string{"-p", s.pool}
	// rbd unmap refuses --namespace; it takes the device.
	if s.namespace != "" && op != "unmap" {
		a = append(a, "--namespace", s.namespace)
	}
	a = append(a, s.connArgs()...)
	a = append(a, op)
	return runner.Cmd{Name: "rbd", Args: append(a, args...)}
}

// run runs a command after making sure the keyring file is there.
func (s *Storage) run(ctx context.Context, c runner.Cmd) ([]byte, error) {
	if err := s.writeFiles(); err != nil {
		return nil, err
	}
	res, err := s.r.Run(ctx, c)
	return res.Stdout, err
}

func (s *Storage) rbd(ctx context.Context, op string, args ...string) ([]byte, error) {
	return s.run(ctx, s.rbdCmd(op, args...))
}

func (s *Storage) fail(op, vol string, err error) error {
	if vol == "" {
		return fmt.Errorf("storage '%s': %s: %w", s.id, op, err)
	}
	return fmt.Errorf("storage '%s': %s %s: %w", s.id, op, vol, err)
}

// spec is an image (or image@snap) as rbd clone and rename take it:
// pool[/namespace]/image.
func (s *Storage) spec(image string) string {
	if s.namespace != "" {
		return s.pool + "/" + s.namespace + "/" + image
	}
	return s.pool + "/" + image
}

// DevicePath is where udev links a mapped image (or image@snap):
// /dev/rbd/<pool>[/<namespace>]/<image>.
func (s *Storage) DevicePath(image string) string { return "/dev/rbd/" + s.spec(image) }

func isBlockDevice(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
}

// exitStderr is what a failed tool printed on standard error.
func exitStderr(err error) string {
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return ""
}

// notFound reports whether rbd failed because the image or snapshot does
// not exist (ENOENT).
func notFound(err error) bool {
	return strings.Contains(exitStderr(err), "(2) No such file or directory")
}

// Activate writes the keyring file; rbd needs nothing else on the node.
func (s *Storage) Activate(ctx context.Context) error { return s.writeFiles() }

// Deactivate: nothing is kept open.
func (s *Storage) Deactivate(ctx context.Context) error { return nil }

// statusPool is the pool whose space counts: the data pool when images
// keep their data there.
func (s *Storage) statusPool() string {
	if s.dataPool != "" {
		return s.dataPool
	}
	return s.pool
}

// Status asks the cluster for its pools' space (ceph df): what the pool
// stores and what it can still take before replication. A cluster that
// does not answer is an error; one without the pool is inactive.
func (s *Storage) Status(ctx context.Context) (storage.Status, error) {
	out, err := s.run(ctx, runner.Cmd{Name: "ceph", Args: append(s.connArgs(), "df", "--format", "json")})
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	st, found, err := ParseDF(out, s.statusPool())
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	if !found {
		s.log.Warn("no usage figures for the pool", "storage", s.id, "pool", s.statusPool())
		return storage.Status{}, nil
	}
	return st, nil
}
