package cifs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// Plugin is the "cifs" storage type.
type Plugin struct {
	// MountInfo is the mount table read ("" for /proc/self/mountinfo).
	MountInfo string
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

// Type is "cifs".
func (Plugin) Type() string { return "cifs" }

// Info describes the cifs type as Proxmox VE's CIFSPlugin does.
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
			"share":                 {Required: true, Fixed: true},
			"subdir":                {},
			"username":              {},
			"password":              {},
			"domain":                {},
			"smbversion":            {},
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

// Store is a mounted CIFS share: a directory store on the mount point.
type Store struct {
	*netfs.FS
}

// SMBVersions are the values of smbversion; SMB1 is not offered.
var SMBVersions = []string{"default", "2.0", "2.1", "3", "3.0", "3.11"}

// Open makes the storage of a cifs section. It touches nothing on the
// host; the credentials file is written when the share is checked or
// mounted.
func (p Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	m := &mounter{id: cfg.ID, secret: cfg.Secret}
	m.server, _ = cfg.Get("server")
	m.share, _ = cfg.Get("share")
	if m.server == "" || m.share == "" {
		return nil, fmt.Errorf("storage '%s': a cifs storage needs server and share", cfg.ID)
	}
	if strings.ContainsAny(m.share, "/\\ \t\n") {
		return nil, fmt.Errorf("storage '%s': share %q must be a single share name", cfg.ID, m.share)
	}
	if m.subdir, _ = cfg.Get("subdir"); m.subdir != "" &&
		(!strings.HasPrefix(m.subdir, "/") || slices.Contains(strings.Split(m.subdir, "/"), "..")) {
		return nil, fmt.Errorf("storage '%s': subdir %q is not an absolute path without '..'", cfg.ID, m.subdir)
	}
	m.user, _ = cfg.Get("username")
	m.domain, _ = cfg.Get("domain")
	m.options, _ = cfg.Get("options")
	m.version = "default"
	if v, ok := cfg.Get("smbversion"); ok {
		if !slices.Contains(SMBVersions, v) {
			return nil, fmt.Errorf("storage '%s': smbversion %q is not one of %s", cfg.ID, v, strings.Join(SMBVersions, ", "))
		}
		m.version = v
	}
	for key, v := range map[string]string{"username": m.user, "domain": m.domain, "options": m.options, "password": m.secret} {
		// Each value ends up in a comma-separated mount option or a
		// line of the credentials file.
		if strings.ContainsAny(v, "\n\x00") || (key != "password" && key != "options" && strings.Contains(v, ",")) {
			return nil, fmt.Errorf("storage '%s': %s contains a character a mount option cannot hold", cfg.ID, key)
		}
	}
	if m.secret != "" {
		if m.user == "" {
			return nil, fmt.Errorf("storage '%s': a password needs a username", cfg.ID)
		}
		var err error
		if m.credFile, err = netfs.SecretPath(cfg, env, "cred"); err != nil {
			return nil, err
		}
	} else if env.StateDir != "" {
		m.staleFile, _ = netfs.SecretPath(cfg, env, "cred")
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

// mounter is the CIFS side of a cifs storage.
type mounter struct {
	id                             string
	server, share, subdir          string
	user, domain, version, options string
	secret                         string
	credFile                       string // "" for a guest login
	staleFile                      string // a credentials file to remove (no password any more)
	point                          string
	run                            runner.Runner
}

func (m *mounter) Kind() string { return "CIFS" }

// source is //server/share[/subdir], as mount.cifs takes it.
func (m *mounter) source() string {
	return "//" + netfs.BracketIPv6(m.server) + "/" + m.share + m.subdir
}

// Mine: a cifs (or smb3) mount of the same share and subdirectory;
// share names are case-insensitive.
func (m *mounter) Mine(e netfs.Mount) bool {
	return (e.FSType == "cifs" || e.FSType == "smb3") &&
		strings.EqualFold(strings.TrimSuffix(e.Source, "/"), strings.TrimSuffix(m.source(), "/"))
}

// credentials is the credentials file: the format mount.cifs reads, which
// smbclient -A reads as well.
func (m *mounter) credentials() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "username=%s\npassword=%s\n", m.user, m.secret)
	if m.domain != "" {
		fmt.Fprintf(&b, "domain=%s\n", m.domain)
	}
	return b.Bytes()
}

// syncCredentials writes the credentials file (only when it changed), or
// removes a stale one when the storage has no password any more.
func (m *mounter) syncCredentials() error {
	if m.credFile == "" {
		if m.staleFile != "" {
			if err := os.Remove(m.staleFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove the old credentials file: %w", err)
			}
		}
		return nil
	}
	want := m.credentials()
	if have, err := os.ReadFile(m.credFile); err == nil && bytes.Equal(have, want) {
		if st, err := os.Stat(m.credFile); err == nil && st.Mode().Perm() == 0o600 {
			return nil
		}
	}
	if err := netfs.WriteSecret(m.credFile, want); err != nil {
		return fmt.Errorf("write the credentials file: %w", err)
	}
	return nil
}

// maxProtocol is smbclient's -m for smbversion ("3.11" → smb3).
func maxProtocol(version string) string {
	if version == "default" {
		return ""
	}
	major, _, _ := strings.Cut(version, ".")
	return "smb" + major
}

// authArgs are smbclient's login arguments: the user and the
// credentials file, or a guest login.
func (m *mounter) authArgs() []string {
	if m.credFile == "" {
		return []string{"-U", "Guest", "-N"}
	}
	args := []string{"-U", m.user, "-A", m.credFile}
	if m.domain != "" {
		args = append(args, "-W", m.domain)
	}
	return args
}

var ntStatusDeniedRE = regexp.MustCompile(`NT_STATUS_(ACCESS_DENIED|INVALID_PARAMETER|LOGON_FAILURE)`)

// Check connects to the share with smbclient and runs a no-op, as
// Proxmox VE does; a refused login is reported as such.
func (m *mounter) Check(ctx context.Context) error {
	if err := m.syncCredentials(); err != nil {
		return err
	}
	args := []string{"//" + m.server + "/" + m.share, "-d", "0"}
	if p := maxProtocol(m.version); p != "" {
		args = append(args, "-m", p)
	}
	args = append(args, m.authArgs()...)
	args = append(args, "-c", "echo 1 0")
	res, err := m.run.Run(ctx, runner.Cmd{Name: "smbclient", Args: args})
	if err == nil {
		return nil
	}
	var ee *runner.ExitError
	out := string(res.Stdout) + string(res.Stderr)
	if errors.As(err, &ee) {
		out += ee.Stderr
	}
	if st := ntStatusDeniedRE.FindString(out); st != "" {
		return fmt.Errorf("CIFS server %s refused access to share %s: %s", m.server, m.share, st)
	}
	return fmt.Errorf("CIFS server %s does not answer for share %s: %w", m.server, m.share, err)
}

// Mount runs mount -t cifs with Proxmox VE's options: soft, the user and
// credentials file (or a guest login), the domain, the protocol version
// and the storage's own options last.
func (m *mounter) Mount(ctx context.Context) error {
	if err := m.syncCredentials(); err != nil {
		return err
	}
	args := []string{"-t", "cifs", m.source(), m.point, "-o", "soft", "-o"}
	if m.credFile != "" {
		args = append(args, "username="+m.user, "-o", "credentials="+m.credFile)
		if m.domain != "" {
			args = append(args, "-o", "domain="+m.domain)
		}
	} else {
		args = append(args, "guest,username=guest")
	}
	args = append(args, "-o", "vers="+m.version)
	if m.options != "" {
		args = append(args, "-o", m.options)
	}
	_, err := m.run.Run(ctx, runner.Cmd{Name: "mount", Args: args})
	return err
}

// Share is one share of a server's list.
type Share struct {
	Name        string
	Description string
}

var ntStatusRE = regexp.MustCompile(`NT_STATUS_\S+`)

var shareLineRE = regexp.MustCompile(`^\s*(\S+)\s+Disk\s*(.*?)\s*$`)

// Scan lists the disk shares of server (pvesm scan cifs) with
// smbclient -L. A password goes through a temporary credentials file in
// env.StateDir, never the command line.
func Scan(ctx context.Context, env storage.Env, server, user, password, domain string) ([]Share, error) {
	args := []string{"-m", "smb3", "-d", "0", "-L", server}
	if user != "" {
		if password == "" {
			return nil, errors.New("scan CIFS server: a user needs a password")
		}
		if env.StateDir == "" {
			return nil, errors.New("scan CIFS server: no state directory for the credentials file")
		}
		if strings.ContainsAny(user+password+domain, "\n\x00") {
			return nil, errors.New("scan CIFS server: user, password and domain must be single lines")
		}
		if err := os.MkdirAll(env.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("scan CIFS server: %w", err)
		}
		f, err := os.CreateTemp(env.StateDir, ".scan-*.cred")
		if err != nil {
			return nil, fmt.Errorf("scan CIFS server: %w", err)
		}
		f.Close()
		defer os.Remove(f.Name())
		m := &mounter{user: user, secret: password, domain: domain}
		if err := netfs.WriteSecret(f.Name(), m.credentials()); err != nil {
			return nil, fmt.Errorf("scan CIFS server: %w", err)
		}
		args = append(args, "-U", user, "-A", f.Name())
		if domain != "" {
			args = append(args, "-W", domain)
		}
	} else {
		args = append(args, "-N")
	}
	ctx, cancel := context.WithTimeout(ctx, netfs.CheckTimeout)
	defer cancel()
	res, err := env.Runner.Run(ctx, runner.Cmd{Name: "smbclient", Args: args})
	out := string(res.Stdout)
	if st := ntStatusRE.FindString(out); st != "" {
		return nil, fmt.Errorf("scan CIFS server %s: %s", server, st)
	}
	if err != nil {
		return nil, fmt.Errorf("scan CIFS server %s: %w", server, err)
	}
	var shares []Share
	for _, line := range strings.Split(out, "\n") {
		if mm := shareLineRE.FindStringSubmatch(line); mm != nil {
			shares = append(shares, Share{Name: mm[1], Description: mm[2]})
		}
	}
	return shares, nil
}

// RemoveCredentials deletes the credentials file of a storage, for when
// the storage or its password is removed.
func RemoveCredentials(cfg storage.Config, env storage.Env) error {
	p, err := netfs.SecretPath(cfg, env, "cred")
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
