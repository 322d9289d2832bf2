Gem::Specification.new do |s|
  s.name = "proxy-fixture-b"
  s.version = "1.1.0"
  s.summary = "Fixture gem for the proxy tests"
  s.authors = ["proxy tests"]
  s.license = "GPL-3.0-or-later"
  s.files = ["lib/proxy_fixture_b.rb"]
end
