package hostnet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/atomicfile"
	"github.com/hearth-virt/hearth/internal/network/ifaces"
	"github.com/hearth-virt/hearth/internal/network/natnet"
	"github.com/hearth-virt/hearth/internal/network/netapply"
	"github.com/vishvananda/netns"
)

// DefaultFile is the interfaces file of a Debian host.
const DefaultFile = "/etc/network/interfaces"

// Config describes the service.
type Config struct {
	// File is the interfaces file; default DefaultFile. A missing file
	// reads as empty, and is created by the first successful apply.
	File string
	// NetNS is the path of the network namespace to manage, such as
	// /run/netns/<name>; empty means the daemon's own.
	NetNS string
	// Logger receives what the service does on its own (the NAT network);
	// nil discards it.
	Logger *slog.Logger
}

// Service is the node's network configuration service.
type Service struct {
	cfg Config
	log *slog.Logger
	// lock is the network lock: a channel so that a task waiting for it
	// can give up when it is stopped.
	lock chan struct{}

	mu     sync.Mutex // guards nat, natCfg, natErr
	nat    *natnet.Network
	natCfg *natnet.Config // nil: no NAT network configured
	natErr error          // why a configured NAT network is not up
}

// New makes the service. It only checks that the namespace can be
// opened; the file is read on each request.
func New(cfg Config) (*Service, error) {
	if cfg.File == "" {
		cfg.File = DefaultFile
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, lock: make(chan struct{}, 1)}
	h, err := s.handle()
	if err != nil {
		return nil, err
	}
	h.Close()
	return s, nil
}

// File is the interfaces file the service manages.
func (s *Service) File() string { return s.cfg.File }

func (s *Service) pendingFile() string { return s.cfg.File + ".new" }

// Lock takes the network lock, waiting until it is free or ctx ends, and
// returns its release. Whoever changes the host's network (applying,
// plugging guest ports) holds it.
func (s *Service) Lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.lock <- struct{}{}:
		return func() { <-s.lock }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the network lock: %w", ctx.Err())
	}
}

// handle opens a netlink handle in the service's namespace.
func (s *Service) handle() (*netapply.Handle, error) {
	ns := netns.None()
	if s.cfg.NetNS != "" {
		var err error
		if ns, err = netns.GetFromPath(s.cfg.NetNS); err != nil {
			return nil, fmt.Errorf("network namespace %s: %w", s.cfg.NetNS, err)
		}
		defer ns.Close()
	}
	h, err := netapply.NewHandle(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return h, nil
}

// hostLinks lists the namespace's links as package ifaces needs them.
func (s *Service) hostLinks() ([]ifaces.HostLink, error) {
	h, err := s.handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := make([]ifaces.HostLink, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		kind := l.Type()
		out = append(out, ifaces.HostLink{
			Name: a.Name, Kind: kind, Up: a.Flags&net.FlagUp != 0,
			// A plain "device" other than the loopback is a NIC: virtual
			// links all report a kind of their own.
			Physical: kind == "device" && a.Flags&net.FlagLoopback == 0,
		})
	}
	return out, nil
}

// readFile returns a file's contents; a missing file is empty.
func readFile(path string) ([]byte, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// files reads the interfaces file and the pending one. pending is nil
// when there are no pending changes.
func (s *Service) files() (current, pending []byte, err error) {
	current, _, err = readFile(s.cfg.File)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", s.cfg.File, err)
	}
	pending, ok, err := readFile(s.pendingFile())
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", s.pendingFile(), err)
	}
	if !ok {
		pending = nil
	}
	return current, pending, nil
}

// config parses the configuration the API shows: the pending file when
// there is one, else the file itself.
func (s *Service) config() (f *ifaces.File, current, pending []byte, err error) {
	current, pending, err = s.files()
	if err != nil {
		return nil, nil, nil, err
	}
	name, data := s.cfg.File, current
	if pending != nil {
		name, data = s.pendingFile(), pending
	}
	f, err = ifaces.Parse(data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, current, pending, nil
}

func (s *Service) writePending(data []byte) error {
	if err := os.MkdirAll(filepath.Dir(s.cfg.File), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(s.pendingFile(), data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", s.pendingFile(), err)
	}
	return nil
}

// Routes binds the network endpoints.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		api.NetworkListGet.Handle(s.list),
		api.NetworkCreate.Handle(s.create),
		api.NetworkApply.Handle(s.apply),
		api.NetworkRevert.Handle(s.revert),
		api.NetworkGet.Handle(s.get),
		api.NetworkUpdate.Handle(s.update),
		api.NetworkDelete.Handle(s.delete),
		api.NATStatusGet.Handle(s.natStatus),
		api.NATLeases.Handle(s.natLeases),
	}
}

func (s *Service) list(_ context.Context, _ *api.Call, in *api.NetworkListParams) (api.NetworkList, error) {
	f, current, pending, err := s.config()
	if err != nil {
		return api.NetworkList{}, err
	}
	links, err := s.hostLinks()
	if err != nil {
		return api.NetworkList{}, err
	}
	items, err := f.List(links, in.Type)
	if err != nil {
		return api.NetworkList{}, validationError(err)
	}
	items = append(items, s.natListItem(in.Type, links)...)
	out := api.NetworkList{Items: items}
	if pending != nil {
		out.Changes = ifaces.Diff(s.cfg.File, s.pendingFile(), current, pending)
	}
	return out, nil
}

func (s *Service) get(_ context.Context, _ *api.Call, in *api.NetworkIfaceParam) (map[string]any, error) {
	f, _, _, err := s.config()
	if err != nil {
		return nil, err
	}
	links, err := s.hostLinks()
	if err != nil {
		return nil, err
	}
	for _, it := range ifaces.Merge(f.Interfaces(), links) {
		if it.Name == in.Iface && it.Type != ifaces.TypeLoopback {
			return it.APIValue(), nil
		}
	}
	return nil, api.ParamError("iface", "interface %s does not exist", in.Iface)
}

// edit changes the pending configuration under the network lock.
func (s *Service) edit(ctx context.Context, change func(f *ifaces.File, links []ifaces.HostLink) error) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	f, _, _, err := s.config()
	if err != nil {
		return err
	}
	links, err := s.hostLinks()
	if err != nil {
		return err
	}
	if err := change(f, links); err != nil {
		return validationError(err)
	}
	return s.writePending(f.Bytes())
}

func (s *Service) create(ctx context.Context, _ *api.Call, in *api.Params) (any, error) {
	p := ifaces.Params(*in)
	name, _ := p["iface"].(string)
	if err := s.refuseNATBridge(name); err != nil {
		return nil, err
	}
	return nil, s.edit(ctx, func(f *ifaces.File, links []ifaces.HostLink) error { return f.Create(p, links) })
}

func (s *Service) update(ctx context.Context, _ *api.Call, in *api.Params) (any, error) {
	p := ifaces.Params(*in)
	name, _ := p["iface"].(string)
	var del []string
	if d, ok := p["delete"].(string); ok {
		del = strings.FieldsFunc(d, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
	}
	return nil, s.edit(ctx, func(f *ifaces.File, links []ifaces.HostLink) error { return f.Update(name, p, del, links) })
}

func (s *Service) delete(ctx context.Context, _ *api.Call, in *api.NetworkIfaceParam) (any, error) {
	return nil, s.edit(ctx, func(f *ifaces.File, _ []ifaces.HostLink) error { return f.Delete(in.Iface) })
}

func (s *Service) revert(ctx context.Context, _ *api.Call, _ *api.NodeParam) (any, error) {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := os.Remove(s.pendingFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("revert network changes: %w", err)
	}
	return nil, nil
}

// validationError turns the field errors of package ifaces into the API's
// 400 with the parameters named.
func validationError(err error) error {
	var ve *ifaces.ValidationError
	if errors.As(err, &ve) {
		return &api.Error{Status: http.StatusBadRequest, Message: api.ParamVerificationFailed, Errors: ve.Fields()}
	}
	return err
}

// GuestHandle opens a netlink handle in the service's namespace for
// plugging guest ports; the caller closes it. Plugging must hold Lock.
func (s *Service) GuestHandle() (*netapply.Handle, error) { return s.handle() }
