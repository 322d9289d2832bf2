module example.com/liba

go 1.16

require example.com/Upper/libb v1.0.0
