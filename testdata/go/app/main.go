// Command app is the main module of the proxy's real-client test.
package main

import (
	"fmt"

	"example.com/liba"
)

func main() { fmt.Println(liba.Greeting()) }
