require "proxy_fixture_b"

module ProxyFixtureA
  def self.hello
    "a+#{ProxyFixtureB.hello}"
  end
end
