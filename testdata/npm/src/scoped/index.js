module.exports = "scoped 2.0.0";
