package guestconf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/messy")

// confFiles returns the .conf files of a testdata directory with the kind
// their name says: vm-* are virtual machines, ct-* containers.
func confFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.conf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files in testdata/%s: %v", dir, err)
	}
	out := map[string]string{}
	for _, p := range paths {
		switch base := filepath.Base(p); {
		case strings.HasPrefix(base, "vm-"):
			out[p] = KindQemu
		case strings.HasPrefix(base, "ct-"):
			out[p] = KindLXC
		default:
			t.Fatalf("%s: name it vm-* or ct-* so that its kind is known", p)
		}
	}
	return out
}

func mustParse(t *testing.T, kind string, data []byte) (*File, []string) {
	t.Helper()
	f, warnings, err := Parse(kind, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f, warnings
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// golden compares got with a file, or rewrites the file with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestCanonicalFilesComeBackByteForByte(t *testing.T) {
	for path, kind := range confFiles(t, "canonical") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data := readFile(t, path)
			f, warnings := mustParse(t, kind, data)
			if len(warnings) > 0 {
				t.Errorf("warnings for a canonical file: %q", warnings)
			}
			if got := f.Bytes(); !bytes.Equal(got, data) {
				t.Errorf("written back differently:\n%s", got)
			}
			if f.Digest() != Digest(data) {
				t.Errorf("digest %s, the file's is %s", f.Digest(), Digest(data))
			}
		})
	}
}

func TestCRLFReadsAsLF(t *testing.T) {
	for path, kind := range confFiles(t, "canonical") {
		data := readFile(t, path)
		f, warnings := mustParse(t, kind, bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")))
		if len(warnings) > 0 {
			t.Errorf("%s with CRLF: warnings %q", path, warnings)
		}
		if got := f.Bytes(); !bytes.Equal(got, data) {
			t.Errorf("%s with CRLF written as:\n%s", path, got)
		}
	}
}

// Hand-edited files normalise to what Proxmox VE would write, with a
// warning for every line that was dropped. The output is canonical: it
// parses without warnings and comes back unchanged.
func TestHandEditedFilesNormalise(t *testing.T) {
	for path, kind := range confFiles(t, "messy") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, warnings := mustParse(t, kind, readFile(t, path))
			out := f.Bytes()
			stem := strings.TrimSuffix(path, ".conf")
			golden(t, stem+".golden", out)
			golden(t, stem+".warnings", []byte(strings.Join(warnings, "\n")+"\n"))
			again, w := mustParse(t, kind, out)
			if len(w) > 0 || !again.Equal(f) || !bytes.Equal(again.Bytes(), out) {
				t.Errorf("the normalised file is not canonical: warnings %q", w)
			}
		})
	}
}

func TestParsedVMContent(t *testing.T) {
	f, _ := mustParse(t, KindQemu, readFile(t, "testdata/canonical/vm-shop.conf"))
	wantDescr := "Shop front end, public web tier.\n" +
		"Owner: Jürgen Weiß (team “storefront”)\n" +
		"\n" +
		"  Maintenance window: Tuesdays 22:00-23:00, 100% of traffic drained first."
	if got := f.Main.Value(DescriptionKey); got != wantDescr {
		t.Errorf("description %q, want %q", got, wantDescr)
	}
	if got := f.Main.Value("sshkeys"); !strings.HasPrefix(got, "ssh-ed25519%20") {
		t.Errorf("sshkeys must stay encoded as stored, got %q", got)
	}
	if got := f.PendingDeletes(); !reflect.DeepEqual(got, []PendingDelete{{"balloon", false}, {"unused0", true}}) {
		t.Errorf("pending deletes %v", got)
	}
	if got := f.Pending.Keys(); !reflect.DeepEqual(got, []string{"cores", "memory", "net1"}) {
		t.Errorf("pending keys %v", got)
	}
	if got := f.CloudInit.Value("name"); got != "shop-web-01" {
		t.Errorf("cloud-init name %q", got)
	}
	if got := f.SnapshotNames(); !reflect.DeepEqual(got, []string{"after-upgrade", "before-upgrade"}) {
		t.Errorf("snapshots %v", got)
	}
	chain, err := f.SnapshotChain(f.Main.Value("parent"))
	if err != nil || !reflect.DeepEqual(chain, []string{"after-upgrade", "before-upgrade"}) {
		t.Errorf("chain %v, %v", chain, err)
	}
	snap := f.Snapshot("after-upgrade")
	if snap.Value("vmstate") != "local-lvm:vm-120-state-after-upgrade" || snap.Value("snaptime") != "1714042800" {
		t.Errorf("snapshot keys %v", snap.Keys())
	}
	if got := snap.Value(DescriptionKey); got != "After the Debian 12 upgrade: kernel 6.1, PHP 8.2." {
		t.Errorf("snapshot description %q", got)
	}
}

func TestParsedContainerContent(t *testing.T) {
	f, _ := mustParse(t, KindLXC, readFile(t, "testdata/canonical/ct-proxy.conf"))
	wantRaw := []RawKey{
		{"lxc.cgroup2.devices.allow", "c 10:200 rwm"},
		{"lxc.mount.entry", "/dev/net dev/net none bind,create=dir"},
		{"lxc.cgroup2.devices.allow", "c 188:* rwm"},
		{"lxc.mount.entry", "/dev/ttyUSB0 dev/ttyUSB0 none bind,optional,create=file"},
	}
	if got := f.Main.Raw(); !reflect.DeepEqual(got, wantRaw) {
		t.Errorf("raw keys %q", got)
	}
	if got := f.Snapshot("with-nginx").Raw(); !reflect.DeepEqual(got, wantRaw[:2]) {
		t.Errorf("snapshot raw keys %q", got)
	}
	if f.Main.Has("lxc.mount.entry") {
		t.Error("raw keys must not show up as keys")
	}
	// A container keeps trailing spaces of its description.
	if got := f.Main.Value(DescriptionKey); !strings.HasSuffix(got, "line stay.   ") || !strings.Contains(got, "/dev/net/tun") {
		t.Errorf("description %q", got)
	}
	if got := f.PendingDeletes(); !reflect.DeepEqual(got, []PendingDelete{{"mp0", true}, {"nameserver", false}}) {
		t.Errorf("pending deletes %v", got)
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name, kind, in string
		warn           []string // substrings, one per expected warning
		out            string
	}{
		{"no separator", KindQemu, "memory: 1\nnonsense\n", []string{"line 2: not a 'key: value' line"}, "memory: 1\n"},
		{"upper-case key", KindQemu, "Memory: 1\n", []string{"not a 'key: value'"}, ""},
		{"key with leading space", KindQemu, " memory: 1\n", []string{"not a 'key: value'"}, ""},
		{"empty value", KindQemu, "memory:   \nname: a\n", []string{`key "memory" has no value`}, "name: a\n"},
		{"duplicate key, later wins", KindQemu, "cores: 1\ncores: 2\n", []string{`line 2: key "cores" appears twice`}, "cores: 2\n"},
		{"digest line", KindLXC, "digest: abc\nmemory: 1\n", []string{"digest"}, "memory: 1\n"},
		{"delete outside pending", KindQemu, "delete: net0\n", []string{"only allowed in the pending section"}, ""},
		{"delete in a snapshot", KindLXC, "[s1]\ndelete: net0\n", []string{"only allowed in the pending section"}, "\n[s1]\n"},
		{"bad delete entry", KindQemu, "[PENDING]\ndelete: net0,9x,!\n", []string{`"9x"`, `""`}, "\n[PENDING]\ndelete: net0\n"},
		{"second delete list wins", KindQemu, "[PENDING]\ndelete: net0\ndelete: net1\n", []string{"appears twice"}, "\n[PENDING]\ndelete: net1\n"},
		{"raw key in a VM", KindQemu, "lxc.init.cmd: /sbin/init\n", []string{"raw LXC key in a virtual machine"}, ""},
		{"raw key without separator", KindLXC, "lxc.init.cmd /sbin/init\n", []string{"not a raw LXC"}, ""},
		{"raw key without name", KindLXC, "lxc.: x\n", []string{"not a raw LXC"}, ""},
		{"unknown special section", KindQemu, "memory: 1\n[special:foo]\nmemory: 2\n", []string{"line 2: unknown section [special:foo]"}, "memory: 1\n"},
		{"cloud-init in a container", KindLXC, "[special:cloudinit]\nname: a\n", []string{"unknown section [special:cloudinit] in a container"}, ""},
		{"VM pending header in a container", KindLXC, "[PENDING]\nmemory: 1\n", []string{"reserved for pending"}, ""},
		{"container pending header in a VM", KindQemu, "[pve:pending]\nmemory: 1\n", []string{"unknown section [pve:pending]"}, ""},
		{"invalid snapshot name", KindQemu, "memory: 1\n[1st]\nmemory: 2\n", []string{`invalid snapshot name "1st"`}, "memory: 1\n"},
		{"one-letter snapshot name", KindQemu, "[a]\nmemory: 2\n", []string{`invalid snapshot name "a"`}, ""},
		{"unclosed header", KindQemu, "memory: 1\n[snap\nmemory: 2\n", []string{"malformed section header"}, "memory: 1\n"},
		{"duplicate snapshot, later wins", KindQemu, "[s1]\nmemory: 1\ncores: 1\n[s1]\nmemory: 2\n", []string{"snapshot section [s1] appears twice"}, "\n[s1]\nmemory: 2\n"},
		{"duplicate pending, later wins", KindLXC, "[pve:pending]\nmemory: 1\n[pve:pending]\ncores: 2\n", []string{"[pve:pending] appears twice"}, "\n[pve:pending]\ncores: 2\n"},
		{"skipping ends at the next header", KindQemu, "[x:y]\nmemory: 1\n[s1]\nmemory: 2\n", []string{"unknown section"}, "\n[s1]\nmemory: 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, warnings := mustParse(t, tt.kind, []byte(tt.in))
			if len(warnings) != len(tt.warn) {
				t.Fatalf("warnings %q, want %d matching %q", warnings, len(tt.warn), tt.warn)
			}
			for i, w := range tt.warn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q does not say %q", warnings[i], w)
				}
			}
			if got := string(f.Bytes()); got != tt.out {
				t.Errorf("written as %q, want %q", got, tt.out)
			}
		})
	}
}

func TestNormalisations(t *testing.T) {
	tests := []struct {
		name, kind, in, out string
	}{
		{"keys sorted", KindQemu, "name: a\ncores: 1\n", "cores: 1\nname: a\n"},
		{"spaces around values", KindQemu, "name:a\t \ncores:    1\n", "cores: 1\nname: a\n"},
		{"blank lines dropped", KindQemu, "\n\nname: a\n \n\n[s1]\n\nname: b\n\n\n", "name: a\n\n[s1]\nname: b\n"},
		{"no final newline", KindQemu, "name: a", "name: a\n"},
		{"header with trailing space", KindQemu, "[PENDING] \t\nname: a\n", "\n[PENDING]\nname: a\n"},
		{"pending header in any case", KindQemu, "[Pending]\nname: a\n", "\n[PENDING]\nname: a\n"},
		{"sections ordered", KindQemu, "[zz]\nname: z\n[special:cloudinit]\nname: c\n[aa]\nname: a\n[PENDING]\nname: p\n",
			"\n[PENDING]\nname: p\n\n[special:cloudinit]\nname: c\n\n[aa]\nname: a\n\n[zz]\nname: z\n"},
		{"empty pending dropped", KindQemu, "name: a\n[PENDING]\n", "name: a\n"},
		{"empty snapshot kept", KindQemu, "name: a\n[s1]\n", "name: a\n\n[s1]\n"},
		{"delete list sorted and merged", KindQemu, "[PENDING]\ndelete: net1;!net0  ide2,net1\n", "\n[PENDING]\ndelete: ide2,!net0,net1\n"},
		{"delete list in its sorted place", KindLXC, "[pve:pending]\nswap: 1\ndelete: mp0\narch: amd64\n", "\n[pve:pending]\narch: amd64\ndelete: mp0\nswap: 1\n"},
		{"LXC '=' syntax", KindLXC, "lxc.idmap  =  u 0 100000 65536 \n", "lxc.idmap: u 0 100000 65536\n"},
		{"empty raw value", KindLXC, "lxc.apparmor.profile:\n", "lxc.apparmor.profile: \n"},
		{"raw keys after the others", KindLXC, "lxc.b: 2\nname: a\nlxc.a: 1\n", "name: a\nlxc.b: 2\nlxc.a: 1\n"},
		// Descriptions: '#' lines anywhere in the section, in order.
		{"description after keys", KindQemu, "name: a\n#one\ncores: 1\n#two\n", "#one\n#two\ncores: 1\nname: a\n"},
		{"old description key", KindQemu, "description: a%3Ab\nname: x\n", "#a%3Ab\nname: x\n"},
		{"description escapes redone", KindQemu, "#a%3ab:c\n", "#a%3Ab%3Ac\n"},
		{"VM description trailing space trimmed", KindQemu, "#a  \n#\n#  \n", "#a\n"},
		{"CT description trailing space kept", KindLXC, "#a  \n#\n", "#a  \n"},
		{"inner empty lines kept", KindLXC, "#a\n#\n#b\n", "#a\n#\n#b\n"},
		{"empty description dropped", KindQemu, "#\nname: a\n", "name: a\n"},
		{"empty pending description of a VM kept", KindQemu, "[PENDING]\n#\n", "\n[PENDING]\n#\n"},
		{"empty pending description of a CT dropped", KindLXC, "[pve:pending]\n#\n", ""},
		{"whitespace-only VM description", KindQemu, "# \t\n#%20\nname: a\n", "name: a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, warnings := mustParse(t, tt.kind, []byte(tt.in))
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if got := string(f.Bytes()); got != tt.out {
				t.Errorf("written as %q, want %q", got, tt.out)
			}
		})
	}
}

func TestParseRefusesUnknownKind(t *testing.T) {
	if _, _, err := Parse("openvz", []byte("memory: 1\n")); err == nil || !strings.Contains(err.Error(), `"qemu"`) {
		t.Errorf("error %v, want one naming the kinds allowed", err)
	}
}
