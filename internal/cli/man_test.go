package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
)

func TestManPagesGolden(t *testing.T) {
	eps := append(declareThings().endpoints(), api.Version.E)
	dir := filepath.Join(t.TempDir(), "man")
	r := runMain(t, eps, nil, cliOpts{}, "hearth", "gen-man", dir)
	expectCode(t, r, 0)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"hearth.1", "pvesh.1", "pveversion.1", "thingctl.1"}; !slices.Equal(names, want) {
		t.Fatalf("pages %q, want %q", names, want)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("man", n), string(b))
	}
}

func TestManPagesAreDeterministicAndEscaped(t *testing.T) {
	eps := declareThings().endpoints()
	a, b := toolManPage("thingctl", eps), toolManPage("thingctl", eps)
	if string(a) != string(b) {
		t.Error("two runs differ")
	}
	for i, line := range strings.Split(string(a), "\n") {
		if strings.HasPrefix(line, ".") && !slices.Contains([]string{".TH", ".SH", ".SS", ".TP", ".PP", ".IP", ".nf", ".fi", ".br", `.\"`}, strings.Fields(line)[0]) {
			t.Errorf("line %d is an unexpected request: %q", i+1, line)
		}
	}
	if got := esc(".start -x \\"); got != `\&.start \-x \e` {
		t.Errorf("esc = %q", got)
	}
}
