package ct

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
)

// fakeCT makes a directory standing in for a container's /proc/<pid>/root
// with the given files ("name": content; a "->" prefix makes a symbolic
// link, a trailing slash a directory).
func fakeCT(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(strings.TrimPrefix(content, "->"), p)
		default:
			err = os.WriteFile(p, []byte(content), 0o640)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReadInStaysInTheContainer(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := fakeCT(t, map[string]string{
		"etc/passwd":     "inside",
		"abs":            "->/etc/passwd",
		"rel":            "->../../../../../../../etc/passwd",
		"dirlink":        "->/",
		"escape":         "->" + filepath.Join(outside, "secret"),
		"escape-rel":     "->../../../../../../.." + filepath.Join(outside, "secret"),
		"loop":           "->loop",
		"etc/localtime/": "",
	})
	for _, tc := range []struct{ path, want string }{
		{"/etc/passwd", "inside"},
		{"/abs", "inside"},
		{"/rel", "inside"},
		{"/dirlink/etc/passwd", "inside"},
		{"/../../../etc/passwd", "inside"},
		{"/escape", "error: no such file"},
		{"/escape-rel", "error: no such file"},
		{"/loop", "error: symbolic links loop"},
		{"/etc/localtime", "error: is a directory, not a regular file"},
		{"/etc/pass\x00wd", "error: NUL"},
	} {
		data, _, err := readIn(root, tc.path, 1<<20)
		got := string(data)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want && !(strings.HasPrefix(tc.want, "error: ") && strings.Contains(got, tc.want[7:])) {
			t.Errorf("%q: %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestReadInRefusesKernelLinks(t *testing.T) {
	// /proc/self/root is a magic link: followed, it would lead from a
	// container's /proc to any process's files.
	_, _, err := readIn("/", "/proc/self/root/etc/hostname", 1<<20)
	if !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("reading through /proc/self/root: %v, want ELOOP", err)
	}
	if _, _, err := readIn("/", "/proc/self/status", 1<<20); err != nil {
		t.Fatalf("a plain file below /proc: %v", err)
	}
}

func TestReadInSizeAndKind(t *testing.T) {
	root := fakeCT(t, map[string]string{"small": "12345", "dir/": ""})
	big := filepath.Join(root, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: the size check must come before any reading.
	if err := f.Truncate(api.CTPullMax + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}

	if data, mode, err := readIn(root, "/small", 5); err != nil || string(data) != "12345" || mode != 0o640 {
		t.Errorf("a file of exactly the limit: %q %o %v", data, mode, err)
	}
	if _, _, err := readIn(root, "/small", 4); err == nil || !strings.Contains(err.Error(), "has 5 bytes, more than the 4") {
		t.Errorf("a file over the limit: %v", err)
	}
	if _, _, err := readIn(root, "/big", api.CTPullMax); err == nil || !strings.Contains(err.Error(), "more than the 67108864 (64 MiB)") {
		t.Errorf("a file over the pull limit: %v", err)
	}
	if _, _, err := readIn(root, "/fifo", 10); err == nil || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("a fifo: %v", err)
	}
	if _, _, err := readIn(root, "/missing", 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// selfOwner is who the test runs as, for writes that do not change
// owners.
func selfOwner() (int, int) { return os.Getuid(), os.Getgid() }

func TestWriteInStaysInTheContainer(t *testing.T) {
	outside := t.TempDir()
	root := fakeCT(t, map[string]string{
		"etc/passwd":      "root:x:0:0::/root:/bin/sh\n",
		"etc/link":        "->/etc/passwd",
		"out":             "->" + outside,
		"out-rel":         "->../../../../../../.." + outside,
		outside[1:] + "/": "",
		"dir/":            "",
	})
	uid, gid := selfOwner()
	for _, p := range []string{"/out/evil", "/out-rel/evil2"} {
		if err := writeIn(root, p, strings.NewReader("x"), uid, gid, 0o644); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	// Both links resolved inside the container's root.
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("files written outside the container: %v", entries)
	}
	for _, name := range []string{"evil", "evil2"} {
		if _, err := os.Stat(filepath.Join(root, outside, name)); err != nil {
			t.Errorf("%s not written inside: %v", name, err)
		}
	}

	// A symbolic link at the target is replaced, not followed.
	if err := writeIn(root, "/etc/link", strings.NewReader("new"), uid, gid, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); string(data) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("the link's target changed: %q", data)
	}
	if fi, err := os.Lstat(filepath.Join(root, "etc/link")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("the link was not replaced by a file: %v %v", fi.Mode(), err)
	}

	for _, tc := range []struct{ path, want string }{
		{"/dir", "is a directory"},
		{"/", "names no file"},
		{"/etc/", "names no file"},
		{"/etc/..", "names no file"},
		{"/missing/file", "no such file"},
	} {
		if err := writeIn(root, tc.path, strings.NewReader("x"), uid, gid, 0o644); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
}

// failingReader delivers some bytes, then fails like a cut connection.
type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.sent {
		return 0, io.ErrUnexpectedEOF
	}
	r.sent = true
	return copy(p, "partial"), nil
}

func TestWriteInKeepsTheOldFileOnFailure(t *testing.T) {
	root := fakeCT(t, map[string]string{"etc/motd": "old"})
	uid, gid := selfOwner()
	if err := writeIn(root, "/etc/motd", &failingReader{}, uid, gid, 0o644); err == nil {
		t.Fatal("a failed upload succeeded")
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(data) != "old" {
		t.Errorf("the file changed: %q", data)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "etc"))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestPushOwnerAndPermsInAnUnprivilegedContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	root := fakeCT(t, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nadm:x:4:syslog\n",
		"srv/":       "",
	})
	maps := ctconf.DefaultIDMap()
	for _, tc := range []struct {
		user, group, perms string
		uid, gid           int
		mode               os.FileMode
	}{
		{"www-data", "adm", "4750", 100033, 100004, 0o750 | os.ModeSetuid},
		{"", "", "", 100000, 100000, 0o644},
		{"1000", "1000", "0x1a4", 101000, 101000, 0o644},
		{"root", "adm", "0600", 100000, 100004, 0o600},
	} {
		uid, gid, err := ownerOnHost(root, tc.user, tc.group, maps)
		if err != nil {
			t.Fatalf("%s:%s: %v", tc.user, tc.group, err)
		}
		perm, err := parsePerms(tc.perms)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeIn(root, "/srv/file", strings.NewReader("data"), uid, gid, perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(root, "srv/file"))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != tc.uid || int(st.Gid) != tc.gid || fi.Mode() != tc.mode {
			t.Errorf("%s:%s %s: owner %d:%d mode %v, want %d:%d %v", tc.user, tc.group, tc.perms, st.Uid, st.Gid, fi.Mode(), tc.uid, tc.gid, tc.mode)
		}
	}
}

func TestOwnerOnHostRefusals(t *testing.T) {
	root := fakeCT(t, map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
	maps := ctconf.DefaultIDMap()
	for _, tc := range []struct{ user, group, want string }{
		{"nobody", "", "'nobody' is not in the container's /etc/passwd"},
		{"", "staff", "cannot look up 'staff'"}, // the container has no /etc/group
		{"70000", "", "user id 70000 is outside the container's id map"},
		{"", "65536", "group id 65536 is outside the container's id map"},
	} {
		_, _, err := ownerOnHost(root, tc.user, tc.group, maps)
		var ae *api.Error
		if !errors.As(err, &ae) || !strings.Contains(strings.Join(mapValues(ae.Errors), " "), tc.want) {
			t.Errorf("%q:%q: %v, want %q", tc.user, tc.group, err, tc.want)
		}
	}
	// A privileged container's map is the identity.
	identity := ctconf.IDMaps{{Kind: 'u', Inside: 0, Host: 0, N: 1<<32 - 1}, {Kind: 'g', Inside: 0, Host: 0, N: 1<<32 - 1}}
	if uid, gid, err := ownerOnHost(root, "root", "5", identity); err != nil || uid != 0 || gid != 5 {
		t.Errorf("privileged: %d:%d %v", uid, gid, err)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestParsePerms(t *testing.T) {
	for in, want := range map[string]int{
		"": 0o644, "644": 0o644, "0644": 0o644, "4755": 0o4755, "0x1a4": 0o644, "0X1FF": 0o777, "7": 0o7,
		"888": -1, "17777": -1, "0x1000": -1, "abc": -1, "-1": -1, "0x": -1,
	} {
		got, err := parsePerms(in)
		if want < 0 {
			if err == nil {
				t.Errorf("%q: accepted as %o", in, got)
			}
			continue
		}
		if err != nil || int(got) != want {
			t.Errorf("%q: %o, %v; want %o", in, got, err, want)
		}
	}
}

func TestLookupID(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/sh\n\nbroken\nbad:x:abc:1::/:/bin/sh\nbad:x:7:7::/:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false"
	for name, want := range map[string]int{"root": 0, "www-data": 33, "bad": 7, "broken": -1, "nobody": -1, "": -1, "ro": -1} {
		id, ok := lookupID([]byte(passwd), name)
		if (want >= 0) != ok || ok && id != want {
			t.Errorf("%q: %d %v, want %d", name, id, ok, want)
		}
	}
}

func FuzzLookupID(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/sh\nadm:x:4:\n"), "adm")
	f.Add([]byte("a:b:99999999999:\n"), "a")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		id, ok := lookupID(data, name)
		if !ok {
			return
		}
		if id < 0 || id >= 1<<32 {
			t.Fatalf("id %d out of range", id)
		}
		if !strings.HasPrefix(string(data), name+":") && !strings.Contains(string(data), "\n"+name+":") {
			t.Fatalf("found %q, which no line starts with", name)
		}
	})
}

func TestParseKernelIDMap(t *testing.T) {
	got, err := parseKernelIDMap([]byte("         0     100000      65536\n    65536       1000          1\n"), 'u')
	want := ctconf.IDMaps{{Kind: 'u', Inside: 0, Host: 100000, N: 65536}, {Kind: 'u', Inside: 65536, Host: 1000, N: 1}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"0 1\n", "0 x 1\n", "0 1 2 3\n"} {
		if _, err := parseKernelIDMap([]byte(bad), 'g'); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// This process's own maps read and map root somewhere.
	maps, err := idMapsOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := maps.MapUID(0); !ok {
		t.Errorf("own map %v does not map root", maps)
	}
}
