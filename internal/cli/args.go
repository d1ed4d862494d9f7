package cli

import (
	"fmt"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// globalOpts are the options every tool accepts besides the parameters of
// the endpoint it calls: output formatting and how to reach the daemon.
type globalOpts struct {
	format   string // text, json, json-pretty or yaml
	noBorder bool
	noHeader bool
	human    bool
	quiet    bool
	help     bool
	// wait is nil unless given: task commands follow the task by default.
	wait *bool

	socket       string
	host         string
	port         string
	user         string
	passwordFile string
	token        string
	fingerprint  string
	caFile       string
}

func defaultOpts() globalOpts { return globalOpts{format: "text", human: true} }

// optKind says whether an option needs a value or is a flag whose value
// may be left out.
type optKind int

const (
	optValue optKind = iota
	optFlag
)

// globalKind reports whether name is a global option, and its kind.
func globalKind(name string) (optKind, bool) {
	switch name {
	case "output-format", "socket", "host", "port", "user", "password-file", "token", "fingerprint", "ca-file":
		return optValue, true
	case "noborder", "noheader", "human-readable", "quiet", "wait", "help", "h", "noproxy":
		return optFlag, true
	}
	return 0, false
}

// outputFormats lists the values of --output-format.
func outputFormats() []string { return []string{"json", "json-pretty", "text", "yaml"} }

func (g *globalOpts) apply(name, value string) error {
	flag := func() (bool, error) {
		b, err := schema.ParseBool(value)
		if err != nil {
			return false, fmt.Errorf("option --%s: %v", name, err)
		}
		return b, nil
	}
	var err error
	switch name {
	case "output-format":
		for _, f := range outputFormats() {
			if value == f {
				g.format = value
				return nil
			}
		}
		return fmt.Errorf("option --output-format: %q is not one of %s", value, strings.Join(outputFormats(), ", "))
	case "noborder":
		g.noBorder, err = flag()
	case "noheader":
		g.noHeader, err = flag()
	case "human-readable":
		g.human, err = flag()
	case "quiet":
		g.quiet, err = flag()
	case "help", "h":
		g.help, err = flag()
	case "wait":
		var b bool
		b, err = flag()
		g.wait = &b
	case "noproxy":
		// Accepted for scripts written for PVE; the daemon forwards
		// requests to the node that must run them by itself.
		_, err = flag()
	case "socket":
		g.socket = value
	case "host":
		g.host = value
	case "port":
		g.port = value
	case "user":
		g.user = value
	case "password-file":
		g.passwordFile = value
	case "token":
		g.token = value
	case "fingerprint":
		g.fingerprint = value
	case "ca-file":
		g.caFile = value
	default:
		return fmt.Errorf("unknown option --%s", name)
	}
	return err
}

// splitOption recognises "--name", "-name" (PVE habit) and "--name=value".
// A lone "-" and negative numbers are not options.
func splitOption(a string) (name, value string, hasValue, ok bool) {
	if len(a) < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9') || a == "--" {
		return "", "", false, false
	}
	name = strings.TrimPrefix(a[1:], "-")
	if name == "" {
		return "", "", false, false
	}
	name, value, hasValue = strings.Cut(name, "=")
	return name, value, hasValue, name != ""
}

func isBoolWord(s string) bool {
	_, err := schema.ParseBool(s)
	return err == nil
}

// parseLeading consumes global options at the start of args, as in
// `pvesh --output-format json get /nodes`, and returns the rest.
func parseLeading(args []string, g *globalOpts) ([]string, error) {
	for len(args) > 0 {
		name, val, hasVal, ok := splitOption(args[0])
		if !ok {
			break
		}
		kind, global := globalKind(name)
		if !global {
			break
		}
		args = args[1:]
		if !hasVal {
			switch {
			case kind == optValue:
				if len(args) == 0 {
					return nil, fmt.Errorf("option --%s needs a value", name)
				}
				val, args = args[0], args[1:]
			case len(args) > 0 && isBoolWord(args[0]):
				val, args = args[0], args[1:]
			default:
				val = "1"
			}
		}
		if err := g.apply(name, val); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// parseArgs splits the arguments of a command into positionals, endpoint
// parameters (props; nil when the endpoint is not declared) and global
// options. A declared parameter wins over a global option of the same
// name, so endpoints keep their names; the global one can still be given
// before the command words. Parameters given several times are kept in
// order, which is how array parameters are written.
func parseArgs(args []string, props schema.Props, g *globalOpts) ([]string, schema.Raw, error) {
	raw := schema.Raw{}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		name, val, hasVal, ok := splitOption(a)
		if !ok {
			pos = append(pos, a)
			continue
		}
		next := func() (string, bool) {
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", false
		}
		s, isParam := props[name]
		if kind, global := globalKind(name); global && !isParam {
			if !hasVal {
				n, more := next()
				switch {
				case kind == optValue && !more:
					return nil, nil, fmt.Errorf("option --%s needs a value", name)
				case kind == optValue, more && isBoolWord(n):
					val = n
					i++
				default:
					val = "1"
				}
			}
			if err := g.apply(name, val); err != nil {
				return nil, nil, err
			}
			continue
		}
		if !hasVal {
			n, more := next()
			switch {
			case isParam && s.Type == schema.Boolean:
				// A bare boolean means 1; a following boolean word is its value.
				val = "1"
				if more && isBoolWord(n) {
					val = n
					i++
				}
			case isParam && more:
				// Declared options always take the next word, even "-5".
				val = n
				i++
			case isParam:
				return nil, nil, fmt.Errorf("option --%s needs a value", name)
			case more && !strings.HasPrefix(n, "-"):
				val = n
				i++
			default:
				val = "1"
			}
		}
		raw[name] = append(raw[name], val)
	}
	return pos, raw, nil
}
