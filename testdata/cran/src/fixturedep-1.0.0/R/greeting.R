greeting <- function() "hello 1.0.0"
