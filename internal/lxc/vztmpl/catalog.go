package vztmpl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Info describes a template this package can build, in the terms of a
// template index (what `pveam available` lists).
type Info struct {
	Name        string // what Build takes: "busybox" or "debian"
	OS          string // distribution, as /etc/os-release's ID says
	Version     string // the distribution's version
	Description string // one line for listings
	// File is the archive name Build would produce from the host's
	// current package lists; empty when apt could not tell.
	File    string
	Section string // always "system"
	Type    string // always "lxc"
}

// Template names Build accepts.
const (
	Busybox = "busybox"
	Debian  = "debian"
)

// DefaultCacheDir is where downloaded packages and built Debian
// templates are kept between builds: $HEARTH_VZTMPL_CACHE, else
// /var/cache/hearth/vztmpl for root, else the user's cache directory.
func DefaultCacheDir() string {
	if d := os.Getenv("HEARTH_VZTMPL_CACHE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/cache/hearth/vztmpl"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "hearth", "vztmpl")
	}
	return filepath.Join(os.TempDir(), "hearth-vztmpl")
}

// Builder builds templates, keeping downloads and finished Debian
// templates in CacheDir.
type Builder struct {
	CacheDir string
}

// Build builds the named template into outDir with DefaultCacheDir as
// cache. See Builder.Build.
func Build(ctx context.Context, name, outDir string, logf func(string, ...any)) (string, error) {
	return Builder{CacheDir: DefaultCacheDir()}.Build(ctx, name, outDir, logf)
}

// Available lists the templates Build can make, with DefaultCacheDir as
// cache.
func Available() []Info {
	return Builder{CacheDir: DefaultCacheDir()}.Available()
}

// Build builds the template called name ("busybox" or "debian") and
// puts it into outDir, returning the archive's file name (not path). The
// archive appears by rename, so outDir never holds half a template.
// logf (may be nil) receives progress. Errors wrap ErrArchiveUnreachable
// when the Debian archive could not be used.
func (b Builder) Build(ctx context.Context, name, outDir string, logf func(string, ...any)) (string, error) {
	if runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("templates are built for amd64; this host is %s", runtime.GOARCH)
	}
	if b.CacheDir == "" {
		return "", errors.New("template build: no cache directory given")
	}
	if st, err := os.Stat(outDir); err != nil {
		return "", fmt.Errorf("template build: output directory: %w", err)
	} else if !st.IsDir() {
		return "", fmt.Errorf("template build: output %s is not a directory", outDir)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	var file string
	var err error
	switch name {
	case Busybox:
		file, err = b.buildBusybox(ctx, outDir, logf)
	case Debian:
		file, err = b.buildDebian(ctx, outDir, logf)
	default:
		return "", fmt.Errorf("unknown template %q: this node can build %s", name, strings.Join(names(), ", "))
	}
	if err != nil {
		return "", fmt.Errorf("build %s template: %w", name, err)
	}
	logf("vztmpl: %s ready in %v", file, time.Since(start).Round(time.Millisecond))
	return file, nil
}

// Available lists the templates Build can make. The file names come
// from the host's package lists (no network); a template whose inputs
// apt cannot name has an empty File.
func (b Builder) Available() []Info {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bb := Info{
		Name: Busybox, OS: "busybox", Section: "system", Type: "lxc",
		Description: "BusyBox: a shell and the core tools in one static binary, started by busybox init",
	}
	if d, err := b.apt().resolve(ctx, busyboxPackage); err == nil {
		if up, rev, err := splitVersion(d.Version); err == nil {
			bb.Version = up
			bb.File = busyboxFile(up, rev, compression())
		}
	}
	deb := Info{
		Name: Debian, OS: "debian", Version: debianMajor, Section: "system", Type: "lxc",
		Description: "Debian " + debianMajor + " (" + debianSuite + "), minimal: systemd, ifupdown, iproute2, ping",
	}
	if idx, err := suiteIndex(ctx, debianSuite); err == nil && idx.Version != "" {
		deb.File = debianFile(idx.Version, compression())
	}
	return []Info{bb, deb}
}

func names() []string { return []string{Busybox, Debian} }

// compression is the archive suffix new templates get: zstd where the
// tool is installed (Proxmox VE's choice too), gzip otherwise.
func compression() string {
	if haveZstd() {
		return ".tar.zst"
	}
	return ".tar.gz"
}

// splitVersion splits a Debian version [epoch:]upstream[-revision] into
// the upstream part and the revision; the epoch only orders versions and
// is dropped.
func splitVersion(v string) (upstream, revision string, err error) {
	if !debVersion.MatchString(v) {
		return "", "", fmt.Errorf("%q is not a Debian package version", v)
	}
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		return v[:i], v[i+1:], nil
	}
	return v, "", nil
}

// busyboxFile names the busybox template after the Debian package it
// holds: busybox-<upstream>-<revision>_amd64.tar.zst.
func busyboxFile(upstream, revision, suffix string) string {
	v := upstream
	if revision != "" {
		v += "-" + revision
	}
	return "busybox-" + v + "_amd64" + suffix
}

// debianFile names the Debian template as Proxmox VE names its own:
// debian-12-standard_<point release>-<template revision>_amd64.
func debianFile(pointRelease, suffix string) string {
	return fmt.Sprintf("debian-%s-standard_%s-%d_amd64%s", debianMajor, pointRelease, debianTemplateRevision, suffix)
}
