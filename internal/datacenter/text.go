package datacenter

import "github.com/hearth-virt/hearth/internal/pvetext"

// encodeText escapes one line of the notes for a '#' line, as Proxmox VE
// writes them (see pvetext.Encode); spaces at the edges are kept, since
// the notes are not trimmed.
func encodeText(s string) string { return pvetext.Encode(s, false) }

// decodeText undoes encodeText.
func decodeText(s string) string { return pvetext.Decode(s) }
