package zfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
	"github.com/hearth-virt/hearth/internal/storage/zfspool"
)

type plugin struct{ keyDir string }

// Plugin returns the "zfs" (ZFS over iSCSI) storage type. The ssh key of
// a storage is its secret (priv/storage/<id>.pw, written to
// <StateDir>/<id>_id_rsa for ssh), or else <StateDir>/zfs/<portal>_id_rsa.
func Plugin() storage.Plugin { return plugin{} }

// NewPlugin returns the type with the keys of storages without a secret
// in keyDir, named <portal>_id_rsa as Proxmox VE names them in
// /etc/pve/priv/zfs (the node's configuration tree has its own priv/zfs).
func NewPlugin(keyDir string) storage.Plugin { return plugin{keyDir: keyDir} }

func (plugin) Type() string { return "zfs" }

func (plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.Images},
		DefaultContent: []storage.Content{storage.Images},
		Formats:        []string{"raw"},
		DefaultFormat:  "raw",
		Shared:         true,
		Snapshots:      []string{"raw"},
		LinkedClones:   true,
		Options: map[string]storage.Option{
			"portal":        {Required: true, Fixed: true},
			"target":        {Required: true, Fixed: true},
			"pool":          {Required: true, Fixed: true},
			"iscsiprovider": {Required: true, Fixed: true},
			"blocksize":     {Required: true, Fixed: true},
			"sparse":        {},
			"nowritecache":  {},
			"comstar_hg":    {},
			"comstar_tg":    {},
			"lio_tpg":       {},
			"zfs-base-path": {},
			"content":       {},
			"nodes":         {},
			"disable":       {},
			"bwlimit":       {},
		},
	}
}

// Storage is one configured ZFS over iSCSI storage: the zfs commands run
// on the target host over ssh, and each zvol is exported as a LUN with
// the target's own tools.
type Storage struct {
	id           string
	portal       string
	host         string // portal without port, for ssh
	target       string
	pool         string
	provider     string
	blocksize    string
	sparse       bool
	nowritecache bool
	hostGroup    string
	targetGroup  string
	tpg          string
	basePath     string
	keyFile      string // the ssh key ssh is given
	secret       string // the key's text when it comes from the secret
	r            runner.Runner
	log          *slog.Logger
	busyDelay    time.Duration
}

var (
	_ storage.Storage     = (*Storage)(nil)
	_ storage.Snapshotter = (*Storage)(nil)
	_ storage.Cloner      = (*Storage)(nil)
)

var (
	// iqnRE: the characters of iSCSI names (iqn., eui., naa.).
	iqnRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.:_-]*$`)
	// groupRE: COMSTAR host and target group names.
	groupRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.:_-]*$`)
	tpgRE   = regexp.MustCompile(`^tpg[0-9]+$`)
	hostRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
	pathRE  = regexp.MustCompile(`^(/[A-Za-z0-9_.-]+)+$`)
)

func (p plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	get := func(k string) string { v, _ := cfg.Get(k); return v }
	s := &Storage{id: cfg.ID, portal: get("portal"), target: get("target"), pool: get("pool"), provider: get("iscsiprovider"),
		blocksize: get("blocksize"), hostGroup: get("comstar_hg"), targetGroup: get("comstar_tg"), tpg: get("lio_tpg"),
		basePath: get("zfs-base-path"), r: env.Runner, log: env.Log, busyDelay: time.Second}
	bad := func(format string, a ...any) (storage.Storage, error) {
		return nil, fmt.Errorf("storage %s: %s", cfg.ID, fmt.Sprintf(format, a...))
	}
	for _, k := range []string{"portal", "target", "pool", "iscsiprovider", "blocksize"} {
		if get(k) == "" {
			return bad("%s is required", k)
		}
	}
	var err error
	if s.host, err = portalHost(s.portal); err != nil {
		return bad("%v", err)
	}
	switch {
	case !iqnRE.MatchString(s.target):
		return bad("invalid iSCSI target name %q", s.target)
	case !zfspool.ValidPool(s.pool):
		return bad("invalid zfs pool or dataset name %q", s.pool)
	case !zfspool.BlocksizeRE.MatchString(s.blocksize):
		return bad("blocksize %q is not a size such as 8k", s.blocksize)
	case s.hostGroup != "" && !groupRE.MatchString(s.hostGroup):
		return bad("invalid comstar_hg %q", s.hostGroup)
	case s.targetGroup != "" && !groupRE.MatchString(s.targetGroup):
		return bad("invalid comstar_tg %q", s.targetGroup)
	case s.basePath != "" && (!pathRE.MatchString(s.basePath) || path.Clean(s.basePath) != s.basePath):
		return bad("zfs-base-path %q is not a clean absolute path", s.basePath)
	case env.Runner == nil:
		return bad("no command runner")
	}
	switch s.provider {
	case "comstar", "istgt", "iet":
	case "LIO":
		if !tpgRE.MatchString(s.tpg) {
			return bad("lio_tpg must name the target portal group as tpg<N>, such as tpg1 (got %q)", s.tpg)
		}
	default:
		return bad("unknown iscsiprovider %q (comstar, istgt, iet or LIO)", s.provider)
	}
	if s.sparse, err = zfspool.BoolOpt(cfg, "sparse"); err != nil {
		return nil, err
	}
	if s.nowritecache, err = zfspool.BoolOpt(cfg, "nowritecache"); err != nil {
		return nil, err
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Secret != "":
		if env.StateDir == "" {
			return bad("no state directory to keep the ssh key in")
		}
		if !strings.Contains(cfg.Secret, "PRIVATE KEY-----") {
			return bad("the secret is not an ssh private key")
		}
		s.secret = cfg.Secret
		if !strings.HasSuffix(s.secret, "\n") {
			s.secret += "\n"
		}
		s.keyFile = filepath.Join(env.StateDir, cfg.ID+"_id_rsa")
	case p.keyDir != "":
		s.keyFile = filepath.Join(p.keyDir, s.portal+"_id_rsa")
	case env.StateDir != "":
		s.keyFile = filepath.Join(env.StateDir, "zfs", s.portal+"_id_rsa")
	default:
		return bad("no ssh key: the storage has no secret and the node no state directory")
	}
	return s, nil
}

// writeKey writes the key of the secret where ssh reads it (0600, as
// ssh demands), unless it is there already.
func (s *Storage) writeKey() error {
	if s.secret == "" {
		return nil
	}
	if have, err := os.ReadFile(s.keyFile); err == nil && string(have) == s.secret {
		if st, err := os.Stat(s.keyFile); err == nil && st.Mode().Perm() == 0o600 {
			return nil
		}
	}
	if err := netfs.WriteSecret(s.keyFile, []byte(s.secret)); err != nil {
		return fmt.Errorf("storage %s: cannot write the ssh key: %w", s.id, err)
	}
	return nil
}

// portalHost checks a portal (address or name, optional port) and
// returns the host ssh connects to.
func portalHost(portal string) (string, error) {
	host := portal
	if h, port, err := net.SplitHostPort(portal); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return "", fmt.Errorf("invalid portal %q", portal)
		}
		host = h
	}
	if net.ParseIP(host) == nil && !hostRE.MatchString(host) {
		return "", fmt.Errorf("invalid portal %q: expected an address or host name with an optional port", portal)
	}
	return host, nil
}

func (s *Storage) fail(op, vol string, err error) error {
	if vol == "" {
		return fmt.Errorf("storage %s: %s: %w", s.id, op, err)
	}
	return fmt.Errorf("storage %s: %s %s: %w", s.id, op, vol, err)
}

// sshCmd runs args on the target host as root with the storage's key.
func (s *Storage) sshCmd(args ...string) runner.Cmd {
	a := []string{"-o", "BatchMode=yes", "-i", s.keyFile, "root@" + s.host}
	return runner.Cmd{Name: "ssh", Args: append(a, args...)}
}

// remote runs a command on the target host.
func (s *Storage) remote(ctx context.Context, args ...string) ([]byte, error) {
	return s.run(ctx, s.sshCmd(args...))
}

// run runs an ssh command after making sure the key file is there.
func (s *Storage) run(ctx context.Context, c runner.Cmd) ([]byte, error) {
	if err := s.writeKey(); err != nil {
		return nil, err
	}
	res, err := s.r.Run(ctx, c)
	return res.Stdout, err
}

// zfs runs zfs on the target host.
func (s *Storage) zfs(ctx context.Context, args ...string) ([]byte, error) {
	return s.remote(ctx, append([]string{"zfs"}, args...)...)
}

func (s *Storage) dataset(v zfspool.Vol) string { return s.pool + "/" + v.Name }

// Activate writes the ssh key; nothing else is needed on this node.
func (s *Storage) Activate(ctx context.Context) error { return s.writeKey() }

// Deactivate: nothing to do.
func (s *Storage) Deactivate(ctx context.Context) error { return nil }

// sshFailed reports whether ssh itself failed (exit code 255), as
// opposed to the remote command.
func sshFailed(err error) bool {
	var ee *runner.ExitError
	return errors.As(err, &ee) && ee.Code == 255
}

func exitStderr(err error) string {
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return ""
}

// Status reports the pool's space on the target. A target that answers
// but cannot read the pool is an inactive storage; one ssh cannot reach
// is an error.
func (s *Storage) Status(ctx context.Context) (storage.Status, error) {
	out, err := s.zfs(ctx, zfspool.GetArgs(s.pool, "available", "used")...)
	if err != nil {
		if sshFailed(err) || exitStderr(err) == "" {
			return storage.Status{}, s.fail("status", "", err)
		}
		s.log.Warn("the target cannot read the pool", "storage", s.id, "err", err)
		return storage.Status{}, nil
	}
	st, err := zfspool.StatusOf(out)
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	return st, nil
}

func (s *Storage) list(ctx context.Context) ([]zfspool.Dataset, error) {
	out, err := s.zfs(ctx, zfspool.ListArgs(s.pool)...)
	if err != nil {
		return nil, err
	}
	return zfspool.ParseList(out, s.pool)
}

// List returns the zvols of the pool (file systems are not exported).
func (s *Storage) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	list, err := s.list(ctx)
	if err != nil {
		return nil, s.fail("list volumes", "", err)
	}
	var zvols []zfspool.Dataset
	for _, d := range list {
		if d.Format == "raw" {
			zvols = append(zvols, d)
		}
	}
	return zfspool.Volumes(zvols, vmid, content), nil
}

// Volume reports a zvol's size and the space its data takes.
func (s *Storage) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	v, err := parseVolname(volname)
	if err != nil {
		return storage.Volume{}, s.fail("volume", volname, err)
	}
	out, err := s.zfs(ctx, zfspool.GetArgs(s.dataset(v), "volsize", "usedbydataset")...)
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	n, err := zfspool.ParseNumbers(out, 2)
	if err != nil {
		return storage.Volume{}, s.fail("size of", volname, err)
	}
	return storage.Volume{Volname: volname, Content: storage.Images, Format: "raw", Size: n[0], Used: n[1], VMID: v.VMID, Parent: v.Base}, nil
}

// parseVolname accepts the zvol names of zfspool; this type holds no
// subvolumes.
func parseVolname(volname string) (zfspool.Vol, error) {
	v, err := zfspool.ParseVolname(volname)
	if err != nil {
		return v, err
	}
	if v.Format != "raw" {
		return v, fmt.Errorf("illegal volume name %q: ZFS over iSCSI holds zvols (vm-…, base-…) only", volname)
	}
	return v, nil
}

// DetectBasePath finds where the target host shows zvols as block
// devices, for the zfs-base-path option Proxmox VE records when the
// storage is added: /dev/zvol where it exists, else /dev.
func (s *Storage) DetectBasePath(ctx context.Context) (string, error) {
	_, err := s.remote(ctx, "ls", "/dev/zvol")
	switch {
	case err == nil:
		return "/dev/zvol", nil
	case sshFailed(err) || exitStderr(err) == "":
		return "", s.fail("probe zvol directory", "", err)
	}
	return "/dev", nil
}
