package guestconf

import (
	"bytes"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/internal/pvetext"
)

// Bytes writes the file as Proxmox VE does: the main section, then the
// pending section if anything is pending, then (virtual machines) the
// cloud-init record if it holds anything, then the snapshots sorted by
// name, with a blank line before every header. Within a section the
// description comes first as '#' lines, then the keys sorted, then
// (containers) the raw LXC keys in their order.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	qemu := f.kind == KindQemu
	f.writeSection(&b, f.Main, false)
	if f.HasPending() {
		if qemu {
			b.WriteString("\n[PENDING]\n")
		} else {
			b.WriteString("\n[pve:pending]\n")
		}
		f.writeSection(&b, f.Pending, true)
	}
	if qemu && !f.isEmpty(f.CloudInit) {
		b.WriteString("\n[special:cloudinit]\n")
		f.writeSection(&b, f.CloudInit, false)
	}
	for _, name := range f.SnapshotNames() {
		b.WriteString("\n[" + name + "]\n")
		f.writeSection(&b, f.snapshots[name], false)
	}
	return b.Bytes()
}

func (f *File) writeSection(b *bytes.Buffer, s *Section, pending bool) {
	qemu := f.kind == KindQemu
	if d, ok := s.Get(DescriptionKey); ok {
		lines := strings.Split(d, "\n")
		for len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		for _, l := range lines {
			b.WriteString("#" + pvetext.Encode(l, false) + "\n")
		}
		// A lone '#' is a pending change of a VM's description to nothing.
		if len(lines) == 0 && pending && qemu {
			b.WriteString("#\n")
		}
	}
	keys := s.Keys()
	var deletes string
	if pending && len(f.pendingDelete) > 0 {
		// The delete list is written as a key among the others, in its
		// sorted place, as Proxmox VE keeps it in the same hash.
		var items []string
		for _, d := range f.PendingDeletes() {
			if d.Force {
				items = append(items, "!"+d.Key)
			} else {
				items = append(items, d.Key)
			}
		}
		deletes = strings.Join(items, ",")
		i, _ := slices.BinarySearch(keys, "delete")
		keys = slices.Insert(keys, i, "delete")
	}
	for _, k := range keys {
		switch k {
		case DescriptionKey:
		case "delete":
			b.WriteString("delete: " + deletes + "\n")
		default:
			b.WriteString(k + ": " + s.values[k] + "\n")
		}
	}
	if !qemu && s != nil {
		for _, r := range s.raw {
			b.WriteString(r.Key + ": " + r.Value + "\n")
		}
	}
}
