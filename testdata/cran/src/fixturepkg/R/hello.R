hello <- function() paste(greeting(), "from fixturepkg")
