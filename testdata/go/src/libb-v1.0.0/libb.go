// Package libb is a proxy test fixture whose module path has an uppercase letter.
package libb

// Name identifies this version.
func Name() string { return "libb v1.0.0" }
