package netns

import (
	"errors"
	"fmt"
	"strings"
)

// Cut isolates the host completely, from the other hosts and from the
// switch (so from Dial too), by taking the switch side of its veth pair
// down. Its processes keep running and its own interface keeps its
// address; it merely loses carrier, like a pulled cable. Established TCP
// connections survive a Cut that is shorter than their timeouts.
func (h *Host) Cut() {
	h.lab.t.Helper()
	if err := h.lab.ipBatch(h.lab.swNS, "link set "+h.port+" down\n"); err != nil {
		h.lab.t.Fatalf("netns: cut %s: %v", h.Name, err)
	}
}

// Restore undoes Cut. The port forwards at once (the bridge runs no STP),
// but peers may need a new ARP exchange; poll rather than expect the very
// next packet to pass.
func (h *Host) Restore() {
	h.lab.t.Helper()
	if err := h.lab.ipBatch(h.lab.swNS, "link set "+h.port+" up\n"); err != nil {
		h.lab.t.Fatalf("netns: restore %s: %v", h.Name, err)
	}
}

// Block drops all traffic between a and b, both directions (ARP included,
// so connection attempts time out rather than being refused), leaving
// their traffic with everyone else and with the switch (Dial) alone.
// Blocking an already blocked pair, or a host with itself, does nothing.
func (l *Lab) Block(a, b *Host) {
	l.t.Helper()
	if err := l.setBlocked([][2]*Host{{a, b}}, true); err != nil {
		l.t.Fatalf("netns: block %s-%s: %v", a.Name, b.Name, err)
	}
}

// Unblock undoes Block for one pair; other blocked pairs stay blocked.
func (l *Lab) Unblock(a, b *Host) {
	l.t.Helper()
	if err := l.setBlocked([][2]*Host{{a, b}}, false); err != nil {
		l.t.Fatalf("netns: unblock %s-%s: %v", a.Name, b.Name, err)
	}
}

// Partition blocks every pair of hosts that are in different groups, in
// one nftables transaction, so no packet sees half a partition. Hosts in
// the same group, and hosts in no group, keep talking to each other. It
// adds to existing blocks; call Heal first to replace a partition.
func (l *Lab) Partition(groups ...[]*Host) {
	l.t.Helper()
	seen := map[*Host]bool{}
	var pairs [][2]*Host
	for i, g := range groups {
		for _, h := range g {
			if seen[h] {
				l.t.Fatalf("netns: partition: host %s is in more than one group", h.Name)
			}
			seen[h] = true
			for _, other := range groups[i+1:] {
				for _, o := range other {
					pairs = append(pairs, [2]*Host{h, o})
				}
			}
		}
	}
	if err := l.setBlocked(pairs, true); err != nil {
		l.t.Fatalf("netns: partition: %v", err)
	}
}

// Heal removes every block made by Block and Partition. It does not undo
// Cut.
func (l *Lab) Heal() {
	l.t.Helper()
	l.nftMu.Lock()
	defer l.nftMu.Unlock()
	if err := l.nft(fmt.Sprintf("flush set bridge %s blocked\n", nftTable)); err != nil {
		l.t.Fatalf("netns: heal: %v", err)
	}
	clear(l.blocked)
}

// setBlocked adds or removes pairs in the nftables set. The set holds
// ordered (in-port, out-port) pairs, so each host pair is two elements.
// The record of blocked pairs exists because nft 1.0.6 fails to delete an
// absent element and has no "destroy" yet.
func (l *Lab) setBlocked(pairs [][2]*Host, block bool) error {
	l.nftMu.Lock()
	defer l.nftMu.Unlock()
	changed := map[[2]string]bool{}
	var elems []string
	for _, p := range pairs {
		a, b := p[0], p[1]
		if a == nil || b == nil || a.lab != l || b.lab != l {
			return errors.New("host is nil or belongs to another lab")
		}
		if a == b {
			continue
		}
		key := [2]string{a.port, b.port}
		if key[0] > key[1] {
			key[0], key[1] = key[1], key[0]
		}
		if l.blocked[key] == block || changed[key] {
			continue
		}
		changed[key] = true
		elems = append(elems,
			fmt.Sprintf("%q . %q", a.port, b.port),
			fmt.Sprintf("%q . %q", b.port, a.port))
	}
	if len(elems) == 0 {
		return nil
	}
	verb := "add"
	if !block {
		verb = "delete"
	}
	// One script is one nft transaction: all pairs change together.
	if err := l.nft(fmt.Sprintf("%s element bridge %s blocked { %s }\n", verb, nftTable, strings.Join(elems, ", "))); err != nil {
		return err
	}
	for k := range changed {
		if block {
			l.blocked[k] = true
		} else {
			delete(l.blocked, k)
		}
	}
	return nil
}
