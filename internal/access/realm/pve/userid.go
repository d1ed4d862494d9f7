package pve

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hearth-virt/hearth/api/schema"
)

// Realm is the name of the built-in realm whose users this file holds.
const Realm = "pve"

// Limits Proxmox VE applies to user ids and to passwords set for users of
// this realm (API schema of PUT /access/password and POST /access/users).
const (
	minPasswordLen = 8
	maxPasswordLen = 64
)

// checkUserID applies the API's user id rule (the pve-userid format).
func checkUserID(id string) error { return schema.CheckFormat("pve-userid", id) }

// realmOf returns the realm of an id already accepted by checkUserID.
func realmOf(id string) string {
	return id[strings.LastIndexByte(id, '@')+1:]
}

// checkPassword applies the length rule for new passwords. Characters, not
// bytes, are counted, as the API schema does for strings.
func checkPassword(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < minPasswordLen:
		return fmt.Errorf("password must have at least %d characters", minPasswordLen)
	case n > maxPasswordLen:
		return fmt.Errorf("password must have at most %d characters", maxPasswordLen)
	}
	return nil
}

// quoteShort quotes s for a message, cut to a length that keeps a garbage
// line from flooding the log.
func quoteShort(s string) string {
	const limit = 80
	if len(s) <= limit {
		return fmt.Sprintf("%q", s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
