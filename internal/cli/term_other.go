//go:build !linux

package cli

import (
	"errors"
	"os"
)

// isTerminal is false where terminals are not detected (Hearth nodes run
// Linux; this keeps the package building elsewhere for development).
func isTerminal(any) bool { return false }

func readSecret(*os.File) (string, error) {
	return "", errors.New("password prompts are only supported on Linux")
}

func makeRaw(*os.File) (func(), error) {
	return nil, errors.New("raw terminals are only supported on Linux")
}
