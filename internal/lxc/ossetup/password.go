package ossetup

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/access/pwhash"
)

// cryptHashRE matches values that already are crypt(3) hashes: MD5, the
// bcrypt family, SHA-crypt (with or without rounds=) and yescrypt or
// gost-yescrypt. Like Proxmox VE, such a value is stored as it is, so that
// a password can be handed over without revealing it.
var cryptHashRE = regexp.MustCompile(
	`^\$(1|2[abxy]?|5|6)\$(rounds=[0-9]{1,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]+$` +
		`|^\$(y|gy|7)\$[./0-9A-Za-z]+\$[./0-9A-Za-z]*\$[./0-9A-Za-z]+$`)

// SetRootPassword sets root's password inside the container: a crypt(3)
// hash is stored as given, anything else is hashed with SHA-512-crypt
// first. It edits /etc/shadow (adding a root entry when it lacks one) and,
// on systems without a shadow file, the password field of /etc/passwd.
// Errors never contain the password.
func SetRootPassword(root, ostype, password string, shift IDShift) error {
	if err := checkOSType(ostype); err != nil {
		return err
	}
	switch ostype {
	case "unmanaged", "nixos":
		return &Unsupported{OSType: ostype, What: "setting the root password"}
	}
	if password == "" {
		return errors.New("root password: must not be empty")
	}
	r, err := OpenRoot(root, shift)
	if err != nil {
		return err
	}
	defer r.Close()
	return setRootPassword(r, password, int(time.Now().Unix()/86400))
}

// setRootPassword stores password (hashing it unless it is a hash) as
// root's; day is the "last changed" date of the shadow entry in days
// since 1970.
func setRootPassword(r *RootFS, password string, day int) error {
	passwd, err := r.ReadFile("/etc/passwd")
	if err != nil {
		return fmt.Errorf("root password: container has no usable /etc/passwd: %w", err)
	}
	pwLine, _ := findUser(string(passwd), "root")
	if pwLine == nil {
		return errors.New("root password: /etc/passwd has no root entry")
	}
	// Hashing is deliberately slow, so it comes after the cheap checks.
	hash := password
	if !cryptHashRE.MatchString(password) {
		if hash, err = pwhash.Hash(password); err != nil {
			return fmt.Errorf("root password: %w", err)
		}
	}

	shadow, err := r.ReadFile("/etc/shadow")
	hasShadow := err == nil
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("root password: %w", err)
	}
	if !hasShadow && pwLine[1] != "x" {
		// An old-style system keeps the hash in /etc/passwd itself.
		if ignored(r, "/etc/passwd") {
			return nil
		}
		_, err := r.WriteFile("/etc/passwd", []byte(setUserField(string(passwd), "root", 1, hash)), 0o644)
		return err
	}
	if ignored(r, "/etc/shadow") {
		return nil
	}
	text := string(shadow)
	if line, _ := findUser(text, "root"); line != nil {
		text = setUserField(text, "root", 1, hash)
		if len(line) > 2 {
			text = setUserField(text, "root", 2, strconv.Itoa(day))
		}
	} else {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += fmt.Sprintf("root:%s:%d:0:99999:7:::\n", hash, day)
	}
	if _, err := r.WriteFile("/etc/shadow", []byte(text), 0o600); err != nil {
		return err
	}
	// login and su read the shadow file only when the passwd field says
	// "x"; a hash or empty field there would still be used instead.
	if pwLine[1] != "x" && !ignored(r, "/etc/passwd") {
		_, err := r.WriteFile("/etc/passwd", []byte(setUserField(string(passwd), "root", 1, "x")), 0o644)
		return err
	}
	return nil
}

// findUser returns the colon-separated fields of user's entry in a
// passwd-style file and its line index; nil when there is none.
func findUser(text, user string) ([]string, int) {
	for i, l := range strings.Split(text, "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 2 && f[0] == user {
			return f, i
		}
	}
	return nil, -1
}

// setUserField replaces field n of user's first entry.
func setUserField(text, user string, n int, value string) string {
	lines := strings.Split(text, "\n")
	if f, i := findUser(text, user); f != nil && n < len(f) {
		f[n] = value
		lines[i] = strings.Join(f, ":")
	}
	return strings.Join(lines, "\n")
}
