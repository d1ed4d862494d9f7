package hook

import (
	"context"
	"fmt"

	"github.com/hearth-virt/hearth/internal/network/guestport"
	"github.com/vishvananda/netlink"
)

// NetUp plugs the host end of one of the container's veths into its
// bridge. LXC runs it in the network namespace it started in, after it
// created the pair and before the container's init runs, so the network
// is there when the system inside brings its interfaces up.
func NetUp(ctx context.Context, p *Plan, ifname string) error {
	for _, port := range p.NICs {
		if port.Name != ifname {
			continue
		}
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		if err := guestport.Plug(ctx, h, port, nil); err != nil {
			return fmt.Errorf("plug %s into %s: %w", ifname, port.Bridge, err)
		}
		return nil
	}
	return fmt.Errorf("the start plan has no NIC %s", ifname)
}
