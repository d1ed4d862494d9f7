package storage

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// knownTypes are the storage types of these tests; pbs is left out to
// stand for a type this build does not have.
func knownType(typ string) bool {
	return slices.Contains([]string{"dir", "lvm", "lvmthin", "nfs", "cifs", "rbd", "zfspool", "btrfs", "cephfs", "iscsi"}, typ)
}

var testLocal = DefaultLocal("/var/lib/vz")

// TestStorageCfgRoundTrip reads every storage.cfg under
// testdata/storagecfg and writes it back. Files as Proxmox VE writes them
// must come back byte for byte; files with a .golden beside them lose
// what ParseDefinitions skips.
func TestStorageCfgRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/storagecfg/*.cfg")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			d, warnings := ParseDefinitions(in, knownType, testLocal)
			out := d.Bytes()
			golden := strings.TrimSuffix(file, ".cfg") + ".golden"
			want, err := os.ReadFile(golden)
			switch {
			case errors.Is(err, os.ErrNotExist):
				if len(warnings) != 0 {
					t.Errorf("warnings for a file Proxmox VE wrote: %q", warnings)
				}
				want = in
			case err != nil:
				t.Fatal(err)
			case *update:
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				want = out
			}
			if !bytes.Equal(out, want) {
				t.Errorf("written back:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

func TestParseDefinitionsSkipsBadSectionsWithAWarningNamingTheLine(t *testing.T) {
	in, err := os.ReadFile("testdata/storagecfg/with-unknown.cfg")
	if err != nil {
		t.Fatal(err)
	}
	d, warnings := ParseDefinitions(in, knownType, testLocal)
	var ids []string
	for _, s := range d.Sections {
		ids = append(ids, s.Type+":"+s.ID)
	}
	if want := []string{"dir:local", "lvmthin:local-lvm"}; !slices.Equal(ids, want) {
		t.Fatalf("sections %q, want %q", ids, want)
	}
	// The first definition of a duplicated id wins.
	if v, _ := d.Find("local-lvm").Get("vgname"); v != "pve" {
		t.Errorf("local-lvm is the second definition: %+v", d.Find("local-lvm"))
	}
	wants := [][]string{
		{"line 5", "backup-server", `"pbs"`},
		{"line 13", `"9lives"`},
		{"line 24", "local-lvm", "twice"},
	}
	if len(warnings) != len(wants) {
		t.Fatalf("warnings %q, want %d", warnings, len(wants))
	}
	for i, parts := range wants {
		for _, p := range parts {
			if !strings.Contains(warnings[i], p) {
				t.Errorf("warning %q should mention %s", warnings[i], p)
			}
		}
	}
}

func TestParseDefinitionsAddsLocalWhenMissing(t *testing.T) {
	for _, in := range []string{
		"",
		"lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\n",
		// An unknown type does not count as a definition of local.
		"pbs: local\n\tdatastore x\n\tserver 192.0.2.40\n\n",
	} {
		d, _ := ParseDefinitions([]byte(in), knownType, testLocal)
		local := d.Find("local")
		if local == nil {
			t.Errorf("%q: no local storage", in)
			continue
		}
		if local.Type != "dir" {
			t.Errorf("%q: local is %s", in, local.Type)
		}
		if p, _ := local.Get("path"); p != "/var/lib/vz" {
			t.Errorf("%q: local path %q", in, p)
		}
		if c, _ := local.Get("content"); c != "iso,vztmpl,backup" {
			t.Errorf("%q: local content %q", in, c)
		}
		if strings.Contains(in, "local-lvm") && d.Find("local-lvm") == nil {
			t.Errorf("%q: local-lvm lost", in)
		}
	}
}

func TestParseDefinitionsKeepsADefinedLocal(t *testing.T) {
	in := "dir: local\n\tpath /srv/local\n\tcontent iso\n\n"
	d, warnings := ParseDefinitions([]byte(in), knownType, testLocal)
	if len(d.Sections) != 1 || len(warnings) != 0 {
		t.Fatalf("sections %+v, warnings %q", d.Sections, warnings)
	}
	if p, _ := d.Find("local").Get("path"); p != "/srv/local" {
		t.Fatalf("local path %q", p)
	}
}

func TestDefinitionsRemove(t *testing.T) {
	in, err := os.ReadFile("testdata/storagecfg/pve-install-lvm.cfg")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ParseDefinitions(in, knownType, testLocal)
	d.Remove("local-lvm")
	if d.Find("local-lvm") != nil {
		t.Fatal("local-lvm still there")
	}
	if want := "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n"; string(d.Bytes()) != want {
		t.Fatalf("got\n%s", d.Bytes())
	}
}

// Infos of a few types, as their plugins describe them.
var (
	dirInfo = Info{
		Content:        AllContent,
		DefaultContent: []Content{Images, Rootdir},
		Formats:        []string{"raw", "qcow2", "vmdk", "subvol"},
		DefaultFormat:  "raw",
		SharedOption:   true,
		Options: map[string]Option{
			"path": {Required: true, Fixed: true}, "content": {}, "nodes": {}, "shared": {}, "disable": {},
			"format": {}, "prune-backups": {}, "is_mountpoint": {}, "mkdir": {},
		},
	}
	lvmthinInfo = Info{
		Content:        []Content{Images, Rootdir},
		DefaultContent: []Content{Images, Rootdir},
		Formats:        []string{"raw"},
		DefaultFormat:  "raw",
		Options: map[string]Option{
			"vgname": {Required: true, Fixed: true}, "thinpool": {Required: true, Fixed: true},
			"content": {}, "nodes": {}, "disable": {},
		},
	}
	nfsInfo = Info{
		Content:        []Content{Images, Rootdir, VZTmpl, ISO, Backup, Snippets, Import},
		DefaultContent: []Content{Images},
		Formats:        []string{"raw", "qcow2", "vmdk"},
		DefaultFormat:  "raw",
		Shared:         true,
		Options: map[string]Option{
			"server": {Required: true, Fixed: true}, "export": {Required: true, Fixed: true}, "path": {Fixed: true},
			"content": {}, "nodes": {}, "disable": {}, "options": {}, "prune-backups": {}, "format": {},
		},
	}
)

func section(t *testing.T, text string) *sectioncfg.Section {
	t.Helper()
	secs, warnings := sectioncfg.Parse([]byte(text))
	if len(secs) != 1 || len(warnings) != 0 {
		t.Fatalf("test section %q: %+v %q", text, secs, warnings)
	}
	return &secs[0]
}

func TestConfigOf(t *testing.T) {
	for _, tc := range []struct {
		about string
		text  string
		info  Info
		want  Config
	}{
		{"content as written", "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n", lvmthinInfo,
			Config{ID: "local-lvm", Type: "lvmthin", Content: []Content{Rootdir, Images}}},
		{"content defaults to the type's default", "dir: store\n\tpath /srv/store\n", dirInfo,
			Config{ID: "store", Type: "dir", Content: []Content{Images, Rootdir}}},
		{"content none holds nothing", "dir: store\n\tpath /srv/store\n\tcontent none\n", dirInfo,
			Config{ID: "store", Type: "dir"}},
		{"nodes list", "lvmthin: data\n\tthinpool data\n\tvgname pve\n\tnodes pve1,pve2\n", lvmthinInfo,
			Config{ID: "data", Type: "lvmthin", Content: []Content{Images, Rootdir}, Nodes: []string{"pve1", "pve2"}}},
		{"shared by type", "nfs: nas\n\tserver 192.0.2.10\n\texport /srv\n\tcontent backup\n", nfsInfo,
			Config{ID: "nas", Type: "nfs", Content: []Content{Backup}, Shared: true}},
		{"shared by option", "dir: cfs\n\tpath /mnt/cluster\n\tcontent images\n\tshared 1\n", dirInfo,
			Config{ID: "cfs", Type: "dir", Content: []Content{Images}, Shared: true}},
		{"shared 0", "dir: d\n\tpath /d\n\tcontent images\n\tshared 0\n", dirInfo,
			Config{ID: "d", Type: "dir", Content: []Content{Images}}},
		{"disable 1", "dir: d\n\tpath /d\n\tcontent iso\n\tdisable 1\n", dirInfo,
			Config{ID: "d", Type: "dir", Content: []Content{ISO}, Disable: true}},
		{"bare disable flag", "dir: d\n\tpath /d\n\tcontent iso\n\tdisable\n", dirInfo,
			Config{ID: "d", Type: "dir", Content: []Content{ISO}, Disable: true}},
	} {
		sec := section(t, tc.text)
		got := ConfigOf(sec, tc.info)
		if got.ID != tc.want.ID || got.Type != tc.want.Type || !slices.Equal(got.Content, tc.want.Content) ||
			!slices.Equal(got.Nodes, tc.want.Nodes) || got.Shared != tc.want.Shared || got.Disable != tc.want.Disable {
			t.Errorf("%s: ConfigOf = %+v\nwant %+v", tc.about, got, tc.want)
		}
		for _, p := range sec.Props {
			if v, ok := got.Get(p.Key); !ok || (!p.Bare && v != p.Value) || (p.Bare && v != "1") {
				t.Errorf("%s: property %s = %q, %v", tc.about, p.Key, v, ok)
			}
		}
	}
}

func TestConfigOfDoesNotShareTheDefaultContentSlice(t *testing.T) {
	info := dirInfo
	info.DefaultContent = []Content{Images, Rootdir}
	c := ConfigOf(section(t, "dir: d\n\tpath /d\n"), info)
	c.Content[0] = Backup
	if info.DefaultContent[0] != Images {
		t.Fatal("changing a Config changed the type's defaults")
	}
}

func TestConfigOnNodeAndHolds(t *testing.T) {
	c := ConfigOf(section(t, "lvmthin: data\n\tthinpool data\n\tvgname pve\n\tnodes pve1,pve2\n\tcontent images\n"), lvmthinInfo)
	if !c.OnNode("pve1") || !c.OnNode("pve2") || c.OnNode("pve3") {
		t.Errorf("nodes %q", c.Nodes)
	}
	if !c.Holds(Images) || c.Holds(Rootdir) {
		t.Errorf("content %q", c.Content)
	}
	all := ConfigOf(section(t, "lvmthin: data\n\tthinpool data\n\tvgname pve\n"), lvmthinInfo)
	if !all.OnNode("anything") {
		t.Error("a storage without nodes is on every node")
	}
}

func TestCheckSection(t *testing.T) {
	for _, tc := range []struct {
		about  string
		text   string
		info   Info
		before string // "" for a new storage
		param  string // "" when the section is valid
	}{
		{"valid dir", "dir: d\n\tpath /srv/d\n\tcontent images,iso\n\tshared 1\n\tprune-backups keep-last=3\n", dirInfo, "", ""},
		{"valid lvmthin", "lvmthin: t\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n", lvmthinInfo, "", ""},
		{"valid change of a free key", "dir: d\n\tpath /srv/d\n\tcontent iso\n", dirInfo, "dir: d\n\tpath /srv/d\n\tcontent images\n", ""},
		{"content none", "dir: d\n\tpath /srv/d\n\tcontent none\n", dirInfo, "", ""},
		{"keep-all alone", "dir: d\n\tpath /srv/d\n\tprune-backups keep-all=1\n", dirInfo, "", ""},

		{"unknown key", "dir: d\n\tpath /srv/d\n\tvgname pve\n", dirInfo, "", "vgname"},
		{"missing required key", "lvmthin: t\n\tvgname pve\n", lvmthinInfo, "", "thinpool"},
		{"missing required path", "dir: d\n\tcontent iso\n", dirInfo, "", "path"},
		{"fixed key changed", "dir: d\n\tpath /srv/elsewhere\n", dirInfo, "dir: d\n\tpath /srv/d\n", "path"},
		{"fixed key changed on lvmthin", "lvmthin: t\n\tthinpool other\n\tvgname pve\n", lvmthinInfo, "lvmthin: t\n\tthinpool data\n\tvgname pve\n", "thinpool"},
		{"content the type cannot hold", "lvmthin: t\n\tthinpool data\n\tvgname pve\n\tcontent images,iso\n", lvmthinInfo, "", "content"},
		{"unknown content", "dir: d\n\tpath /srv/d\n\tcontent films\n", dirInfo, "", "content"},
		{"format the type does not store", "nfs: n\n\tserver 192.0.2.1\n\texport /x\n\tformat subvol\n", nfsInfo, "", "format"},
		{"shared on a local type", "lvmthin: t\n\tthinpool data\n\tvgname pve\n\tshared 1\n", withShared(lvmthinInfo), "", "shared"},
		{"keep-all with other rules", "dir: d\n\tpath /srv/d\n\tprune-backups keep-all=1,keep-last=3\n", dirInfo, "", "prune-backups"},
	} {
		var before *sectioncfg.Section
		if tc.before != "" {
			before = section(t, tc.before)
		}
		err := CheckSection(section(t, tc.text), tc.info, before)
		if tc.param == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.about, err)
			}
			continue
		}
		var e *api.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %v, want a parameter error for %s", tc.about, err, tc.param)
			continue
		}
		if e.Status != http.StatusBadRequest || e.Errors[tc.param] == "" || len(e.Errors) != 1 {
			t.Errorf("%s: got %d %v, want a 400 naming %s", tc.about, e.Status, e.Errors, tc.param)
		}
	}
}

// withShared lets a type's sections carry the shared key, so that the
// value, not the key, is what CheckSection refuses.
func withShared(info Info) Info {
	opts := map[string]Option{"shared": {}}
	for k, o := range info.Options {
		opts[k] = o
	}
	info.Options = opts
	return info
}
