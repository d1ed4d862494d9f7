//go:build !linux

package hostinfo

import "errors"

// Hearth hosts run Linux; these stubs only keep the package compiling on
// developers' other systems.

func uname() (Kernel, error) { return Kernel{}, errors.ErrUnsupported }

func statfs(string) (FS, error) { return FS{}, errors.ErrUnsupported }
