package cmdline

import (
	"fmt"
	"strconv"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// TapName is the host interface of a VM's NIC, as Proxmox VE names it:
// tap<vmid>i<index>.
func TapName(vmid, index int) string { return fmt.Sprintf("tap%di%d", vmid, index) }

// NetObjects returns the netdev_add and device_add arguments of NIC key
// (net0 to net31), as Build creates it.
func NetObjects(in Input, key string) (netdev map[string]any, device map[string]any, err error) {
	b, err := newBuilder(in)
	if err != nil {
		return nil, nil, err
	}
	nd, dev, err := b.planNet(key)
	if err != nil {
		return nil, nil, fmt.Errorf("VM %d: %w", in.VMID, err)
	}
	return nd.Map(), dev.Map(), nil
}

func (b *builder) addNets() error {
	for i := 0; i < 32; i++ {
		key := "net" + strconv.Itoa(i)
		if _, ok := b.conf[key]; !ok {
			continue
		}
		nd, dev, err := b.planNet(key)
		if err != nil {
			return err
		}
		b.addDev("-netdev", nd.String())
		b.device(dev)
	}
	return nil
}

// planNet builds a NIC's backend and device. A NIC on a bridge gets a tap
// that QEMU creates and the VM service plugs into the bridge (no scripts);
// a NIC without a bridge uses QEMU's user-mode network.
func (b *builder) planNet(key string) (netdev, device opts, err error) {
	v, ok := b.conf[key]
	if !ok {
		return nil, nil, fmt.Errorf("%s: the VM has no such network card", key)
	}
	n, err := vmconf.ParseNet(key, v)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", key, err)
	}
	if n.MACAddr == "" {
		return nil, nil, fmt.Errorf("%s: has no MAC address; write it as %s=<mac> (the API generates one)", key, n.Model)
	}
	virtio := n.Model == "virtio"
	queues := n.Queues.Or(0)
	if n.Bridge != "" {
		tap := TapName(b.in.VMID, n.Index)
		if len(tap) > 15 {
			return nil, nil, fmt.Errorf("%s: interface name %s is longer than the 15 characters Linux allows", key, tap)
		}
		netdev = opts{{"type", "tap"}, {"id", key}, {"ifname", tap}, {"script", "no"}, {"downscript", "no"}}
		if virtio && b.kvm {
			// vhost moves the packet path into the kernel; it needs KVM's
			// interrupt injection.
			netdev = append(netdev, opt{"vhost", true})
		}
		if virtio && queues > 1 {
			netdev = append(netdev, opt{"queues", queues})
		}
	} else {
		name := b.conf["name"]
		if name == "" {
			name = fmt.Sprintf("vm%d", b.in.VMID)
		}
		netdev = opts{{"type", "user"}, {"id", key}, {"hostname", name}}
	}

	driver := n.Model
	if virtio {
		driver = "virtio-net-pci"
	}
	device = opts{{"driver", driver}, {"mac", n.MACAddr}, {"netdev", key}}
	if driver != "ne2k_isa" {
		addr, err := b.pciAddr(key)
		if err != nil {
			return nil, nil, err
		}
		device = append(device, addr...)
	}
	device = append(device, opt{"id", key})
	if virtio && queues > 1 {
		// One vector per queue and direction, plus config and control.
		device = append(device, opt{"vectors", 2*queues + 2}, opt{"mq", true})
		if b.m.atLeast(7, 1) {
			device = append(device, opt{"packed", true})
		}
	}
	if virtio && b.m.atLeast(7, 1) {
		device = append(device, opt{"rx_queue_size", 1024}, opt{"tx_queue_size", 256})
	}
	if idx := b.boot[key]; idx > 0 {
		device = append(device, opt{"bootindex", idx})
	}
	if mtu, ok := n.MTU.Get(); ok {
		hostMTU, err := b.nicMTU(key, n, mtu)
		if err != nil {
			return nil, nil, err
		}
		if hostMTU > 0 {
			device = append(device, opt{"host_mtu", hostMTU})
		}
	}
	return netdev, device, nil
}

// nicMTU is the MTU a virtio NIC announces to the guest: mtu=1 means the
// bridge's. Other models cannot announce one.
func (b *builder) nicMTU(key string, n *vmconf.Net, mtu int) (int, error) {
	if n.Model != "virtio" || n.Bridge == "" {
		b.warn("%s: mtu %d is ignored: only a virtio NIC on a bridge can announce an MTU", key, mtu)
		return 0, nil
	}
	bridgeMTU, known := b.in.BridgeMTU[n.Bridge]
	switch {
	case mtu == 1 && !known:
		b.warn("%s: mtu=1 asks for the MTU of bridge %s, which is not known; the guest picks its own", key, n.Bridge)
		return 0, nil
	case mtu == 1:
		return bridgeMTU, nil
	case mtu < 576:
		return 0, fmt.Errorf("%s: mtu %d is below the IPv4 minimum of 576", key, mtu)
	case known && mtu > bridgeMTU:
		return 0, fmt.Errorf("%s: mtu %d is above the MTU of bridge %s (%d)", key, mtu, n.Bridge, bridgeMTU)
	}
	return mtu, nil
}
