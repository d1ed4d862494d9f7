package apidoc

import (
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/api"
)

// PVESchema builds the API schema as the tree Proxmox VE ships in
// apidata.js, which `pvesh` and the API viewer walk: one node per path
// segment, each with its full path, its children sorted by name, and the
// declarations of the methods defined on it under "info". Paths that
// only lead to others (no endpoint of their own) are nodes without
// "info", so every endpoint is reachable by walking segment by segment.
//
// The result lists the nodes below the root. apidata.js has no place for
// the root itself, so an endpoint declared on "/" is left out.
func PVESchema(eps []*api.Endpoint) []map[string]any {
	root := &treeNode{}
	for _, e := range eps {
		n := root
		for _, seg := range strings.Split(e.Path, "/") {
			if seg != "" {
				n = n.child(seg)
			}
		}
		if n == root {
			continue
		}
		if n.info == nil {
			n.info = map[string]any{}
		}
		n.info[e.Method] = pveInfo(e)
	}
	return root.render()
}

type treeNode struct {
	text, path string
	children   map[string]*treeNode
	info       map[string]any
}

func (n *treeNode) child(seg string) *treeNode {
	if c, ok := n.children[seg]; ok {
		return c
	}
	if n.children == nil {
		n.children = map[string]*treeNode{}
	}
	c := &treeNode{text: seg, path: n.path + "/" + seg}
	n.children[seg] = c
	return c
}

// render returns the children of n in the apidata.js shape. The slice is
// never nil, so an empty API encodes as [] rather than null.
func (n *treeNode) render() []map[string]any {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]map[string]any, 0, len(names))
	for _, name := range names {
		c := n.children[name]
		m := map[string]any{"text": c.text, "path": c.path, "leaf": 1}
		if len(c.children) > 0 {
			m["leaf"] = 0
			m["children"] = c.render()
		}
		if c.info != nil {
			m["info"] = c.info
		}
		out = append(out, m)
	}
	return out
}

// pveInfo is one method of a node. Like Proxmox VE, it states allowtoken
// either way but protected and proxyto only when they apply.
func pveInfo(e *api.Endpoint) map[string]any {
	info := map[string]any{
		"method":      e.Method,
		"name":        e.Name,
		"description": e.Description,
		"parameters":  pveParameters(e),
		"returns":     e.Returns.PVE(),
		"permissions": e.Perm.PVE(),
		"allowtoken":  boolNum(!e.NoToken),
	}
	if e.Protected {
		info["protected"] = 1
	}
	if e.ProxyTo != "" {
		info["proxyto"] = e.ProxyTo
	}
	return info
}

// pveParameters omits "properties" for calls without parameters, as
// Proxmox VE's dump does.
func pveParameters(e *api.Endpoint) map[string]any {
	m := map[string]any{"additionalProperties": boolNum(e.AllowExtra)}
	if len(e.Params) > 0 {
		props := make(map[string]any, len(e.Params))
		for name, s := range e.Params {
			props[name] = s.PVE()
		}
		m["properties"] = props
	}
	return m
}

func boolNum(b bool) int {
	if b {
		return 1
	}
	return 0
}
