package vztmpl

import (
	"errors"
	"strings"
	"testing"
)

// Shortened `apt-get indextargets 'Identifier: Packages'` output of a
// Debian 12 host with the main suite, its updates and security.
const indextargetsOut = `MetaKey: main/binary-amd64/Packages
ShortDesc: Packages
Description: http://deb.debian.org/debian bookworm/main amd64 Packages
URI: http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages
Filename: /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4
Codename: bookworm
Suite: oldstable
Version: 12.15
Architecture: amd64
Component: main
Identifier: Packages
Release: bookworm
Repo-URI: http://deb.debian.org/debian/
Target-Of: deb

MetaKey: main/binary-amd64/Packages
Filename: /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4
Codename: bookworm-updates
Architecture: amd64
Component: main
Release: bookworm-updates
Repo-URI: http://deb.debian.org/debian/
Target-Of: deb

MetaKey: main/binary-amd64/Packages
Filename: /var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4
Codename: bookworm-security
Architecture: amd64
Component: main
Release: bookworm-security
Repo-URI: http://deb.debian.org/debian-security/
Target-Of: deb

MetaKey: main/source/Sources
Release: bookworm
Component: main
Repo-URI: http://src.example/debian/
Target-Of: deb-src
`

func TestParseParagraphs(t *testing.T) {
	paras := parseParagraphs([]byte("A: 1\nB:two words \n continued\n\n\n#junk\nC: 3\n"))
	if len(paras) != 2 {
		t.Fatalf("got %d paragraphs: %v", len(paras), paras)
	}
	if paras[0]["A"] != "1" || paras[0]["B"] != "two words\ncontinued" || paras[1]["C"] != "3" {
		t.Errorf("got %v", paras)
	}
}

func TestPickSuiteAndSources(t *testing.T) {
	targets := targetsFrom([]byte(indextargetsOut))
	if len(targets) != 3 {
		t.Fatalf("got %d deb targets, want 3: %+v", len(targets), targets)
	}
	main, err := pickSuite(targets, "bookworm")
	if err != nil || main.RepoURI != "http://deb.debian.org/debian/" || main.Version != "12.15" || !strings.HasSuffix(main.Filename, "_bookworm_main_binary-amd64_Packages.lz4") {
		t.Fatalf("pickSuite = %+v, %v", main, err)
	}
	want := "deb http://deb.debian.org/debian/ bookworm main\n" +
		"deb http://deb.debian.org/debian/ bookworm-updates main\n" +
		"deb http://deb.debian.org/debian-security/ bookworm-security main\n"
	if got := debianSources(targets); got != want {
		t.Errorf("sources.list:\n%s\nwant:\n%s", got, want)
	}
	// Sources that name the suite by its alias still match by code name.
	alias := []indexTarget{{RepoURI: "http://m/debian/", Release: "oldstable", Codename: "bookworm", Component: "main", Architecture: "amd64"}}
	if got, err := pickSuite(alias, "bookworm"); err != nil || got.RepoURI != "http://m/debian/" {
		t.Errorf("pickSuite(alias) = %+v, %v", got, err)
	}
	if _, err := pickSuite(targets, "trixie"); !errors.Is(err, ErrArchiveUnreachable) || !strings.Contains(err.Error(), "no trixie suite") {
		t.Errorf("pickSuite(trixie) = %v", err)
	}
}

func FuzzParseParagraphs(f *testing.F) {
	f.Add([]byte(indextargetsOut))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range parseParagraphs(data) {
			if len(p) == 0 {
				t.Fatal("empty paragraph returned")
			}
			for k := range p {
				if k == "" || strings.ContainsAny(k, "\n:") || k[0] == ' ' || k[0] == '\t' {
					t.Fatalf("bad key %q", k)
				}
			}
		}
	})
}

func TestUnescapeMount(t *testing.T) {
	cases := map[string]string{
		`/tmp/a\040b`: "/tmp/a b",
		`/x\134y`:     `/x\y`,
		`/plain`:      "/plain",
		`/bad\09`:     `/bad\09`,
		`/end\04`:     `/end\04`,
	}
	for in, want := range cases {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
