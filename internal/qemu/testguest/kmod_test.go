package testguest

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOrderModules(t *testing.T) {
	graph := map[string][]string{
		"virtio_ring": nil, "virtio": nil,
		"virtio_pci":            {"virtio_ring", "virtio_pci_modern_dev", "virtio"},
		"virtio_pci_modern_dev": nil,
		"sd_mod":                {"scsi_mod", "t10-pi"},
		"scsi_mod":              {"scsi_common"},
		"scsi_common":           nil,
		"t10_pi":                {"crc64_rocksoft"},
		"crc64_rocksoft":        nil,
		"loop_a":                {"loop_b"},
		"loop_b":                {"loop_a"},
		"needs_builtin":         {"builtin_one"},
	}
	builtin := map[string]bool{"builtin_one": true}
	deps := func(name string) ([]string, bool, error) {
		if builtin[name] {
			return nil, true, nil
		}
		d, ok := graph[name]
		if !ok {
			return nil, false, fmt.Errorf("no module %q", name)
		}
		return d, false, nil
	}
	tests := []struct {
		name    string
		wanted  []string
		want    []string
		wantErr string
	}{
		{"already ordered", []string{"virtio_ring", "virtio"}, []string{"virtio_ring", "virtio"}, ""},
		{"dependencies first", []string{"virtio_pci"},
			[]string{"virtio_ring", "virtio_pci_modern_dev", "virtio", "virtio_pci"}, ""},
		{"each once", []string{"virtio", "virtio_pci", "virtio_ring"},
			[]string{"virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci"}, ""},
		{"dashes fold to underscores", []string{"sd_mod"},
			[]string{"scsi_common", "scsi_mod", "crc64_rocksoft", "t10_pi", "sd_mod"}, ""},
		{"built-in left out", []string{"builtin_one", "needs_builtin"}, []string{"needs_builtin"}, ""},
		{"unknown module", []string{"nosuch"}, nil, `no module "nosuch"`},
		{"cycle", []string{"loop_a"}, nil, "cycle: loop_a → loop_b → loop_a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := orderModules(tt.wanted, deps)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("order %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseModinfo(t *testing.T) {
	tests := []struct {
		name    string
		section string
		key     string
		want    []string
	}{
		{"depends list", "license=GPL\x00depends=virtio_ring,virtio\x00", "depends", []string{"virtio_ring", "virtio"}},
		{"empty depends", "depends=\x00intree=Y\x00", "depends", nil},
		{"repeated key", "alias=a\x00alias=b\x00", "alias", []string{"a", "b"}},
		{"no equals sign", "garbage\x00depends=x\x00", "depends", []string{"x"}},
		{"value with equals", "parm=x:a=b\x00", "parm", []string{"x:a=b"}},
		{"padding NULs", "\x00\x00depends=x\x00\x00", "depends", []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseModinfo([]byte(tt.section))[tt.key]; !slices.Equal(got, tt.want) {
				t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("depends=a,b\x00name=c\x00"))
	f.Add([]byte("=\x00,,\x00depends=,\x00"))
	f.Fuzz(func(t *testing.T, section []byte) {
		for key, values := range parseModinfo(section) {
			if key == "" || strings.ContainsRune(key, 0) {
				t.Fatalf("bad key %q", key)
			}
			for _, v := range values {
				if v == "" || strings.ContainsAny(v, ",\x00") {
					t.Fatalf("bad value %q of %s", v, key)
				}
			}
		}
	})
}

func TestModuleName(t *testing.T) {
	for file, want := range map[string]string{
		"virtio_net.ko": "virtio_net", "t10-pi.ko.xz": "t10_pi", "evdev.ko.zst": "evdev", "a.ko.gz": "a",
	} {
		if got, ok := moduleName(file); !ok || got != want {
			t.Errorf("moduleName(%q) = %q, %v; want %q", file, got, ok, want)
		}
	}
	for _, file := range []string{"modules.dep", "virtio.ko.bz2", "readme.txt"} {
		if _, ok := moduleName(file); ok {
			t.Errorf("moduleName(%q) took it for a module", file)
		}
	}
}

// fakeModule compiles an ELF object whose .modinfo section says what a
// kernel module's would. gcc is in the project's Debian packages.
func fakeModule(t *testing.T, dir, name string, depends ...string) []byte {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc is not installed (Debian package gcc)")
	}
	src := filepath.Join(dir, name+".c")
	code := fmt.Sprintf(`__attribute__((section(".modinfo"), used)) static const char info[] = "name=%s\0depends=%s\0license=GPL";`+"\n",
		name, strings.Join(depends, ","))
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, name+".o")
	if out, err := exec.Command(gcc, "-c", "-o", obj, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	data, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func compress(t *testing.T, tool string, data []byte) []byte {
	t.Helper()
	if tool == "gzip" {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		return buf.Bytes()
	}
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s is not installed (Debian packages xz-utils, zstd)", tool)
	}
	cmd := exec.Command(p, "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out
}

// TestKernelTreeCollectsModulesInLoadOrder builds a small unpacked kernel
// package: modules in every compression Debian has used, one built in.
func TestKernelTreeCollectsModulesInLoadOrder(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	const release = "6.1.0-99-amd64"
	writeFile(t, filepath.Join(root, "boot", "vmlinuz-"+release), []byte("kernel"))
	mods := filepath.Join(root, "lib", "modules", release)
	net := fakeModule(t, src, "virtio_net", "virtio", "net_failover")
	virtio := fakeModule(t, src, "virtio", "virtio_ring")
	failover := fakeModule(t, src, "net_failover", "failover")
	fo := fakeModule(t, src, "failover")
	writeFile(t, filepath.Join(mods, "kernel/drivers/net/virtio_net.ko"), net)
	writeFile(t, filepath.Join(mods, "kernel/drivers/virtio/virtio.ko.xz"), compress(t, "xz", virtio))
	writeFile(t, filepath.Join(mods, "kernel/drivers/net/net_failover.ko.zst"), compress(t, "zstd", failover))
	writeFile(t, filepath.Join(mods, "kernel/net/core/failover.ko.gz"), compress(t, "gzip", fo))
	writeFile(t, filepath.Join(mods, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_ring.ko\n"))

	k, err := openKernelTree(root)
	if err != nil {
		t.Fatal(err)
	}
	if k.release != release {
		t.Errorf("release %q, want %q", k.release, release)
	}
	got, err := k.collect(context.Background(), []string{"virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, path string
		data       []byte
	}{
		{"virtio", "kernel/drivers/virtio/virtio.ko", virtio},
		{"failover", "kernel/net/core/failover.ko", fo},
		{"net_failover", "kernel/drivers/net/net_failover.ko", failover},
		{"virtio_net", "kernel/drivers/net/virtio_net.ko", net},
	}
	if len(got) != len(want) {
		t.Fatalf("collected %d modules, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].name != w.name || got[i].path != w.path || !bytes.Equal(got[i].data, w.data) {
			t.Errorf("module %d = %s at %s (%d bytes), want %s at %s, uncompressed (%d bytes)",
				i, got[i].name, got[i].path, len(got[i].data), w.name, w.path, len(w.data))
		}
	}
	if _, err := k.collect(context.Background(), []string{"evdev"}); err == nil || !strings.Contains(err.Error(), `no module "evdev"`) {
		t.Errorf("missing module: error %v", err)
	}
}

func TestModinfoSectionRefusesNonModules(t *testing.T) {
	if _, err := modinfoSection([]byte("not elf")); err == nil {
		t.Error("accepted a non-ELF file")
	}
	obj := fakeModule(t, t.TempDir(), "x")
	if _, err := elf.NewFile(bytes.NewReader(obj)); err != nil {
		t.Fatal(err)
	}
	if _, err := modinfoSection(obj); err != nil {
		t.Errorf("module with .modinfo: %v", err)
	}
	if _, err := readModule(context.Background(), "/x/readme.txt"); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("readModule of a non-module: %v", err)
	}
}
