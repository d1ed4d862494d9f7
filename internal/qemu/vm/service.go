// Package vm runs the virtual machines of a node: it keeps their
// configuration files in the cluster tree, starts QEMU from the command
// line internal/qemu/cmdline builds, talks to the running process over
// QMP, and serves the /nodes/{node}/qemu API.
//
// A VM's configuration belongs to the node in whose directory it lives
// (nodes/<node>/qemu-server/<vmid>.conf); only that node changes it, so
// the lock that serializes changes to one VM is a lock of this process,
// never a cluster lock. Different VMs never wait on each other.
package vm

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/network/guestport"
	"github.com/hearth-virt/hearth/internal/qemu/agent"
	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// Pools is what the service needs from access control: pool membership
// of new guests and the clean-up of destroyed ones.
type Pools interface {
	AddGuestToPool(ctx context.Context, pool string, vmid int) error
	// ForgetGuest removes the guest from its pool and, with purge, its ACL
	// entries.
	ForgetGuest(ctx context.Context, vmid int, purge bool) error
}

// Options configure the service of one node.
type Options struct {
	Store   *cfs.Store
	Node    string
	Storage *storage.Service
	Runner  runner.Runner
	Log     *slog.Logger
	// RunDir holds the runtime files of running VMs (sockets, pid files);
	// /run/hearth/qemu on a real node.
	RunDir string
	// QEMU is the emulator binary; default qemu-system-x86_64.
	QEMU string
	// NetNS is the network namespace guests are plugged in; empty for the
	// node's own. Netlink is a handle in that namespace.
	NetNS   string
	Netlink guestport.Netlink
	// NetLock takes the node's network lock, which serializes changes to
	// its bridges with the host network service; nil for none.
	NetLock func(ctx context.Context) (unlock func(), err error)
	Pools   Pools
	// MACPrefix returns the datacenter's prefix for generated MACs.
	MACPrefix func() string
	// KVM overrides the detection of /dev/kvm (tests).
	KVM *bool
}

// Service is the VM service of one node.
type Service struct {
	o    Options
	host hostFacts

	repo *guestconf.Repo

	mu    sync.Mutex
	procs map[int]*proc
	// agents are the guest agent clients of running VMs.
	agents map[int]*agent.Client
	// shutdowns cancels the running shutdowns of each VM, for a stop
	// with overrule-shutdown.
	shutdowns map[int]map[*int]context.CancelFunc
	// released is set when the daemon lets go of its VMs.
	released atomic.Bool
}

// New makes the service. Call Attach once the cluster tree is readable
// to find VMs that kept running while the daemon was down.
func New(o Options) *Service {
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MACPrefix == nil {
		o.MACPrefix = func() string { return "BC:24:11" }
	}
	s := &Service{o: o, procs: map[int]*proc{}, agents: map[int]*agent.Client{}, shutdowns: map[int]map[*int]context.CancelFunc{}}
	s.repo = &guestconf.Repo{Store: o.Store, Node: o.Node, Kind: guestconf.KindQemu, Noun: "VM", Log: o.Log}
	s.host = detectHost(o)
	return s
}

func (s *Service) paths(vmid int) runPaths { return runPaths{dir: s.o.RunDir, vmid: vmid} }
