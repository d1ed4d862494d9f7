package cli

import (
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/api"
)

// pathNode is one segment of the declared API tree, for pvesh: matching a
// concrete path to its declaration, listing children and completing paths.
type pathNode struct {
	// param is the parameter name when this node is a {param} segment.
	param    string
	literal  map[string]*pathNode
	variable *pathNode
	// eps holds the endpoints declared on this exact path, by method.
	eps  map[string]*api.Endpoint
	path string // the declared path, such as /nodes/{node}
}

func buildTree(eps []*api.Endpoint) *pathNode {
	root := &pathNode{path: "/"}
	for _, e := range eps {
		n := root
		for _, seg := range splitPath(e.Path) {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				if n.variable == nil {
					n.variable = &pathNode{param: seg[1 : len(seg)-1], path: joinPath(n.path, seg)}
				}
				n = n.variable
				continue
			}
			if n.literal == nil {
				n.literal = map[string]*pathNode{}
			}
			next, ok := n.literal[seg]
			if !ok {
				next = &pathNode{path: joinPath(n.path, seg)}
				n.literal[seg] = next
			}
			n = next
		}
		if n.eps == nil {
			n.eps = map[string]*api.Endpoint{}
		}
		n.eps[e.Method] = e
	}
	return root
}

func joinPath(base, seg string) string {
	if base == "/" {
		return "/" + seg
	}
	return base + "/" + seg
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// normPath makes "nodes/x/" into "/nodes/x", since PVE users often leave
// out the leading slash.
func normPath(p string) string {
	return "/" + strings.Join(splitPath(p), "/")
}

// lookup finds the node of a concrete path; values of {param} segments
// are returned by parameter name. Literal segments win over parameters,
// as in the server's router.
func (t *pathNode) lookup(path string) (*pathNode, map[string]string) {
	n := t
	params := map[string]string{}
	for _, seg := range splitPath(path) {
		if next, ok := n.literal[seg]; ok {
			n = next
			continue
		}
		if n.variable == nil {
			return nil, nil
		}
		n = n.variable
		params[n.param] = seg
	}
	return n, params
}

func (t *pathNode) hasChildren() bool { return len(t.literal) > 0 || t.variable != nil }

func (t *pathNode) literalNames() []string {
	names := make([]string, 0, len(t.literal))
	for name := range t.literal {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// flags are the method flags pvesh ls prints: D when the path has
// children, then r, w, c and d for GET, PUT, POST and DELETE.
func (t *pathNode) flags() string {
	b := []byte("-----")
	if t.hasChildren() {
		b[0] = 'D'
	}
	for i, m := range []string{"GET", "PUT", "POST", "DELETE"} {
		if t.eps[m] != nil {
			b[i+1] = "rwcd"[i]
		}
	}
	return string(b)
}

// childKey names the property of the index's items that holds the value
// of a {param} child: the parameter itself when the items have it (node,
// vmid, upid), else the single property of a directory index (name,
// subdir).
func (t *pathNode) childKey() string {
	if t.variable == nil {
		return ""
	}
	param := t.variable.param
	get := t.eps["GET"]
	if get == nil || get.Returns.Items == nil || len(get.Returns.Items.Properties) == 0 {
		return param
	}
	props := get.Returns.Items.Properties
	if _, ok := props[param]; ok {
		return param
	}
	if len(props) == 1 {
		for k := range props {
			return k
		}
	}
	for _, k := range []string{"id", "name", "subdir"} {
		if _, ok := props[k]; ok {
			return k
		}
	}
	return param
}

// pveshVerbs are the pvesh verbs that call an endpoint, in PVE's order.
func pveshVerbs() []string { return []string{"get", "set", "create", "delete"} }

// methodOfVerb maps a pvesh verb to its HTTP method ("" for none).
func methodOfVerb(verb string) string {
	switch verb {
	case "get":
		return "GET"
	case "set":
		return "PUT"
	case "create":
		return "POST"
	case "delete":
		return "DELETE"
	}
	return ""
}
