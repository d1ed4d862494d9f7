package vztmpl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
)

// indexTarget is one package index the host's apt knows, as
// `apt-get indextargets` describes it. apt has read the sources.list
// files (one-line and deb822 ones) for us.
type indexTarget struct {
	RepoURI      string // the mirror, with a trailing slash
	Release      string // the suite as the sources name it (bookworm, oldstable)
	Codename     string // from the Release file; empty before apt-get update
	Version      string // the point release (12.15); empty before apt-get update
	Component    string
	Architecture string
	Filename     string // the local copy of the index
}

// indexTargets lists the Packages indexes of the host's deb sources.
func indexTargets(ctx context.Context) ([]indexTarget, error) {
	out, err := command(ctx, "", "apt-get", "indextargets", "Identifier: Packages")
	if err != nil {
		return nil, err
	}
	return targetsFrom(out), nil
}

// targetsFrom reads `apt-get indextargets` output, keeping the indexes
// of binary (deb) sources.
func targetsFrom(out []byte) []indexTarget {
	var targets []indexTarget
	for _, p := range parseParagraphs(out) {
		if p["Target-Of"] != "deb" {
			continue
		}
		targets = append(targets, indexTarget{
			RepoURI: p["Repo-URI"], Release: p["Release"], Codename: p["Codename"], Version: p["Version"],
			Component: p["Component"], Architecture: p["Architecture"], Filename: p["Filename"],
		})
	}
	return targets
}

// suiteIndex finds the amd64 main index of suite (a code name).
func suiteIndex(ctx context.Context, suite string) (indexTarget, error) {
	targets, err := indexTargets(ctx)
	if err != nil {
		return indexTarget{}, err
	}
	return pickSuite(targets, suite)
}

// pickSuite finds the amd64 main index of suite among targets.
func pickSuite(targets []indexTarget, suite string) (indexTarget, error) {
	for _, t := range targets {
		if (t.Release == suite || t.Codename == suite) && t.Component == "main" && t.Architecture == "amd64" && t.RepoURI != "" {
			return t, nil
		}
	}
	return indexTarget{}, fmt.Errorf("%w: the host's apt sources name no %s suite with component main for amd64 (add one to /etc/apt/sources.list.d and run apt-get update)",
		ErrArchiveUnreachable, suite)
}

// parseParagraphs reads deb822-style output: "Key: value" lines in
// paragraphs separated by blank lines. Continuation lines (starting
// with a space) extend the previous value.
func parseParagraphs(out []byte) []map[string]string {
	var paras []map[string]string
	cur := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				paras = append(paras, cur)
				cur = map[string]string{}
			}
			last = ""
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				cur[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || key == "" {
			last = ""
			continue
		}
		last = key
		cur[key] = strings.TrimSpace(value)
	}
	if len(cur) > 0 {
		paras = append(paras, cur)
	}
	return paras
}
