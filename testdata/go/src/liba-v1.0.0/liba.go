// Package liba is a proxy test fixture that depends on example.com/Upper/libb.
package liba

import "example.com/Upper/libb"

// Greeting names both fixture modules.
func Greeting() string { return "liba v1.0.0 + " + libb.Name() }
