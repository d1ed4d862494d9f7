package ossetup

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/access/pwhash"
)

const testPasswd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\n"

// testHash is a ready SHA-512-crypt hash (of "Hello world!"); tests that
// are about where the hash goes pass it to skip the deliberately slow
// hashing.
const testHash = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

func readField(t *testing.T, file, user string, n int) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := findUser(string(data), user)
	if f == nil || n >= len(f) {
		t.Fatalf("%s: no field %d for %s in %q", file, n, user, data)
	}
	return f[n]
}

func TestSetRootPasswordHashesPlaintext(t *testing.T) {
	root := t.TempDir()
	shadow := "daemon:*:19000:0:99999:7:::\nroot:!:19000:0:99999:7:::\n"
	makeTree(t, root, map[string]string{"etc/passwd": testPasswd, "etc/shadow": shadow})
	if err := os.Chmod(filepath.Join(root, "etc/shadow"), 0o640); err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery"
	if err := SetRootPassword(root, "debian", pw, selfShift()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "etc/shadow")
	hash := readField(t, file, "root", 1)
	if !strings.HasPrefix(hash, "$6$") {
		t.Errorf("hash %q is not SHA-512-crypt", hash)
	}
	if ok, err := pwhash.Verify(hash, pw); err != nil || !ok {
		t.Errorf("stored hash does not verify the password: %v", err)
	}
	today := int(time.Now().Unix() / 86400)
	if day, err := strconv.Atoi(readField(t, file, "root", 2)); err != nil || day < today-1 || day > today {
		t.Errorf("last-change day %v, want %d", readField(t, file, "root", 2), today)
	}
	if got := readField(t, file, "daemon", 1); got != "*" {
		t.Errorf("other entry changed: %q", got)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o640 {
		t.Errorf("shadow mode changed to %o", info.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), pw) {
		t.Error("plaintext password stored")
	}
}

func TestSetRootPasswordKeepsHashes(t *testing.T) {
	for _, hash := range []string{
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
		"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
		"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
		"$1$abcdefgh$G//4keteveJaQ2k.Cp7dc.",
	} {
		root := t.TempDir()
		makeTree(t, root, map[string]string{"etc/passwd": testPasswd, "etc/shadow": "root:*:1:0:99999:7:::\n"})
		if err := SetRootPassword(root, "alpine", hash, selfShift()); err != nil {
			t.Fatal(err)
		}
		if got := readField(t, filepath.Join(root, "etc/shadow"), "root", 1); got != hash {
			t.Errorf("stored %q, want the given hash %q", got, hash)
		}
	}
}

func TestSetRootPasswordAddsEntries(t *testing.T) {
	// No root line in shadow: one is appended.
	root := t.TempDir()
	makeTree(t, root, map[string]string{"etc/passwd": testPasswd, "etc/shadow": "daemon:*:1:0:99999:7:::"})
	if err := SetRootPassword(root, "debian", testHash, selfShift()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(root, "etc/shadow"))
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "daemon:*:1:0:99999:7:::" || !strings.HasPrefix(lines[1], "root:"+testHash+":") {
		t.Errorf("shadow = %q", data)
	}

	// No shadow file, passwd says "x": the shadow file is created.
	root = t.TempDir()
	makeTree(t, root, map[string]string{"etc/passwd": testPasswd})
	if err := SetRootPassword(root, "busybox", testHash, selfShift()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "etc/shadow")
	if got := readField(t, file, "root", 1); got != testHash {
		t.Errorf("created shadow entry has %q", got)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("new shadow mode %o, want 600", info.Mode().Perm())
	}
}

func TestSetRootPasswordPasswdField(t *testing.T) {
	// Without a shadow file, a hash in passwd is replaced there.
	root := t.TempDir()
	makeTree(t, root, map[string]string{"etc/passwd": "root::0:0:root:/root:/bin/sh\n"})
	if err := SetRootPassword(root, "busybox", testHash, selfShift()); err != nil {
		t.Fatal(err)
	}
	if got := readField(t, filepath.Join(root, "etc/passwd"), "root", 1); got != testHash {
		t.Errorf("passwd entry has %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/shadow")); !os.IsNotExist(err) {
		t.Errorf("shadow created: %v", err)
	}

	// With a shadow file, an empty passwd field would bypass it: it
	// becomes "x".
	root = t.TempDir()
	makeTree(t, root, map[string]string{"etc/passwd": "root::0:0:root:/root:/bin/sh\n", "etc/shadow": "root::1::::::\n"})
	if err := SetRootPassword(root, "busybox", testHash, selfShift()); err != nil {
		t.Fatal(err)
	}
	if got := readField(t, filepath.Join(root, "etc/passwd"), "root", 1); got != "x" {
		t.Errorf("passwd field %q, want x", got)
	}
}

func TestSetRootPasswordErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	root := t.TempDir()
	makeTree(t, root, map[string]string{"etc/": ""})
	err := SetRootPassword(root, "debian", secret, selfShift())
	if err == nil || !strings.Contains(err.Error(), "/etc/passwd") {
		t.Errorf("missing passwd: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Error("error message contains the password")
	}

	makeTree(t, root, map[string]string{"etc/passwd": "daemon:x:1:1::/:/bin/false\n"})
	if err := SetRootPassword(root, "debian", secret, selfShift()); err == nil || !strings.Contains(err.Error(), "no root entry") {
		t.Errorf("passwd without root: %v", err)
	}
	if err := SetRootPassword(root, "debian", "", selfShift()); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty password: %v", err)
	}
	var u *Unsupported
	if err := SetRootPassword(root, "unmanaged", secret, selfShift()); !errors.As(err, &u) || u.OSType != "unmanaged" {
		t.Errorf("unmanaged: %v", err)
	} else if strings.Contains(err.Error(), secret) {
		t.Error("error message contains the password")
	}
	if err := SetRootPassword(root, "beos", secret, selfShift()); err == nil || !strings.Contains(err.Error(), `unknown ostype "beos"`) {
		t.Errorf("unknown ostype: %v", err)
	}
}

func TestSetRootPasswordIgnoreFile(t *testing.T) {
	root := t.TempDir()
	shadow := "root:*:1:0:99999:7:::\n"
	makeTree(t, root, map[string]string{"etc/passwd": testPasswd, "etc/shadow": shadow, "etc/.pve-ignore.shadow": ""})
	if err := SetRootPassword(root, "debian", testHash, selfShift()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/shadow")); string(got) != shadow {
		t.Errorf("ignored shadow changed: %q", got)
	}
}
