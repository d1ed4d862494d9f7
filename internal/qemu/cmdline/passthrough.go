package cmdline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// addUSB adds the USB controller, the tablet and usb0-14. Since machine
// 7.1 every device sits on one qemu-xhci controller at port index+1, so
// that USB hotplug finds its port free; older machines keep the UHCI/EHCI
// buses they had, with xHCI only for usb3 devices.
func (b *builder) addUSB() error {
	type usbDev struct {
		i int
		u *vmconf.USB
	}
	var devs []usbDev
	usb3 := false
	for i := 0; i < 15; i++ {
		key := "usb" + strconv.Itoa(i)
		v, ok := b.conf[key]
		if !ok {
			continue
		}
		u, err := vmconf.ParseUSB(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		devs = append(devs, usbDev{i, u})
		usb3 = usb3 || u.USB3.Or(false)
	}
	xhci := b.m.atLeast(7, 1)
	if len(devs) > 0 && (xhci || usb3) {
		addr, err := b.pciAddr("xhci")
		if err != nil {
			return err
		}
		if xhci {
			b.device(append(opts{{"driver", "qemu-xhci"}, {"p2", 15}, {"p3", 15}, {"id", "xhci"}}, addr...))
		} else {
			b.device(append(opts{{"driver", "nec-usb-xhci"}, {"id", "xhci"}}, addr...))
		}
	}
	if err := b.addTablet(); err != nil {
		return err
	}
	for _, d := range devs {
		key := "usb" + strconv.Itoa(d.i)
		switch {
		case d.u.Mapping != "":
			return fmt.Errorf("%s: resource mappings are not supported yet; name the device with host=", key)
		case d.u.IsSpice():
			b.warn("%s: SPICE USB redirection needs a SPICE display, which Hearth does not offer; the port is left out", key)
			continue
		}
		o := opts{{"driver", "usb-host"}}
		if xhci || d.u.USB3.Or(false) {
			o = append(o, opt{"bus", "xhci.0"})
			if xhci {
				o = append(o, opt{"port", d.i + 1})
			}
		}
		if vendor, product, ok := d.u.VendorProduct(); ok {
			o = append(o, opt{"vendorid", fmt.Sprintf("0x%04x", vendor)}, opt{"productid", fmt.Sprintf("0x%04x", product)})
		} else if bus, port, ok := d.u.Port(); ok {
			o = append(o, opt{"hostbus", bus}, opt{"hostport", port})
		} else {
			return fmt.Errorf("%s: host %q is neither vendor:product nor bus-port", key, d.u.Host)
		}
		o = append(o, opt{"id", key})
		if n := b.boot[key]; n > 0 {
			o = append(o, opt{"bootindex", n})
		}
		b.device(o)
	}
	return nil
}

// addTablet adds the USB tablet that keeps the VNC pointer in step with
// the guest's; it is on by default except for SPICE (QXL) and serial
// consoles, which have no use for it.
func (b *builder) addTablet() error {
	g, err := b.vgaType()
	if err != nil {
		return err
	}
	def := !qxlRE.MatchString(g.Type) && !strings.HasPrefix(g.Type, "serial")
	if !boolOpt(b.conf, "tablet", def) {
		return nil
	}
	bus := "uhci.0"
	if b.m.q35 {
		bus = "ehci.0"
	}
	b.device(opts{{"driver", "usb-tablet"}, {"id", "tablet"}, {"bus", bus}, {"port", 1}})
	return nil
}

// addHostPCI adds hostpci0-15 as vfio-pci devices. A device with several
// functions listed (01:00.0;01:00.1) becomes one multifunction device.
// With pcie=1 on q35 it sits behind a PCIe root port, which guest GPU
// drivers expect.
func (b *builder) addHostPCI() error {
	for i := 0; i < 16; i++ {
		key := "hostpci" + strconv.Itoa(i)
		v, ok := b.conf[key]
		if !ok {
			continue
		}
		h, err := vmconf.ParseHostPCI(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		switch {
		case h.Mapping != "":
			return fmt.Errorf("%s: resource mappings are not supported yet; name the device with host=", key)
		case h.MDev != "":
			return fmt.Errorf("%s: mediated devices (mdev) are not supported yet", key)
		case h.LegacyIGD.Or(false):
			return fmt.Errorf("%s: legacy-igd is not supported yet", key)
		case h.Driver == "keep":
			return fmt.Errorf("%s: driver=keep is not supported yet", key)
		}
		var bus, slot string
		if h.PCIe.Or(false) {
			if !b.m.q35 {
				return fmt.Errorf("%s: pcie=1 needs a q35 machine", key)
			}
			port := i + 1
			if port > 4 {
				b.devices = append(b.devices, "-device", rootPort(port).String())
			}
			bus, slot = fmt.Sprintf("ich9-pcie-port-%d", port), "0x0"
		} else {
			addr, err := b.pciAddr(key)
			if err != nil {
				return err
			}
			bus, slot = addr.get("bus").(string), addr.get("addr").(string)
		}
		for fn, host := range h.Host {
			full, whole := pciHostAddr(host)
			if whole {
				b.warn("%s: %s names a whole device; only its function 0 is passed through (list the functions to pass more)", key, host)
			}
			id, addr := key, slot
			if len(h.Host) > 1 {
				addr = fmt.Sprintf("%s.0x%x", slot, fn)
				if fn > 0 {
					id = fmt.Sprintf("%s.%d", key, fn)
				}
			}
			o := opts{{"driver", "vfio-pci"}, {"host", full}, {"id", id}, {"bus", bus}, {"addr", addr}}
			if len(h.Host) > 1 && fn == 0 {
				o = append(o, opt{"multifunction", true})
			}
			if fn == 0 {
				o = append(o, hostPCIExtras(h)...)
				if n := b.boot[key]; n > 0 {
					o = append(o, opt{"bootindex", n})
				}
			}
			b.device(o)
		}
	}
	return nil
}

// pciHostAddr writes a host PCI address in full (0000:01:00.0); whole is
// set when the address left out the function.
func pciHostAddr(a string) (full string, whole bool) {
	if strings.Count(a, ":") == 1 {
		a = "0000:" + a
	}
	if !strings.Contains(a, ".") {
		return a + ".0", true
	}
	return a, false
}

// hostPCIExtras are the options of the first function: primary GPU, ROM
// and the ids shown to the guest.
func hostPCIExtras(h *vmconf.HostPCI) opts {
	var o opts
	if h.XVGA.Or(false) {
		o = append(o, opt{"x-vga", true})
	}
	if !h.ROMBar.Or(true) {
		o = append(o, opt{"rombar", 0})
	}
	if h.ROMFile != "" {
		o = append(o, opt{"romfile", "/usr/share/kvm/" + h.ROMFile})
	}
	for _, id := range []struct{ name, v string }{
		{"x-pci-vendor-id", h.VendorID}, {"x-pci-device-id", h.DeviceID},
		{"x-pci-sub-vendor-id", h.SubVendorID}, {"x-pci-sub-device-id", h.SubDeviceID},
	} {
		if id.v != "" {
			o = append(o, opt{id.name, id.v})
		}
	}
	return o
}
