package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/network/hostnet"
	"github.com/hearth-virt/hearth/internal/network/natnet"
)

// openNetwork prepares the node's network service: the interfaces file
// and, when configured, the NAT network (brought up by startNetwork).
func (d *Daemon) openNetwork() error {
	var err error
	if d.natCfg, err = parseNATNetwork(d.cfg.NATNetwork, d.cfg.StateDir); err != nil {
		return err
	}
	if d.natCfg != nil {
		d.natCfg.Logger = d.log.With("component", "nat")
	}
	d.network, err = hostnet.New(hostnet.Config{File: d.cfg.NetworkInterfaces, NetNS: d.cfg.NetworkNamespace,
		Logger: d.log.With("component", "network")})
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// startNetwork brings the NAT network up. A node whose NAT network fails
// still starts: the reason is logged and the NAT endpoints report it.
func (d *Daemon) startNetwork(ctx context.Context) {
	if d.natCfg == nil {
		return
	}
	if err := d.network.StartNAT(ctx, *d.natCfg); err != nil {
		d.log.Warn("the NAT network is down; guests on it have no network", "error", err)
		return
	}
	d.log.Info("NAT network up", "bridge", d.natCfg.Bridge, "subnet", d.natCfg.WithDefaults().Subnet.String())
}

// stopNetwork lets go of the NAT network without taking it down: running
// guests keep their network, and the next start adopts it.
func (d *Daemon) stopNetwork() {
	if d.network != nil {
		d.network.ReleaseNAT()
	}
}

// parseNATNetwork reads --nat-network: "none" (or empty) for no NAT
// network, else BRIDGE[,subnet=CIDR][,dns=0|1].
func parseNATNetwork(spec, stateDir string) (*natnet.Config, error) {
	if spec == "" || spec == "none" {
		return nil, nil
	}
	parts := strings.Split(spec, ",")
	cfg := natnet.Config{Bridge: parts[0], DNS: true}
	if err := schema.CheckFormat("pve-iface", cfg.Bridge); err != nil || strings.ContainsAny(cfg.Bridge, ".:") || len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("--nat-network: %q is not a bridge name (letters, digits and '_', at most 15)", cfg.Bridge)
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "subnet":
			pfx, err := netip.ParsePrefix(v)
			if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 29 {
				return nil, fmt.Errorf("--nat-network: subnet %q must be an IPv4 network of at least 8 addresses, such as 10.213.0.0/24", v)
			}
			cfg.Subnet = pfx.Masked()
		case "dns":
			switch v {
			case "1", "on", "yes":
				cfg.DNS = true
			case "0", "off", "no":
				cfg.DNS = false
			default:
				return nil, fmt.Errorf("--nat-network: dns=%q must be 0 or 1", v)
			}
		default:
			return nil, fmt.Errorf("--nat-network: unknown option %q; use BRIDGE[,subnet=CIDR][,dns=0|1] or none", p)
		}
	}
	cfg.StateDir = filepath.Join(stateDir, "nat", cfg.Bridge)
	return &cfg, nil
}
