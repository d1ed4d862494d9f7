package pve

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hearth-virt/hearth/internal/access/pwhash"
)

// dummyHash is checked when a login names a user the file does not hold, so
// that the answer takes about as long as for a real user and its timing
// does not reveal which users exist. It has the variant and cost of
// pwhash.Hash (a test keeps the two in step); no password matches in
// practice, and the result is ignored anyway.
const dummyHash = "$6$rounds=100000$hearth.nouser.00$fdhFUTXp5lwrEL3TWS3.hjkPc9H6x1MEHU.StVwT9tkymkCbLpZ7a2coAlkYfq1t0Dvtv337Mgm1w4zHzZgRp0"

// Shadow is the content of priv/shadow.cfg: a password hash per user id.
// The zero value is an empty file. A Shadow is safe for concurrent use, so
// logins can be checked while a password is being changed.
type Shadow struct {
	mu    sync.RWMutex
	users map[string]string // userid → crypt(3) hash
}

// ParseShadow reads a shadow.cfg file. Each non-blank line must be
// "<userid>:<hash>:", optionally surrounded by whitespace. Lines that do not
// have that shape, or name an invalid user id, are dropped; every dropped or
// questionable line yields a warning for the caller to log. Warnings name
// the line number and user id but never a hash.
func ParseShadow(data []byte) (*Shadow, []string) {
	s := &Shadow{users: make(map[string]string)}
	var warnings []string
	seen := make(map[string]int) // userid → line it was last read from
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		// Proxmox VE trims ASCII whitespace too, which also absorbs CRLF.
		line = strings.Trim(line, " \t\r\f\v")
		if line == "" {
			continue
		}
		userid, hash, err := splitLine(line)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("line %d dropped: %v", n, err))
			continue
		}
		if err := checkUserID(userid); err != nil {
			warnings = append(warnings, fmt.Sprintf("line %d dropped: %v", n, err))
			continue
		}
		// Kept rather than dropped: the line is intact and rewriting the
		// file must not lose it, but no login through it will succeed.
		if realmOf(userid) != Realm {
			warnings = append(warnings, fmt.Sprintf("line %d: userid %s is not in the %s realm and cannot log in through this file", n, quoteShort(userid), Realm))
		} else if err := pwhash.Validate(hash); err != nil {
			warnings = append(warnings, fmt.Sprintf("line %d: password hash of %s cannot be checked, so it cannot log in: %v", n, quoteShort(userid), err))
		}
		if prev, dup := seen[userid]; dup {
			// The last line wins, as when Proxmox VE reads the file.
			warnings = append(warnings, fmt.Sprintf("line %d replaces line %d: duplicate entry for %s", n, prev, quoteShort(userid)))
		}
		seen[userid] = n
		s.users[userid] = hash
	}
	return s, warnings
}

// splitLine takes "<userid>:<hash>:" apart. Neither field may be empty or
// contain a colon, and the hash must be printable ASCII without spaces, as
// every crypt(3) string is; the messages never quote the hash.
func splitLine(line string) (userid, hash string, err error) {
	body, ok := strings.CutSuffix(line, ":")
	if !ok {
		return "", "", fmt.Errorf("does not end with ':'")
	}
	userid, hash, ok = strings.Cut(body, ":")
	switch {
	case !ok:
		return "", "", fmt.Errorf("want <userid>:<hash>:, found a single field")
	case strings.Contains(hash, ":"):
		return "", "", fmt.Errorf("want <userid>:<hash>:, found more fields")
	case userid == "":
		return "", "", fmt.Errorf("empty userid")
	case hash == "":
		return "", "", fmt.Errorf("empty password hash for %s", quoteShort(userid))
	}
	for i := 0; i < len(hash); i++ {
		if c := hash[i]; c <= ' ' || c >= 0x7f {
			return "", "", fmt.Errorf("password hash for %s contains a space, control or non-ASCII byte", quoteShort(userid))
		}
	}
	return userid, hash, nil
}

// Bytes renders the canonical file: one "<userid>:<hash>:" line per user,
// sorted by user id, each ending in a newline. An empty Shadow renders as
// an empty file.
func (s *Shadow) Bytes() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, 0, len(s.users))
	for id := range s.users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b bytes.Buffer
	for _, id := range ids {
		b.WriteString(id + ":" + s.users[id] + ":\n")
	}
	return b.Bytes()
}

// Verify reports whether password is the password of userid. It is false
// for an empty password and for users that are unknown, outside the pve
// realm or have an unusable hash. Unknown users cost a check against dummyHash, so the time taken
// does not tell them apart from known users with current hashes; users
// whose hash has a lower cost (such as PVE's own 5000-round hashes) still
// answer faster until their password is set again.
func (s *Shadow) Verify(userid, password string) bool {
	// Proxmox VE refuses an empty password before looking at the file; the
	// answer does not depend on the user, so returning at once leaks nothing.
	if password == "" {
		return false
	}
	s.mu.RLock()
	hash, ok := s.users[userid]
	s.mu.RUnlock()
	// Checked by realm rather than trusting the caller: a stray entry for,
	// say, root@pam must never authenticate that user.
	if !ok || checkUserID(userid) != nil || realmOf(userid) != Realm {
		_, _ = pwhash.Verify(dummyHash, password)
		return false
	}
	match, err := pwhash.Verify(hash, password)
	return err == nil && match
}

// SetPassword stores a new hash of password for userid, adding the user if
// needed. The user id must be valid and in the pve realm, and the password
// must have between 8 and 64 characters, the limits Proxmox VE applies when
// a password is set.
func (s *Shadow) SetPassword(userid, password string) error {
	if err := checkUserID(userid); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if realmOf(userid) != Realm {
		return fmt.Errorf("set password: userid %s is not in the %s realm", quoteShort(userid), Realm)
	}
	if err := checkPassword(password); err != nil {
		return fmt.Errorf("set password for %s: %w", userid, err)
	}
	// Hash before locking: it takes tens of milliseconds and logins should
	// not wait for it.
	hash, err := pwhash.Hash(password)
	if err != nil {
		return fmt.Errorf("set password for %s: %w", userid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = make(map[string]string)
	}
	s.users[userid] = hash
	return nil
}

// Delete removes userid; removing an absent user is not an error.
func (s *Shadow) Delete(userid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, userid)
}

// Has reports whether the file holds an entry for userid.
func (s *Shadow) Has(userid string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.users[userid]
	return ok
}
