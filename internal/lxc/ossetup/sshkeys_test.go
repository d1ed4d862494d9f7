package ossetup

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey builds a public key line of the given type with random key
// material, shaped like ssh-keygen's output.
func testKey(t *testing.T, typ string) string {
	t.Helper()
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, part := range [][]byte{[]byte(typ), material} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	return typ + " " + base64.StdEncoding.EncodeToString(blob) + " user@test"
}

func TestSetSSHKeys(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{"etc/": ""})
	k1, k2 := testKey(t, "ssh-ed25519"), testKey(t, "ecdsa-sha2-nistp256")
	withOptions := `from="192.0.2.0/24",no-pty ` + testKey(t, "ssh-rsa")

	if err := SetSSHKeys(root, k1+"\n\n# comment\n"+withOptions+"\n", selfShift()); err != nil {
		t.Fatal(err)
	}
	// The same key again and a new one: only the new one is added.
	if err := SetSSHKeys(root, "  "+k1+"  \n"+k2, selfShift()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "root/.ssh/authorized_keys")
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := k1 + "\n" + withOptions + "\n" + k2 + "\n"; string(got) != want {
		t.Errorf("authorized_keys:\n%s\nwant\n%s", got, want)
	}
	for p, want := range map[string]os.FileMode{"root": 0o700, "root/.ssh": 0o700, "root/.ssh/authorized_keys": 0o600} {
		info, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", p, info.Mode().Perm(), want)
		}
	}
}

func TestSetSSHKeysKeepsUserFile(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{"root/.ssh/authorized_keys": "# mine\nssh-ed25519 AAAA old"})
	if err := os.Chmod(filepath.Join(root, "root/.ssh/authorized_keys"), 0o640); err != nil {
		t.Fatal(err)
	}
	k := testKey(t, "ssh-ed25519")
	if err := SetSSHKeys(root, k, selfShift()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "root/.ssh/authorized_keys")
	got, _ := os.ReadFile(file)
	if want := "# mine\nssh-ed25519 AAAA old\n" + k + "\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o640 {
		t.Errorf("existing file's mode changed to %o", info.Mode().Perm())
	}
}

func TestSetSSHKeysIgnoreFile(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{"root/.ssh/.pve-ignore.authorized_keys": ""})
	if err := SetSSHKeys(root, testKey(t, "ssh-ed25519"), selfShift()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "root/.ssh/authorized_keys")); !os.IsNotExist(err) {
		t.Errorf("authorized_keys written despite .pve-ignore: %v", err)
	}
}

func TestSetSSHKeysRejectsGarbage(t *testing.T) {
	root := t.TempDir()
	for _, keys := range []string{
		"not a key",
		"ssh-ed25519 !!!notbase64",
		// Valid base64, but the blob names another key type.
		"ssh-ed25519 " + strings.Fields(testKey(t, "ssh-rsa"))[1],
		testKey(t, "ssh-ed25519") + "\nsecond line is bad",
	} {
		err := SetSSHKeys(root, keys, selfShift())
		if err == nil || !strings.Contains(err.Error(), "ssh-public-keys line") {
			t.Errorf("%q: got %v", keys, err)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("rejected keys created files: %v", entries)
	}
}
