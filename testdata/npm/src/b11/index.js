module.exports = () => "b 1.1.0";
