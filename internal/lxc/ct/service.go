// Package ct runs the LXC containers of a node: it keeps their
// configuration files in the cluster tree (nodes/<node>/lxc/<vmid>.conf),
// creates root file systems from templates, writes the LXC configuration
// internal/lxc/lxcconf builds, drives the standard lxc-start, lxc-stop,
// lxc-attach, lxc-info and lxc-freeze tools, and serves the
// /nodes/{node}/lxc API.
//
// A running container belongs to LXC, not to the daemon: lxc-start
// daemonizes its monitor, the hooks (internal/lxc/hook) mount and plug
// from a plan written before the start, and the daemon finds the
// container again by its pid file and cgroup. A daemon restart therefore
// never stops a container.
package ct

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/lxcconf"
	"github.com/hearth-virt/hearth/internal/network/guestport"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Pools is what the service needs from access control: pool membership
// of new guests and the clean-up of destroyed ones.
type Pools interface {
	AddGuestToPool(ctx context.Context, pool string, vmid int) error
	ForgetGuest(ctx context.Context, vmid int, purge bool) error
}

// Options configure the service of one node.
type Options struct {
	Store   *cfs.Store
	Node    string
	Storage *storage.Service
	Runner  runner.Runner
	Log     *slog.Logger
	// LXCPath is LXC's lxcpath: <LXCPath>/<vmid>/ holds the generated
	// config, the start plan, the pid file, the log and the rootfs mount
	// point. /run/hearth/lxc on a real node.
	LXCPath string
	// NetNS is the network namespace containers start in; empty for the
	// node's own. LXC's command socket is bound to it, so every lxc-*
	// call runs there too.
	NetNS string
	// Netlink is a handle in that namespace, for traffic counters and
	// changes to the NICs of running containers; NetLock serializes such
	// changes with the host network service (nil for none).
	Netlink guestport.Netlink
	NetLock func(ctx context.Context) (unlock func(), err error)
	Pools   Pools
	// MACPrefix returns the datacenter's prefix for generated MACs.
	MACPrefix func() string
	// Hook is the hearth binary LXC runs the hooks with; default: this
	// executable.
	Hook string
	// LXCConfigDir holds LXC's shipped includes; default
	// /usr/share/lxc/config.
	LXCConfigDir string
	// CgroupRoot is where the cgroup hierarchies are mounted; default
	// /sys/fs/cgroup.
	CgroupRoot string
	// TemplateCache is where built templates are cached
	// (/var/cache/hearth/vztmpl).
	TemplateCache string
}

// Service is the container service of one node.
type Service struct {
	o    Options
	repo *guestconf.Repo
	host hostFacts

	mu sync.Mutex
	// cpu keeps the last CPU time sample of each container, for the CPU
	// use between two status reads.
	cpu map[int]cpuSample
}

// hostFacts are what the LXC configuration depends on about the host.
type hostFacts struct {
	cgroup   int
	memsw    bool
	apparmor bool
	cpus     int
}

// New makes the service.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MACPrefix == nil {
		o.MACPrefix = func() string { return "BC:24:11" }
	}
	if o.Hook == "" {
		o.Hook, _ = os.Executable()
	}
	if o.LXCConfigDir == "" {
		o.LXCConfigDir = "/usr/share/lxc/config"
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = "/sys/fs/cgroup"
	}
	if o.TemplateCache == "" {
		o.TemplateCache = "/var/cache/hearth/vztmpl"
	}
	s := &Service{o: o, cpu: map[int]cpuSample{}}
	s.repo = &guestconf.Repo{Store: o.Store, Node: o.Node, Kind: guestconf.KindLXC, Noun: "CT", Log: o.Log}
	s.host.cgroup, s.host.memsw, _ = lxcconf.HostCgroup(o.CgroupRoot)
	if s.host.cgroup == 0 {
		s.host.cgroup = 1
	}
	s.host.apparmor = lxcconf.AppArmorEnabled("/sys")
	s.host.cpus = runtime.NumCPU()
	return s
}

// dir is the container's lxcpath directory.
func (s *Service) dir(vmid int) string { return filepath.Join(s.o.LXCPath, strconv.Itoa(vmid)) }

// rootDir is where the container's root file system is mounted.
func (s *Service) rootDir(vmid int) string { return filepath.Join(s.dir(vmid), "rootfs") }

func (s *Service) pidFile(vmid int) string { return filepath.Join(s.dir(vmid), "pid") }
