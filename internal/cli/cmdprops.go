package cli

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// The options a generated command takes are the endpoint's parameters
// plus the command's own (api.Command.Local), which the tool keeps. Every
// place that lists, parses or completes them goes through cmdProps, so a
// local option (even a positional one, such as pct pull's destination)
// is handled like a parameter everywhere but on the wire.

// cmdProps merges what a command accepts: the endpoint's parameters, the
// file parameters as the command line sees them (a path, not content),
// and the local options, which win over parameters of the same name.
func cmdProps(c *toolCmd) schema.Props {
	props := maps.Clone(c.ep.Params)
	if props == nil {
		props = schema.Props{}
	}
	for _, name := range c.cmd.FileParams {
		if s, ok := props[name]; ok {
			props[name] = fileParamView(s)
		}
	}
	maps.Copy(props, c.cmd.Local)
	return props
}

// fileParamView is how help and completion show a parameter given as a
// local file: its type is a path and its length limits are the
// content's, checked when the content is sent.
func fileParamView(s *schema.Schema) *schema.Schema {
	v := *s
	v.TypeHint = "<filepath>"
	v.Description = strings.TrimSpace(v.Description + " On the command line, give the path of a local file: the tool sends its content.")
	return &v
}

// isLocal reports whether name is one of the command's own options.
func (c *toolCmd) isLocal(name string) bool {
	_, ok := c.cmd.Local[name]
	return ok
}

// optionNames lists what a command takes as --options: its parameters
// and local options but the positional and the fixed ones, sorted.
func optionNames(c *toolCmd) []string {
	var names []string
	for _, n := range c.props.Names() {
		_, fixed := c.cmd.Fixed[n]
		if !fixed && !slices.Contains(c.cmd.Args, n) {
			names = append(names, n)
		}
	}
	return names
}

// restIsArray reports whether the command's last positional argument is
// an array, which takes every argument left over.
func (c *toolCmd) restIsArray() bool {
	args := c.cmd.Args
	if len(args) == 0 {
		return false
	}
	s := c.props[args[len(args)-1]]
	return s != nil && s.Type == schema.Array
}

// fileParamMax bounds a file sent as a parameter's value: such values
// are small texts (keys), and a form field is held in memory.
const fileParamMax = 1 << 20

// readFileParams replaces the values of the command's file parameters,
// which name local files, by the files' contents.
func readFileParams(c *toolCmd, raw schema.Raw) error {
	for _, name := range c.cmd.FileParams {
		for i, path := range raw[name] {
			b, err := readSmallFile(path, fileParamMax)
			if err != nil {
				return fmt.Errorf("--%s: %w", name, err)
			}
			raw[name][i] = string(b)
		}
	}
	return nil
}

// readSmallFile reads a regular file of at most max bytes. It looks
// before it opens, since opening a FIFO would wait for a writer.
func readSmallFile(path string, max int64) ([]byte, error) {
	if err := checkRegularFile(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the local file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than the %d KiB allowed", path, max>>10)
	}
	return b, nil
}

// checkRegularFile makes sure path is a local regular file, with an
// error that says what is wrong with it.
func checkRegularFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return fmt.Errorf("no local file %s", path)
	case err != nil:
		return fmt.Errorf("cannot read the local file: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}
