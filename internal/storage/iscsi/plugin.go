package iscsi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/iscsidirect"
)

// Plugin is the "iscsi" storage type.
type Plugin struct{}

var _ storage.Plugin = Plugin{}

// Type is the storage.cfg section type.
func (Plugin) Type() string { return "iscsi" }

// Info describes the type: raw LUNs, always shared, no snapshots or
// clones. Most installations set content none and put LVM on a LUN.
func (Plugin) Info() storage.Info {
	return storage.Info{
		Content:        []storage.Content{storage.Images},
		DefaultContent: []storage.Content{storage.Images},
		Formats:        []string{"raw"},
		DefaultFormat:  "raw",
		Shared:         true,
		Options: map[string]storage.Option{
			"portal":  {Required: true, Fixed: true},
			"target":  {Required: true, Fixed: true},
			"nodes":   {},
			"disable": {},
			"content": {},
			"bwlimit": {},
		},
	}
}

// rescanInterval keeps repeated activations from rescanning the sessions
// more than once in a while, as Proxmox VE does: a rescan makes the
// kernel probe every LUN of the target.
const rescanInterval = 10 * time.Second

// Storage is one configured iscsi storage.
type Storage struct {
	id     string
	portal string // as configured
	target string
	r      runner.Runner
	log    *slog.Logger
	// stamp is the file whose time records the last session rescan; ""
	// without a state directory (then every activation rescans).
	stamp string
	// root prefixes /sys and /dev; tests point it at a tree of their own.
	root string
	now  func() time.Time
}

var _ storage.Storage = (*Storage)(nil)

// Open makes the instance for one storage.cfg section.
func (Plugin) Open(cfg storage.Config, env storage.Env) (storage.Storage, error) {
	return open(cfg, env)
}

func open(cfg storage.Config, env storage.Env) (*Storage, error) {
	portal, _ := cfg.Get("portal")
	target, _ := cfg.Get("target")
	if portal == "" || target == "" {
		return nil, fmt.Errorf("storage %s: portal and target are required", cfg.ID)
	}
	if _, err := iscsidirect.URLPortal(portal); err != nil {
		return nil, fmt.Errorf("storage %s: %w", cfg.ID, err)
	}
	if !validName(target) {
		return nil, fmt.Errorf("storage %s: invalid iSCSI target name %q", cfg.ID, target)
	}
	if env.Runner == nil {
		return nil, fmt.Errorf("storage %s: no command runner", cfg.ID)
	}
	s := &Storage{id: cfg.ID, portal: portal, target: target, r: env.Runner, log: env.Log, root: "/", now: time.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if env.StateDir != "" {
		s.stamp = filepath.Join(env.StateDir, "iscsi-rescan.stamp")
	}
	return s, nil
}

// Portal is the portal as configured.
func (s *Storage) Portal() string { return s.portal }

// Target is the IQN of the target.
func (s *Storage) Target() string { return s.target }

func (s *Storage) fail(op, vol string, err error) error {
	if strings.Contains(err.Error(), "is not installed") {
		err = fmt.Errorf("%w (install the open-iscsi package)", err)
	}
	if vol == "" {
		return fmt.Errorf("storage %s: %s: %w", s.id, op, err)
	}
	return fmt.Errorf("storage %s: %s %s: %w", s.id, op, vol, err)
}

// targetSessions are the node's sessions to the storage's target (there
// are several with multipath).
func (s *Storage) targetSessions(ctx context.Context) ([]Session, error) {
	all, err := sessions(ctx, s.r)
	if err != nil {
		return nil, err
	}
	var out []Session
	for _, se := range all {
		if se.Target == s.target {
			out = append(out, se)
		}
	}
	return out, nil
}

// portals are the portals the node database knows for the target, or
// the configured one when it knows none.
func (s *Storage) portals(ctx context.Context) []string {
	var out []string
	res, err := s.r.Run(ctx, iscsiadm("--mode", "node"))
	if err != nil {
		if exitCode(err) != errNoObjsFound {
			s.log.Warn("cannot read the iSCSI node database", "storage", s.id, "err", err)
		}
	} else {
		for _, n := range ParseNodes(res.Stdout) {
			if n.Target == s.target && !slices.Contains(out, n.Portal) {
				out = append(out, n.Portal)
			}
		}
	}
	if len(out) == 0 {
		out = []string{withPort(s.portal)}
	}
	return out
}

// Activate logs in to the target through every portal known for it,
// after a SendTargets discovery that refreshes the node database; when
// all sessions exist it rescans them instead, so that LUNs added on the
// target appear.
func (s *Storage) Activate(ctx context.Context) error {
	have, err := s.targetSessions(ctx)
	if err != nil {
		return s.fail("activate", "", err)
	}
	portals := s.portals(ctx)
	login := len(have) == 0
	for _, p := range portals {
		if !slices.ContainsFunc(have, func(se Session) bool { return se.Portal == p }) {
			login = true
			break
		}
	}
	if !login {
		return s.rescan(ctx, have)
	}
	return s.login(ctx, portals)
}

func (s *Storage) login(ctx context.Context, portals []string) error {
	// Discovery fills the node database the login reads; a failure is
	// not fatal while the database still has records from before.
	var discoveryErr error
	for _, p := range portals {
		found, err := Discover(ctx, s.r, p)
		if err != nil {
			discoveryErr = err
			s.log.Warn("iSCSI discovery failed", "storage", s.id, "portal", p, "err", err)
			continue
		}
		if len(found) > 0 {
			discoveryErr = nil
			break
		}
	}
	// One attempt per activation: a target that does not answer must not
	// block the caller in the initiator's retries; the next activation
	// tries again.
	if _, err := s.r.Run(ctx, iscsiadm("--mode", "node", "--targetname", s.target, "--op", "update",
		"--name", "node.session.initial_login_retry_max", "--value", "0")); err != nil {
		s.log.Warn("cannot limit iSCSI login retries", "storage", s.id, "err", err)
	}
	if _, err := s.r.Run(ctx, iscsiadm("--mode", "node", "--targetname", s.target, "--login")); err != nil {
		if exitCode(err) == errSessExists {
			return nil
		}
		if discoveryErr != nil {
			err = fmt.Errorf("%w; before that, %v", err, discoveryErr)
		}
		return s.fail("log in to target", s.target, err)
	}
	return nil
}

// rescan asks the kernel to look for new LUNs on the sessions, at most
// once per rescanInterval on this node.
func (s *Storage) rescan(ctx context.Context, have []Session) error {
	if s.stamp != "" {
		now := s.now()
		if st, err := os.Stat(s.stamp); err == nil {
			if age := now.Sub(st.ModTime()); age >= 0 && age < rescanInterval {
				return nil
			}
		}
		if err := touch(s.stamp, now); err != nil {
			s.log.Warn("cannot record the iSCSI rescan time", "storage", s.id, "err", err)
		}
	}
	for _, se := range have {
		if _, err := s.r.Run(ctx, iscsiadm("--mode", "session", "--sid", se.ID, "--rescan")); err != nil {
			s.log.Warn("iSCSI session rescan failed", "storage", s.id, "sid", se.ID, "err", err)
		}
	}
	return nil
}

func touch(path string, t time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, t, t)
}

// Deactivate logs out of the target when the node has a session to it.
func (s *Storage) Deactivate(ctx context.Context) error {
	have, err := s.targetSessions(ctx)
	if err != nil {
		return s.fail("deactivate", "", err)
	}
	if len(have) == 0 {
		return nil
	}
	if _, err := s.r.Run(ctx, iscsiadm("--mode", "node", "--targetname", s.target, "--logout")); err != nil && exitCode(err) != errNoObjsFound {
		return s.fail("log out of target", s.target, err)
	}
	return nil
}

// luns are the disks of the target's sessions.
func (s *Storage) luns() ([]Device, error) {
	all, err := devices(s.root)
	if err != nil {
		return nil, fmt.Errorf("reading the SCSI devices of the iSCSI sessions: %w", err)
	}
	return all[s.target], nil
}

func volume(d Device) storage.Volume {
	return storage.Volume{Volname: d.Volname(), Content: storage.Images, Format: "raw", Size: d.Size, Used: d.Size}
}

// Status is active while the node has a session to the target; the space
// is that of its LUNs, all of it used since nothing can be allocated
// here. (Proxmox VE reports zeros for iSCSI storages.)
func (s *Storage) Status(ctx context.Context) (storage.Status, error) {
	have, err := s.targetSessions(ctx)
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	if len(have) == 0 {
		return storage.Status{}, nil
	}
	luns, err := s.luns()
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	st := storage.Status{Active: true}
	for _, d := range luns {
		st.Total += d.Size
	}
	st.Used = st.Total
	return st, nil
}

// List returns the LUN disks of the target. They belong to no guest, so
// a listing for one guest is empty, as in Proxmox VE.
func (s *Storage) List(_ context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	if vmid != 0 || (len(content) > 0 && !slices.Contains(content, storage.Images)) {
		return nil, nil
	}
	luns, err := s.luns()
	if err != nil {
		return nil, s.fail("list", "", err)
	}
	out := make([]storage.Volume, 0, len(luns))
	for _, d := range luns {
		out = append(out, volume(d))
	}
	storage.SortVolumes(out)
	return out, nil
}

// volnameRE is Proxmox VE's volume name of a LUN:
// "<channel>.<id>.<lun>.<name in /dev/disk/by-id>".
var volnameRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)\.([^/\s]+)$`)

// ParseVolname returns the /dev/disk/by-id name a volume name carries.
func ParseVolname(volname string) (string, error) {
	m := volnameRE.FindStringSubmatch(volname)
	if m == nil || strings.Contains(m[4], "..") || strings.HasPrefix(m[4], ".") {
		return "", fmt.Errorf("illegal volume name %q: expected <channel>.<id>.<lun>.<name in /dev/disk/by-id>, such as 0.0.1.scsi-36001405…", volname)
	}
	return m[4], nil
}

// Alloc refuses: iSCSI has no way to create a LUN.
func (s *Storage) Alloc(_ context.Context, vmid int, _, _ string, _ int64) (string, error) {
	return "", fmt.Errorf("storage %s: cannot allocate a disk for guest %d: LUNs are created on the target, not by Hearth", s.id, vmid)
}

// Free refuses: iSCSI has no way to remove a LUN.
func (s *Storage) Free(_ context.Context, volname string) error {
	return fmt.Errorf("storage %s: cannot free %s: LUNs are removed on the target, not by Hearth", s.id, volname)
}

// Resize refuses: a LUN's size is set on the target.
func (s *Storage) Resize(_ context.Context, volname string, _ int64) error {
	return fmt.Errorf("storage %s: cannot resize %s: LUN sizes are changed on the target, not by Hearth", s.id, volname)
}

// Volume reports one LUN disk.
func (s *Storage) Volume(_ context.Context, volname string) (storage.Volume, error) {
	if _, err := ParseVolname(volname); err != nil {
		return storage.Volume{}, s.fail("volume", "", err)
	}
	luns, err := s.luns()
	if err != nil {
		return storage.Volume{}, s.fail("volume", volname, err)
	}
	for _, d := range luns {
		if d.Volname() == volname {
			return volume(d), nil
		}
	}
	return storage.Volume{}, s.fail("volume", volname, errNoDevice(s.target))
}

func errNoDevice(target string) error {
	return fmt.Errorf("no such LUN disk in the sessions to target %s (is the storage active on this node?)", target)
}

// Attach gives the LUN's stable device path, for QEMU as a host_device.
// There is no fallback to QEMU's own iSCSI driver: the volume names
// themselves come from the kernel's devices, and an administrator who
// wants the userspace initiator configures an iscsidirect storage.
func (s *Storage) Attach(_ context.Context, volname, snap string) (storage.Attachment, error) {
	name, err := ParseVolname(volname)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", "", err)
	}
	if snap != "" {
		return storage.Attachment{}, fmt.Errorf("storage %s: cannot attach snapshot %q of %s: iSCSI LUNs have no snapshots", s.id, snap, volname)
	}
	path := "/dev/disk/by-id/" + name
	if _, err := os.Stat(filepath.Join(s.root, path)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return storage.Attachment{}, s.fail("attach", volname, fmt.Errorf("%s does not exist: %w", path, errNoDevice(s.target)))
		}
		return storage.Attachment{}, s.fail("attach", volname, err)
	}
	return storage.Attachment{
		Path:     path,
		Blockdev: map[string]any{"driver": "host_device", "filename": path},
		Format:   "raw",
	}, nil
}
