module ProxyFixtureB
  def self.hello
    "b 1.1.0 ruby"
  end
end
