package ossetup

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// SetSSHKeys adds public keys (one per line, as in authorized_keys) to
// /root/.ssh/authorized_keys. Keys the file already has are not added a
// second time, so repeating the call is harmless. New directories and
// files get the modes sshd insists on (0700, 0600) and belong to the
// container's root.
func SetSSHKeys(root, keys string, shift IDShift) error {
	add, err := parseKeys(keys)
	if err != nil {
		return err
	}
	if len(add) == 0 {
		return nil
	}
	r, err := OpenRoot(root, shift)
	if err != nil {
		return err
	}
	defer r.Close()

	const file = "/root/.ssh/authorized_keys"
	if ignored(r, file) {
		return nil
	}
	if err := r.MkdirAll("/root", 0o700); err != nil {
		return err
	}
	if err := r.MkdirAll("/root/.ssh", 0o700); err != nil {
		return err
	}
	old, err := r.ReadFile(file)
	if err != nil && !isNotExist(err) {
		return err
	}
	text := string(old)
	have := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		have[strings.TrimSpace(l)] = true
	}
	for _, k := range add {
		if have[k] {
			continue
		}
		have[k] = true
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += k + "\n"
	}
	_, err = r.WriteFile(file, []byte(text), 0o600)
	return err
}

// parseKeys checks that every non-empty, non-comment line holds a key
// type followed by base64 key data (options may come first, as sshd
// allows), and returns the lines trimmed.
func parseKeys(keys string) ([]string, error) {
	var out []string
	for i, l := range strings.Split(keys, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !looksLikeKey(l) {
			return nil, fmt.Errorf("ssh-public-keys line %d: want \"[options] <type> <base64 key> [comment]\" with a type such as ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256", i+1)
		}
		out = append(out, l)
	}
	return out, nil
}

func looksLikeKey(l string) bool {
	f := strings.Fields(l)
	for i := 0; i+1 < len(f); i++ {
		t := f[i]
		if !strings.HasPrefix(t, "ssh-") && !strings.HasPrefix(t, "ecdsa-sha2-") &&
			!strings.HasPrefix(t, "sk-") {
			continue
		}
		// The blob starts with its own type name as an SSH string.
		blob, err := base64.StdEncoding.DecodeString(f[i+1])
		if err == nil && len(blob) > 4+len(t) && string(blob[4:4+len(t)]) == t {
			return true
		}
	}
	return false
}
