module.exports = () => "b 1.0.0";
