module.exports = () => "a uses " + require("proxy-fixture-b")();
