package rest

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/api"
)

// router finds the route for a method and an API path. Each path segment
// is either literal or one {param}; a parameter matches exactly one
// segment, after percent-decoding, so task ids with ':' '@' '!' match.
type router struct {
	root *node
}

type node struct {
	literal map[string]*node
	param   *node
	name    string // parameter name when reached through param
	routes  map[string]*api.Route
	path    string // the declared path of the routes here
}

func newRouter(routes []api.Route) (*router, error) {
	r := &router{root: &node{}}
	for i := range routes {
		rt := &routes[i]
		n := r.root
		for _, seg := range splitPath(rt.Path) {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				name := seg[1 : len(seg)-1]
				if n.param == nil {
					n.param = &node{name: name}
				} else if n.param.name != name {
					return nil, fmt.Errorf("%s: parameter {%s} conflicts with {%s} at the same place", rt.Key(), name, n.param.name)
				}
				n = n.param
				continue
			}
			if n.literal == nil {
				n.literal = map[string]*node{}
			}
			next, ok := n.literal[seg]
			if !ok {
				next = &node{}
				n.literal[seg] = next
			}
			n = next
		}
		if n.routes == nil {
			n.routes = map[string]*api.Route{}
		}
		if _, dup := n.routes[rt.Method]; dup {
			return nil, fmt.Errorf("%s is bound twice", rt.Key())
		}
		n.routes[rt.Method] = rt
		n.path = rt.Path
	}
	return r, nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match looks up an escaped request path. It returns the route (nil when
// the path exists but not the method), the path parameters, and whether
// the path exists at all.
func (r *router) match(method, escapedPath string) (*api.Route, map[string]string, bool, error) {
	n := r.root
	params := map[string]string{}
	for _, raw := range splitPath(escapedPath) {
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return nil, nil, false, fmt.Errorf("bad escape in path segment %q", raw)
		}
		if next, ok := n.literal[seg]; ok {
			n = next
			continue
		}
		if n.param == nil || seg == "" {
			return nil, nil, false, nil
		}
		n = n.param
		params[n.name] = seg
	}
	if len(n.routes) == 0 {
		return nil, nil, false, nil
	}
	return n.routes[method], params, true, nil
}

// children lists the literal sub-paths below a declared path, for
// directory index endpoints.
func (r *router) children(declared string) []string {
	n := r.root
	for _, seg := range splitPath(declared) {
		if strings.HasPrefix(seg, "{") {
			n = n.param
		} else {
			n = n.literal[seg]
		}
		if n == nil {
			return nil
		}
	}
	var out []string
	for name := range n.literal {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
