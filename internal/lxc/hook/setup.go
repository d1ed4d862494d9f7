package hook

import (
	"fmt"
	"os"

	"github.com/hearth-virt/hearth/internal/lxc/ossetup"
)

// ApplySetup adapts the distribution inside the mounted root file
// system: host name, hosts file, network configuration, DNS and time
// zone, as the configuration says at this start.
func ApplySetup(p *Plan) error {
	s := p.Setup
	set := ossetup.Settings{Hostname: s.Hostname, Nameservers: s.Nameservers, SearchDomain: s.SearchDomain, Timezone: s.Timezone}
	for _, n := range s.Nets {
		set.Nets = append(set.Nets, ossetup.Net{Index: n.Index, Name: n.Name, IP: n.IP, GW: n.GW, IP6: n.IP6, GW6: n.GW6, MTU: n.MTU})
	}
	res, err := ossetup.Apply(p.Root, s.OSType, set, ossetup.IDShift{UID: p.UIDBase, GID: p.GIDBase})
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		// LXC keeps what a hook prints in the container's start log.
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	return nil
}
