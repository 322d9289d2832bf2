Gem::Specification.new do |s|
  s.name = "proxy-fixture-a"
  s.version = "1.0.0"
  s.summary = "Fixture gem for the proxy tests (depends on proxy-fixture-b)"
  s.authors = ["proxy tests"]
  s.license = "GPL-3.0-or-later"
  s.files = ["lib/proxy_fixture_a.rb"]
  s.add_runtime_dependency "proxy-fixture-b", "~> 1.0"
end
