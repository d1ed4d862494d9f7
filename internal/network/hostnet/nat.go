package hostnet

import (
	"context"
	"fmt"
	"runtime"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/network/ifaces"
	"github.com/hearth-virt/hearth/internal/network/natnet"
	"github.com/vishvananda/netns"
)

// StartNAT brings the NAT network up in the service's namespace, adopting
// what a previous daemon left running. A failure is remembered and
// reported by the NAT endpoints rather than stopping the node: guests
// without the NAT network are better than no node at all.
func (s *Service) StartNAT(ctx context.Context, cfg natnet.Config) error {
	cfg = cfg.WithDefaults()
	s.mu.Lock()
	s.natCfg = &cfg
	s.mu.Unlock()
	var n *natnet.Network
	err := s.inNS(func() error {
		var err error
		n, err = natnet.Up(ctx, cfg)
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nat, s.natErr = n, err
	if err != nil {
		return fmt.Errorf("NAT network %s: %w", cfg.Bridge, err)
	}
	return nil
}

// ReleaseNAT lets go of the NAT network without stopping it, so guests
// keep their network while the daemon is away; the next StartNAT adopts
// it.
func (s *Service) ReleaseNAT() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nat != nil {
		s.nat.Release()
		s.nat = nil
	}
}

// StopNAT takes the NAT network down: dnsmasq stops, the bridge and the
// nftables table go. The lease file stays for the next start.
func (s *Service) StopNAT(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nat == nil {
		return nil
	}
	if err := s.nat.Down(ctx); err != nil {
		return err
	}
	s.nat = nil
	return nil
}

// NATBridge is the NAT network's bridge, or "" when none is configured.
func (s *Service) NATBridge() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.natCfg == nil {
		return ""
	}
	return s.natCfg.Bridge
}

// inNS runs fn on a thread in the service's namespace. natnet works in
// the namespace of the calling thread and remembers it for later work.
func (s *Service) inNS(fn func() error) error {
	if s.cfg.NetNS == "" {
		return fn()
	}
	ns, err := netns.GetFromPath(s.cfg.NetNS)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", s.cfg.NetNS, err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine instead of
		// going back to the scheduler in the wrong namespace. dnsmasq is
		// forked from it and stays in the namespace.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", s.cfg.NetNS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (s *Service) natStatus(context.Context, *api.Call, *api.NodeParam) (api.NATStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.natCfg == nil {
		return api.NATStatus{State: "off"}, nil
	}
	c := *s.natCfg
	st := api.NATStatus{State: "up", Bridge: c.Bridge, Subnet: c.Subnet.String(), Gateway: c.Gateway.String(),
		DHCPStart: c.DHCPRange.Start.String(), DHCPEnd: c.DHCPRange.End.String()}
	if c.DNS {
		st.DNS = 1
	}
	if s.nat == nil {
		st.State = "down"
		if s.natErr != nil {
			st.Error = s.natErr.Error()
		}
	}
	return st, nil
}

func (s *Service) natLeases(context.Context, *api.Call, *api.NodeParam) ([]api.NATLease, error) {
	s.mu.Lock()
	n, cfg, nerr := s.nat, s.natCfg, s.natErr
	s.mu.Unlock()
	switch {
	case cfg == nil:
		return nil, api.Errorf(500, "no NAT network is configured on this node")
	case n == nil && nerr != nil:
		return nil, api.Errorf(500, "the NAT network %s is down: %v", cfg.Bridge, nerr)
	case n == nil:
		return nil, api.Errorf(500, "the NAT network %s is down", cfg.Bridge)
	}
	leases, err := n.Leases()
	if err != nil {
		return nil, fmt.Errorf("read the DHCP leases: %w", err)
	}
	out := make([]api.NATLease, 0, len(leases))
	for _, l := range leases {
		e := api.NATLease{MAC: l.MAC.String(), IP: l.IP.String(), Hostname: l.Hostname}
		if !l.Expiry.IsZero() {
			e.Expiry = l.Expiry.Unix()
		}
		out = append(out, e)
	}
	return out, nil
}

// natListItem is the NAT bridge in the listings that offer bridges to
// guests, as Proxmox VE lists its SDN bridges there.
func (s *Service) natListItem(typ string, links []ifaces.HostLink) []map[string]any {
	switch typ {
	case "any_bridge", "any_local_bridge", "include_sdn":
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.natCfg == nil {
		return nil
	}
	item := map[string]any{"iface": s.natCfg.Bridge, "type": ifaces.TypeBridge, "method": "manual", "method6": "manual",
		"families": []string{"inet"}, "comments": "Hearth NAT network (DHCP and masquerade)\n"}
	for _, l := range links {
		if l.Name == s.natCfg.Bridge && l.Up {
			item["active"] = 1
		}
	}
	return []map[string]any{item}
}

// refuseNATBridge keeps the interfaces file from claiming the NAT bridge,
// which the daemon manages on its own.
func (s *Service) refuseNATBridge(name string) error {
	if b := s.NATBridge(); b != "" && name == b {
		return api.ParamError("iface", "%s is the bridge of the NAT network, which Hearth manages itself", name)
	}
	return nil
}
