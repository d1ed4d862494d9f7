package iscsidirect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Plugin is the "iscsidirect" storage type.
type Plugin struct{}

var _ storage.Plugin = Plugin{}

// Type is the storage.cfg section type.
func (Plugin) Type() string { return "iscsidirect" }

// Info describes the type: raw LUNs for VM disks only (containers need a
// block device on the node, which a userspace initiator does not give),
// always shared, no snapshots or clones.
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

// DefaultInitiatorFile is where open-iscsi keeps the node's initiator
// name. Proxmox VE starts QEMU with that name for iSCSI disks, so that
// targets with access lists see the same initiator from QEMU and from
// the kernel.
const DefaultInitiatorFile = "/etc/iscsi/initiatorname.iscsi"

// Storage is one configured iscsidirect storage.
type Storage struct {
	id     string
	portal string // in URL form (IPv6 in brackets)
	target string
	r      runner.Runner
	log    *slog.Logger
	// initiatorFile names the node's initiator; tests point it at a
	// fixture or at nothing.
	initiatorFile string
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
	p, err := URLPortal(portal)
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", cfg.ID, err)
	}
	if !validName(target) {
		return nil, fmt.Errorf("storage %s: invalid iSCSI target name %q", cfg.ID, target)
	}
	if env.Runner == nil {
		return nil, fmt.Errorf("storage %s: no command runner", cfg.ID)
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Storage{id: cfg.ID, portal: p, target: target, r: env.Runner, log: log, initiatorFile: DefaultInitiatorFile}, nil
}

// Portal is the portal in the form URLs take.
func (s *Storage) Portal() string { return s.portal }

// Target is the IQN of the target.
func (s *Storage) Target() string { return s.target }

func (s *Storage) fail(op, vol string, err error) error {
	if vol == "" {
		return fmt.Errorf("storage %s: %s: %w", s.id, op, err)
	}
	return fmt.Errorf("storage %s: %s %s: %w", s.id, op, vol, err)
}

// Activate does nothing: QEMU logs in to the target itself when a guest
// starts, so the node holds no session.
func (s *Storage) Activate(context.Context) error { return nil }

// Deactivate does nothing, as Activate.
func (s *Storage) Deactivate(context.Context) error { return nil }

// lunNameRE is Proxmox VE's volume name for a LUN: "lun<number>".
var lunNameRE = regexp.MustCompile(`^lun(\d{1,5})$`)

// ParseVolname returns the LUN a volume name ("lun3") names.
func ParseVolname(volname string) (int, error) {
	m := lunNameRE.FindStringSubmatch(volname)
	if m == nil {
		return 0, fmt.Errorf("illegal volume name %q: expected lun<number>", volname)
	}
	n, _ := strconv.Atoi(m[1])
	if n > maxLUN {
		return 0, fmt.Errorf("illegal volume name %q: LUN numbers end at %d", volname, maxLUN)
	}
	return n, nil
}

// Volname is the volume name of LUN n.
func Volname(n int) string { return "lun" + strconv.Itoa(n) }

// initiator is the node's initiator name, "" when it has none (libiscsi
// then uses its own default).
func (s *Storage) initiator() string {
	data, err := os.ReadFile(s.initiatorFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("cannot read the iSCSI initiator name", "storage", s.id, "file", s.initiatorFile, "err", err)
		}
		return ""
	}
	return ParseInitiatorName(data)
}

// tool builds a libiscsi tool command, with the node's initiator name.
func (s *Storage) tool(name, url string, args ...string) runner.Cmd {
	if in := s.initiator(); in != "" {
		args = append(args, "-i", in)
	}
	return runner.Cmd{Name: name, Args: append(args, url)}
}

// URL is the libiscsi URL of LUN n: iscsi://<portal>/<target>/<n>.
func (s *Storage) URL(n int) string {
	return fmt.Sprintf("iscsi://%s/%s/%d", s.portal, s.target, n)
}

// luns lists the target's LUNs that hold data (those iscsi-ls shows a
// size for, as Proxmox VE lists them) with their exact sizes.
func (s *Storage) luns(ctx context.Context) ([]storage.Volume, error) {
	res, err := s.r.Run(ctx, s.tool("iscsi-ls", "iscsi://"+s.portal, "-s"))
	if err != nil {
		// A LUN that is not ready fails the listing but the others are
		// still printed, as Proxmox VE accepts.
		if len(res.Stdout) == 0 || !strings.Contains(err.Error(), "TESTUNITREADY failed with SENSE KEY") {
			return nil, err
		}
		s.log.Warn("iscsi-ls reported a LUN that is not ready", "storage", s.id, "err", err)
	}
	targets, err := ParseLs(res.Stdout)
	if err != nil {
		return nil, err
	}
	var vols []storage.Volume
	for _, t := range targets {
		// iscsi-ls lists every target of the portal; only ours counts.
		if t.IQN != s.target {
			continue
		}
		for _, l := range t.LUNs {
			if l.Size < 0 {
				continue
			}
			size, err := s.capacity(ctx, l.LUN)
			if err != nil {
				s.log.Warn("cannot read the exact size of a LUN; using the rounded size iscsi-ls shows",
					"storage", s.id, "lun", l.LUN, "err", err)
				size = l.Size
			}
			vols = append(vols, storage.Volume{Volname: Volname(l.LUN), Content: storage.Images, Format: "raw", Size: size, Used: size})
		}
	}
	storage.SortVolumes(vols)
	return vols, nil
}

// capacity reads the exact size of LUN n.
func (s *Storage) capacity(ctx context.Context, n int) (int64, error) {
	res, err := s.r.Run(ctx, s.tool("iscsi-readcapacity16", s.URL(n), "-s"))
	if err != nil {
		if strings.Contains(err.Error(), "LOGICAL_UNIT_NOT_SUPPORTED") {
			return 0, fmt.Errorf("target %s has no LUN %d", s.target, n)
		}
		return 0, err
	}
	return ParseCapacity(res.Stdout)
}

// Status reports the LUNs as the storage's space: all of it is used by
// the LUNs and none is free, since nothing can be allocated here.
// (Proxmox VE reports zeros for iSCSI storages.)
func (s *Storage) Status(ctx context.Context) (storage.Status, error) {
	vols, err := s.luns(ctx)
	if err != nil {
		return storage.Status{}, s.fail("status", "", err)
	}
	st := storage.Status{Active: true}
	for _, v := range vols {
		st.Total += v.Size
	}
	st.Used = st.Total
	return st, nil
}

// List returns the target's LUNs. They belong to no guest, so a listing
// for one guest is empty, as in Proxmox VE.
func (s *Storage) List(ctx context.Context, vmid int, content []storage.Content) ([]storage.Volume, error) {
	if vmid != 0 || (len(content) > 0 && !slices.Contains(content, storage.Images)) {
		return nil, nil
	}
	vols, err := s.luns(ctx)
	if err != nil {
		return nil, s.fail("list", "", err)
	}
	return vols, nil
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

// Volume reports one LUN.
func (s *Storage) Volume(ctx context.Context, volname string) (storage.Volume, error) {
	n, err := ParseVolname(volname)
	if err != nil {
		return storage.Volume{}, s.fail("volume", "", err)
	}
	size, err := s.capacity(ctx, n)
	if err != nil {
		return storage.Volume{}, s.fail("volume", volname, err)
	}
	return storage.Volume{Volname: volname, Content: storage.Images, Format: "raw", Size: size, Used: size}, nil
}

// Attach gives QEMU's iscsi protocol node for the LUN, with the node's
// initiator name, and its libiscsi URL as the path.
func (s *Storage) Attach(_ context.Context, volname, snap string) (storage.Attachment, error) {
	n, err := ParseVolname(volname)
	if err != nil {
		return storage.Attachment{}, s.fail("attach", "", err)
	}
	if snap != "" {
		return storage.Attachment{}, fmt.Errorf("storage %s: cannot attach snapshot %q of %s: iSCSI LUNs have no snapshots", s.id, snap, volname)
	}
	bd := map[string]any{
		"driver":    "iscsi",
		"transport": "tcp",
		"portal":    s.portal,
		"target":    s.target,
		"lun":       n,
	}
	if in := s.initiator(); in != "" {
		bd["initiator-name"] = in
	}
	return storage.Attachment{Path: s.URL(n), Blockdev: bd, Format: "raw"}, nil
}
