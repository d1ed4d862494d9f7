package usercfg

import "github.com/hearth-virt/hearth/internal/pvetext"

// EncodeText escapes a free-text field (first and last name, comments) for
// user.cfg. Leading and trailing spaces are escaped too, because the reader
// trims fields and would lose them.
func EncodeText(s string) string { return pvetext.Encode(s, true) }

// DecodeText undoes EncodeText.
func DecodeText(s string) string { return pvetext.Decode(s) }
