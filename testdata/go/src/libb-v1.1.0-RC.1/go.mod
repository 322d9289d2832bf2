module example.com/Upper/libb

go 1.16
