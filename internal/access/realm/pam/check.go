package pam

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

// DefaultService is the PAM service used when Realm.Service is empty.
//
// A stock system has no /etc/pam.d/hearth, so libpam uses /etc/pam.d/other,
// which on Debian includes common-auth and common-account: the checks of
// any login, without the securetty and nologin rules of the "login"
// service. An administrator who wants other rules for Hearth writes
// /etc/pam.d/hearth (as Proxmox VE ships proxmox-ve-auth), and where
// "other" denies everything, as on Fedora, the realm fails closed. Naming
// "common-auth" instead also works on Debian (checked), but only because
// libpam borrows the account rules of "other" for a file that has none,
// and that include file does not exist on other distributions.
const DefaultService = "hearth"

// Input limits, applied before PAM is asked.
const (
	// maxNameLen leaves room for the NUL in glibc's LOGIN_NAME_MAX (256).
	maxNameLen = 255
	// maxPasswordLen is PAM_MAX_RESP_SIZE, the longest answer modules
	// are meant to handle.
	maxPasswordLen = 512
)

// checkInput refuses a name no system account can have and passwords that
// PAM would mishandle. A refusal wraps realm.ErrAuth, since to the client
// it is an ordinary failed login; the reason never includes the password.
func checkInput(name, password string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("pam: %w: %w", err, realm.ErrAuth)
	}
	switch {
	case password == "":
		// common-auth passes nullok to pam_unix: an account without a
		// password would let anyone in with an empty one.
		return fmt.Errorf("pam: empty password: %w", realm.ErrAuth)
	case len(password) > maxPasswordLen:
		return fmt.Errorf("pam: password longer than %d bytes: %w", maxPasswordLen, realm.ErrAuth)
	case strings.IndexByte(password, 0) >= 0:
		// C would see only the part before the NUL.
		return fmt.Errorf("pam: password contains a NUL byte: %w", realm.ErrAuth)
	}
	return nil
}

// checkName accepts what a local or directory-backed (sssd, winbind)
// account name can be, and refuses what would confuse C code or the files
// behind the accounts: NUL and other control characters, spaces, the ':'
// that separates fields in /etc/passwd, the '/' of paths, and a leading
// '-' that helper programs such as unix_chkpwd could read as an option.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty user name")
	case len(name) > maxNameLen:
		return fmt.Errorf("user name longer than %d bytes", maxNameLen)
	case !utf8.ValidString(name):
		return errors.New("user name is not valid UTF-8")
	case name[0] == '-':
		return errors.New("user name starts with '-'")
	case name == "." || name == "..":
		return fmt.Errorf("user name %q is a path element", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == ':' || r == '/' {
			return fmt.Errorf("user name contains %q", r)
		}
	}
	return nil
}
