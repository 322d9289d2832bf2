module example.com/acme/service

go 1.22

toolchain go1.22.1

require (
	github.com/google/go-cmp v0.6.0
	github.com/stretchr/testify v1.8.4
	golang.org/x/text v0.14.0 // indirect
)

require gopkg.in/yaml.v3 v3.0.1 // indirect

require example.com/acme/shared v0.0.0-00010101000000-000000000000

replace example.com/acme/shared => ../shared

replace golang.org/x/text v0.14.0 => golang.org/x/text v0.15.0

exclude github.com/google/go-cmp v0.5.0
