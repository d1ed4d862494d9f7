package api

func diskEndpoints() []*Endpoint { return nil }
