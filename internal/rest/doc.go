// Package rest is the HTTP API server. It routes requests under
// /api2/json to the handlers bound to the API declarations, merges and
// validates parameters against their schemas, authenticates tickets, API
// tokens and the local root socket, checks CSRF tokens and the declared
// permission, forwards calls meant for another node over mutual TLS, and
// writes answers and errors exactly as Proxmox VE clients expect them
// (the error message as the status line's reason phrase).
package rest
