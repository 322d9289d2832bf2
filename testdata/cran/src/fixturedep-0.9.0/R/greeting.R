greeting <- function() "hello 0.9.0"
