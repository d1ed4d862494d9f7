package guestport

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeNL is a recording Netlink: a small model of a host's links and
// qdiscs that logs every call that changes something, in a form close to
// the ip/bridge/tc command that would do the same. Reads are not logged.
type fakeNL struct {
	links  []netlink.Link
	qdiscs map[int][]netlink.Qdisc
	calls  []string
	fail   map[string]error // a logged call that fails, with its error
	next   int
}

func newFake() *fakeNL {
	return &fakeNL{qdiscs: map[int][]netlink.Qdisc{}, fail: map[string]error{}, next: 1}
}

// add puts a link into the model, enslaved to master when it is not empty.
func (f *fakeNL) add(t *testing.T, l netlink.Link, master string) {
	t.Helper()
	a := l.Attrs()
	a.Index = f.next
	f.next++
	if a.MTU == 0 {
		a.MTU = 1500
	}
	if master != "" {
		m := f.find(master)
		if m == nil {
			t.Fatalf("fake: no master %s", master)
		}
		a.MasterIndex = m.Attrs().Index
	}
	f.links = append(f.links, l)
}

func (f *fakeNL) bridge(t *testing.T, name string, mtu int, vlanAware bool) {
	f.add(t, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}, VlanFiltering: &vlanAware}, "")
}

func (f *fakeNL) nic(t *testing.T, name, master string) {
	f.add(t, &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name}}, master)
}

func (f *fakeNL) tap(t *testing.T, name, master string) {
	f.add(t, &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP}, master)
}

func (f *fakeNL) find(name string) netlink.Link {
	for _, l := range f.links {
		if l.Attrs().Name == name {
			return l
		}
	}
	return nil
}

func (f *fakeNL) byIndex(i int) netlink.Link {
	for _, l := range f.links {
		if l.Attrs().Index == i {
			return l
		}
	}
	return nil
}

// snapshot copies a link as the kernel would report it: callers must not
// see later changes through an old value.
func snapshot(l netlink.Link) netlink.Link {
	switch v := l.(type) {
	case *netlink.Bridge:
		c := *v
		return &c
	case *netlink.Vlan:
		c := *v
		return &c
	case *netlink.Device:
		c := *v
		return &c
	case *netlink.Tuntap:
		c := *v
		return &c
	case *netlink.Veth:
		c := *v
		return &c
	}
	panic(fmt.Sprintf("fake: cannot copy %T", l))
}

func (f *fakeNL) log(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, c)
	return f.fail[c]
}

// live returns the model's own link behind a (possibly stale) value.
func (f *fakeNL) live(l netlink.Link) netlink.Link {
	if m := f.find(l.Attrs().Name); m != nil {
		return m
	}
	panic("fake: unknown link " + l.Attrs().Name)
}

func (f *fakeNL) LinkByName(name string) (netlink.Link, error) {
	if l := f.find(name); l != nil {
		return snapshot(l), nil
	}
	return nil, fmt.Errorf("link %s not found: %w", name, unix.ENODEV)
}

func (f *fakeNL) LinkList() ([]netlink.Link, error) {
	out := make([]netlink.Link, 0, len(f.links))
	for _, l := range f.links {
		out = append(out, snapshot(l))
	}
	return out, nil
}

func (f *fakeNL) LinkAdd(l netlink.Link) error {
	a := l.Attrs()
	var err error
	switch v := l.(type) {
	case *netlink.Vlan:
		err = f.log("LinkAdd vlan %s parent=%s id=%d mtu=%d", a.Name, f.byIndex(a.ParentIndex).Attrs().Name, v.VlanId, a.MTU)
	default:
		err = f.log("LinkAdd %s %s mtu=%d", l.Type(), a.Name, a.MTU)
	}
	if err != nil {
		return err
	}
	c := snapshot(l)
	c.Attrs().Index = f.next
	f.next++
	f.links = append(f.links, c)
	return nil
}

func (f *fakeNL) LinkDel(l netlink.Link) error {
	if err := f.log("LinkDel %s", l.Attrs().Name); err != nil {
		return err
	}
	idx := f.live(l).Attrs().Index
	f.links = slices.DeleteFunc(f.links, func(x netlink.Link) bool { return x.Attrs().Index == idx })
	for _, x := range f.links {
		if x.Attrs().MasterIndex == idx {
			x.Attrs().MasterIndex = 0
		}
	}
	return nil
}

func (f *fakeNL) LinkSetUp(l netlink.Link) error {
	if err := f.log("LinkSetUp %s", l.Attrs().Name); err != nil {
		return err
	}
	f.live(l).Attrs().Flags |= 1 // net.FlagUp
	return nil
}

func (f *fakeNL) LinkSetDown(l netlink.Link) error {
	if err := f.log("LinkSetDown %s", l.Attrs().Name); err != nil {
		return err
	}
	f.live(l).Attrs().Flags &^= 1
	return nil
}

func (f *fakeNL) LinkSetMTU(l netlink.Link, mtu int) error {
	if err := f.log("LinkSetMTU %s %d", l.Attrs().Name, mtu); err != nil {
		return err
	}
	f.live(l).Attrs().MTU = mtu
	return nil
}

func (f *fakeNL) LinkSetMaster(l, master netlink.Link) error {
	if err := f.log("LinkSetMaster %s %s", l.Attrs().Name, master.Attrs().Name); err != nil {
		return err
	}
	f.live(l).Attrs().MasterIndex = f.live(master).Attrs().Index
	return nil
}

func (f *fakeNL) LinkSetNoMaster(l netlink.Link) error {
	if err := f.log("LinkSetNoMaster %s", l.Attrs().Name); err != nil {
		return err
	}
	f.live(l).Attrs().MasterIndex = 0
	return nil
}

func (f *fakeNL) LinkSetAlias(l netlink.Link, alias string) error {
	if err := f.log("LinkSetAlias %s %s", l.Attrs().Name, alias); err != nil {
		return err
	}
	f.live(l).Attrs().Alias = alias
	return nil
}

func vlanFlags(pvid, untagged, self, master bool) string {
	var b strings.Builder
	for _, f := range []struct {
		on   bool
		name string
	}{{pvid, " pvid"}, {untagged, " untagged"}, {self, " self"}, {master, " master"}} {
		if f.on {
			b.WriteString(f.name)
		}
	}
	return b.String()
}

func (f *fakeNL) BridgeVlanAdd(l netlink.Link, vid uint16, pvid, untagged, self, master bool) error {
	return f.log("BridgeVlanAdd %s %d%s", l.Attrs().Name, vid, vlanFlags(pvid, untagged, self, master))
}

func (f *fakeNL) BridgeVlanAddRange(l netlink.Link, vid, end uint16, pvid, untagged, self, master bool) error {
	return f.log("BridgeVlanAddRange %s %d-%d%s", l.Attrs().Name, vid, end, vlanFlags(pvid, untagged, self, master))
}

func (f *fakeNL) BridgeVlanDelRange(l netlink.Link, vid, end uint16, pvid, untagged, self, master bool) error {
	return f.log("BridgeVlanDelRange %s %d-%d%s", l.Attrs().Name, vid, end, vlanFlags(pvid, untagged, self, master))
}

func (f *fakeNL) QdiscList(l netlink.Link) ([]netlink.Qdisc, error) {
	return slices.Clone(f.qdiscs[f.live(l).Attrs().Index]), nil
}

func (f *fakeNL) linkName(idx int) string {
	if l := f.byIndex(idx); l != nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("if%d", idx)
}

func qdiscDesc(q netlink.Qdisc) string {
	a := q.Attrs()
	s := fmt.Sprintf("%s %s parent %s", q.Type(), netlink.HandleStr(a.Handle), netlink.HandleStr(a.Parent))
	if h, ok := q.(*netlink.Htb); ok {
		s += fmt.Sprintf(" default %d", h.Defcls)
	}
	return s
}

func (f *fakeNL) QdiscAdd(q netlink.Qdisc) error {
	a := q.Attrs()
	if err := f.log("QdiscAdd %s %s", f.linkName(a.LinkIndex), qdiscDesc(q)); err != nil {
		return err
	}
	f.qdiscs[a.LinkIndex] = append(f.qdiscs[a.LinkIndex], q)
	return nil
}

func (f *fakeNL) QdiscDel(q netlink.Qdisc) error {
	a := q.Attrs()
	if err := f.log("QdiscDel %s %s", f.linkName(a.LinkIndex), qdiscDesc(q)); err != nil {
		return err
	}
	f.qdiscs[a.LinkIndex] = slices.DeleteFunc(f.qdiscs[a.LinkIndex], func(x netlink.Qdisc) bool {
		return x.Attrs().Handle == a.Handle && x.Attrs().Parent == a.Parent
	})
	return nil
}

func (f *fakeNL) ClassAdd(c netlink.Class) error {
	a := c.Attrs()
	s := fmt.Sprintf("ClassAdd %s %s %s parent %s", f.linkName(a.LinkIndex), c.Type(), netlink.HandleStr(a.Handle), netlink.HandleStr(a.Parent))
	if h, ok := c.(*netlink.HtbClass); ok {
		s += fmt.Sprintf(" rate %dB/s ceil %dB/s", h.Rate, h.Ceil)
	}
	return f.log("%s", s)
}

func (f *fakeNL) FilterAdd(flt netlink.Filter) error {
	a := flt.Attrs()
	s := fmt.Sprintf("FilterAdd %s %s parent %s prio %d proto %#x", f.linkName(a.LinkIndex), flt.Type(), netlink.HandleStr(a.Parent), a.Priority, a.Protocol)
	if u, ok := flt.(*netlink.U32); ok {
		for _, k := range u.Sel.Keys {
			s += fmt.Sprintf(" match %08x/%08x at %d", k.Val, k.Mask, k.Off)
		}
		s += " flowid " + netlink.HandleStr(u.ClassId)
		if p := u.Police; p != nil {
			s += fmt.Sprintf(" police rate %dB/s burst %dB mtu %dB %s", p.Rate, p.Burst, p.Mtu, p.ExceedAction)
		}
	}
	return f.log("%s", s)
}

// fakeHook is a FirewallHook that logs into the fake's call list, so the
// order of hook calls among netlink calls is checked too.
type fakeHook struct {
	f        *fakeNL
	attachTo string
}

func (h *fakeHook) Attach(_ context.Context, p Port) (string, error) {
	return h.attachTo, h.f.log("hook.Attach %s", p.Name)
}

func (h *fakeHook) Detach(_ context.Context, name string) error {
	return h.f.log("hook.Detach %s", name)
}
