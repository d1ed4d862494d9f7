// Package vztmpl makes and unpacks container templates, the tar archives
// a storage keeps under the vztmpl content type. It builds two of them
// from Debian packages only, so that a node without access to any
// template server can still create containers: a minimal busybox system
// and a Debian one made with debootstrap. Extraction runs GNU tar behind
// a check of every member name, and for unprivileged containers inside a
// user namespace, so that ownership, setuid bits and file capabilities
// land already shifted into the container's id range.
package vztmpl
