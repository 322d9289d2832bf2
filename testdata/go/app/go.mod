module example.com/app

go 1.16

require example.com/liba v1.0.0
