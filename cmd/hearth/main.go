// Command hearth is the single Hearth binary: the node daemon and every CLI tool.
package main

func main() {}
