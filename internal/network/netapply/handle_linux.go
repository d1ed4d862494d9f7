package netapply

import (
	"fmt"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Handle implements Netlink in one network namespace: a netlink.Handle
// for everything the netlink package covers, and a socket of its own for
// the bridge's STP state and forward delay, which that package neither
// reads nor sets. Both sockets are opened in the namespace, so using a
// Handle never moves the calling thread between namespaces.
type Handle struct {
	*netlink.Handle
	raw *nl.SocketHandle
}

var _ Netlink = (*Handle)(nil)

// socketTimeout bounds every netlink exchange, so a kernel that never
// answers fails the step instead of hanging the apply.
const socketTimeout = 30 * time.Second

// NewHandle opens a Handle in the network namespace ns; netns.None()
// means the namespace of the calling thread.
func NewHandle(ns netns.NsHandle) (*Handle, error) {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	if err := h.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("set netlink socket timeout: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(socketTimeout.Nanoseconds())
	err = s.SetSendTimeout(&tv)
	if err == nil {
		err = s.SetReceiveTimeout(&tv)
	}
	if err != nil {
		s.Close()
		h.Close()
		return nil, fmt.Errorf("set netlink socket timeout: %w", err)
	}
	return &Handle{Handle: h, raw: &nl.SocketHandle{Socket: s}}, nil
}

// Close releases the sockets.
func (h *Handle) Close() {
	h.Handle.Close()
	h.raw.Close()
}

func (h *Handle) request(proto, flags int) *nl.NetlinkRequest {
	return &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   uint32(unix.SizeofNlMsghdr),
			Type:  uint16(proto),
			Flags: unix.NLM_F_REQUEST | uint16(flags),
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: h.raw},
	}
}

// The kernel reports and takes the forward delay in clock ticks of
// USER_HZ, which is 100 on every Linux architecture.
const userHZ = 100

// BridgeGetOptions reads the STP state and forward delay of a bridge.
func (h *Handle) BridgeGetOptions(link netlink.Link) (BridgeOptions, error) {
	req := h.request(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(link.Attrs().Index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return BridgeOptions{}, err
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return BridgeOptions{}, fmt.Errorf("unexpected answer from the kernel (%d messages)", len(msgs))
	}
	data, err := bridgeData(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return BridgeOptions{}, err
	}
	native := nl.NativeEndian()
	var stp, delay *uint32
	for _, a := range data {
		if len(a.Value) < 4 {
			continue
		}
		v := native.Uint32(a.Value[:4])
		switch a.Attr.Type {
		case nl.IFLA_BR_STP_STATE:
			stp = &v
		case nl.IFLA_BR_FORWARD_DELAY:
			delay = &v
		}
	}
	if stp == nil || delay == nil {
		return BridgeOptions{}, fmt.Errorf("the kernel did not report the STP state and forward delay of %s", link.Attrs().Name)
	}
	return BridgeOptions{
		STP:          ptr(*stp != 0),
		ForwardDelay: ptr(int((*delay + userHZ/2) / userHZ)),
	}, nil
}

// bridgeData finds IFLA_LINKINFO/IFLA_INFO_DATA among a link's attributes.
func bridgeData(b []byte) ([]syscall.NetlinkRouteAttr, error) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		if a.Attr.Type != unix.IFLA_LINKINFO {
			continue
		}
		infos, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			if info.Attr.Type == nl.IFLA_INFO_DATA {
				return nl.ParseRouteAttr(info.Value)
			}
		}
	}
	return nil, fmt.Errorf("the kernel reported no bridge data")
}

// BridgeSetOptions sets the STP state and forward delay of a bridge.
func (h *Handle) BridgeSetOptions(link netlink.Link, opts BridgeOptions) error {
	req := h.request(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(link.Attrs().Index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	// The kernel applies the forward delay before the STP state, and
	// only checks the delay's range while STP is on; keeping that order
	// in the request lets one call switch STP on with a new delay.
	if opts.ForwardDelay != nil {
		data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(uint32(*opts.ForwardDelay*userHZ)))
	}
	if opts.STP != nil {
		var v uint32
		if *opts.STP {
			v = 1
		}
		data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(v))
	}
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
